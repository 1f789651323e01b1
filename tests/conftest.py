"""Shared fixtures and the suite's shape (tests/README.md says how a new test fits).

- The embedded core: one per test session, on a temp database (with pytest-xdist, one per
  worker process). Tests share it, so each test makes its own project with
  `unique_project_name()` (or the `project_name` fixture) and never depends on what other
  tests created.
- Hypothesis runs a small profile per commit and each test's full count under
  `--hypothesis-profile=full` (`examples()`).
- Modules with more slow tests start first, so the long tests overlap the short ones across
  workers instead of ending the run alone (`pytest_collection_modifyitems`).
- Bytecode is cached even where `PYTHONDONTWRITEBYTECODE` is set (`bytecode_cached`), and
  the tests' own modules are importable in every process the session starts (`tests_importable`).
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from dhmlrun.core.server import EmbeddedCore
from dhmlrun.platform import Platform
from dhmlrun.platform.rest import RestClient


def bytecode_cached() -> None:
    """Let this process and every process the session starts read and write `__pycache__`.

    Why: the session starts hundreds of Python processes (applies, run servers, services), and
    a machine that sets `PYTHONDONTWRITEBYTECODE` (this one does) makes each compile from source
    every dhmlrun module it imports, and each pytest-xdist worker rewrite and compile every test
    module: 7 s of CPU per worker to collect the suite instead of 3 s, measured. The caches go
    where Python puts them, in `__pycache__` folders that git ignores."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False


bytecode_cached()

REPO = Path(__file__).resolve().parents[1]


def tests_importable() -> None:
    """Put the repository on `PYTHONPATH` for every process the session starts, once, before
    any starts: the stand-in workers a test gives a core (`tests.core.workers.*`) import there.

    Why once for the session, not per test: the warm run servers compare the `PYTHON*` they
    were started with (their imports read them), so a test that set its own `PYTHONPATH`
    started a server of its own (2 s of CPU) instead of forking from the worker's."""
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(REPO) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), *paths])


tests_importable()


def hera_deferred() -> None:
    """The test process registers the SDK's runtimes as dhmlrun's own processes do: hera is
    imported when a hera run needs it (`dhmlrun.compat.hera`), not by every test that reaches
    the SDK's registry (0.6 s of CPU per pytest-xdist worker)."""
    from dhmlrun.compat.hera import defer_runtime_import

    defer_runtime_import()


hera_deferred()

COMMIT_EXAMPLES = 25
"""Examples per Hypothesis test on every commit (each test's own count runs with
`--hypothesis-profile=full`)."""
settings.register_profile("commit", max_examples=COMMIT_EXAMPLES)
settings.register_profile("full")
settings.load_profile("commit")


