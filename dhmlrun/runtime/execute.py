"""Build the mlrun project and function and run the handler with `local=True`; never hang.

Offline (no `MLRUN_DBPATH`) the run is recorded in the in-memory run DB (`memdb`), which is how
a failing handler is told apart from a successful one and how artifacts are found afterwards;
nothing here calls `run.outputs`, which blocks forever without an API server. With
`MLRUN_DBPATH` pointing at an MLRun service the run still executes here (this process is where
the platform put the run: a worker, a pod) and is recorded on that service, project saved, as the
DigitalHub mlrun runtime always did; submitting runs to MLRun's Kubernetes is dhmlrun apply's job
for platforms without the runtime (`dhmlrun/worker/on_mlrun.py`, which runs local ones with
`run_here` too), never this plugin's, since the inputs it fetched live on this machine.

mlrun runs in one process are not isolated (environment, working directory, `sys.path`,
module cache): each is given its own and the caller's are put back (`compat/mlrun.py`), and
executions in one process are serialised by a lock.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dhmlrun.compat.mlrun import isolated_run
from dhmlrun.mlrun_names import mlrun_function_name
from dhmlrun.runtime.capture import captured_output
from dhmlrun.runtime.errors import ExecutionError
from dhmlrun.runtime.failure import HandlerErrorTrap, source_paths

DEFAULT_IMAGE = "mlrun/mlrun"
_EXECUTION_LOCK = threading.Lock()


@dataclass
class MlrunJob:
    """Everything needed to run one handler with mlrun."""

    project: str
    name: str
    code_file: Path
    handler: str
    source_root: Path
    run_dir: Path
    inputs: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    returns: list[str] = field(default_factory=list)
    image: str | None = None
    envs: dict[str, str] = field(default_factory=dict)
    task_params: dict[str, Any] = field(default_factory=dict)
    declared_source: str | None = None
    """The handler file's path as the declaration wrote it (`src/pipeline.py`), to name it in a
    failure (`runtime.failure`)."""

    @property
    def output_path(self) -> Path:
        return self.run_dir / "outputs"


@dataclass
class MlrunOutcome:
    """What mlrun recorded: final state, error text, results, artifact dicts and captured output."""

    state: str
    error: str | None
    results: dict[str, Any]
    artifacts: list[dict]
    logs: str
    uid: str | None = None

    @property
    def failed(self) -> bool:
        return self.state != "completed" or self.error is not None


def mlrun_service_url() -> str | None:
    """The MLRun API URL when `MLRUN_DBPATH` names a service (offline otherwise)."""
    url = os.environ.get("MLRUN_DBPATH", "")
    return url if "://" in url else None


def run_job(job: MlrunJob) -> MlrunOutcome:
    """Execute `job` with mlrun and report what happened; raises only `ExecutionError`.

    mlrun must not have been imported in this process with another `MLRUN_DBPATH`: it reads it
    at import time.
    """
    with _EXECUTION_LOCK:
        if mlrun_service_url():
            return _run_recorded_on_service(job)
        return _run_offline(job)


def _import_mlrun() -> Any:
    """Import mlrun (1.5 s) only when a run executes; with `MLRUN_DBPATH` set the import itself
    contacts the service, so an unreachable service surfaces here."""
    try:
        import mlrun
    except ImportError as exc:
        raise ExecutionError(f"mlrun is not installed here: {exc}") from exc
    except Exception as exc:
        raise ExecutionError(f"cannot initialise mlrun (MLRUN_DBPATH={mlrun_service_url()}): {exc}") from exc
    return mlrun


def _run_offline(job: MlrunJob) -> MlrunOutcome:
    mlrun = _import_mlrun()

    from dhmlrun.runtime.memdb import install_memory_db

    db = install_memory_db()
    db.reset()
    _, error, logs, failure = _build_and_run_here(mlrun, job, save_project=False)
    return _with_failure(_outcome_from_db(db, error, logs), failure)


def _run_recorded_on_service(job: MlrunJob) -> MlrunOutcome:
    """Run the handler here (`local=True`), recorded on the MLRun service of `MLRUN_DBPATH`."""
    mlrun = _import_mlrun()
    run, error, logs, failure = _build_and_run_here(mlrun, job, save_project=True)
    if run is None:
        return _with_failure(MlrunOutcome("error", error, {}, [], logs), failure)
    status = run.status
    state = status.state or "error"
    error = status.error if state != "completed" else None
    artifacts = [_service_artifact(uri) for uri in (status.artifact_uris or {}).values()]
    outcome = MlrunOutcome(state, error, dict(status.results or {}), artifacts, logs, run.metadata.uid)
    return _with_failure(outcome, failure)


def _with_failure(outcome: MlrunOutcome, failure: str | None) -> MlrunOutcome:
    """A failed outcome says what the handler raised, typed and placed (`runtime.failure`),
    rather than mlrun's text of it."""
    if outcome.failed and failure:
        outcome.error = failure
    return outcome


