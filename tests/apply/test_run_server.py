"""The warm run server (`dhmlrun.worker.fork_server`, kept by apply: `dhmlrun.apply.run_server`):
every run is its own forked process.

These use the real server process with a light preload (`json`) and the entry points in
`targets.py`, so they check the fork/isolation mechanics without paying mlrun's import; the
apply tests in `tests/plan` run real mlrun runs through the full preload.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dhmlrun.apply.run_server import keeping_run_server, warm_run_server
from dhmlrun.apply.workers import run_in_worker
from dhmlrun.vocabulary.runs import FunctionVersion
from dhmlrun.worker.fork_server import SERVER_ENV, ForkedChild, RunServer, RunServerUnavailable
from dhmlrun.worker.protocol import ExecuteRun, RunOrder
from tests.conftest import pids_with_environ, send_json, wait_for

REPO = Path(__file__).resolve().parents[2]
TARGETS = "tests.apply.targets"
MODULE = "tests.apply.module_target"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunServer]:
    with RunServer(preload=("json", TARGETS)) as started:
        yield started


def run(server: RunServer, tmp_path: Path, target: str, *argv: str, env: dict[str, str] | None = None) -> int:
    log = tmp_path / f"{target}.log"
    return server.execute(list(argv), log, dict(env or os.environ), str(tmp_path), f"{TARGETS}:{target}")


def test_runs_are_isolated_from_each_other(server: RunServer, tmp_path: Path) -> None:
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    env = {**os.environ, "DHMLRUN_TEST_GIVEN": "yes"}
    assert run(server, tmp_path, "leak", str(first), env=env) == 0
    assert run(server, tmp_path, "observe", str(second), env=env) == 0
    seen = json.loads(second.read_text())
    assert seen["env"] is None
    assert seen["module_global"] is False
    assert seen["sys_path"] is False
    assert seen["cwd"] == seen["path0"] == str(tmp_path)  # as `python -m` in that directory
    assert seen["gc"] is True  # the server freezes its heap with gc off; a run collects as usual
    assert seen["given"] == "yes"  # the request's environment is the child's environment
    assert seen["pid"] != json.loads(first.read_text())["pid"] != os.getpid()
    assert (tmp_path / "observe.log").read_text() == "observed\n"  # stdout goes to the run's log


def test_a_crashing_run_does_not_take_the_server_down(server: RunServer, tmp_path: Path) -> None:
    assert run(server, tmp_path, "crash") == -signal.SIGABRT
    assert run(server, tmp_path, "raise_error") == 1
    assert "handler blew up" in (tmp_path / "raise_error.log").read_text()
    assert run(server, tmp_path, "exit_with", "7") == 7
    out = tmp_path / "after.json"
    assert run(server, tmp_path, "observe", str(out)) == 0
    assert out.is_file()


def test_runs_execute_concurrently_in_separate_processes(server: RunServer, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    outs = [tmp_path / f"{i}.json" for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(lambda out: run(server, tmp_path, "observe", str(out)), outs))
    assert codes == [0, 0, 0, 0]
    assert len({json.loads(out.read_text())["pid"] for out in outs}) == 4


def spawn_module(
    server: RunServer, tmp_path: Path, *argv: str, env: dict[str, str] | None = None
) -> ForkedChild:
    """`tests.apply.module_target` as `python -m` in `tmp_path` would run it, printing to
    `module.log` there."""
    log = tmp_path / "module.log"
    return server.spawn(list(argv), log, dict(env or os.environ), str(tmp_path), module=MODULE)


@pytest.mark.parametrize(("how", "code"), [("none", 0), ("5", 5), ("a message", 1)])
def test_a_module_runs_and_exits_as_python_m_would(
    server: RunServer, tmp_path: Path, how: str, code: int
) -> None:
    seen = tmp_path / "seen.json"
    assert spawn_module(server, tmp_path, str(seen), "", how).wait() == code
    expected = {"name": "__main__", "argv0": "module_target.py", "argv": [str(seen), "", how]}
    assert json.loads(seen.read_text()) == expected
    printed = (tmp_path / "module.log").read_text()
    assert printed == ("started\na message\n" if how == "a message" else "started\n")


def test_a_forked_run_is_followed_as_a_process_is(server: RunServer, tmp_path: Path) -> None:
    """What the core's job pool does with a worker: poll, wait with a timeout, wait from two
    threads at once (each learns the exit code), terminate; and with unbuffered output asked
    for, what it printed is in its log while it runs."""
    from concurrent.futures import ThreadPoolExecutor

    go = tmp_path / "go"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    child = spawn_module(server, tmp_path, str(tmp_path / "seen.json"), str(go), "3", env=env)
    assert child.pid is not None and child.pid != os.getpid()
    assert child.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        child.wait(timeout=0.05)
    wait_for(lambda: (tmp_path / "module.log").read_text() == "started\n", "the line printed, in the log")
    with ThreadPoolExecutor(2) as pool:
        waits = [pool.submit(child.wait), pool.submit(child.wait, 60)]
        go.touch()
        assert [w.result() for w in waits] == [3, 3]
    assert child.poll() == 3
    stopped = spawn_module(server, tmp_path, str(tmp_path / "again.json"), str(tmp_path / "never"))
    stopped.terminate()
    assert stopped.wait(timeout=30) == -signal.SIGTERM


def test_a_retired_server_takes_no_run_and_ends_after_its_children(server: RunServer, tmp_path: Path) -> None:
    go = tmp_path / "go"
    child = spawn_module(server, tmp_path, str(tmp_path / "seen.json"), str(go), "4")
    server.retire()
    with pytest.raises(RunServerUnavailable):
        spawn_module(server, tmp_path, str(tmp_path / "late.json"))
    assert server.alive  # its child still runs
    go.touch()
    assert child.wait(timeout=30) == 4
    wait_for(lambda: not server.alive, "the retired server ended")


def test_a_child_in_a_session_of_its_own_outlives_its_server(server: RunServer, tmp_path: Path) -> None:
    """A service's server (`core/supervisor.py`): its own session, out of reach of its owner's
    signals, its output after what the log held, and the server ends without waiting for it;
    it is followed to its end all the same."""
    go = tmp_path / "go"
    log = tmp_path / "module.log"
    log.write_text("before\n")
    child = server.spawn(
        [str(tmp_path / "seen.json"), str(go), "5"],
        log,
        {**os.environ, "PYTHONUNBUFFERED": "1"},
        str(tmp_path),
        module=MODULE,
        session=True,
        append=True,
    )
    assert child.pid is not None
    wait_for(lambda: log.read_text() == "before\nstarted\n", "the line printed, after the log's")
    assert os.getsid(child.pid) == child.pid
    server.signal_children(signal.SIGTERM)  # an interrupted apply stops its runs, not services
    server.close()  # at once: the server does not wait for it
    assert not server.alive
    with pytest.raises(subprocess.TimeoutExpired):
        child.wait(timeout=0.2)
    assert child.poll() is None
    go.touch()
    assert child.wait(timeout=30) == -1  # ended; its code went with the server


def test_a_run_whose_import_time_environment_differs_is_refused(server: RunServer, tmp_path: Path) -> None:
    env = {**os.environ, "MLRUN_DBPATH": "http://elsewhere:8080"}
    with pytest.raises(RunServerUnavailable):
        run(server, tmp_path, "observe", str(tmp_path / "x.json"), env=env)


@pytest.mark.slow
def test_run_in_worker_falls_back_to_a_fresh_worker_when_the_server_is_unusable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with RunServer(preload=(TARGETS,)) as broken:
        broken._proc.kill()  # the server is gone before the run is sent
        broken._proc.wait()
        # a platform nobody answers at: the fresh worker reports the failure as a result, not a crash
        function = FunctionVersion("functions.x", "1", "store://nowhere/function/mlrun/x:1", "mlrun")
        order = RunOrder("nowhere", "r1", function, "job", {}, {}, [], {}, "local", [])
        request = ExecuteRun(order)
        env = {**os.environ, "DHCORE_ENDPOINT": "http://127.0.0.1:9", "DHMLRUN_HTTP_ATTEMPTS": "1"}
        result = run_in_worker(request, tmp_path / "logs", env, broken)
    assert result.state == "ERROR"
    assert result.id == "r1"


def test_the_server_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SERVER_ENV, "0")
    with warm_run_server(True) as server:
        assert server is None
    monkeypatch.delenv(SERVER_ENV)
    with warm_run_server(False) as server:
        assert server is None


def test_apply_process_does_not_import_mlrun_with_the_server_running(tmp_path: Path) -> None:
    """The server imports mlrun; the process that started it must not."""
    code = (
        "import sys\n"
        "from dhmlrun.worker.fork_server import RunServer\n"
        "with RunServer(preload=('json',)) as s:\n"
        "    s._wait_ready()\n"
        "assert 'mlrun' not in sys.modules and 'digitalhub' not in sys.modules\n"
    )
    import subprocess

    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=60)


def test_ctrl_c_does_not_kill_the_server(server: RunServer, tmp_path: Path) -> None:
    """Ctrl-C reaches the whole process group; the server must outlive it to report the runs."""
    server._wait_ready()
    os.kill(server.pid, signal.SIGINT)
    out = tmp_path / "after-sigint.json"
    assert run(server, tmp_path, "observe", str(out)) == 0
    assert out.is_file()


@pytest.mark.slow
def test_a_child_reads_the_sdk_configuration_of_its_own_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """apply sets DH_CONFIG for the SDK after the server imported it; the child must honour it.
    And the child finds the SDK's entities and runtimes registered: it imports nothing more to
    look up the builders of a run."""
    monkeypatch.delenv("DH_CONFIG", raising=False)
    with RunServer(preload=("digitalhub", TARGETS)) as warm:
        out = tmp_path / "ini.txt"
        env = {**os.environ, "DH_CONFIG": str(tmp_path / "private.ini")}
        assert warm.execute([str(out)], tmp_path / "log", env, str(tmp_path), f"{TARGETS}:sdk_config") == 0
        imported = tmp_path / "imported.json"
        lookups = f"{TARGETS}:sdk_lookups"
        assert warm.execute([str(imported)], tmp_path / "log", env, str(tmp_path), lookups) == 0
    assert out.read_text() == str(tmp_path / "private.ini")
    assert json.loads(imported.read_text()) == []


class _ClientSpec(http.server.BaseHTTPRequestHandler):
    """An MLRun API server as far as mlrun's connect goes; notes each request's client port."""

    protocol_version = "HTTP/1.1"
    ports: list[int]

    def do_GET(self) -> None:
        self.ports.append(self.client_address[1])
        send_json(self, {"version": "1.7.0"})

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.mark.slow
def test_each_child_talks_to_mlrun_on_its_own_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Importing mlrun with MLRUN_DBPATH set connects to its API server, so the warm server holds
    a pooled connection; children sharing it would read each other's answers."""
    ports: list[int] = []
    handler = type("Handler", (_ClientSpec,), {"ports": ports})
    api = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    monkeypatch.setenv("MLRUN_DBPATH", f"http://127.0.0.1:{api.server_address[1]}")
    try:
        with RunServer(preload=("mlrun", TARGETS)) as warm:
            warm._wait_ready()
            (at_import,) = set(ports)  # the server's own connection, made by `import mlrun`
            children = []
            for name in ("a", "b"):
                before = len(ports)
                out = tmp_path / f"{name}.json"
                log = tmp_path / f"{name}.log"
                code = warm.execute([str(out)], log, dict(os.environ), str(tmp_path), f"{TARGETS}:mlrun_call")
                assert code == 0, log.read_text()
                children.append(set(ports[before:]))
    finally:
        api.shutdown()
        api.server_close()
    assert all(at_import not in used for used in children), (at_import, children)
    assert not children[0] & children[1], children


