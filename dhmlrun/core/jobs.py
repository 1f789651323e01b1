"""Remote runs on the embedded core: one worker process per run, a few at a time.

A run created without `spec.local_execution` is built inside its create (READY, as DHCore's POST
leaves it) and handed here after that commits. A pool of threads takes runs from a queue and, for
each whose kind has a runtime installed here, starts `python -m dhmlrun.worker.job PROJECT
RUN_ID` (as a fork of the core's warm run server, `worker/fork_server.py`, which imported mlrun
and digitalhub once: the run starts in about 0.1 s instead of 2-3 s) with the environment DHCore
gives a run's pod (`worker_env.pod_environment`: the core's
endpoint, token and configuration, the run's `PROJECT_NAME` and `RUN_ID`, its task's `envs`; nothing
of another platform's), in a working directory of its own, removed after it (a
runtime writes the run's source into its working directory: digitalhub-runtime-python's
`runtime_python/main.py`, which concurrent runs sharing one directory would overwrite for each
other; what a run keeps goes to the runs directory next to the database). The worker does the whole
execution through the SDK, so the core never imports mlrun. What the worker prints is the run's
log, for every kind, as DHCore serves a pod's log (`GET /runs/{id}/logs`, docs/runtimes.md §3):
read live while the worker runs (`live_log`), stored as a Log of the run when it exits (the worker is told so,
`OUTPUT_KEPT_ENV`, and stores none of its own). If the worker exits without leaving the run in a
final state, the run is set ERROR with a message naming the exit code. A run of a kind whose
runtime is not installed is set ERROR at once, saying so.

Queued and running runs live in this process's memory, so each one is also *claimed* in the database
(`run_claims`: run id → this pid). If the process is killed (-9) those runs would stay READY/RUNNING
forever and block reruns; so whenever the job runner starts on the same file, it sets ERROR on the
unfinished runs of claims whose process is gone.
"""

from __future__ import annotations

import base64
import importlib.util
import logging
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dhmlrun.core.configuration import run_configuration
from dhmlrun.core.errors import ApiError
from dhmlrun.core.kinds import sdk_module
from dhmlrun.core.levels import DEFAULT_LEVEL, LEVELS
from dhmlrun.core.service import Core
from dhmlrun.environments import PYTHON_KIND_PREFIX, Environment, EnvironmentRequest, ready
from dhmlrun.platform.worker_env import (
    embedded_connection,
    platform_run_environment,
    pod_environment,
    run_identity,
    task_envs,
    task_kind_of,
)
from dhmlrun.vocabulary import states
from dhmlrun.vocabulary.mask import mask_text
from dhmlrun.vocabulary.processes import process_alive
from dhmlrun.vocabulary.settings import ENVIRONMENT_ENV, ENVS_DIR_ENV, OUTPUT_KEPT_ENV, RUNS_DIR_ENV
from dhmlrun.worker import fork_server
from dhmlrun.worker.fork_server import ForkedChild, RunServer, RunServerUnavailable

log = logging.getLogger("dhmlrun.core.jobs")

WORKER_MODULE = "dhmlrun.worker.job"
PIPELINE_WORKER_MODULE = "dhmlrun.worker.pipeline"
BUILD_WORKER_MODULE = "dhmlrun.worker.build"
ORCHESTRATORS: dict[str, str] = {"hera+pipeline:run": PIPELINE_WORKER_MODULE}
"""Run kinds that orchestrate other runs (what Argo does for DHCore), by the module that executes
them. Each starts at once in a thread of its own, outside the bounded pool: its steps' runs are
what take the pool's workers, and pipelines holding every pool slot while waiting for their own
steps would deadlock it."""
BUILDERS: dict[str, str] = {
    "python+build:run": BUILD_WORKER_MODULE,
    "container+build:run": BUILD_WORKER_MODULE,
}
"""Build runs, which DHCore executes itself (the runtimes' `run()` does nothing for a build):
the core's build worker does them (`worker/build.py`), in the pool, with no runtime needed."""
DEFAULT_MAX_WORKERS = 2
MAX_WARM_SERVERS = 3
"""Warm run servers a core keeps at most (its own interpreter's and the prepared environments'
used last): each holds mlrun and digitalhub in memory (about 300 MB)."""
_OUTPUT_TAIL = 4000
STOPPED_BEFORE_START = "the core stopped before the run started"


