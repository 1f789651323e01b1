"""A warm run server: one process imports mlrun and digitalhub once, then forks one child per run.

Why: every run executes in its own process (mlrun's process-global state must not leak between
runs, and apply itself must not import mlrun), but a fresh `python -m dhmlrun.worker`
pays `import mlrun` + `import digitalhub` (about 2 s here) before doing anything. Apply starts
this server first thing (`start_early`; stopped once apply knows nothing will run), so the
imports overlap its own work (loading, the embedded core, planning); each run is an `os.fork()` of the warm
process, a child that is exactly as isolated as a fresh worker (own memory, environment,
working directory, file descriptors) and that runs the same `dhmlrun.worker.main.main`.

Protocol (JSON lines; the server's stdin carries requests, a private copy of its original
stdout carries answers; whatever else it prints goes to /dev/null):

    server → {"ready": true, "failed": [modules that did not import]}
    parent → {"id": N, "argv": [REQUEST.json, RESULT.json], "log": FILE, "env": {...}, "cwd": DIR,
              "target": "dhmlrun.worker.main:main"}
    server → {"id": N, "pid": PID}            when the child is forked
    server → {"id": N, "exit": CODE}          when it ended (negative: killed by that signal)

A child takes the request's environment and working directory, writes stdout and stderr to
the run's log, and exits like a worker process would (exit handlers, then its exit code). The
server is single-threaded (forking a threaded process is unsafe): it multiplexes its stdin and
one pidfd per child with `selectors`. A child that crashes, however hard, is only a non-zero
exit code; the server carries on (Ctrl-C too: it ignores SIGINT and SIGTERM, its children do
not). When its stdin closes (apply finished, or died) it waits for the children it still has
and exits.

apply falls back to a fresh worker for a run when the server cannot take it: turned off with
`DHMLRUN_RUN_SERVER=0`, mlrun or digitalhub failed to import, the server is gone, or the run's
environment differs in a variable mlrun reads at import (`READ_AT_IMPORT_PREFIXES`).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import gc
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from dhmlrun.compat.python import run_exit_handlers
from dhmlrun.vocabulary.kinds import MLRUN_RUN_JOB

SERVER_ENV = "DHMLRUN_RUN_SERVER"
PRELOAD = (
    "digitalhub",
    "mlrun",
    "dhmlrun.worker.main",
    "dhmlrun.worker.run",
    "dhmlrun.runtime",
    "dhmlrun.runtime.execute",
    "dhmlrun.runtime.inputs",
    "dhmlrun.runtime.results",
    "dhmlrun.runtime.source",
    "dhmlrun.runtime.logs",
    "dhmlrun.runtime.memdb",
    "dhmlrun.runtime.deadline",
    "dhmlrun.platform.sdk",
    # what mlrun imports lazily during a local run (measured: sys.modules before/after one run)
    "mlrun.package.context_handler",
    "mlrun.package.packagers.numpy_packagers",
    "mlrun.package.packagers.pandas_packagers",
    "mlrun.package.packagers.python_standard_library_packagers",
    "mlrun.track.tracker_manager",
)
"""What a run needs, imported once in the server (a module missing here is imported by the run)."""
WORKER = "dhmlrun.worker.main:main"
"""What a child runs: `main(argv) -> exit code`, as `python -m dhmlrun.worker` would."""
REQUIRED = ("digitalhub", "mlrun")
"""Without these the server is no warmer than a fresh worker, so apply does not use it."""
WARM_KIND = MLRUN_RUN_JOB
"""A kind whose lookup makes the SDK register every installed runtime."""
READ_AT_IMPORT_PREFIXES = ("MLRUN_", "DHCORE_LOG_")
"""Variables mlrun and digitalhub read when imported: a child cannot change what the server
already read, so a run whose values differ goes to a fresh worker instead. (`DH_CONFIG`, which
apply sets for the SDK after the server started, is read at import too, but only into the SDK's
client config, which each child rebuilds: `dhmlrun.platform.sdk.configure_sdk`.)"""
CLOSE_GRACE_SECONDS = 5.0
READY_TIMEOUT_SECONDS = 120.0


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


# ------------------------------------------------------------------------------ parent side


class RunServer:
    """The apply side: start the server, send it runs, wait for their exit codes (thread-safe)."""

    def __init__(self, preload: Sequence[str] = PRELOAD) -> None:
        self._env_at_start = dict(os.environ)
        # an empty working directory, as a fresh worker has: nothing in the user's current
        # directory can shadow a module the server imports (`-m` puts the cwd on sys.path)
        self._home = tempfile.mkdtemp(prefix="dhmlrun-run-server-")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "dhmlrun.apply.run_server", *preload],
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
        self._alive = True
        self._next_id = 0
        self._exits: dict[int, int] = {}
        self._pids: dict[int, int] = {}  # request id -> pid of its child, while it runs
        self._used = False
        self._reader = threading.Thread(target=self._read, name="dhmlrun-run-server", daemon=True)
        self._reader.start()

    @classmethod
    def start(cls, wanted: bool = True) -> RunServer | None:
        """A server when runs are expected and it is not turned off; None otherwise."""
        if not wanted or not enabled():
            return None
        try:
            return cls()
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
                    self._ready = True
                    self._failed = list(message.get("failed") or ())
                elif "exit" in message:
                    self._exits[int(message["id"])] = int(message["exit"])
                    self._pids.pop(int(message["id"]), None)
                elif "pid" in message:
                    self._pids[int(message["id"])] = int(message["pid"])
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

    @property
    def alive(self) -> bool:
        """Whether the server process still serves (a kept server may have been killed)."""
        return self._alive and self._proc.poll() is None

    def started_in(self, env: Mapping[str, str], ignoring: Collection[str] = ()) -> bool:
        """Whether the server was started in this environment (but for the variables ignored)."""
        start = {k: v for k, v in self._env_at_start.items() if k not in ignoring}
        return start == {k: v for k, v in env.items() if k not in ignoring}

    def compatible(self, env: Mapping[str, str]) -> bool:
        """Whether a run with environment `env` sees what the server's imports read."""
        keys = {k for k in (*env, *self._env_at_start) if k.startswith(READ_AT_IMPORT_PREFIXES)}
        return all(env.get(k) == self._env_at_start.get(k) for k in keys)

    def execute(
        self, argv: list[str], log_file: Path, env: Mapping[str, str], cwd: str, target: str = WORKER
    ) -> int:
        """Run `target(argv)` (`dhmlrun.worker.main`) in a fresh child of the server; its exit code.

        Raises RunServerUnavailable before anything ran (the caller then starts a fresh worker).
        """
        if not self.compatible(env):
            raise RunServerUnavailable("the run's environment differs from the server's")
        self._wait_ready()
        with self._state:
            self._next_id += 1
            run_id = self._next_id
        request = {
            "id": run_id,
            "argv": argv,
            "log": str(log_file),
            "env": dict(env),
            "cwd": cwd,
            "target": target,
        }
        try:
            with self._write_lock:
                assert self._proc.stdin is not None
                self._proc.stdin.write(json.dumps(request) + "\n")
                self._proc.stdin.flush()
                self._used = True
        except (OSError, ValueError) as exc:
            raise RunServerUnavailable(f"the run server is gone: {exc}") from exc
        with self._state:
            self._state.wait_for(lambda: run_id in self._exits or not self._alive)
            if run_id in self._exits:
                return self._exits.pop(run_id)
        return -1  # the server died under a running child: its result file decides

    def signal_children(self, signum: int) -> None:
        """Send `signum` to every run this server is executing (apply was interrupted)."""
        with self._state:
            pids = [pid for run_id, pid in self._pids.items() if run_id not in self._exits]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

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
        shutil.rmtree(self._home, ignore_errors=True)