def test_skipping_collections_at_exit_keeps_every_other_exit_step(tmp_path: Path) -> None:
    """The apply process freezes its heap at exit; its atexit handlers and output still happen."""
    import subprocess

    script = (
        "import atexit, gc, sys\n"
        "from dhmlrun.apply.run_server import skip_collections_at_exit\n"
        "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > 0))\n"
        "sys.stdout.write('unflushed output\\n')\n"
        "skip_collections_at_exit()\n"
        "skip_collections_at_exit()\n"
        "print('frozen before exit:', gc.get_freeze_count() > 0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    assert done.stdout.splitlines() == [
        "unflushed output",
        "frozen before exit: False",
        "frozen at exit: True",
    ]


@pytest.mark.parametrize("wanted", [True, False])
def test_an_early_server_is_taken_over_or_stopped(monkeypatch: pytest.MonkeyPatch, wanted: bool) -> None:
    """apply takes the server the CLI started at process start, or stops it when nothing runs."""
    from dhmlrun.apply import run_server

    monkeypatch.delenv(SERVER_ENV, raising=False)
    with keeping_run_server(False):  # as in a CLI process (the test session keeps one: conftest)
        run_server.start_early(("json",))
        early = run_server._early
        assert early is not None
        with warm_run_server(wanted) as server:
            assert run_server._early is None
            assert server is (early if wanted else None)
            if server is not None:
                server._wait_ready()
    assert early._proc.poll() is not None


