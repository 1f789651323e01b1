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
from pathlib import Path
from typing import Any

from dhmlrun.apply.graph import walk
from dhmlrun.apply.results import DONE, FAILED, STARTED, NodeResult, Observer, Silent
from dhmlrun.apply.run_server import RunServer
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
    MLRunProject,
    Plan,
    ProjectChange,
    RunRequest,
    RunStart,
    ScheduleDelete,
    ScheduleWrite,
    SecretWrite,
)
from dhmlrun.platform.dhcore import Platform
from dhmlrun.platform.mlrun import MLRunService
from dhmlrun.platform.worker_env import local_run_environment, pod_environment, run_identity, task_envs
from dhmlrun.views.terminal import safe_text
from dhmlrun.vocabulary import keys
from dhmlrun.vocabulary.kinds import MLRUN_KIND
from dhmlrun.vocabulary.mask import mask_text, mask_userinfo
from dhmlrun.vocabulary.settings import RUNS_DIR_ENV
from dhmlrun.worker.protocol import (
    ExecuteMLRunRun,
    ExecuteRun,
    FunctionVersion,
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
        self.log_dir = self.root / ".dhmlrun" / "logs"
        self._outputs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._worker_env: dict[str, str] | None = None
        self.stop = threading.Event()
        """Set when apply was interrupted: nothing more starts (`graph.walk`)."""

    def apply(self, parallelism: int = 4) -> list[NodeResult]:
        return walk(self.plan.actions, self._execute, parallelism, self.stop)

    def signal_runs(self, signum: int) -> None:
        """Forward a signal to the runs executing now (their workers end them: `worker/main.py`)."""
        signal_runs(self.run_server, signum)

    def _say(self, text: str) -> None:
        self.observer.line(safe_text(mask_text(f"[{time.strftime('%H:%M:%S')}] {text}", self.secrets)))

    def _event(self, action: Action, status: str, elapsed: float = 0.0, message: str = "") -> None:
        shown = safe_text(mask_text(message, self.secrets))
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
            self._say(f"{action.address}: failed ({elapsed:.1f}s): {message}")
            self._event(action, FAILED, elapsed, message)
            return NodeResult(action.address, action.action, FAILED, message, elapsed)
        result.elapsed = time.monotonic() - started
        self._event(action, result.status, result.elapsed, result.message)
        self._say(
            f"{action.address}: {result.status} ({result.elapsed:.1f}s)"
            + (f": {result.message}" if result.status != DONE and result.message else "")
        )
        return result

    def _dispatch(self, action: Action) -> NodeResult:
        project = self.plan.project
        match action:
            case ProjectChange():
                self.platform.ensure_project(action.body, update=action.action == UPDATE)
                return NodeResult(action.address, action.action, DONE, entity_id=project)
            case MLRunProject():
                self._mlrun().ensure_project(project, action.description)
                return NodeResult(action.address, action.action, DONE, entity_id=project)
            case ScheduleDelete():
                self._mlrun().delete_schedule(project, action.schedule)
                return NodeResult(action.address, action.action, DONE)
            case ScheduleWrite(request=RunRequest() as request):
                order = self._order(request)
                return self._on_mlrun(action, WriteMLRunSchedule(name=request.run_id, run=order))
            case EntityDelete() if self._mlrun_hosts(action.entity_kind):
                self._mlrun().delete_function(project, mlrun_function_name(action.name))
                return NodeResult(action.address, action.action, DONE)
            case EntityWrite() if self._mlrun_hosts((action.body or {}).get("kind")):
                return self._on_mlrun(action, StoreMLRunFunction(body=dict(action.body)))
            case EntityDelete():
                self.platform.delete_entity(project, action.type, action.name)
                return NodeResult(action.address, action.action, DONE)
            case RunStart(request=RunRequest() as request):
                return self._run(action, request)
            case EntityAdopt() if action.in_place:
                self.platform.adopt_in_place(action.type, action.body)
                return NodeResult(action.address, action.action, DONE, entity_id=action.seen)
            case SecretWrite():
                if self.secret_value is None:
                    raise DhmlrunError.single(f"{action.address}: no secret values can be read here")
                entity_id = write_secret(self.platform, project, action, self.secret_value(action.address))
                return NodeResult(action.address, action.action, DONE, entity_id=entity_id)
            case EntityAdopt() | EntityWrite():
                created = self.platform.create_entity(action.type, self._uploaded(action))
                return NodeResult(action.address, action.action, DONE, entity_id=str(created.get("id")))
        raise DhmlrunError.single(f"{action.address}: nothing to apply for a {type(action).__name__}")

    def _uploaded(self, action: EntityWrite | EntityAdopt) -> dict[str, Any]:
        """The body of a new version, its declared local file uploaded to the files store first
        when one is configured (`uploads.py`)."""
        body = dict(action.body or {})
        source = local_file_of(action.type, body)
        if source is None or not self.plan.files_store:
            return body
        request = upload_request(action.type, body, source)
        result = run_in_worker(request, self.log_dir, action.address, self._environment(), self.run_server)
        if not result.completed:
            raise DhmlrunError.single(f"cannot upload {source} to the files store: {result.message}")
        return {**body, "spec": {**(body.get("spec") or {}), "path": result.path}}

    # ---------------------------------------------------------------- MLRun

    def _mlrun_hosts(self, kind: object) -> bool:
        """Whether an entity of `kind` lives on the MLRun service in this plan."""
        return self.plan.mlrun is not None and kind == MLRUN_KIND

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

    def _on_mlrun(self, action: Action, request: Request) -> NodeResult:
        """An operation that needs mlrun's classes, in a worker (`worker/on_mlrun.py`)."""
        service = self._mlrun()
        env = {**self._environment(), "MLRUN_DBPATH": service.endpoint}
        result = run_in_worker(request, self.log_dir, action.address, env, self.run_server)
        if not result.completed:
            message = str(result.message or f"{type(request).__name__} ended in state {result.state}")
            if isinstance(action, RunStart) and action.request is not None:  # a worker that died
                try:
                    service.fail_run(self.plan.project, action.request.run_id, message)
                except DhmlrunError as exc:
                    message = f"{message} (and it could not be marked error on MLRun: {exc})"
            return NodeResult(action.address, action.action, FAILED, message, entity_id=result.id)
        if isinstance(action, RunStart):
            with self._lock:
                self._outputs[action.address] = dict(result.outputs)
        return NodeResult(
            action.address, action.action, DONE, entity_id=result.id, outputs=dict(result.outputs)
        )

    # ---------------------------------------------------------------- runs

    def _run(self, action: RunStart, request: RunRequest) -> NodeResult:
        on_mlrun = self._mlrun_hosts(request.function.kind)
        if request.supersedes and on_mlrun:
            self._mlrun().fail_run(request.project, request.supersedes, superseded(request.run_id))
        elif request.supersedes:
            self.platform.fail_run(request.project, request.supersedes, superseded(request.run_id))
        order = self._order(request)
        if on_mlrun:
            return self._on_mlrun(action, ExecuteMLRunRun(run=order))
        result = run_in_worker(
            ExecuteRun(run=order),
            self.log_dir,
            action.address,
            self._run_environment(request),
            self.run_server,
        )
        outputs = dict(result.outputs)
        with self._lock:
            self._outputs[action.address] = outputs
        if not result.completed:
            message = result.message or f"run ended in state {result.state}"
            try:
                self.platform.fail_run(request.project, request.run_id, str(message))
            except DhmlrunError as exc:  # the run's own failure is the one to report
                message = f"{message} (and it could not be marked ERROR: {exc})"
            return NodeResult(action.address, RUN, FAILED, str(message), entity_id=result.id)
        return NodeResult(action.address, RUN, DONE, entity_id=result.id, outputs=outputs)

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
        function = request.function
        return RunOrder(
            project=request.project,
            run_id=request.run_id,
            function=FunctionVersion(function.address, function.id, function.key, function.kind),
            action=request.action,
            inputs=self._resolve_inputs(request),
            outputs=dict(request.outputs),
            parameters=dict(request.parameters),
            values=list(request.values),
            task=dict(request.task),
            execution=request.execution,
            labels=list(request.labels),
        )

    def _run_environment(self, request: RunRequest) -> dict[str, str]:
        """The worker's environment for one run: apply's, with what DHCore's runners give a run's
        pod (`PROJECT_NAME`, `RUN_ID`, the task's `envs`; docs/dhcore-runs.md §1)."""
        base = self._environment()
        identity = run_identity(request.project, request.run_id, f"{request.function.kind}+{request.action}")
        return pod_environment(base, {}, identity, task_envs(request.task))

    def _resolve_inputs(self, request: RunRequest) -> dict[str, str]:
        """Input keys for the worker; outputs of upstream runs of this apply are filled in now."""
        resolved = {}
        for key, binding in request.inputs.items():
            value = binding.key
            if binding.run:
                with self._lock:
                    upstream = self._outputs.get(binding.run)
                if upstream is not None and binding.output is not None:
                    value = keys.output_key(upstream.get(binding.output))
            if not value:
                raise DhmlrunError.single(
                    f"input {key}: {binding.ref} has no value (the upstream run produced no such output)"
                )
            resolved[key] = str(value)
        return resolved


def superseded(run_id: str) -> str:
    return f"executor lost: the process executing it stopped renewing its lease; superseded by run {run_id}"
