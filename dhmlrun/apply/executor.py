"""Apply: execute the Plan it is given, exactly; never re-plan, never re-decide.

Platform writes go through `dhmlrun.platform.Platform` from a thread pool; each run executes
in its own worker process, given a typed request (`dhmlrun/worker/protocol.py`, sent by
`workers.py`: forked by the warm run server when apply started one, else a fresh interpreter),
so mlrun's process-global state cannot leak between runs and this process never imports mlrun
or the digitalhub SDK. A worker is given its connection to the platform explicitly, in its
environment (`platform/worker_env.py`). Outputs of a run feed the inputs of later runs
(`runs.X.outputs.Y`) once it completes.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from dhmlrun.apply import services
from dhmlrun.apply.context import StepContext
from dhmlrun.apply.graph import walk
from dhmlrun.apply.results import DONE, FAILED, STARTED, NodeResult, Observer, Silent
from dhmlrun.apply.secrets import write_secret
from dhmlrun.apply.uploads import local_file_of, upload_request
from dhmlrun.apply.workers import run_in_worker, signal_runs
from dhmlrun.errors import DhmlrunError
from dhmlrun.mlrun_names import mlrun_function_name
from dhmlrun.plan.model import (
    ADOPT,
    CREATE,
    DELETE,
    RUN,
    UPDATE,
    Action,
    EntityAdopt,
    EntityDelete,
    EntityWrite,
    InputBinding,
    MLRunProject,
    Plan,
    ProjectChange,
    RunRequest,
    RunStart,
    ScheduleDelete,
    ScheduleWrite,
    SecretWrite,
    ServiceDeploy,
    ServiceStop,
)
from dhmlrun.platform.dhcore import Platform, RunHost
from dhmlrun.platform.mlrun import MLRunService
from dhmlrun.platform.worker_env import local_run_environment, pod_environment, run_identity, task_envs
from dhmlrun.vocabulary import keys, times
from dhmlrun.vocabulary.backends import DHCORE, MLRUN
from dhmlrun.vocabulary.mask import mask_text, mask_userinfo
from dhmlrun.vocabulary.runs import RunSpec
from dhmlrun.vocabulary.settings import RUNS_DIR_ENV, run_logs_dir
from dhmlrun.worker.fork_server import RunServer
from dhmlrun.worker.protocol import (
    ExecuteMLRunRun,
    ExecuteRun,
    Request,
    RunOrder,
    StoreMLRunFunction,
    WriteMLRunSchedule,
)

VERBS = {CREATE: "creating", UPDATE: "updating", DELETE: "deleting", RUN: "running", ADOPT: "adopting"}


class Applier:
    """Executes one plan against one platform; holds the outputs of runs done so far."""

    def __init__(
        self,
        plan: Plan,
        platform: Platform,
        *,
        root: Path,
        observer: Observer | None = None,
        secrets: frozenset[str] | set[str] = frozenset(),
        run_server: RunServer | None = None,
        environ: Mapping[str, str] = os.environ,
        secret_value: Callable[[str], str] | None = None,
    ) -> None:
        self.plan = plan
        self.platform = platform
        self.root = Path(root)
        self.observer = observer or Silent()
        self.secrets = set(secrets)
        self.run_server = run_server
        self.environ = environ
        self.secret_value = secret_value
        """Reads a declared secret's value by address (the declaration's sources), for SecretWrite."""
        self.log_dir = run_logs_dir(self.root, plan.project)
        self._outputs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._worker_env: dict[str, str] | None = None
        self.stop = threading.Event()
        """Set when apply was interrupted: nothing more starts (`graph.walk`)."""
        self.context = StepContext(platform, plan.project, self.stop, self.resolve_binding)
        """What the steps kept outside this class see of the apply (`context.py`)."""

    def apply(self, parallelism: int = 4) -> list[NodeResult]:
        return walk(self.plan.actions, self._execute, parallelism, self.stop)

    def signal_runs(self, signum: int) -> None:
        """Forward a signal to the runs executing now (their workers end them: `worker/main.py`)."""
        signal_runs(self.run_server, signum)

    def _say(self, text: str) -> None:
        self.observer.line(mask_text(f"[{time.strftime('%H:%M:%S')}] {text}", self.secrets))

    def _event(self, action: Action, status: str, elapsed: float = 0.0, message: str = "") -> None:
        shown = mask_text(message, self.secrets)
        self.observer.event(action.address, action.action, status, elapsed, shown)

    def _execute(self, action: Action) -> NodeResult:
        self._say(f"{action.address}: {VERBS[action.action]}…")
        self._event(action, STARTED)
        started = time.monotonic()
        try:
            result = self._dispatch(action)
        except Exception as exc:
            elapsed = time.monotonic() - started
            message = str(exc) or type(exc).__name__
            self._say(f"{action.address}: failed ({times.duration_text(elapsed)}): {message}")
            self._event(action, FAILED, elapsed, message)
            return NodeResult(action.address, action.action, FAILED, message, elapsed)
        result.elapsed = time.monotonic() - started
        self._event(action, result.status, result.elapsed, result.message)
        self._say(
            f"{action.address}: {result.status} ({_durations(result)})"
            + (f": {result.message}" if result.message else "")
        )
        return result

    def _dispatch(self, action: Action) -> NodeResult:
        route = ROUTES.get((type(action), action.backend))
        if route is None:
            raise DhmlrunError.single(
                f"{action.address}: nothing to apply for a {type(action).__name__} on {action.backend}"
            )
        return route.step(self, action)

    # ---------------------------------------------------------------- the DigitalHub platform

    def _write_project(self, action: ProjectChange) -> NodeResult:
        self.platform.ensure_project(action.body, update=action.action == UPDATE)
        return NodeResult(action.address, action.action, DONE, entity_id=self.plan.project)

    def _create_version(self, action: EntityWrite | EntityAdopt) -> NodeResult:
        created = self.platform.create_entity(action.type, self._uploaded(action))
        return NodeResult(action.address, action.action, DONE, entity_id=str(created.get("id")))

    def _adopt(self, action: EntityAdopt) -> NodeResult:
        if not action.in_place:
            return self._create_version(action)
        self.platform.adopt_in_place(action.type, action.body)
        return NodeResult(action.address, action.action, DONE, entity_id=action.seen)

    def _write_secret(self, action: SecretWrite) -> NodeResult:
        if self.secret_value is None:
            raise DhmlrunError.single(f"{action.address}: no secret values can be read here")
        value = self.secret_value(action.address)
        entity_id = write_secret(self.platform, self.plan.project, action, value)
        return NodeResult(action.address, action.action, DONE, entity_id=entity_id)

    def _delete_entity(self, action: EntityDelete) -> NodeResult:
        self.platform.delete_entity(self.plan.project, action.type, action.name)
        return NodeResult(action.address, action.action, DONE)

    def _run_on_dhcore(self, action: RunStart) -> NodeResult:
        assert action.request is not None
        env = self._run_environment(action.request)
        mask = sorted(self.secrets)
        return self._run(action, self.platform, lambda order: ExecuteRun(run=order, mask=mask), env)

    def _uploaded(self, action: EntityWrite | EntityAdopt) -> dict[str, Any]:
        """The body of a new version, its declared local file uploaded to the files store first
        when one is configured (`uploads.py`)."""
        body = dict(action.body or {})
        if not uploads_a_file(self.plan, action):
            return body
        source = str(local_file_of(action.type, body))
        request = upload_request(action.type, body, source)
        result = run_in_worker(request, self.log_dir, self._environment(), self.run_server, self.secrets)
        if not result.completed:
            raise DhmlrunError.single(f"cannot upload {source} to the files store: {result.message}")
        return {**body, "spec": {**(body.get("spec") or {}), "path": result.path}}

    def _deploy_service(self, action: ServiceDeploy) -> NodeResult:
        return services.deploy(self.context, action)

    def _stop_service(self, action: ServiceStop) -> NodeResult:
        return services.stop(self.context, action)

    # ---------------------------------------------------------------- the MLRun service

    def _create_mlrun_project(self, action: MLRunProject) -> NodeResult:
        self._mlrun().ensure_project(self.plan.project, action.description)
        return NodeResult(action.address, action.action, DONE, entity_id=self.plan.project)

    def _store_mlrun_function(self, action: EntityWrite) -> NodeResult:
        return self._on_mlrun(action, StoreMLRunFunction(body=dict(action.body)))

    def _delete_mlrun_function(self, action: EntityDelete) -> NodeResult:
        self._mlrun().delete_function(self.plan.project, mlrun_function_name(action.name))
        return NodeResult(action.address, action.action, DONE)

    def _write_schedule(self, action: ScheduleWrite) -> NodeResult:
        assert action.request is not None
        order = self._order(action.request)
        return self._on_mlrun(action, WriteMLRunSchedule(name=action.request.run_id, run=order))

    def _delete_schedule(self, action: ScheduleDelete) -> NodeResult:
        self._mlrun().delete_schedule(self.plan.project, action.schedule)
        return NodeResult(action.address, action.action, DONE)

    def _run_on_mlrun(self, action: RunStart) -> NodeResult:
        service = self._mlrun()
        return self._run(action, service, lambda order: ExecuteMLRunRun(run=order), self._mlrun_environment())

    def _mlrun(self) -> MLRunService:
        """The MLRun service this plan was made against (a saved plan goes back to it)."""
        service = self.platform.mlrun_service
        if service is None or mask_userinfo(service.endpoint) != self.plan.mlrun:
            now = mask_userinfo(service.endpoint) if service else "none"
            raise DhmlrunError.single(
                f"the plan was made with the MLRun service {self.plan.mlrun}, but the one configured now is "
                f"{now}; plan again"
            )
        return service

    def _mlrun_environment(self) -> dict[str, str]:
        """A worker's environment for mlrun's classes: apply's, with the MLRun service."""
        return {**self._environment(), "MLRUN_DBPATH": self._mlrun().endpoint}

    def _on_mlrun(self, action: Action, request: Request) -> NodeResult:
        """An operation that needs mlrun's classes, in a worker (`worker/on_mlrun.py`)."""
        env = self._mlrun_environment()
        result = run_in_worker(request, self.log_dir, env, self.run_server, self.secrets)
        if not result.completed:
            message = str(result.message or f"{type(request).__name__} ended in state {result.state}")
            return NodeResult(action.address, action.action, FAILED, message, entity_id=result.id)
        return NodeResult(action.address, action.action, DONE, entity_id=result.id)

    # ---------------------------------------------------------------- runs, on either

    def _run(
        self,
        action: RunStart,
        host: RunHost,
        worker_request: Callable[[RunOrder], Request],
        env: dict[str, str],
    ) -> NodeResult:
        """Start the run in a worker; a run whose executor was lost (`supersedes`) is marked ERROR
        first, and one left unfinished by a worker that died is marked ERROR after, on `host`."""
        request = action.request
        assert request is not None
        if request.supersedes:
            host.fail_run(request.project, request.supersedes, superseded(request.run_id))
        order = self._order(request)
        result = run_in_worker(
            worker_request(order),
            self.log_dir,
            env,
            self.run_server,
            self.secrets,
            lambda text: self.observer.output(action.address, text),
        )
        outputs = dict(result.outputs)
        with self._lock:
            self._outputs[action.address] = outputs
        if not result.completed:
            message = result.message or f"run ended in state {result.state}"
            try:
                host.fail_run(request.project, request.run_id, str(message))
            except DhmlrunError as exc:  # the run's own failure is the one to report
                message = f"{message} (and it could not be marked ERROR: {exc})"
            failed = str(message)
            return NodeResult(action.address, RUN, FAILED, failed, entity_id=result.id, took=result.took)
        return NodeResult(action.address, RUN, DONE, entity_id=result.id, outputs=outputs, took=result.took)

    def _environment(self) -> dict[str, str]:
        """The environment of every run worker of this apply (built once: for the embedded core
        this is when it starts serving HTTP, behind its token)."""
        with self._lock:
            if self._worker_env is None:
                env = local_run_environment(self.environ, self.platform.sdk_environment())
                env.setdefault(RUNS_DIR_ENV, str((self.root / ".dhmlrun" / "runs").resolve()))
                self._worker_env = env
            return self._worker_env

    def _order(self, request: RunRequest) -> RunOrder:
        """The worker's form of a planned run: its inputs resolved now."""
        spec = {f.name: getattr(request, f.name) for f in fields(RunSpec)}
        return RunOrder(**spec, inputs=self._resolve_inputs(request))

    def _run_environment(self, request: RunRequest) -> dict[str, str]:
        """The worker's environment for one run: apply's, with what DHCore's runners give a run's
        pod (`PROJECT_NAME`, `RUN_ID`, the task's `envs`; docs/dhcore-runs.md §1)."""
        base = self._environment()
        identity = run_identity(request.project, request.run_id, f"{request.function.kind}+{request.action}")
        return pod_environment(base, {}, identity, task_envs(request.task))

    def _resolve_inputs(self, request: RunRequest) -> dict[str, str]:
        """Input keys for the worker; outputs of upstream runs of this apply are filled in now."""
        return {key: self.resolve_binding(f"input {key}", binding) for key, binding in request.inputs.items()}

    def resolve_binding(self, what: str, binding: InputBinding) -> str:
        """The key `binding` names now: an output of an upstream run of this apply once it has
        run, else the key planned."""
        value = binding.key
        if binding.run:
            with self._lock:
                upstream = self._outputs.get(binding.run)
            if upstream is not None and binding.output is not None:
                value = keys.output_key(upstream.get(binding.output))
        if not value:
            raise DhmlrunError.single(
                f"{what}: {binding.ref} has no value (the upstream run produced no such output)"
            )
        return str(value)


