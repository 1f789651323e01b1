"""A shared run server (`fork_server.SharedRunServer`): a process given its address
(`SHARED_ENV`) gets, for each `RunServer` it would start, a fork of the shared server instead,
which serves it as a server it started would, and ends as one would.

These use a light preload (`json` and the tests' entry points), as `tests/apply/test_run_server.py`
does; the whole suite runs on the session's shared server (`tests/conftest.py`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dhmlrun.worker.fork_server import SHARED_ENV, RunServer, SharedAddress, SharedRunServer
from tests.conftest import wait_for

TARGETS = "tests.apply.targets"
MODULE = "tests.apply.module_target"
PRELOAD = ("json", TARGETS)


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch) -> Iterator[SharedRunServer]:
    """A shared server of this test's, the one this process attaches to meanwhile."""
    server = SharedRunServer(PRELOAD)
    monkeypatch.setenv(SHARED_ENV, server.address.encode())
    try:
        yield server
    finally:
        server.close()


def _stat(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def parent_of(pid: int) -> int:
    fields = _stat(pid)
    assert fields is not None, f"process {pid} is gone"
    return int(fields[1])


def alive(pid: int) -> bool:
    """Running (a zombie, ended but not reaped yet, is not)."""
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def run(server: RunServer, tmp_path: Path, target: str, *argv: str) -> int:
    log = tmp_path / f"{target}.log"
    return server.execute(list(argv), log, dict(os.environ), str(tmp_path), f"{TARGETS}:{target}")


def test_an_owner_forks_its_server_from_the_shared_one_and_it_serves_as_its_own(
    shared: SharedRunServer, tmp_path: Path
) -> None:
    with RunServer(PRELOAD) as first, RunServer(("json",)) as second:
        assert parent_of(first.pid) == parent_of(second.pid) == shared.pid
        assert first.pid != second.pid
        seen = tmp_path / "seen.json"
        assert run(first, tmp_path, "observe", str(seen)) == 0
        assert json.loads(seen.read_text())["cwd"] == str(tmp_path)
        assert (tmp_path / "observe.log").read_text() == "observed\n"
        assert run(second, tmp_path, "exit_with", "7") == 7
        assert run(first, tmp_path, "crash") == -signal.SIGABRT
        stopped = first.spawn(
            [str(tmp_path / "m.json"), str(tmp_path / "never")],
            tmp_path / "m.log",
            dict(os.environ),
            str(tmp_path),
            module=MODULE,
        )
        assert stopped.poll() is None
        stopped.terminate()
        assert stopped.wait(timeout=30) == -signal.SIGTERM
        forks = first.pid, second.pid
    wait_for(lambda: not any(alive(pid) for pid in forks), "the owners' servers to end with them", 30)


def test_an_owner_it_would_not_serve_starts_a_server_of_its_own(
    shared: SharedRunServer, tmp_path: Path
) -> None:
    """Another value of what imports read, a module the shared one did not preload, or no shared
    server any more."""
    with RunServer(PRELOAD, env={**os.environ, "MLRUN_DHMLRUN_TEST": "other"}) as own:
        assert parent_of(own.pid) == os.getpid()
    with RunServer((*PRELOAD, "wave")) as own:
        assert parent_of(own.pid) == os.getpid()
    shared.close()  # gone: nothing to attach to
    with RunServer(PRELOAD) as own:
        assert parent_of(own.pid) == os.getpid()
        assert run(own, tmp_path, "exit_with", "4") == 4


def test_owners_start_their_own_once_the_shared_server_died(shared: SharedRunServer, tmp_path: Path) -> None:
    with RunServer(PRELOAD) as first:
        assert run(first, tmp_path, "exit_with", "2") == 2
        assert shared.pid is not None
        os.kill(shared.pid, signal.SIGKILL)
        wait_for(lambda: not alive(shared.pid), "the shared server to die")
        assert run(first, tmp_path, "exit_with", "3") == 3  # a fork already made serves on
    with RunServer(PRELOAD) as own:  # refused at once, not left waiting for an answer
        assert parent_of(own.pid) == os.getpid()


def test_a_process_that_keeps_its_server_keeps_the_fork_between_applies(
    shared: SharedRunServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kept as a server it started is (`keeping_run_server`): while the process's environment is
    the one it asked in, not attached again for each apply."""
    from dhmlrun.apply import run_server

    with run_server.keeping_run_server(False), run_server.keeping_run_server():
        run_server.start_early(("json",))  # a light server, as the CLI would ask for one
        with run_server.warm_run_server(True) as first:
            assert first is not None and parent_of(first.pid) == shared.pid
        with run_server.warm_run_server(True) as second:
            assert second is first
        monkeypatch.setenv("SSL_CERT_FILE", "/elsewhere.pem")  # what a server's imports may read
        run_server.start_early(("json",))
        with run_server.warm_run_server(True) as fresh:
            assert fresh is not None and fresh is not first
            assert parent_of(fresh.pid) == shared.pid  # a fork again: no import reads it


OWNER = """
import os, sys
from pathlib import Path
from dhmlrun.worker.fork_server import RunServer
server = RunServer(("json",))
out, go, log, cwd = sys.argv[1:]
child = server.spawn([out, go], Path(log), dict(os.environ), cwd, module="tests.apply.module_target")
print(server.pid, child.pid, flush=True)
os._exit(0)  # dies with its run going, its server never closed
"""


def test_an_owner_that_dies_leaves_its_server_to_end_after_its_runs(
    shared: SharedRunServer, tmp_path: Path
) -> None:
    go, seen = tmp_path / "go", tmp_path / "seen.json"
    owner = subprocess.run(
        [sys.executable, "-c", OWNER, str(seen), str(go), str(tmp_path / "m.log"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    server_pid, child_pid = map(int, owner.stdout.split())
    assert parent_of(server_pid) == shared.pid and parent_of(child_pid) == server_pid
    wait_for(seen.is_file, "the run to start")
    assert alive(server_pid) and alive(child_pid)  # the run goes on without its owner
    go.touch()
    wait_for(lambda: not alive(server_pid), "the dead owner's server to end after its run", 30)


@pytest.mark.parametrize("value", ["", "not json", "{}", '{"path": 1}', "[]"])
def test_a_value_that_names_no_shared_server_is_ignored(value: str) -> None:
    assert SharedAddress.decode(value) is None


def test_the_address_carries_only_what_imports_read_and_an_unused_server_never_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "never-in-the-address")
    server = SharedRunServer(("json",))
    try:
        encoded = server.address.encode()
        assert "never-in-the-address" not in encoded
        assert SharedAddress.decode(encoded) == server.address
        assert server.pid is None  # nobody attached: it never started, nothing was preloaded
    finally:
        server.close()