_early: RunServer | None = None
"""The server `start_early` started and no `warm_run_server` has taken yet."""
_keeping = False
"""Inside `keeping_run_server()`: the server an apply used outlives it, for the next apply."""
_kept: RunServer | None = None
"""The server kept for the next apply (see `keeping_run_server`)."""
_ignored: frozenset[str] = frozenset()
"""Variables whose changes do not retire the kept server (see `keeping_run_server`)."""


def start_early(preload: Sequence[str] = PRELOAD) -> None:
    """Start the run server now, at process start, for a command that is about to apply.

    Why: the server's imports (mlrun and digitalhub, ~2 s) are on the critical path of every
    apply that runs something; the CLI calls this before it even imports the command's
    module (~0.1 s earlier than the command could). `warm_run_server` then takes this server
    instead of starting one; one nobody took is stopped at exit."""
    global _early
    if _early is None and not _reusable() and enabled():
        with contextlib.suppress(OSError):
            _early = RunServer(preload)
        if _early is not None:
            atexit.register(_close_early)


def _close_early() -> None:
    global _early
    server, _early = _early, None
    if server is not None:
        server.close()


@contextmanager
def warm_run_server(wanted: bool) -> Iterator[RunServer | None]:
    """A run server for the block when `wanted` (the apply may run something) and not turned off
    by `DHMLRUN_RUN_SERVER=0`; None otherwise. Start it as early as possible: its imports
    overlap whatever the caller does before the first run (the one `start_early` started, if
    any, is taken over; inside `keeping_run_server()`, the one the previous apply used). A
    process that used a server is about to end: it also skips the interpreter's final
    collections (`skip_collections_at_exit`)."""
    global _early, _kept
    server, _early = _early, None
    if _reusable():
        if server is not None:
            server.close()
        server = _kept if wanted and enabled() else None
    elif server is not None and not wanted:
        server.close()
        server = None
    elif server is None:
        server = RunServer.start(wanted)
    try:
        yield server
    finally:
        if server is not None and _keeping and server is not _kept:
            previous, _kept = _kept, server  # the newest: started in the environment of now
            if previous is not None:
                previous.close()
        elif server is not None and not _keeping:
            server.close()
            skip_collections_at_exit()