HELD = "tests.apply.held_import"
SKIPPABLE = "wave"  # a standard module nothing else here imports


def loaded(server: RunServer, tmp_path: Path, *modules: str) -> dict[str, bool]:
    """Which of `modules` a child of `server` finds imported (its server preloaded them)."""
    out = tmp_path / "loaded.json"
    assert (
        server.execute(
            [str(out), *modules],
            tmp_path / "log",
            dict(os.environ),
            str(tmp_path),
            f"{TARGETS}:modules_loaded",
        )
        == 0
    )
    return json.loads(out.read_text())


def test_a_server_told_while_preloading_skips_those_modules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = tmp_path / "gate"
    monkeypatch.setenv("DHMLRUN_TEST_IMPORT_GATE", str(gate))
    with RunServer(preload=(HELD, TARGETS, SKIPPABLE)) as held:
        held.skip([SKIPPABLE])  # it is still importing HELD
        gate.touch()
        assert loaded(held, tmp_path, HELD, SKIPPABLE) == {HELD: True, SKIPPABLE: False}
        assert held.skipped == [SKIPPABLE]
        held.skip([TARGETS])  # too late: preloaded, and the server goes on serving
        assert loaded(held, tmp_path, TARGETS) == {TARGETS: True}
        assert held.skipped == [SKIPPABLE]