def superseded(run_id: str) -> str:
    return f"executor lost: the process executing it stopped renewing its lease; superseded by run {run_id}"


@dataclass(frozen=True)
class Route:
    """How apply does one type of action on one backend."""

    step: Callable[[Applier, Any], NodeResult]
    in_worker: bool = False
    """Done in a worker process that imports mlrun and the SDK: an apply with such a step starts
    the warm run server (`run_server.py`) early."""


ROUTES: dict[tuple[type[Action], str], Route] = {
    (ProjectChange, DHCORE): Route(Applier._write_project),
    (EntityWrite, DHCORE): Route(Applier._create_version),
    (EntityAdopt, DHCORE): Route(Applier._adopt),
    (SecretWrite, DHCORE): Route(Applier._write_secret),
    (EntityDelete, DHCORE): Route(Applier._delete_entity),
    (RunStart, DHCORE): Route(Applier._run_on_dhcore, in_worker=True),
    (MLRunProject, MLRUN): Route(Applier._create_mlrun_project),
    (EntityWrite, MLRUN): Route(Applier._store_mlrun_function, in_worker=True),
    (EntityDelete, MLRUN): Route(Applier._delete_mlrun_function),
    (RunStart, MLRUN): Route(Applier._run_on_mlrun, in_worker=True),
    (ScheduleWrite, MLRUN): Route(Applier._write_schedule, in_worker=True),
    (ScheduleDelete, MLRUN): Route(Applier._delete_schedule),
    (ServiceDeploy, DHCORE): Route(Applier._deploy_service),
    (ServiceStop, DHCORE): Route(Applier._stop_service),
}
"""What apply does for each (action type, backend) the planner emits: the executor dispatches on
this alone. A new family or backend is new entries here (and its step), never a branch elsewhere."""


def needs_workers(plan: Plan) -> bool:
    """Whether applying `plan` does a step in a worker process (mlrun and the SDK imported there):
    a run, an MLRun write, or the upload of a declared local file to the files store."""
    for action in plan.changes():
        route = ROUTES.get((type(action), action.backend))
        if (route is not None and route.in_worker) or uploads_a_file(plan, action):
            return True
    return False


def uploads_a_file(plan: Plan, action: Action) -> bool:
    """Whether `action` writes a version whose declared local file goes to the plan's files store
    first (`Applier._uploaded`: in a worker process, through the SDK's stores)."""
    if not isinstance(action, EntityWrite | EntityAdopt) or not plan.files_store:
        return False
    return local_file_of(action.type, dict(action.body or {})) is not None


def _durations(result: NodeResult) -> str:
    """`3.3s`, and for a run how long it took on its platform, as `show --graph` says it:
    `3.3s; the run 0.2s` (the rest is starting its worker and registering its outputs)."""
    step = times.duration_text(result.elapsed)
    return step if result.took is None else f"{step}; the run {times.duration_text(result.took)}"