def release(server: RunServer) -> None:
    """The apply runs nothing after all: stop its server now, so its memory and CPU go back
    (unless `keeping_run_server()` keeps it for the next apply)."""
    if not _keeping:
        server.close()


def _reusable() -> bool:
    """Whether the kept server can serve this apply: alive, and started in the environment this
    process has now (whatever its imports read of it, as a server started now would)."""
    return _keeping and _kept is not None and _kept.alive and _kept.started_in(os.environ, _ignored)


@contextmanager
def keeping_run_server(keep: bool = True, ignoring: Collection[str] = ()) -> Iterator[None]:
    """While the block runs, the run server an apply used is kept for the next apply of this
    process (`keep=False`: each apply starts and stops its own, as outside; the kept one waits).

    Why: a process that applies again and again (a test session, a notebook) otherwise starts a
    server, and pays its imports (about 2 s of CPU), per apply. Runs stay as isolated as with a
    server per apply: each is still a fresh fork of the same warm, untouched process, and the
    kept server serves only while this process's environment is the one it was started in (a
    server imports modules that read it: `SSL_CERT_FILE`, `MLRUN_*`...); after a change, the
    next apply starts a server, which is kept instead (`ignoring`: variables the caller knows no
    import reads, such as pytest's `PYTEST_CURRENT_TEST`). The kept server is stopped when the
    block that started keeping ends."""
    global _keeping, _kept, _ignored
    outer = (_keeping, _kept, _ignored)
    owns = keep and not _keeping  # the block's own server (an enclosing keeping block shares its)
    _keeping = keep
    if owns:
        _kept, _ignored = None, frozenset(ignoring)
    try:
        yield
    finally:
        if owns and _kept is not None:
            _kept.close()
        _keeping, _kept, _ignored = outer


_skipping_collections = False


def skip_collections_at_exit() -> None:
    """Spare this process the interpreter's final garbage collections when it exits.

    Why: apply ends soon after its runs, holding the SDK, pydantic, uvicorn and the platform
    state; Python's teardown runs full collections over all of it, ~0.3 s measured on the
    critical path of every apply that ran something. Freezing the heap at exit (the last atexit
    handler to be registered runs first) moves everything out of the collector's reach; every
    other exit step still runs: atexit handlers, flushing and closing of files and streams,
    module teardown. Only the finalizers of objects in reference cycles still alive at exit are
    skipped, which Python does not promise to run at exit anyway."""
    global _skipping_collections
    if not _skipping_collections:
        atexit.register(gc.freeze)
        _skipping_collections = True


# ------------------------------------------------------------------------------ server side


def preload(modules: Sequence[str]) -> list[str]:
    """Import what runs need and register the SDK's runtimes; the modules that failed."""
    import importlib

    failed = []
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception:  # a run importing it itself will report the real error
            failed.append(module)
    # warming up is optional: a child does the same work itself if this failed
    with contextlib.suppress(Exception):
        _register_sdk_runtimes()
    return failed


