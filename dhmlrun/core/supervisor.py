"""Serve runs on the embedded core: their server processes, launched, watched, stopped.

A serve run (`kinds.is_service`) is not executed to an end by the job pool: once its create has
committed (READY), the supervisor starts `python -m dhmlrun.serving.worker PROJECT RUN_ID PORT
[PORT]` in a session of its own, listening on free loopback ports, with the environment of a run
the core executes, and records it in the database (`services` table: pid, process start time,
ports, folder). The run is PENDING until the server answers its readiness probe, then RUNNING
with `status.service` (and `inference_v2` for model servers) as DHCore sets them; ERROR with the
service's last log line when the process ends first or the readiness deadline passes.

The processes outlive this core: `apply` runs the core in its own process and exits, the services
stay. So nothing here depends on having launched a process: every decision reads the record and
asks the OS whether that pid is still the process it was (`processes.same_process`). Runs are
reconciled when they are read (`reconcile`, the check DHCore's Kubernetes monitor makes): a
service whose process is gone moves to ERROR, one that became ready while no core watched it
moves to RUNNING. Stop, resume and delete act on the record's process group. Lifecycle and the
facts it follows: `docs/services.md`.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from dhmlrun.core.errors import ApiError
from dhmlrun.core.service import Core
from dhmlrun.core.store import ServiceRow
from dhmlrun.private import private_dir
from dhmlrun.serving import endpoints
from dhmlrun.vocabulary import states
from dhmlrun.vocabulary.processes import process_start, same_process
from dhmlrun.worker.fork_server import ForkedChild

log = logging.getLogger("dhmlrun.core.supervisor")

ServiceFork = Callable[[str, str, dict[str, Any], str, list[str], Path, Path], ForkedChild | None]
"""`(project, run_id, run, module, argv, log, cwd)`: the service's server forked (`Jobs.fork_service`)."""

WORKER_MODULE = "dhmlrun.serving.worker"
LOG_FILE = "service.log"
STOP_GRACE_SECONDS = 10.0
PROBE_INTERVAL = 0.1
LOG_TAIL_BYTES = 1 << 20
"""At most this much of a service's output is served as its log (the end of it)."""
STARTING = frozenset({states.READY, states.PENDING, states.RESUME})
"""A serve run in one of these states is being brought up."""
SERVING = STARTING | {states.RUNNING}


def free_port(host: str = endpoints.LOOPBACK) -> int:
    """A port nobody listens on now (the OS picks it); the server binds it a moment later."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def last_line(text: str) -> str:
    """The last non-empty line of a service's output: what it said before it ended."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(it printed nothing)"