@pytest.mark.parametrize("needs_mlrun", [True, False])
def test_an_apply_without_mlrun_functions_has_its_own_server_skip_mlrun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, needs_mlrun: bool
) -> None:
    """Started early, the server learns from the configuration that no run needs mlrun's
    modules (`MLRUN_PRELOAD`, here a stand-in) and does without them; a kept server (the next
    apply may need them) preloads everything."""
    from dhmlrun.apply import run_server

    monkeypatch.delenv(SERVER_ENV, raising=False)
    monkeypatch.setattr(run_server, "MLRUN_PRELOAD", (SKIPPABLE,))
    gate = tmp_path / "gate"
    monkeypatch.setenv("DHMLRUN_TEST_IMPORT_GATE", str(gate))
    with keeping_run_server(False):
        run_server.start_early((HELD, TARGETS, SKIPPABLE))
        with warm_run_server(True, needs_mlrun=needs_mlrun) as own:
            assert own is not None
            gate.touch()
            assert loaded(own, tmp_path, SKIPPABLE) == {SKIPPABLE: needs_mlrun}
    gate.unlink()
    with keeping_run_server(False), keeping_run_server():
        run_server.start_early((HELD, TARGETS, SKIPPABLE))
        with warm_run_server(True, needs_mlrun=needs_mlrun) as kept:
            assert kept is not None
            gate.touch()
            assert loaded(kept, tmp_path, SKIPPABLE) == {SKIPPABLE: True}