def examples(full: int) -> int:
    """A Hypothesis test's example count: `full` under `--hypothesis-profile=full` (run it after
    changing what the test covers), an eighth of it (at least `COMMIT_EXAMPLES`) otherwise."""
    if settings.get_current_profile_name() == "full":
        return full
    return max(COMMIT_EXAMPLES, full // 8)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Two pytest-xdist workers per core (`-n auto`): the slow tests mostly wait on processes
    they started (applies, run workers, servers), so a core has room for a second worker. When
    the command names test files, at most one worker per file, and none for one file: a worker
    costs a Python start and a collection (seconds on a busy machine), more than one file's
    tests gain from it."""
    workers = 2 * len(os.sched_getaffinity(0))
    files = {str(arg).split("::", 1)[0] for arg in config.args}
    if files and all(Path(name).is_file() for name in files):
        workers = min(workers, len(files))
    return workers if workers > 1 else 0


_shared_key = pytest.StashKey[Any]()
"""Where the process that starts the workers keeps the session's shared run server."""


def pytest_configure(config: pytest.Config) -> None:
    """One warm run server for the whole session, started by the process that starts the
    others: every run server a process of the session would start (a test process's applies and
    embedded cores, a CLI apply, `dhmlrun core`) is a fork of it instead (`SharedRunServer`),
    a few milliseconds instead of mlrun's and digitalhub's imports (2.5 s of CPU, about 70
    times per session). The tests that signal a process group start it without
    (`tests.system.conftest.start_cli`): there the runs must be in the group, as outside."""
    from dhmlrun.worker import fork_server

    if getattr(config, "workerinput", None) is None and fork_server.enabled():
        shared = fork_server.SharedRunServer()
        config.stash[_shared_key] = shared
        os.environ[fork_server.SHARED_ENV] = shared.address.encode()  # pytest-xdist's workers inherit it


def pytest_unconfigure(config: pytest.Config) -> None:
    shared = config.stash.get(_shared_key, None)
    if shared is not None:
        from dhmlrun.worker.fork_server import SHARED_ENV

        os.environ.pop(SHARED_ENV, None)
        shared.close()


ONE_WORKER: set[str] = set()
"""Names of the fixtures `one_worker` marked."""


def one_worker(fixture: Callable[..., Any]) -> Callable[..., Any]:
    """Mark an expensive module-scoped fixture (one that applies a config, or starts a server):
    pytest-xdist runs the tests of a module that use it in one worker, so it is made once per
    module instead of once per worker. Put it under `@pytest.fixture(scope="module")`."""
    ONE_WORKER.add(fixture.__name__)
    return fixture


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Group the tests sharing a `one_worker` fixture (`xdist_group`), and put the modules with
    more slow tests first (a module's tests stay together, so its module-scoped fixtures are made
    once per worker): under pytest-xdist the long tests then run beside the short ones instead of
    last, alone."""
    slow: dict[str, int] = {}
    for item in items:
        module = item.module.__name__
        slow[module] = slow.get(module, 0) + bool(item.get_closest_marker("slow"))
        for name in sorted(ONE_WORKER.intersection(getattr(item, "fixturenames", ()))):
            item.add_marker(pytest.mark.xdist_group(f"{module}:{name}"))
    items.sort(key=lambda item: -slow[item.module.__name__])  # stable: collection order within


@pytest.hookimpl(trylast=True)  # after pytest-xdist suffixed the grouped tests' ids
def pytest_collection_finish(session: pytest.Session) -> None:
    """Warn when pytest-xdist's `loadgroup` does not group (a worker's grouped test has no
    `@GROUP` suffix). Why: it fails silently (pytest-xdist#1386: pytest 9.2's node ids), and
    every `one_worker` fixture is then made once per worker: the suite gets slower, nothing fails.
    pyproject.toml keeps pytest below 9.2 for it; this says when that bound or a new release is
    wrong."""
    if not os.environ.get("PYTEST_XDIST_WORKER") or not getattr(session.config.option, "loadgroup", False):
        return  # pytest-xdist sets `loadgroup` on its workers when --dist loadgroup
    grouped = next((item for item in session.items if item.get_closest_marker("xdist_group")), None)
    if grouped is not None and "@" not in grouped.nodeid.rsplit("]", 1)[-1]:
        warnings.warn(
            pytest.PytestConfigWarning(
                f"pytest-xdist's --dist loadgroup does not group with pytest {pytest.__version__} "
                f"({grouped.nodeid} has no @group suffix: pytest-xdist#1386): the one_worker "
                "fixtures are made once per worker; install the pytest pyproject.toml names"
            ),
            stacklevel=1,
        )


def send_json(handler: BaseHTTPRequestHandler, content: object) -> None:
    """Answer a test server's request with `content` as a 200 JSON body of a stated length
    (keep-alive clients need it: the tests' stand-in servers speak HTTP/1.1)."""
    body = json.dumps(content).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def pids_with_environ(name: str, value: str) -> list[int]:
    """Live processes whose environment has `name=value`: how a test finds the children a
    command left behind (give the command a unique marker variable; children inherit it)."""
    entry = f"{name}={value}".encode()
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and entry in (proc / "environ").read_bytes().split(b"\0"):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def wait_for(condition: Callable[[], object], what: str, timeout: float = 120.0) -> None:
    """Wait until `condition()` holds, polling every 50 ms; fail saying `what` did not happen in
    `timeout` seconds. A test waits on the state it needs, never for a fixed time: a fixed sleep
    is too long on a quiet machine and too short on a loaded one."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.05)


def unique_project_name(prefix: str = "t") -> str:
    """A fresh, valid project name (lowercase, `[a-z0-9-]`, at most 38 characters)."""
    return f"{prefix[:24]}-{uuid.uuid4().hex[:12]}"


SDK_CONNECTION = (
    "DHCORE_ENDPOINT",
    "DHCORE_ACCESS_TOKEN",
    "DH_CONFIG",
    "DHCORE_DEFAULT_FILES_STORE",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
)


@contextmanager
def served_core(db_path: Path, **kwargs: object) -> Iterator[EmbeddedCore]:
    """An embedded core served over HTTP on loopback (behind its token) for the block, with the
    digitalhub SDK of this process pointed at it (tests use the SDK as a user would)."""
    core = EmbeddedCore(db_path, **kwargs)  # type: ignore[arg-type]
    saved = {key: os.environ.get(key) for key in SDK_CONNECTION}
    try:
        os.environ.update(core.client_environment())
        _forget_sdk_client()
        yield core
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _forget_sdk_client()
        core.close()


def _forget_sdk_client() -> None:
    """The SDK builds its client once per process: have it read the environment again."""
    from dhmlrun.platform.sdk import configure_sdk

    configure_sdk()


def platform_of(core: EmbeddedCore) -> Platform:
    """dhmlrun's own view of a core (in-process), to check what a command left on it."""
    return Platform(RestClient(core.transport()), embedded=True)


def auth_headers(core: EmbeddedCore) -> dict[str, str]:
    """What a client of the served core must send."""
    return {"Authorization": f"Bearer {core.token}"}


@pytest.fixture(scope="session", autouse=True)
def core_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The key sealing secret values at rest: one of the session's, never the user's own."""
    key = tmp_path_factory.mktemp("key") / "core.key"
    saved = os.environ.get("DHMLRUN_CORE_KEY_FILE")
    os.environ["DHMLRUN_CORE_KEY_FILE"] = str(key)
    yield key
    if saved is None:
        os.environ.pop("DHMLRUN_CORE_KEY_FILE", None)
    else:
        os.environ["DHMLRUN_CORE_KEY_FILE"] = saved


@pytest.fixture(scope="session", autouse=True)
def kept_run_server() -> Iterator[None]:
    """One warm run server per test process for the applies, and the cores' warm servers kept
    from one core to the next: every in-process apply (the API, `CliRunner`) forks its runs from
    the server the first one started, instead of starting its own and paying mlrun's import each
    time (`run_server.keeping_run_server`), and an embedded core takes the server an earlier one
    stopped with (`fork_server.keeping_idle_servers`). A test of the server's per-apply lifecycle
    opts out with `keeping_run_server(False)`."""
    from dhmlrun.apply.run_server import keeping_run_server
    from dhmlrun.worker.fork_server import keeping_idle_servers

    with keeping_run_server(ignoring={"PYTEST_CURRENT_TEST"}), keeping_idle_servers():  # pytest sets it
        yield


@pytest.fixture(scope="session")
def core(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedCore]:
    """The embedded core for the whole session, served over HTTP; the SDK points at it."""
    db_path = tmp_path_factory.mktemp("core") / "core.db"
    with served_core(db_path) as served:
        yield served


@pytest.fixture
def project_name(request: pytest.FixtureRequest) -> str:
    """A unique project name derived from the test's name."""
    base = "".join(c if c.isalnum() else "-" for c in request.node.name.lower()).strip("-")
    return unique_project_name(base[:20].strip("-") or "t")