class ServiceSupervisor:
    """The serve runs of one core's database (see the module docstring)."""

    def __init__(
        self,
        core: Core,
        services_dir: Path,
        process: Callable[[str, str, dict[str, Any]], tuple[str, dict[str, str]]],
        *,
        fork: ServiceFork | None = None,
        worker_module: str = WORKER_MODULE,
        ready_timeout: float | None = None,
    ) -> None:
        self.core = core
        self.services_dir = Path(services_dir)
        self._process_for = process
        """The interpreter and environment of a process the core runs for a run, as DHCore gives
        a pod (`Jobs.process_for`: identity, configuration, the task's `envs`, the function's
        prepared environment)."""
        self._fork = fork
        """Starts the server as a fork of a warm run server when one can take it (`Jobs.fork_service`);
        else a new process is started."""
        self._worker_module = worker_module
        self.ready_timeout = ready_timeout if ready_timeout is not None else endpoints.ready_timeout()
        self._children: dict[str, subprocess.Popen[bytes] | ForkedChild] = {}
        """Processes this core started and has not reaped (reaping keeps no zombie behind)."""
        self._watched: set[tuple[str, int]] = set()
        """(run id, pid): the processes a watcher follows (one per process: a resumed run's new
        process is watched while its old watcher may still be ending)."""
        self._launching: set[str] = set()
        """Runs whose process is being started and recorded: `reconcile` leaves them be (their
        stored row may still be the previous process's, and a forked server serves at once)."""
        self._stopping: set[str] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        """Set when this core closes: its watchers let the services be and touch no database."""

    # launching --------------------------------------------------------------------------------

    def launch(self, project: str, run_id: str, run: dict[str, Any]) -> None:
        """Start serving a READY (or RESUME) serve run; a refusal is the run's ERROR."""
        kind = str(run.get("kind", ""))
        refusal = endpoints.refusal(kind)
        if refusal is not None:
            self._set(project, run_id, states.ERROR, message=refusal)
            return
        with self._recording(run_id):
            folder = private_dir(self.services_dir / run_id)
            port = free_port()
            second = free_port() if endpoints.uses_second_port(kind) else None
            args = [project, run_id, str(port), *([str(second)] if second is not None else [])]
            process = self._start(project, run_id, run, args, folder)
            row = ServiceRow(
                run_id=run_id,
                project=project,
                kind=kind,
                pid=process.pid,
                process_start=process_start(process.pid),
                port=port,
                second_port=second,
                directory=str(folder),
                launched=int(time.time() * 1000),
            )
            with self.core.store.write() as tx:
                tx.put_service(row)
            with self._lock:
                self._children[run_id] = process
        if self.core.run_state(run_id) == states.READY:
            self._set(project, run_id, states.PENDING)
        self._watch(row)

    @contextlib.contextmanager
    def _recording(self, run_id: str) -> Iterator[None]:
        """While a run's process is started and recorded, `reconcile` leaves the run be: its
        stored row may still be the previous process's (a resumed run), and a forked server
        serves, and reads its run, at once (before its row is written)."""
        with self._lock:
            self._launching.add(run_id)
        try:
            yield
        finally:
            with self._lock:
                self._launching.discard(run_id)

    def _start(
        self, project: str, run_id: str, run: dict[str, Any], args: list[str], folder: Path
    ) -> subprocess.Popen[bytes] | ForkedChild:
        """The server process, in a session of its own (out of reach of the caller's Ctrl-C),
        printing to the end of the service's log: a fork of a warm run server, else new."""
        log = folder / LOG_FILE
        if self._fork is not None:
            forked = self._fork(project, run_id, run, self._worker_module, args, log, folder)
            if forked is not None:
                return forked
        python, env = self._process_for(project, run_id, run)
        with log.open("ab") as output:
            return subprocess.Popen(
                [python, "-m", self._worker_module, *args],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**env, "PYTHONUNBUFFERED": "1"},
                cwd=folder,
                start_new_session=True,
            )

    def _watch(self, row: ServiceRow) -> None:
        """Bring the run to RUNNING when its server is ready (a thread; once per process and core)."""
        with self._lock:
            if (row.run_id, row.pid) in self._watched:
                return
            self._watched.add((row.run_id, row.pid))
        thread = threading.Thread(
            target=self._follow, args=(row,), name=f"dhmlrun-service-{row.run_id[:8]}", daemon=True
        )
        thread.start()

    def _follow(self, row: ServiceRow) -> None:
        try:
            self._await_ready(row)
            self._reap(row)
        except Exception:  # a watcher must never take the core down
            log.exception("watching service %s failed", row.run_id)
        finally:
            with self._lock:
                self._watched.discard((row.run_id, row.pid))

    def _await_ready(self, row: ServiceRow) -> None:
        deadline = row.launched / 1000 + self.ready_timeout
        url = f"http://{endpoints.LOOPBACK}:{row.port}{endpoints.readiness_path(row.kind)}"
        while not self._closed.is_set():
            state = self.core.run_state(row.run_id)
            if state not in STARTING:
                return  # stopped, deleted, or already brought up by another core
            if not same_process(row.pid, row.process_start):
                self._ended(row, "exited before it was ready")
                return
            if endpoints.probe(url):
                self._ready(row)
                return
            if time.time() > deadline:
                self._terminate(row)
                self._ended(row, f"was not ready within {self.ready_timeout:.0f} s and was stopped")
                return
            time.sleep(PROBE_INTERVAL)

    def _ready(self, row: ServiceRow) -> None:
        run = self._run(row)
        if run is None:
            return
        status = endpoints.service_status(
            row.kind, row.run_id, run.get("spec") or {}, endpoints.LOOPBACK, row.port, row.second_port
        )
        self._set(row.project, row.run_id, states.RUNNING, status=status)

    def _reap(self, row: ServiceRow) -> None:
        """Wait on a process this core started; if it ends while serving, the run is ERROR."""
        process = self._child(row)
        if process is None:
            return
        code = process.wait()
        with self._lock:
            if self._children.get(row.run_id) is process:  # not a resumed run's next one
                del self._children[row.run_id]
            on_purpose = row.run_id in self._stopping
        if self._closed.is_set():
            return  # another core (or the next read) will see that it ended
        if not on_purpose and self.core.run_state(row.run_id) in SERVING:
            self._ended(row, f"exited with code {code}")

    def _ended(self, row: ServiceRow, what: str) -> None:
        """The run is ERROR: its process `row` ended. Not when the run has another process now
        (resumed meanwhile): the end of the one before is not the run's."""
        current = self.record(row.run_id)
        if current is not None and current.pid != row.pid:
            return
        message = f"service process {row.pid} {what}: {last_line(self.output(row))}"
        self._set(row.project, row.run_id, states.ERROR, message=message, status={"service": None})

    def close(self) -> None:
        """The core closes: the services keep serving; this process stops watching them (a
        process it started and that ends later is reaped by its watcher, nothing more)."""
        self._closed.set()

    # reading ----------------------------------------------------------------------------------

    def reconcile(self, project: str | None = None) -> None:
        """Make the recorded serve runs (of `project`) say what their processes do now: a gone
        process is ERROR, a starting one nobody watches is watched (and RUNNING once ready)."""
        with self.core.store.read() as tx:
            rows = tx.services(project)
        for row in rows:
            state = self.core.run_state(row.run_id)
            if state not in SERVING:
                continue
            alive = same_process(row.pid, row.process_start)
            if not alive and not self._is_watched(row.run_id):
                self._ended(row, "exited" if state == states.RUNNING else "exited before it was ready")
            elif alive and state in STARTING:
                self._watch(row)

    def _is_watched(self, run_id: str) -> bool:
        with self._lock:
            return (
                run_id in self._launching
                or run_id in self._children
                or any(watched == run_id for watched, _ in self._watched)
            )

    def _child(self, row: ServiceRow) -> subprocess.Popen[bytes] | ForkedChild | None:
        """The process of `row` if this core started it and has not reaped it (None for another
        process of the same run: a resumed run's next one)."""
        with self._lock:
            process = self._children.get(row.run_id)
        return process if process is not None and process.pid == row.pid else None

    def record(self, run_id: str) -> ServiceRow | None:
        with self.core.store.read() as tx:
            return tx.service(run_id)

    def output(self, row: ServiceRow) -> str:
        """The end of what the service printed (at most `LOG_TAIL_BYTES`)."""
        path = Path(row.directory) / LOG_FILE
        try:
            with path.open("rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                handle.seek(max(0, size - LOG_TAIL_BYTES))
                return handle.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def log_entry(self, run_id: str) -> dict[str, Any] | None:
        """The service's output as a Log of its run (`content` base64, as the core stores logs)."""
        row = self.record(run_id)
        if row is None:
            return None
        text = self.output(row)
        return {
            "kind": "log",
            "spec": {"run": run_id},
            "content": base64.b64encode(text.encode("utf-8")).decode("ascii"),
            "metadata": {"labels": ["service"]},
        }

    # stopping ---------------------------------------------------------------------------------

    def serves(self, run_id: str) -> bool:
        return self.record(run_id) is not None

    def stop(self, project: str, run_id: str) -> None:
        """`POST …/runs/{id}/stop` moved the run to STOP: end its process group, STOPPED."""
        row = self.record(run_id)
        if row is not None:
            self._terminate(row)
        self._set(project, run_id, states.STOPPED, status={"service": None})

    def resume(self, project: str, run_id: str, run: dict[str, Any]) -> None:
        """`POST …/runs/{id}/resume` moved the run to RESUME: serve it again."""
        row = self.record(run_id)
        if row is not None:
            self._terminate(row)
        self.launch(project, run_id, run)

    def forget(self, run_ids: list[str]) -> None:
        """The runs were deleted: end their processes, drop their records and folders."""
        for run_id in run_ids:
            row = self.record(run_id)
            if row is None:
                continue
            self._terminate(row)
            with self.core.store.write() as tx:
                tx.delete_service(run_id)
            shutil.rmtree(row.directory, ignore_errors=True)

    def _terminate(self, row: ServiceRow) -> None:
        """SIGTERM to the service's process group, SIGKILL after `STOP_GRACE_SECONDS`; never a
        process that is no longer the recorded one."""
        with self._lock:
            self._stopping.add(row.run_id)
        process = self._child(row)
        try:
            if not same_process(row.pid, row.process_start):
                return
            _signal_group(row.pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            while time.monotonic() < deadline:
                if process is not None and process.poll() is not None:
                    break
                if process is None and not same_process(row.pid, row.process_start):
                    break
                time.sleep(0.05)
            else:
                _signal_group(row.pid, signal.SIGKILL)
            if process is not None:
                process.wait(timeout=STOP_GRACE_SECONDS)
            _signal_group(row.pid, signal.SIGKILL)  # whatever the server left in its group
        finally:
            with self._lock:
                self._stopping.discard(row.run_id)

    # internals --------------------------------------------------------------------------------

    def _run(self, row: ServiceRow) -> dict[str, Any] | None:
        """The run as stored (not through `Core.get_entity`, which reconciles services first)."""
        with self.core.store.read() as tx:
            found = tx.get("run", row.run_id)
        return found.body if found is not None else None

    def _set(
        self,
        project: str,
        run_id: str,
        state: str,
        *,
        message: str | None = None,
        status: dict[str, Any] | None = None,
    ) -> None:
        try:
            self.core.set_run_state(project, run_id, state, message=message, status=status)
        except ApiError:
            log.info("serve run %s could not move to %s (it moved on)", run_id, state)


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)
