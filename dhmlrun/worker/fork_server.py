"""A warm run server: one process imports mlrun and digitalhub once, then forks one child per run.

Why: every run executes in its own process (mlrun's process-global state must not leak between
runs, and neither apply nor the embedded core may import mlrun), but a fresh worker process
(`python -m dhmlrun.worker`, `python -m dhmlrun.worker.job`) pays `import mlrun` + `import
digitalhub` (about 3 s of CPU here) before doing anything. Apply keeps one of these servers for
its runs (`apply/run_server.py`), the embedded core one for the runs it executes
(`core/jobs.py`); each run is an `os.fork()` of the warm process, a child exactly as isolated as
a fresh worker (own memory, environment, working directory, file descriptors) that runs what the
fresh worker would: a function (`target`) or a module as `python -m` runs it (`module`).

Protocol (JSON lines; the server's stdin carries requests, a private copy of its original
stdout carries answers; whatever else it prints goes to /dev/null):

    parent → {"skip": [modules]}             optional, before the first run: not to preload
    server → {"ready": true, "failed": [modules that did not import], "skipped": [modules]}
    parent → {"id": N, "argv": [...], "log": FILE, "env": {...}, "cwd": DIR,
              "target": "dhmlrun.worker.main:main"}         (or "module": "dhmlrun.worker.job")
              (optional: "session": true, a child in a session of its own that may outlive the
              server, as a service does; "append": true, its output appended to FILE)
    server → {"id": N, "pid": PID}            when the child is forked
    server → {"id": N, "exit": CODE}          when it ended (negative: killed by that signal)

A child takes the request's environment and working directory, writes stdout and stderr to
the run's log (line by line when the request's environment asks for unbuffered output, as
`PYTHONUNBUFFERED` does for a fresh process), and exits like a worker process would (exit
handlers, then its exit code). The server is single-threaded (forking a threaded process is
unsafe): it multiplexes its stdin and one pidfd per child with `selectors`. A child that crashes,
however hard, is only a non-zero exit code; the server carries on (Ctrl-C too: it ignores SIGINT
and SIGTERM, its children do not). When its stdin closes (its owner finished, or died) it waits
for the children it still has (but those in a session of their own) and exits.

A shared server (`SharedRunServer`, `--listen-fd FD`) preloads once and takes owners on a Unix
socket instead: for each owner that connects it forks a server of that owner's, speaking this
protocol on the connection, whose ready answer also says its pid. A process given its address
(`DHMLRUN_SHARED_RUN_SERVER`) attaches to it instead of starting a server, when it serves what
that server would (`SharedAddress.serves`).

A caller falls back to a fresh process for a run when the server cannot take it: turned off
with `DHMLRUN_RUN_SERVER=0`, mlrun or digitalhub failed to import, the server is gone, or the
run's environment differs in a variable read at import or interpreter start
(`READ_AT_IMPORT_PREFIXES`).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from dhmlrun.compat.python import run_exit_handlers
from dhmlrun.vocabulary.kinds import MLRUN_RUN_JOB

SERVER_ENV = "DHMLRUN_RUN_SERVER"
MLRUN_PRELOAD = (
    "mlrun",
    "dhmlrun.runtime.memdb",
    # what mlrun imports lazily during a local run (measured: sys.modules before/after one run)
    "mlrun.package.context_handler",
    "mlrun.package.packagers.numpy_packagers",
    "mlrun.package.packagers.pandas_packagers",
    "mlrun.package.packagers.python_standard_library_packagers",
    "mlrun.track.tracker_manager",
)
"""What only mlrun runs need (mlrun itself, and what imports it): last in `PRELOAD`, so an owner
that learns in time that its runs need none of it can have the server skip it (`RunServer.skip`)."""
PRELOAD = (
    "digitalhub",
    "dhmlrun.worker.main",
    "dhmlrun.worker.run",
    "dhmlrun.runtime",
    "dhmlrun.runtime.execute",
    "dhmlrun.runtime.inputs",
    "dhmlrun.runtime.results",
    "dhmlrun.runtime.source",
    "dhmlrun.runtime.logs",
    "dhmlrun.runtime.deadline",
    "dhmlrun.platform.sdk",
    *MLRUN_PRELOAD,
)
"""What a run needs, imported once in the server (a module missing here is imported by the run)."""
WORKER = "dhmlrun.worker.main:main"
"""What a child runs: `main(argv) -> exit code`, as `python -m dhmlrun.worker` would."""
REQUIRED = ("digitalhub", "mlrun")
"""Without these the server is no warmer than a fresh worker, so apply does not use it."""
WARM_KIND = MLRUN_RUN_JOB
"""An entity kind whose lookup makes the SDK register its entities and every installed runtime."""
READ_AT_IMPORT_PREFIXES = ("MLRUN_", "DHCORE_LOG_", "PYTHON")
"""Variables read when mlrun and digitalhub are imported, or when the interpreter starts
(`PYTHONPATH`, `PYTHONHASHSEED`...): a child cannot change what the server already read, so a
run whose values differ goes to a fresh worker instead. (`DH_CONFIG`, which apply sets for the
SDK after the server started, is read at import too, but only into the SDK's client config,
which each child rebuilds: `dhmlrun.platform.sdk.configure_sdk`.)"""
APPLIED_BY_CHILD = ("PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE")
"""Start-up variables a child applies itself from its request (`_child`), so they do not
decide whether the server can take a run."""
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
"""What stops a run (the server ignores them: a group's Ctrl-C must not take it down)."""
CLOSE_GRACE_SECONDS = 5.0
READY_TIMEOUT_SECONDS = 120.0
SHARED_ENV = "DHMLRUN_SHARED_RUN_SERVER"
"""Names a shared run server (`SharedRunServer`): a run server this process would start is a
fork of that one instead, when that one serves it."""
LISTEN_OPTION = "--listen-fd"
"""`python -m dhmlrun.worker.fork_server --listen-fd FD MODULES...`: a shared server, taking
connections on the listening socket FD (`SharedRunServer`)."""


class RunServerUnavailable(Exception):
    """The server cannot take this run (off, failed to preload, or gone); use a fresh worker."""


def enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """On unless `DHMLRUN_RUN_SERVER=0`, and only where the OS can fork and watch children
    through pidfds (Linux 5.3+); elsewhere every run gets a fresh worker process."""
    if environ.get(SERVER_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    return fork_supported()


@functools.cache
def fork_supported() -> bool:
    if not (hasattr(os, "fork") and hasattr(os, "pidfd_open")):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:  # an older kernel
        return False
    return True


def imports_agree(env: Mapping[str, str], server_env: Mapping[str, str]) -> bool:
    """Whether a process with environment `env` sees what the imports of a server started with
    `server_env` read (`READ_AT_IMPORT_PREFIXES`, but for what a child applies itself)."""
    keys = {
        k for k in (*env, *server_env) if k.startswith(READ_AT_IMPORT_PREFIXES) and k not in APPLIED_BY_CHILD
    }
    return all(env.get(k) == server_env.get(k) for k in keys)


# ------------------------------------------------------------------------------ parent side


class RunServer:
    """The owner's side: start the server, send it runs, follow them (thread-safe).

    `env`: the server's environment (this process's by default); what its imports read of it
    decides which runs it can take (`compatible`)."""

    def __init__(
        self,
        preload: Sequence[str] = PRELOAD,
        env: Mapping[str, str] | None = None,
        python: str | None = None,
    ) -> None:
        self.python = python or sys.executable
        """The interpreter the server (so every run it forks) runs in."""
        self._env_at_start = dict(os.environ if env is None else env)
        """The environment the server was asked for (`started_in`)."""
        self._imports_env: Mapping[str, str] = self._env_at_start
        """What the server's imports read of their environment (`compatible`)."""
        self._home: str | None = None
        attached = _attach(preload, self._env_at_start, self.python)
        if attached is not None:
            self._imports_env = attached.env  # the shared server's: agreeing with the one asked for
            self._proc: subprocess.Popen[str] | _Attached = attached
        else:
            # an empty working directory, as a fresh worker has: nothing in the user's current
            # directory can shadow a module the server imports (`-m` puts the cwd on sys.path)
            self._home = tempfile.mkdtemp(prefix="dhmlrun-run-server-")
            self._proc = subprocess.Popen(
                [self.python, "-m", "dhmlrun.worker.fork_server", *preload],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                bufsize=1,
                env=self._env_at_start,
                cwd=self._home,
            )
        self._write_lock = threading.Lock()
        self._state = threading.Condition()
        self._ready = False
        self._failed: list[str] = []
        self._skipped: list[str] = []
        self._alive = True
        self._next_id = 0
        self._children: dict[int, ForkedChild] = {}  # by request id, until it ended
        self._used = False
        self._reader = threading.Thread(target=self._read, name="dhmlrun-run-server", daemon=True)
        self._reader.start()

    @classmethod
    def start(cls, wanted: bool = True, preload: Sequence[str] = PRELOAD) -> RunServer | None:
        """A server when runs are expected and it is not turned off; None otherwise."""
        if not wanted or not enabled():
            return None
        try:
            return cls(preload)
        except OSError:
            return None

    def __enter__(self) -> RunServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------- protocol

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            with self._state:
                if message.get("ready"):
                    if isinstance(self._proc, _Attached):
                        self._proc.started(int(message["pid"]))
                    self._ready = True
                    self._failed = list(message.get("failed") or ())
                    self._skipped = list(message.get("skipped") or ())
                elif "exit" in message:
                    child = self._children.pop(int(message["id"]), None)
                    if child is not None:
                        child.returncode = int(message["exit"])
                elif "pid" in message and (child := self._children.get(int(message["id"]))):
                    child.pid = int(message["pid"])
                self._state.notify_all()
        with self._state:
            self._alive = False
            self._state.notify_all()

    def _wait_ready(self) -> None:
        with self._state:
            self._state.wait_for(lambda: self._ready or not self._alive, READY_TIMEOUT_SECONDS)
            if not self._ready:
                raise RunServerUnavailable("the run server did not get ready")
            if not self._alive:
                raise RunServerUnavailable("the run server exited")
            missing = [m for m in self._failed if m in REQUIRED]
            if missing:
                raise RunServerUnavailable(f"the run server could not import {', '.join(missing)}")

    def skip(self, modules: Sequence[str]) -> None:
        """Have the server, while it still preloads, not import `modules`: its owner learnt that
        its runs need none of them (an apply whose configuration declares no mlrun function does
        without mlrun's imports, 1.5 s of CPU). What it imported already stays; a run that does
        need a skipped module imports it itself."""
        with self._state:
            if self._ready or not self._alive:
                return
        with self._write_lock, contextlib.suppress(OSError, ValueError):
            assert self._proc.stdin is not None
            self._proc.stdin.write(json.dumps({"skip": list(modules)}) + "\n")
            self._proc.stdin.flush()

    @property
    def skipped(self) -> list[str]:
        """The modules the server did not preload because it was told to skip them (once ready)."""
        with self._state:
            return list(self._skipped)

    @property
    def pid(self) -> int:
        """The server process's id (its runs are its children); once ready, for a server forked
        by a shared one (`SHARED_ENV`)."""
        if isinstance(self._proc, _Attached):
            with self._state:
                self._state.wait_for(
                    lambda: self._proc.pid is not None or not self._alive, READY_TIMEOUT_SECONDS
                )
            if self._proc.pid is None:
                raise RunServerUnavailable("the shared run server never forked this one")
            return self._proc.pid
        return self._proc.pid

    @property
    def ready(self) -> bool:
        """Whether the server finished its imports (a run sent now is forked at once)."""
        with self._state:
            return self._ready and self._alive

    @property
    def alive(self) -> bool:
        """Whether the server process still serves (a kept server may have been killed)."""
        return self._alive and self._proc.poll() is None

    def started_in(self, env: Mapping[str, str], ignoring: Callable[[str], bool] = lambda _: False) -> bool:
        """Whether the server was started in this environment (but for the variables ignored)."""
        start = {k: v for k, v in self._env_at_start.items() if not ignoring(k)}
        return start == {k: v for k, v in env.items() if not ignoring(k)}

    def compatible(self, env: Mapping[str, str]) -> bool:
        """Whether a run with environment `env` sees what the server's imports read."""
        return imports_agree(env, self._imports_env)

    def execute(
        self, argv: list[str], log_file: Path, env: Mapping[str, str], cwd: str, target: str = WORKER
    ) -> int:
        """Run `target(argv)` (`dhmlrun.worker.main`) in a fresh child of the server; its exit code.

        Raises RunServerUnavailable before anything ran (the caller then starts a fresh worker).
        """
        return self.spawn(argv, log_file, env, cwd, target=target).wait()

    def spawn(
        self,
        argv: Sequence[str],
        log_file: Path,
        env: Mapping[str, str],
        cwd: str,
        *,
        target: str | None = None,
        module: str | None = None,
        session: bool = False,
        append: bool = False,
    ) -> ForkedChild:
        """Start `target(argv)`, or `module` as `python -m module *argv` would run it, in a fresh
        child of the server; the child, once forked (its pid known). `session`: the child leads a
        session (and process group) of its own, out of reach of its owner's signals, and may
        outlive the server (a service: `core/supervisor.py`); `append`: its output goes to the end
        of `log_file` instead of replacing it.

        Raises RunServerUnavailable before anything ran (the caller then starts a fresh process).
        """
        if not self.compatible(env):
            raise RunServerUnavailable("the run's environment differs from the server's")
        self._wait_ready()
        with self._state:
            self._next_id += 1
            run_id = self._next_id
            child = self._children[run_id] = ForkedChild(self, session)
        request: dict[str, Any] = {
            "id": run_id,
            "argv": list(argv),
            "log": str(log_file),
            "env": dict(env),
            "cwd": cwd,
            "session": session,
            "append": append,
        }
        if module is not None:
            request["module"] = module
        else:
            request["target"] = target or WORKER
        try:
            with self._write_lock:
                assert self._proc.stdin is not None
                self._proc.stdin.write(json.dumps(request) + "\n")
                self._proc.stdin.flush()
                self._used = True
        except (OSError, ValueError) as exc:
            with self._state:
                self._children.pop(run_id, None)
            raise RunServerUnavailable(f"the run server is gone: {exc}") from exc
        with self._state:
            self._state.wait_for(lambda: child.pid is not None or not self._alive)  # said before its exit
            if child.pid is None:
                self._children.pop(run_id, None)
                raise RunServerUnavailable("the run server ended before it forked the run")
        return child

    def _exit_code(self, child: ForkedChild, timeout: float | None) -> int | None:
        """The exit code of `child` once it ended (within `timeout` seconds: None if not); -1
        when the server died under it (its result file, if any, decides), or, for a child in a
        session of its own, once it ended after the server (no one reports its code then)."""
        with self._state:
            self._state.wait_for(lambda: child.returncode is not None or not self._alive, timeout)
            if child.returncode is None and not self._alive and not child.session:
                child.returncode = -1
            if child.returncode is not None or self._alive:
                return child.returncode
        return child.outlived(timeout)

    def signal_children(self, signum: int) -> None:
        """Send `signum` to every run this server is executing (apply was interrupted)."""
        with self._state:
            children = [child for child in self._children.values() if not child.session]
        for child in children:
            child.send_signal(signum)

    def retire(self) -> None:
        """Take no more runs, without waiting: the server exits once the children it has ended
        (each `ForkedChild` still learns its exit code); at once when it never ran anything.
        `close` then only cleans up."""
        with self._write_lock, contextlib.suppress(OSError):
            if self._proc.stdin is not None:
                self._proc.stdin.close()
        if not self._used:
            self._proc.kill()

    def close(self) -> None:
        """Stop the server: at once when it never ran anything (it may still be importing),
        else after its children ended (they have, once apply's walk returned)."""
        try:
            if self._proc.stdin is not None:
                self._proc.stdin.close()
        except OSError:
            pass
        if not self._used:
            self._proc.kill()
        try:
            self._proc.wait(timeout=CLOSE_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._reader.join(timeout=1)
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        if isinstance(self._proc, _Attached):
            self._proc.release()
        if self._home is not None:
            shutil.rmtree(self._home, ignore_errors=True)


class ForkedChild:
    """A run forked by the server, followed as a `subprocess.Popen` would be (what the core's
    job pool and apply use of one: `pid`, `poll`, `wait`, `terminate`, `kill`). It is the
    server's child, not this process's: the server says its pid and its exit code."""

    def __init__(self, server: RunServer, session: bool = False) -> None:
        self._server = server
        self.session = session
        """In a session of its own: it may outlive the server (`RunServer.spawn`)."""
        self.pid: int | None = None
        self.returncode: int | None = None

    def outlived(self, timeout: float | None) -> int | None:
        """A child in a session of its own whose server ended: -1 once the process ended (within
        `timeout` seconds: None if not), followed through a pidfd of this process."""
        import select

        assert self.pid is not None
        try:
            pidfd = os.pidfd_open(self.pid)
        except ProcessLookupError:
            self.returncode = -1
            return self.returncode
        try:
            if select.select([pidfd], [], [], timeout)[0]:
                self.returncode = -1
            return self.returncode
        finally:
            os.close(pidfd)

    def poll(self) -> int | None:
        """Its exit code if it ended, else None."""
        return self._server._exit_code(self, 0)

    def wait(self, timeout: float | None = None) -> int:
        """Its exit code, once it ended (`subprocess.TimeoutExpired` after `timeout` seconds)."""
        code = self._server._exit_code(self, timeout)
        if code is None:
            raise subprocess.TimeoutExpired(f"run server child {self.pid}", timeout or 0)
        return code

    def send_signal(self, signum: int) -> None:
        if self.pid is not None and self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


# ------------------------------------------------------------------------------ a shared server


@dataclass(frozen=True)
class SharedAddress:
    """Where a shared run server listens (`SharedRunServer`), and what an owner needs to know to
    attach to it without asking: its interpreter, what its imports read of its environment at
    start, the modules it preloads. Carried to other processes in `SHARED_ENV`."""

    path: str
    python: str
    env: Mapping[str, str]
    preload: tuple[str, ...]

    def serves(self, preload: Sequence[str], env: Mapping[str, str], python: str) -> bool:
        """Whether a fork of the shared server is what a server started for `preload`, in `env`,
        on interpreter `python`, would be to its runs: the same interpreter, imports agreeing
        with `env`, at least those modules."""
        return python == self.python and set(preload) <= set(self.preload) and imports_agree(env, self.env)

    def encode(self) -> str:
        """The value of `SHARED_ENV` that names this server."""
        return json.dumps(
            {"path": self.path, "python": self.python, "env": dict(self.env), "preload": self.preload}
        )

    @classmethod
    def decode(cls, value: str) -> SharedAddress | None:
        """The server a `SHARED_ENV` value names; None when it names none (unset, malformed)."""
        try:
            fields = json.loads(value)
            return cls(
                str(fields["path"]), str(fields["python"]), dict(fields["env"]), tuple(fields["preload"])
            )
        except (ValueError, TypeError, KeyError):
            return None


def _attach(preload: Sequence[str], env: Mapping[str, str], python: str) -> _Attached | None:
    """A connection to a fresh fork of the shared server this process was given (`SHARED_ENV`),
    when there is one that serves (`SharedAddress.serves`) and runs are not turned off."""
    address = SharedAddress.decode(os.environ.get(SHARED_ENV, ""))
    if address is None or not address.serves(preload, env, python) or not enabled(env):
        return None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(address.path)
    except OSError:  # gone: the owner starts a server of its own
        connection.close()
        return None
    return _Attached(connection, address.env)


class _SocketWriter:
    """The requests' side of a connection: closing it ends the requests (the server's stdin
    closed), while the answers still come."""

    def __init__(self, connection: socket.socket) -> None:
        self._connection = connection
        self._file = connection.makefile("w", encoding="utf-8", newline="\n")

    def write(self, text: str) -> int:
        return self._file.write(text)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._file.close()
        with contextlib.suppress(OSError):
            self._connection.shutdown(socket.SHUT_WR)


class _Attached:
    """A fork of the shared server serving one owner, followed as the `subprocess.Popen` of a
    server the owner started is (what `RunServer` uses of one). Not the owner's child: it is
    followed through a pidfd once its first answer says its pid."""

    def __init__(self, connection: socket.socket, env: Mapping[str, str]) -> None:
        self.env = env
        self._connection = connection
        self.stdin = _SocketWriter(connection)
        self.stdout = connection.makefile("r", encoding="utf-8", newline="\n")
        self.pid: int | None = None
        self._pidfd: int | None = None
        self.returncode: int | None = None

    def started(self, pid: int) -> None:
        """The fork said its pid (its ready answer)."""
        with contextlib.suppress(OSError):
            self._pidfd = os.pidfd_open(pid)
        self.pid = pid

    def poll(self) -> int | None:
        if self._pidfd is None:  # not forked yet, or its pid is gone already
            return self.returncode
        try:
            return self.wait(0)
        except subprocess.TimeoutExpired:
            return None

    def wait(self, timeout: float | None = None) -> int:
        import select

        if self.returncode is None and self._pidfd is not None:
            if not select.select([self._pidfd], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired(f"run server {self.pid}", timeout or 0)
            self.returncode = 0
        if self.returncode is None:  # never forked (no pid): nothing runs on this connection
            with contextlib.suppress(OSError):
                self._connection.shutdown(socket.SHUT_RDWR)
            self.returncode = 0
        return self.returncode

    def release(self) -> None:
        """Close what follows the fork (its owner is done with it)."""
        if self._pidfd is not None:
            with contextlib.suppress(OSError):
                os.close(self._pidfd)
            self._pidfd = None
        self._connection.close()

    def kill(self) -> None:
        if self._pidfd is not None and self.returncode is None:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
        with contextlib.suppress(OSError):
            self._connection.shutdown(socket.SHUT_RDWR)


class SharedRunServer:
    """A warm server that the processes given its address (`SHARED_ENV`, set to
    `address.encode()`) attach to instead of starting servers of their own: it preloads once,
    then forks, for each owner that connects, a server of that owner's, speaking `RunServer`'s
    protocol on the connection.

    Why: a test session, or a CI job, that starts many processes which each run something pays
    mlrun's and digitalhub's imports (2.5 s of CPU) once per process; a fork of one warm server
    costs a few milliseconds. The fork is the owner's server as one it started would be (same
    protocol, children and end: when the owner closes it or dies, it waits for its runs and
    exits), with one difference: it is not in the owner's process group, so a signal sent to
    the owner's group reaches the runs only through the owner (apply forwards a stop to its
    runs; a SIGKILL of the group leaves them running). Whoever kills process groups does not
    set `SHARED_ENV` for them.

    It listens on a Unix socket in a folder of its own that only this user can enter, from the
    start; its process starts (and preloads) when the first owner connects, so a session that
    runs nothing pays nothing. Closing it takes no more owners; the servers it forked end with
    their owners."""

    def __init__(self, preload: Sequence[str] = PRELOAD) -> None:
        self._home = tempfile.mkdtemp(prefix="dhmlrun-shared-run-server-")  # mode 0700
        path = os.path.join(self._home, "server.sock")
        self._env = dict(os.environ)
        self._preload = tuple(preload)
        # listening from now on: an owner connecting before the process is up waits in the
        # backlog, for its start and preload, as it would for a server of its own
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(path)
        self._listener.listen(64)
        read_at_import = {k: v for k, v in self._env.items() if k.startswith(READ_AT_IMPORT_PREFIXES)}
        self.address = SharedAddress(path, sys.executable, read_at_import, self._preload)
        self._lock = threading.Lock()
        self._closed = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._wake, self._stop = os.pipe()
        self._starter = threading.Thread(
            target=self._start_when_wanted, name="dhmlrun-shared-server", daemon=True
        )
        self._starter.start()

    @property
    def pid(self) -> int | None:
        """The server process's id, once an owner made it start."""
        return self._proc.pid if self._proc is not None else None

    def _start_when_wanted(self) -> None:
        import select

        wanted = self._listener in select.select([self._listener, self._wake], [], [])[0]
        with self._lock:
            if wanted and not self._closed:
                listening = [LISTEN_OPTION, str(self._listener.fileno())]
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "dhmlrun.worker.fork_server", *listening, *self._preload],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env=self._env,
                    cwd=self._home,
                    pass_fds=(self._listener.fileno(),),
                )
                # the process listens from now on, alone: once it is gone (stopped, crashed) an
                # owner's connection is refused at once, and the owner starts a server of its own
                self._listener.close()

    def close(self) -> None:
        """Take no more owners: the process stops at once (the servers it forked, each its
        owner's, go on until their owners are done)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            os.write(self._stop, b"x")
        self._starter.join(timeout=CLOSE_GRACE_SECONDS)
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            if self._proc.stdin is not None:
                self._proc.stdin.close()
        self._listener.close()
        for fd in (self._wake, self._stop):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self._home, ignore_errors=True)


_lent: list[RunServer] = []
"""Servers their owners (apply) lend to the embedded cores of this process meanwhile."""
_lent_lock = threading.Lock()


@contextmanager
def lending(server: RunServer | None) -> Iterator[None]:
    """For the block, an embedded core of this process may fork its runs from `server` (apply's,
    while it applies) instead of starting a server of its own (`borrow`): a remote run then
    starts at once, not after mlrun's and digitalhub's imports. The owner keeps the server: a
    borrower never retires or closes it."""
    if server is None:
        yield
        return
    lend(server)
    try:
        yield
    finally:
        unlend(server)


def lend(server: RunServer) -> None:
    """Lend `server` to the embedded cores of this process until `unlend` (`lending`)."""
    with _lent_lock:
        _lent.append(server)


def unlend(server: RunServer) -> None:
    """End one `lend` of `server` (a core that borrowed it keeps its runs there; see `borrow`)."""
    with _lent_lock:
        if server in _lent:
            _lent.remove(server)


def borrow(env: Mapping[str, str], python: str | None = None) -> RunServer | None:
    """A server lent by its owner (`lending`) of interpreter `python` (this one by default) that
    can take runs with environment `env`; None when there is none."""
    with _lent_lock:
        for server in reversed(_lent):
            if server.alive and server.python == (python or sys.executable) and server.compatible(env):
                return server
    return None


_keeping_idle = False
"""Inside `keeping_idle_servers()`: a server its owner gave back waits for the next owner."""
_idle: list[RunServer] = []
_idle_lock = threading.Lock()


@contextmanager
def keeping_idle_servers() -> Iterator[None]:
    """While the block runs, a server its owner is done with (`give_back`) waits, warm, for the
    next owner in this process whose runs its imports agree with (`take`), instead of stopping.

    Why: a process that starts embedded core after embedded core (a test session, a notebook)
    otherwise starts a server, and pays mlrun's and digitalhub's imports (about 3 s of CPU), per
    core. Runs stay as isolated: each is a fresh fork of the same untouched process, and carries
    its own environment (the server serves a new owner only when `compatible`). The idle servers
    stop when the block ends."""
    global _keeping_idle
    outer = _keeping_idle
    _keeping_idle = True
    try:
        yield
    finally:
        _keeping_idle = outer
        if not outer:
            with _idle_lock:
                idle, _idle[:] = list(_idle), []
            for server in idle:
                server.close()


def take(env: Mapping[str, str], python: str | None = None) -> RunServer | None:
    """An idle server (given back inside `keeping_idle_servers()`) of interpreter `python` (this
    one by default) that can take runs with environment `env`; None when there is none."""
    with _idle_lock:
        for server in list(_idle):
            if not server.alive:
                _idle.remove(server)
            elif server.python == (python or sys.executable) and server.compatible(env):
                _idle.remove(server)
                return server
    return None


def give_back(server: RunServer) -> None:
    """Its owner is done with `server`: kept for the next owner inside `keeping_idle_servers()`,
    closed otherwise."""
    if _keeping_idle and server.alive:
        with _idle_lock:
            _idle.append(server)
        return
    server.close()


class WarmServers:
    """The warm run servers one owner (the embedded core's job pool) forks its workers from: one
    per interpreter (the owner's, or a prepared environment's), at most `limit` of them (the ones
    used last), each borrowed from apply while it lends one (`lending`), else taken from an
    earlier owner (`keeping_idle_servers`), else started with the first run it takes. A server
    whose imports read another environment than the owner's runs get now (`compatible`) is let
    go for another. Thread-safe."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._servers: dict[str, RunServer] = {}  # by interpreter, the last used last
        self._retired: list[RunServer] = []  # let go while children of theirs may run
        self._borrowed: set[RunServer] = set()  # apply's: never retired or closed here
        self._closed = False
        self._lock = threading.Lock()

    def for_runs(self, python: str, env: Mapping[str, str], start: bool = True) -> RunServer | None:
        """A server of interpreter `python` for runs whose shared environment is `env` (each
        run's own variables come with its request); None once closed, or when none can start
        (`start=False`: when none is there already, ready, as a service's start needs: waiting
        for a server's imports would only delay it)."""
        with self._lock:
            if self._closed:
                return None
            server = self._servers.pop(python, None)
            if server is None or not server.alive or not server.compatible(env):
                if server is not None:
                    self._let_go(server)
                server = borrow(env, python)
                if server is not None:
                    self._borrowed.add(server)
                else:
                    server = take(env, python)
                    if server is None and not start:
                        return None
                    try:
                        server = server or RunServer(env=env, python=python)
                    except OSError:
                        return None
            self._servers[python] = server
            while len(self._servers) > self.limit:
                self._let_go(self._servers.pop(next(iter(self._servers))))
            return server if start or server.ready else None

    def _let_go(self, server: RunServer) -> None:
        """No more runs for `server`: a borrowed one is its owner's; one of ours is retired (its
        running children still end in it) and closed with the others. Call with `_lock` held."""
        if server in self._borrowed:
            self._borrowed.discard(server)
            return
        server.retire()
        self._retired.append(server)

    def close(self) -> None:
        """The owner is done (its runs ended): close the retired servers and give the others back
        (`give_back`: another owner of this process may take them)."""
        with self._lock:
            self._closed = True
            kept = [server for server in self._servers.values() if server not in self._borrowed]
            retired = self._retired
            self._servers, self._retired, self._borrowed = {}, [], set()
        for server in retired:
            server.close()
        for server in kept:
            give_back(server)


# ------------------------------------------------------------------------------ server side


def preload(modules: Sequence[str], skipped: Callable[[], Collection[str]] = lambda: ()) -> list[str]:
    """Import what runs need and register the SDK's runtimes; the modules that failed. Before
    each module, `skipped()` says which ones the owner no longer wants."""
    import importlib

    from dhmlrun.compat.hera import defer_runtime_import

    if "digitalhub" in modules:  # hera only when a hera run needs it (a sixth of this start-up)
        with contextlib.suppress(Exception):  # else the SDK imports it with its runtime, as it would
            defer_runtime_import()
    failed = []
    for module in modules:
        if module in skipped():
            continue
        try:
            importlib.import_module(module)
        except Exception:  # a run importing it itself will report the real error
            failed.append(module)
    # warming up is optional: a child does the same work itself if this failed
    with contextlib.suppress(Exception):
        _register_sdk_runtimes()
    return failed


def _register_sdk_runtimes() -> None:
    """The SDK registers its entities (importing a builder module per entity kind) and scans
    for runtimes on first use; asking its registry for a runtime's entity kind does both. Do it
    once here rather than in every child (the entities alone were 0.06 s of each run's CPU)."""
    if "digitalhub" in sys.modules:
        from digitalhub.factory.registry import registry

        registry.get_entity_builder(WARM_KIND)


def _child(request: dict[str, Any], server_fds: set[int], mask: set[signal.Signals]) -> None:
    """In the forked child: become a fresh worker for this run, run it, exit. Never returns.
    (`mask`: the signal mask to restore once the stop signals have their handlers again.)"""
    code = 1
    try:
        if request.get("session"):
            os.setsid()
        gc.enable()
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C stops a run, as before
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a stop sent meanwhile arrives now
        for fd in server_fds:
            os.close(fd)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        ending = os.O_APPEND if request.get("append") else os.O_TRUNC
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | ending, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        if sys.path and sys.path[0] == os.getcwd():  # what `-m` put there: the run's own cwd instead
            sys.path[0] = request["cwd"]
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        _start_up_settings(os.environ)
        # the SDK reads its configuration as a new process would, from this run's environment
        from dhmlrun.platform.sdk import configure_sdk

        configure_sdk()
        _reconnect_mlrun()
        code = _run(request)
    except SystemExit as exc:
        code = _exit_status(exc)
    except BaseException:  # a child must end here, whatever happened
        traceback.print_exc()
        code = 1
    finally:
        try:
            run_exit_handlers()  # what a worker process exiting normally would run
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _exit_status(exc: SystemExit) -> int:
    """The status `sys.exit(code)` gives a process: 0 for None, the int, else 1 with the value
    printed to stderr (as the interpreter does)."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def _run(request: dict[str, Any]) -> int:
    """Run the request's `module` as `python -m` would, or call its `target`; the exit code."""
    import importlib

    module = request.get("module")
    if module:
        import runpy

        sys.modules.pop(module, None)  # run afresh as __main__, as a new process would
        sys.argv = [module, *request["argv"]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return 0
    name, _, function = str(request.get("target") or WORKER).partition(":")
    returned = getattr(importlib.import_module(name), function)(list(request["argv"]))
    return returned if isinstance(returned, int) else 0


def _start_up_settings(environ: Mapping[str, str]) -> None:
    """What the interpreter would take from `APPLIED_BY_CHILD` at start: unbuffered output
    (line by line here: a log read while the run goes on shows each line as it is printed),
    no bytecode written."""
    if environ.get("PYTHONUNBUFFERED"):
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(AttributeError, ValueError):
                stream.reconfigure(line_buffering=True, write_through=True)  # type: ignore[union-attr]
    sys.dont_write_bytecode = bool(environ.get("PYTHONDONTWRITEBYTECODE"))


def _reconnect_mlrun() -> None:
    """Give this child its own connection to the MLRun API server (`MLRUN_DBPATH`).

    Why: mlrun connects to that server when it is imported (it fills its configuration from the
    server's client spec), so the warm server holds a pooled HTTP connection that every child
    inherits; two children using it at once read each other's answers (seen: storing one
    function got the other's reply, a `BadStatusLine`). A fresh worker connects at its own
    import; this is that connect. A server that cannot be reached fails the run's own calls.
    A `MLRUN_DBPATH` that is no URL (mlrun itself sets `./` in the environment of a process that
    asked for its run DB offline) names no server: there is nothing to reconnect to."""
    mlrun = sys.modules.get("mlrun")
    if mlrun is not None and "://" in os.environ.get("MLRUN_DBPATH", ""):
        with contextlib.suppress(Exception):
            mlrun.get_run_db(force_reconnect=True)


class _Server:
    """The server's loop: requests on stdin, children's exits on their pidfds."""

    def __init__(self, answers: IO[str], early: _EarlyMessages, blocking: bool = False) -> None:
        self.answers = answers
        self.blocking = blocking
        """Leave stdin blocking (it is read only once ready): it is the socket the answers go
        to as well, and a non-blocking answer could fail on a full buffer."""
        self.selector = selectors.DefaultSelector()
        self.children: dict[int, tuple[int, int]] = {}  # pidfd -> (request id, pid)
        self.sessions: set[int] = set()  # pidfds of children in a session of their own
        self.buffer = early.received  # what arrived during the preload (skips are ignored)
        self.reading = True

    def say(self, message: dict[str, Any]) -> None:
        self.answers.write(json.dumps(message) + "\n")
        self.answers.flush()

    def serve(self) -> None:
        os.set_blocking(0, self.blocking)
        self.selector.register(0, selectors.EVENT_READ, "stdin")
        self._take_lines()
        while self.reading or set(self.children) - self.sessions:  # a session child may stay on
            for key, _ in self.selector.select():
                if key.data == "stdin":
                    self._read_requests()
                else:
                    self._reap(key.fd)

    def _read_requests(self) -> None:
        try:
            data = os.read(0, 65536)
        except BlockingIOError:
            return
        if not data:
            self.reading = False
            self.selector.unregister(0)
            return
        self.buffer += data
        self._take_lines()

    def _take_lines(self) -> None:
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            if line.strip():
                request = json.loads(line)
                if "skip" not in request:  # one that came after the preload: nothing to skip now
                    self._fork(request)

    def _fork(self, request: dict[str, Any]) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        server_fds = {self.answers.fileno(), self.selector.fileno(), *self.children}
        # the child starts ignoring SIGINT and SIGTERM, as this server does, until it takes the
        # default handlers: blocked meanwhile, a stop sent at once is held for it, not lost
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        pid = os.fork()
        if pid == 0:
            _child(request, server_fds, mask)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        pidfd = os.pidfd_open(pid)
        self.children[pidfd] = (int(request["id"]), pid)
        if request.get("session"):
            self.sessions.add(pidfd)
        self.selector.register(pidfd, selectors.EVENT_READ, "child")
        self.say({"id": request["id"], "pid": pid})

    def _reap(self, pidfd: int) -> None:
        run_id, pid = self.children.pop(pidfd)
        self.sessions.discard(pidfd)
        self.selector.unregister(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        self.say({"id": run_id, "exit": os.waitstatus_to_exitcode(status)})


class _Owners:
    """The shared server's loop: owners connecting on its socket (each gets a fork of this
    process, a `_Server` on the connection), its own owner's end on stdin, its forks' ends on
    their pidfds (reaped at once)."""

    def __init__(self, listener: socket.socket, failed: list[str]) -> None:
        self.listener = listener
        self.failed = failed
        self.selector = selectors.DefaultSelector()
        self.selector.register(0, selectors.EVENT_READ, "owner")
        self.selector.register(listener, selectors.EVENT_READ, "listener")
        self.forks: dict[int, int] = {}  # pidfd -> pid

    def serve(self) -> None:
        while True:
            for key, _ in self.selector.select():
                if key.data == "owner":
                    if not os.read(0, 4096):  # its owner closed it, or died: take no more owners
                        return
                elif key.data == "listener":
                    with contextlib.suppress(OSError):
                        connection, _ = self.listener.accept()
                        self._fork(connection)
                else:
                    self._reap(key.fd)

    def _fork(self, connection: socket.socket) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            self._serve_owner(connection)
        connection.close()
        pidfd = os.pidfd_open(pid)
        self.forks[pidfd] = pid
        self.selector.register(pidfd, selectors.EVENT_READ, "fork")

    def _reap(self, pidfd: int) -> None:
        pid = self.forks.pop(pidfd)
        self.selector.unregister(pidfd)
        os.close(pidfd)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)

    def _serve_owner(self, connection: socket.socket) -> None:
        """In the fork: be this owner's server, on the connection as on stdin and stdout. Never
        returns."""
        code = 0
        try:
            for fd in (self.listener.fileno(), self.selector.fileno(), *self.forks):
                os.close(fd)
            os.dup2(connection.fileno(), 0)  # in place of the shared server's owner's pipe
            answers = os.fdopen(connection.detach(), "w", buffering=1)
            server = _Server(answers, _EarlyMessages(), blocking=True)  # one socket both ways
            server.say({"ready": True, "failed": self.failed, "skipped": [], "pid": os.getpid()})
            server.serve()
            answers.flush()
        except BaseException:  # the owner sees the connection end: its runs go to fresh workers
            code = 1
        finally:
            os._exit(code)


class _EarlyMessages:
    """What the owner sends while the server preloads, read without blocking between two
    imports: the modules to skip (`{"skip": [...]}`). All of it stays in `received` for the
    server's loop, which ignores a skip."""

    def __init__(self) -> None:
        self.skip: set[str] = set()
        self.received = b""
        self._parsed = 0  # the bytes of `received` whose lines were read

    def skipped(self) -> set[str]:
        while _readable(0) and (data := os.read(0, 65536)):  # b"": the owner is gone
            self.received += data
        complete = self.received[: self.received.rfind(b"\n") + 1]
        for line in complete[self._parsed :].splitlines():
            if line.strip():
                self.skip.update(json.loads(line).get("skip") or ())
        self._parsed = len(complete)
        return self.skip


def _readable(fd: int) -> bool:
    import select

    return bool(select.select([fd], [], [], 0)[0])


def main() -> None:
    # answers go to a private copy of stdout; fd 1 then points at stderr, so anything an import
    # prints cannot corrupt the protocol
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    # the pre-fork recipe of the `gc` docs: no collections while importing (measured: the
    # preload takes ~0.5 s less), then everything imported is frozen: it lives as long as the
    # server, and no child's collection walks it (which would touch, i.e. copy, every page of
    # the inherited heap: measured 0.2-0.4 s more per run without this); children re-enable gc
    modules = sys.argv[1:]
    listener = None
    if modules[:1] == [LISTEN_OPTION]:
        listener = socket.socket(fileno=int(modules[1]))
        modules = modules[2:]
    gc.disable()
    early = _EarlyMessages()
    failed = preload(modules, early.skipped if listener is None else lambda: ())
    gc.freeze()
    # Ctrl-C reaches the whole process group: the runs stop, the server stays to report how
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a group's SIGTERM too (it ends with its stdin)
    if listener is not None:
        _Owners(listener, failed).serve()
        os._exit(0)
    server = _Server(answers, early)
    skipped = sorted(m for m in modules if m in early.skip and m not in sys.modules)
    server.say({"ready": True, "failed": failed, "skipped": skipped})
    server.serve()
    # skip the interpreter's teardown: with mlrun and digitalhub loaded it takes over a second,
    # and apply would wait for it (the children ran their own exit handlers already)
    answers.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