def runtime_module(run_kind: str) -> str:
    """The SDK plugin that executes runs of `run_kind`, as the kinds table names it:
    `python+job:run` is run by `digitalhub_runtime_python`, `sklearnserve+serve:run` by
    `digitalhub_runtime_modelserve` (not derived from the kind's prefix: several runtimes share
    one plugin)."""
    return sdk_module(run_kind)


def runtime_installed(run_kind: str) -> bool:
    try:
        return importlib.util.find_spec(runtime_module(run_kind)) is not None
    except (ImportError, ValueError):
        return False


WorkerProcess = subprocess.Popen[bytes] | ForkedChild
"""A run's worker: a child of the warm run server, or a new interpreter."""


@dataclass(frozen=True)
class Job:
    """A run waiting for a worker."""

    project: str
    run_id: str
    kind: str
    spec: dict[str, Any]
    """The run's spec as built at its create (its task kind and `envs` shape the environment)."""

    @classmethod
    def of(cls, project: str, run_id: str, run: dict[str, Any]) -> Job:
        """The job of a stored run."""
        return cls(project, run_id, str(run.get("kind", "")), dict(run.get("spec") or {}))


class Jobs:
    """Bounded pool of worker processes for remote runs."""

    def __init__(
        self,
        core: Core,
        *,
        max_workers: int = DEFAULT_MAX_WORKERS,
        worker_module: str = WORKER_MODULE,
        runs_dir: Path | None = None,
        files_store: str | None = None,
        level: int = DEFAULT_LEVEL,
        envs_dir: Path | None = None,
    ) -> None:
        self.core = core
        self.runs_dir = runs_dir
        self.envs_dir = envs_dir
        self.files_store = files_store
        self.level = LEVELS[level]
        """The API level the core speaks (its runs are told it: DHCORE_API_LEVEL)."""
        self.max_workers = max(1, max_workers)
        self.endpoint: str | None = None
        self._token: str | None = None
        self._connection: dict[str, str] = {}
        self._worker_module = worker_module
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._orchestrators: list[threading.Thread] = []
        self._processes: dict[str, WorkerProcess] = {}
        self._warm = fork_server.WarmServers(MAX_WARM_SERVERS)
        self._outputs: dict[str, Path] = {}  # what each running worker has printed so far
        self._masks: dict[str, list[str]] = {}  # the secret values each running worker was given
        self._stopped: set[str] = set()  # runs whose worker was ended on purpose by `stop_run`
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def start(self, endpoint: str, token: str, connection: Mapping[str, str] | None = None) -> None:
        """Begin taking runs; workers are told to talk to `endpoint` with `token` (`connection`:
        the whole SDK environment of the served core, its files store included)."""
        self.endpoint, self._token = endpoint, token
        self._connection = dict(connection or embedded_connection(endpoint, token))
        self.recover_orphans()
        for index in range(self.max_workers):
            thread = threading.Thread(target=self._loop, name=f"dhmlrun-jobs-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def submit(self, project: str, run_id: str, run: dict[str, Any]) -> None:
        """Claim and queue a run (called by `Core` right after the create committed)."""
        with self.core.store.write() as tx:
            tx.claim(run_id, project, os.getpid(), int(time.time() * 1000))
        job = Job.of(project, run_id, run)
        if job.kind not in ORCHESTRATORS:
            self._queue.put(job)
            return
        thread = threading.Thread(
            target=self._take, args=(job,), name=f"dhmlrun-pipeline-{run_id}", daemon=True
        )
        with self._lock:
            self._orchestrators = [t for t in self._orchestrators if t.is_alive()] + [thread]
        thread.start()

    def recover_orphans(self) -> None:
        """Fail the unfinished runs claimed by executors whose process no longer exists."""
        with self.core.store.read() as tx:
            claims = tx.claims()
        for run_id, project, owner in claims:
            if owner == os.getpid() or process_alive(owner):
                continue
            state = self.core.run_state(run_id)
            if state is not None and not states.is_final(state):
                self._set_state(
                    project, run_id, states.ERROR, f"the core process ({owner}) executing this run ended"
                )
            self._release(run_id)

    def stop_run(self, project: str, run_id: str) -> None:
        """A client asked to stop a run: end its worker (if we run it) and mark it STOPPED."""
        with self._lock:
            process = self._processes.get(run_id)
            if process is None:
                return
            self._stopped.add(run_id)
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        self._set_state(project, run_id, states.STOPPED, None)

    def running(self) -> list[str]:
        """Ids of the runs whose worker process is alive right now."""
        with self._lock:
            return list(self._processes)

    def forget_runs(self, run_ids: list[str]) -> None:
        """Runs were deleted: end their workers (there is no state left to set)."""
        for run_id in run_ids:
            with self._lock:
                process = self._processes.get(run_id)
                if process is None:
                    continue
                self._stopped.add(run_id)
            process.kill()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop taking runs; end running workers after `timeout` and mark their runs ERROR."""
        self._stopping.set()
        for _ in self._threads:
            self._queue.put(None)
        with self._lock:
            running = list(self._processes.values())
        for process in running:
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
        with self._lock:
            threads = [*self._threads, *self._orchestrators]
        for thread in threads:
            thread.join(timeout=timeout)
        self._threads.clear()
        self._orchestrators.clear()
        self._warm.close()  # their children ended above
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                self._set_state(job.project, job.run_id, states.ERROR, STOPPED_BEFORE_START)
                self._release(job.run_id)

    # internals --------------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            self._take(job)

    def _take(self, job: Job) -> None:
        """Execute one job, whatever happens: a broken job must not kill the pool."""
        try:
            if self._stopping.is_set():
                self._set_state(job.project, job.run_id, states.ERROR, STOPPED_BEFORE_START)
            else:
                self._execute(job)
        except Exception:
            log.exception("the job runner failed on run %s", job.run_id)
            self._set_state(
                job.project, job.run_id, states.ERROR, "the core failed to start the run's worker"
            )
        finally:
            self._release(job.run_id)

    def _execute(self, job: Job) -> None:
        if self.core.run_state(job.run_id) != states.READY:
            return  # deleted, stopped or taken over by a client while queued
        if job.kind not in BUILDERS and not runtime_installed(job.kind):
            message = (
                f"no runtime for kind {job.kind} is installed where this core runs "
                f"(the Python module {runtime_module(job.kind)}); it cannot execute this run"
            )
            self._set_state(job.project, job.run_id, states.ERROR, message)
            return
        with (
            tempfile.TemporaryDirectory(prefix="dhmlrun-job-out-") as kept,
            tempfile.TemporaryDirectory(prefix="dhmlrun-job-") as workdir,
        ):
            output_path = Path(kept) / "output.log"
            environment = self._prepared(job)
            python, env = self._in_environment(environment, self._worker_env(job))
            mask = self._secret_values(job)
            process = self._start_worker(job, environment, python, env, workdir, output_path)
            with self._lock:
                self._processes[job.run_id] = process
                self._outputs[job.run_id] = output_path
                self._masks[job.run_id] = mask
            try:
                code = process.wait()
                printed = mask_text(_read(output_path), mask)
                self._store_output(job, printed)
            finally:
                # served live until it is stored (a reader never finds neither: `Core.run_logs`);
                # `running` lists it until then too
                with self._lock:
                    self._outputs.pop(job.run_id, None)
                    self._masks.pop(job.run_id, None)
                    self._processes.pop(job.run_id, None)
                    stopped_on_purpose = job.run_id in self._stopped
                    self._stopped.discard(job.run_id)
        if stopped_on_purpose:
            return
        state = self.core.run_state(job.run_id)
        if states.is_final(state):
            return
        tail = printed[-_OUTPUT_TAIL:].strip()
        message = f"worker exited with code {code} without a final state (run was {state})"
        self._set_state(job.project, job.run_id, states.ERROR, f"{message}: {tail}" if tail else message)

    def _start_worker(
        self,
        job: Job,
        environment: Environment | None,
        python: str,
        env: dict[str, str],
        workdir: str,
        output: Path,
    ) -> WorkerProcess:
        """Start the worker of `job` printing to `output`: a child of the warm run server of its
        interpreter (the core's, or the prepared environment of its requirements) when that
        server can take it, else a new `python -m MODULE PROJECT RUN_ID` (in a working directory
        of its own: runtimes write their sources there, `runtime_python/main.py`). A run whose
        requirements' environment is not prepared yet gets a new process: its worker prepares
        it and starts again there (`worker/job.py`)."""
        module = self._worker_module_of(job.kind)
        argv = [job.project, job.run_id]
        server = self._server_for(job, environment)
        if server is not None:
            try:
                return server.spawn(argv, output, env, workdir, module=module)
            except RunServerUnavailable:
                pass
        with output.open("wb") as printed:
            return subprocess.Popen(
                [python, "-m", module, *argv],
                stdin=subprocess.DEVNULL,
                stdout=printed,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=workdir,
            )

    def _server_for(self, job: Job, environment: Environment | None, start: bool = True) -> RunServer | None:
        """The warm run server a process of `job` forks from (`_warm_server`); None for a python
        run whose requirements' environment is not prepared yet: a new process prepares it and
        starts again there (`worker/job.py`), which no fork of a warm server can do."""
        if environment is None and self._environment_request(job) is not None:
            return None
        return self._warm_server(environment, start)

    def _warm_server(self, environment: Environment | None, start: bool = True) -> RunServer | None:
        """The warm run server of the core's interpreter, or of a prepared `environment`
        (`fork_server.WarmServers`): each worker is then a fork of a process that imported mlrun
        and digitalhub once, instead of a new interpreter paying those imports (about 3 s of CPU)
        before the run starts. None when turned off (`DHMLRUN_RUN_SERVER=0`) or unavailable."""
        if self._stopping.is_set() or not fork_server.enabled():
            return None
        return self._warm.for_runs(*self._in_environment(environment, self._environment({}, {})), start=start)

    def _prepared(self, job: Job) -> Environment | None:
        """The prepared environment of a python run's requirements (None: the core's own, or
        not prepared yet: the worker prepares it, `worker/job.py`)."""
        request = self._environment_request(job)
        return ready(self.envs_dir, request) if request is not None and self.envs_dir else None

    @staticmethod
    def _in_environment(environment: Environment | None, env: dict[str, str]) -> tuple[str, dict[str, str]]:
        """The interpreter and variables of a worker in `environment` (None: the core's)."""
        if environment is None:
            return sys.executable, env
        return str(environment.python), {**environment.variables(env), ENVIRONMENT_ENV: environment.digest}

    def _interpreter(self, job: Job, env: dict[str, str]) -> tuple[str, dict[str, str]]:
        """The worker's Python: a python run's environment when it is prepared already (else the
        worker prepares it and starts again there: `worker/job.py`), the core's."""
        return self._in_environment(self._prepared(job), env)

    def _environment_request(self, job: Job) -> EnvironmentRequest | None:
        """The environment of its own a python run's `requirements` ask for (None: the core's)."""
        if self.envs_dir is None or job.kind in BUILDERS or not job.kind.startswith(PYTHON_KIND_PREFIX):
            return None
        request = EnvironmentRequest.of(job.spec)
        return request if request.requirements else None

    def fork_service(
        self,
        project: str,
        run_id: str,
        run: dict[str, Any],
        module: str,
        argv: list[str],
        log: Path,
        cwd: Path,
    ) -> ForkedChild | None:
        """Start `module` (a serve run's server: `supervisor.py`) as a fork of the warm run server
        of its interpreter, in a session of its own, its output appended to `log`, with the
        environment `process_for` gives; None when no server can take it (the caller starts a
        process). Why: a python service otherwise pays the SDK's imports (1.1 s of CPU) before it
        serves; a model server those of its start, before it becomes MLServer. Only a server that
        is there and ready is used: starting one for a service would delay it."""
        job = Job.of(project, run_id, run)
        environment = self._prepared(job)
        server = self._server_for(job, environment, start=False)
        if server is None:
            return None
        _, env = self._in_environment(environment, self._worker_env(job))
        try:
            return server.spawn(argv, log, env, str(cwd), module=module, session=True, append=True)
        except RunServerUnavailable:
            return None

    def process_for(self, project: str, run_id: str, run: dict[str, Any]) -> tuple[str, dict[str, str]]:
        """The interpreter and environment of a process the core runs for `run` outside this pool
        (a serve run's server: `supervisor.py`), as a job's worker would get them."""
        job = Job.of(project, run_id, run)
        return self._interpreter(job, self._worker_env(job))

    def _worker_module_of(self, kind: str) -> str:
        return ORCHESTRATORS.get(kind) or BUILDERS.get(kind) or self._worker_module

    def _worker_env(self, job: Job) -> dict[str, str]:
        """What DHCore's runner for this run's task would give its pod (docs/dhcore-runs.md §1)."""
        return self._environment(
            run_identity(job.project, job.run_id, task_kind_of(job.spec)), task_envs(job.spec)
        )

    def _environment(self, identity: Mapping[str, str], envs: Mapping[str, str]) -> dict[str, str]:
        """A worker's environment: the core's configuration, a run's `identity` and `envs`."""
        assert self.endpoint is not None and self._token is not None
        configuration = {**self._connection, **run_configuration(self.endpoint, self.files_store, self.level)}
        env = pod_environment(
            platform_run_environment(os.environ, self._connection), configuration, identity, envs
        )
        if self.runs_dir is not None:  # outputs of the core's runs live next to its database
            env[RUNS_DIR_ENV] = str(self.runs_dir.resolve())
        if self.envs_dir is not None:  # so do the environments of functions' requirements
            env[ENVS_DIR_ENV] = str(self.envs_dir.resolve())
        env[OUTPUT_KEPT_ENV] = "1"  # what it prints is the run's log (`_store_output`)
        env["PYTHONUNBUFFERED"] = "1"  # served as it is printed (`live_log`), as a pod's log is
        return env

    def live_log(self, run_id: str) -> dict[str, Any] | None:
        """What the worker of a run still executing has printed so far, as a Log of the run
        (`Core.run_logs` serves it after the stored ones); None when no worker runs it."""
        with self._lock:
            path, mask = self._outputs.get(run_id), self._masks.get(run_id, [])
        if path is None:
            return None
        try:
            printed = mask_text(path.read_bytes().decode(errors="replace"), mask)
        except OSError:  # the worker ended meanwhile: its output is being stored
            return None
        return _log_body(run_id, printed) if printed else None

    def _secret_values(self, job: Job) -> list[str]:
        """The values of the secrets the run's task names (its worker's environment holds them).

        Why: the worker masks them in the results and messages it writes, but a handler may print
        one, or a failure may name one, and what the worker prints becomes the run's log here
        (served live and stored): it is masked as dhmlrun masks every output (`vocabulary/mask`)."""
        names = sorted({str(name) for name in job.spec.get("secrets") or () if name})
        try:
            return [value for value in self.core.secret_data(job.project, names).values() if value]
        except ApiError:  # a secret the core cannot open: the worker fails on it and says so
            return []

    def _store_output(self, job: Job, printed: str) -> None:
        """Keep what the worker printed as a Log of the run (`content` base64, as core)."""
        if not printed:
            return
        try:
            self.core.create_entity(job.project, "log", _log_body(job.run_id, printed))
        except ApiError:
            log.warning("could not store the worker output of run %s", job.run_id)

    def _release(self, run_id: str) -> None:
        try:
            with self.core.store.write() as tx:
                tx.release(run_id)
        except Exception:  # the database going away must not kill the pool; recovery cleans up
            log.warning("could not release the claim on run %s", run_id)

    def _set_state(self, project: str, run_id: str, state: str, message: str | None) -> None:
        try:
            self.core.set_run_state(project, run_id, state, message=message)
        except ApiError:
            log.info("run %s could not move to %s (it moved on)", run_id, state)


def _read(output: Path) -> str:
    """What a worker printed (nothing when it ended before opening its output)."""
    try:
        return output.read_bytes().decode(errors="replace")
    except FileNotFoundError:
        return ""


def _log_body(run_id: str, printed: str) -> dict[str, Any]:
    """A Log of the run holding what its worker printed (labelled as the executor's)."""
    return {
        "kind": "log",
        "spec": {"run": run_id},
        "content": base64.b64encode(printed.encode("utf-8", "replace")).decode("ascii"),
        "metadata": {"labels": ["executor"]},
    }