def test_a_kept_server_serves_the_next_applies_and_stops_with_its_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A process applying again and again keeps one server (`keeping_run_server`), lent to its
    embedded cores between applies too (`fork_server.borrow`)."""
    from dhmlrun.apply import run_server
    from dhmlrun.worker.fork_server import borrow

    monkeypatch.delenv(SERVER_ENV, raising=False)
    with keeping_run_server(False), keeping_run_server():  # this test's block, not the session's
        run_server.start_early(("json",))  # a light server, as the CLI would start one
        with warm_run_server(True) as first:
            assert first is not None
        assert borrow(dict(os.environ)) is first  # a core's runs fork from it between applies
        run_server.start_early(("json",))
        assert run_server._early is None  # the kept one will serve: no second server
        with warm_run_server(True) as second:
            assert second is first
        with warm_run_server(False) as third:
            assert third is None
        assert first.alive
        with keeping_run_server(False):
            run_server.start_early(("json",))
            with warm_run_server(True) as own:
                assert own is not None and own is not first  # not kept here: the apply's own
        assert not own.alive
        assert first.alive
        # what each run carries in its request and no import reads: the same server serves on
        monkeypatch.setenv("DHCORE_ENDPOINT", "http://127.0.0.1:9")
        monkeypatch.setenv("DHMLRUN_RUNS_DIR", "/elsewhere")
        monkeypatch.setenv("_RJEM_MALLOC_CONF", "background_thread:true")  # polars' import sets it
        monkeypatch.setenv("KMP_INIT_AT_FORK", "FALSE")  # scikit-learn's import sets it
        with warm_run_server(True) as same:
            assert same is first
        monkeypatch.setenv("SSL_CERT_FILE", "/elsewhere.pem")  # read by what a server imports
        run_server.start_early(("json",))
        with warm_run_server(True) as fresh:
            assert fresh is not None and fresh is not first  # started in the environment of now
        assert fresh.alive  # kept instead of the first, which ends once its runs (none) ended
        assert borrow(dict(os.environ)) is fresh
        wait_for(lambda: not first.alive, "the replaced server ended")
    assert not fresh.alive
    assert borrow(dict(os.environ)) not in (first, fresh)  # no longer lent once stopped


@pytest.mark.parametrize(
    ("argv", "early"),
    [
        (["apply", "."], True),
        (["apply"], True),
        (["apply", "--help"], False),
        (["plan", "."], False),
        ([], False),
    ],
)
def test_only_an_apply_starts_its_run_server_at_process_start(argv: list[str], early: bool) -> None:
    from dhmlrun.cli import _is_apply

    assert _is_apply(argv) is early


def test_an_apply_that_fails_before_running_leaves_no_server_behind(tmp_path: Path) -> None:
    """The CLI starts the server before parsing; a bad command line must not leave it running."""
    import subprocess
    import uuid

    mark = uuid.uuid4().hex
    env = {**os.environ, "DHMLRUN_TEST_MARK": mark}
    env.pop(SERVER_ENV, None)
    done = subprocess.run(
        [sys.executable, "-m", "dhmlrun", "apply", "--no-such-option", str(tmp_path)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1  # a usage error is an error (2 means changes)
    assert "no such option" in done.stderr.lower()
    assert not pids_with_environ("DHMLRUN_TEST_MARK", mark)