def _build_and_run_here(
    mlrun: Any, job: MlrunJob, *, save_project: bool
) -> tuple[Any, str | None, str, str | None]:
    """Build the job's function and run its handler in this process (`run_here`); (mlrun's run
    object or None, the failure or None, everything printed, the handler's exception in one
    line or None)."""
    trap = HandlerErrorTrap()
    run, error, logs = run_here(
        lambda: _build_function(mlrun, job, save_project=save_project),
        job.run_dir,
        source_root=job.source_root,
        envs=job.envs,
        trap=trap,
        handler=job.handler,
        inputs=job.inputs or None,
        params=job.params or None,
        returns=job.returns or None,
    )
    return run, error, logs, trap.failure(source_paths(job.code_file, job.source_root, job.declared_source))


def run_here(
    function: Callable[[], Any],
    run_dir: Path,
    *,
    source_root: Path | None = None,
    envs: dict[str, str] | None = None,
    trap: HandlerErrorTrap | None = None,
    **run_args: Any,
) -> tuple[Any, str | None, str]:
    """Run an mlrun function's handler in this process (`local=True`), isolated: working
    directory `run_dir/work`, outputs under `run_dir/outputs`, `source_root` importable, `envs`
    set, all restored after (`compat/mlrun.py`); (mlrun's run object or None, the failure or
    None, everything printed and logged). `function` builds the function (its failure is the
    run's); `trap` catches what the handler raised. The one local mlrun run: this plugin's and
    the MLRun worker's (`worker/on_mlrun.py`)."""
    output_path = run_dir / "outputs"
    output_path.mkdir(parents=True, exist_ok=True)
    work_dir = run_dir / "work"
    work_dir.mkdir(parents=True, exist_ok=True)
    trap = trap or HandlerErrorTrap()
    run, error = None, None
    with (
        captured_output(_mlrun_log_handlers()) as buffer,
        isolated_run(work_dir, source_root, envs or {}),
        _trapping(trap),
    ):
        try:
            run = function().run(local=True, output_path=str(output_path), **run_args)
        except Exception as exc:  # mlrun raises RunError or anything the handler's import raised
            error = _error_text(exc)
            trap.exceptions.append(exc)
        except SystemExit as exc:  # mlrun catches Exception only; sys.exit() in a handler lands here
            error = f"the handler called sys.exit({exc.code!r})"
    return run, error, buffer.getvalue()


@contextlib.contextmanager
def _trapping(trap: HandlerErrorTrap) -> Iterator[None]:
    """`trap` on mlrun's logger (the standard library's logger named `mlrun`) for the block."""
    import logging

    logger = logging.getLogger("mlrun")
    logger.addHandler(trap)
    try:
        yield
    finally:
        logger.removeHandler(trap)


def _build_function(mlrun: Any, job: MlrunJob, save_project: bool = False) -> Any:
    """The mlrun job function of `job`; `save_project` stores the project on the MLRun service
    (it refuses runs of a project it does not have)."""
    mlrun.get_or_create_project(job.project, context=str(job.run_dir), save=save_project)
    return mlrun.code_to_function(
        name=mlrun_function_name(job.name),
        project=job.project,
        filename=str(job.code_file),
        kind="job",
        handler=job.handler,
        image=job.image or DEFAULT_IMAGE,
    )


def _outcome_from_db(db: Any, error: str | None, logs: str) -> MlrunOutcome:
    """Read the one run the in-memory DB holds (it is reset before every run)."""
    records = [(key, run) for key, run in db.runs.items() if key[2] == 0]
    if not records:
        return MlrunOutcome("error", error or "mlrun did not start the run", {}, [], logs)
    (_, uid, _), record = records[-1]
    status = record.get("status", {})
    state = status.get("state") or "error"
    error = status.get("error") or error
    if state != "completed" and error is None:
        error = f"mlrun finished the run in state {state!r}"
    return MlrunOutcome(
        state=state if error is None else "error",
        error=error,
        results=dict(status.get("results") or {}),
        artifacts=db.artifacts_of(uid),
        logs=logs,
        uid=uid,
    )


def _error_text(exc: BaseException) -> str:
    """mlrun's message, with the underlying cause when mlrun wrapped it."""
    text = str(exc) or type(exc).__name__
    cause = exc.__cause__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text}: {cause}"
    return text


def _service_artifact(uri: str) -> dict:
    """An artifact the MLRun service recorded, as the same dict shape the offline DB keeps."""
    from mlrun.datastore.store_resources import get_store_resource

    return get_store_resource(uri).to_dict()


def _mlrun_log_handlers() -> tuple[Any, ...]:
    """mlrun's stream handlers (its "default" console handler), to capture what mlrun logs. mlrun's
    logger wraps the standard library's logger named `mlrun`, which is where its handlers live."""
    import logging

    return tuple(h for h in logging.getLogger("mlrun").handlers if hasattr(h, "setStream"))