def _register_sdk_runtimes() -> None:
    """The SDK scans for runtimes on first use (asking its registry for any runtime kind does
    it); do it once here rather than in every child."""
    if "digitalhub" in sys.modules:
        from digitalhub.factory.registry import registry

        registry.get_runtime_builder(WARM_KIND)


def _child(request: dict[str, Any], server_fds: set[int]) -> None:
    """In the forked child: become a fresh worker for this run, run it, exit. Never returns."""
    code = 1
    try:
        gc.enable()
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C stops a run, as before
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for fd in server_fds:
            os.close(fd)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        if sys.path and sys.path[0] == os.getcwd():  # what `-m` put there: the run's own cwd instead
            sys.path[0] = request["cwd"]
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        # the SDK reads its configuration as a new process would, from this run's environment
        from dhmlrun.platform.sdk import configure_sdk

        configure_sdk()
        _reconnect_mlrun()
        import importlib

        module, _, function = str(request.get("target") or WORKER).partition(":")
        returned = getattr(importlib.import_module(module), function)(list(request["argv"]))
        code = returned if isinstance(returned, int) else 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
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


def _reconnect_mlrun() -> None:
    """Give this child its own connection to the MLRun API server (`MLRUN_DBPATH`).

    Why: mlrun connects to that server when it is imported (it fills its configuration from the
    server's client spec), so the warm server holds a pooled HTTP connection that every child
    inherits; two children using it at once read each other's answers (seen: storing one
    function got the other's reply, a `BadStatusLine`). A fresh worker connects at its own
    import; this is that connect. A server that cannot be reached fails the run's own calls."""
    mlrun = sys.modules.get("mlrun")
    if mlrun is not None and os.environ.get("MLRUN_DBPATH"):
        with contextlib.suppress(Exception):
            mlrun.get_run_db(force_reconnect=True)


class _Server:
    """The server's loop: requests on stdin, children's exits on their pidfds."""

    def __init__(self, answers: IO[str]) -> None:
        self.answers = answers
        self.selector = selectors.DefaultSelector()
        self.children: dict[int, tuple[int, int]] = {}  # pidfd -> (request id, pid)
        self.buffer = b""
        self.reading = True

    def say(self, message: dict[str, Any]) -> None:
        self.answers.write(json.dumps(message) + "\n")
        self.answers.flush()

    def serve(self) -> None:
        os.set_blocking(0, False)
        self.selector.register(0, selectors.EVENT_READ, "stdin")
        while self.reading or self.children:
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
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            if line.strip():
                self._fork(json.loads(line))

    def _fork(self, request: dict[str, Any]) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        server_fds = {self.answers.fileno(), self.selector.fileno(), *self.children}
        pid = os.fork()
        if pid == 0:
            _child(request, server_fds)
        pidfd = os.pidfd_open(pid)
        self.children[pidfd] = (int(request["id"]), pid)
        self.selector.register(pidfd, selectors.EVENT_READ, "child")
        self.say({"id": request["id"], "pid": pid})

    def _reap(self, pidfd: int) -> None:
        run_id, pid = self.children.pop(pidfd)
        self.selector.unregister(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        self.say({"id": run_id, "exit": os.waitstatus_to_exitcode(status)})


def main() -> None:
    # answers go to a private copy of stdout; fd 1 then points at stderr, so anything an import
    # prints cannot corrupt the protocol
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    # the pre-fork recipe of the `gc` docs: no collections while importing (measured: the
    # preload takes ~0.5 s less), then everything imported is frozen: it lives as long as the
    # server, and no child's collection walks it (which would touch, i.e. copy, every page of
    # the inherited heap: measured 0.2-0.4 s more per run without this); children re-enable gc
    gc.disable()
    failed = preload(sys.argv[1:])
    gc.freeze()
    # Ctrl-C reaches the whole process group: the runs stop, the server stays to report how
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a group's SIGTERM too (it ends with its stdin)
    server = _Server(answers)
    server.say({"ready": True, "failed": failed})
    server.serve()
    # skip the interpreter's teardown: with mlrun and digitalhub loaded it takes over a second,
    # and apply would wait for it (the children ran their own exit handlers already)
    answers.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
