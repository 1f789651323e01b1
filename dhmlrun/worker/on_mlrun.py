"""What apply does on an MLRun service with mlrun's own classes, in a worker process (mlrun is
imported there, never in apply itself): store a function (`protocol.StoreMLRunFunction`),
execute a run (`ExecuteMLRunRun`), create a schedule (`WriteMLRunSchedule`).

Used when the `mlrun` functions and runs live on MLRun (a DHCore without the mlrun runtime:
`dhmlrun/plan/mlrun_host.py`). The worker is given `MLRUN_DBPATH` (the service) and the
DigitalHub connection (`worker_env.py`): inputs are read from DigitalHub and outputs registered
there, while the function, the run and its state live on MLRun.

- `store_function`: the declared function (its code embedded, as MLRun keeps it), tagged with the
  version id the plan chose (`versioned`: each declared version stays, like DHCore's versions),
  dhmlrun's bookkeeping in an annotation (`platform/mlrun.py`).
- `run`, `execution: local`: inputs fetched here, the handler run here with `local=True` and the
  run recorded on MLRun under the run id the plan chose, its lease renewed there while it
  executes (`status.dhmlrun.lease`), its log stored on MLRun.
- `run`, `execution: remote`: inputs given as URLs a pod can read, the task parameters mapped
  onto the function (`runtime/k8s.py`), submitted with `watch=False`, then polled. A refusal
  (no Kubernetes behind the service, an invalid spec) is the run's failure, in one line, and
  the run MLRun may have recorded is marked `error`.
- `schedule`: the run each firing starts, with the cron, as an MLRun schedule (a schedule
  already there under that name is replaced).

After a completed run, its artifacts are registered on DigitalHub (named by the run's
`outputs`, labelled with the producing run's address and MLRun uid), and what dhmlrun keeps of
the run (its spec as the plan showed it, its outputs) goes to `status.dhmlrun` on MLRun, which
the next plan reads.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dhmlrun.mlrun_names import mlrun_function_name
from dhmlrun.platform import labels as L
from dhmlrun.platform.lease import lease_record, lease_seconds, this_process
from dhmlrun.platform.mlrun import (
    ADDRESS_LABEL,
    BOOKKEEPING,
    LABELS_ANNOTATION,
    SPEC_ANNOTATION,
    STATES,
    MLRunService,
    function_metadata,
    mlrun_annotations,
    mlrun_labels,
)
from dhmlrun.vocabulary import endings, states, times
from dhmlrun.worker.ending import INTERRUPTED_MESSAGE
from dhmlrun.worker.protocol import (
    ExecuteMLRunRun,
    Reply,
    Result,
    RunOrder,
    StoreMLRunFunction,
    WriteMLRunSchedule,
)

POLL_SECONDS = 2.0
DEFAULT_IMAGE = "mlrun/mlrun"
DEFAULT_RETURN = "return"
URL_SCHEMES = ("s3", "http", "https", "gs", "gcs", "az", "abfs", "abfss", "v3io", "ds", "wasb", "wasbs")
"""Input locations a pod on MLRun's Kubernetes can read (given the credentials it is set up with)."""
OURS = (L.MANAGED, ADDRESS_LABEL, LABELS_ANNOTATION, SPEC_ANNOTATION)


# ---------------------------------------------------------------- functions


def store_function(request: StoreMLRunFunction, reply: Reply) -> Result:
    """Store the declared function version on MLRun (idempotent: the same tag is overwritten)."""
    import mlrun

    body = request.body
    function = build_function(mlrun, body)
    mlrun.get_run_db().store_function(
        function.to_dict(), function.metadata.name, body["project"], tag=body["id"], versioned=True
    )
    return Result(id=request.subject, state=states.COMPLETED)


def build_function(mlrun: Any, body: dict[str, Any]) -> Any:
    """The mlrun job function of a DHCore-shaped function body (its code embedded)."""
    from dhmlrun.runtime.source import check_handler_defined, materialise

    spec = body["spec"]
    source = dict(spec.get("source") or {})
    handler = spec.get("handler") or source.get("handler")
    if not handler:
        raise ValueError(f"function {body['name']} has no handler")
    with tempfile.TemporaryDirectory(prefix="dhmlrun-fn-") as tmp:
        code = materialise(source, handler, Path(tmp))
        check_handler_defined(code)
        function = mlrun.code_to_function(
            name=mlrun_function_name(body["name"]),
            project=body["project"],
            filename=str(code.file),
            kind="job",
            handler=code.function,
            image=spec.get("image") or DEFAULT_IMAGE,
        )
    if spec.get("requirements"):
        function.with_requirements(requirements=list(spec["requirements"]))
    recorded = function_metadata(body)
    function.metadata.labels = {**(function.metadata.labels or {}), **recorded["labels"]}
    function.metadata.annotations = recorded["annotations"]
    function.spec.description = recorded["description"]
    function.metadata.tag = body["id"]
    return function


def stored_function(mlrun: Any, run: RunOrder) -> Any:
    """The function version the run names, as MLRun stores it, ready to run.

    mlrun stores the function it runs again, under the function's tag (a local run even as kind
    `local`), which would overwrite the declared version. So the copy that runs carries no tag
    and none of dhmlrun's bookkeeping: mlrun keeps it as `latest`, and each run names the exact
    function it ran by hash (its `spec.function`), with the resources it ran with."""
    name = mlrun_function_name(run.function.name)
    struct = mlrun.get_run_db().get_function(name, run.project, tag=run.function.id)
    return detached(mlrun.new_function(runtime=struct))


def detached(function: Any) -> Any:
    """The function without its tag and dhmlrun's bookkeeping (see `stored_function`)."""
    function.metadata.tag = ""
    function.metadata.labels = {k: v for k, v in (function.metadata.labels or {}).items() if k not in OURS}
    function.metadata.annotations = {
        k: v for k, v in (function.metadata.annotations or {}).items() if k not in OURS
    }
    return function


# ---------------------------------------------------------------- runs


def run(request: ExecuteMLRunRun, reply: Reply) -> Result:
    """Execute one run recorded on MLRun; its outputs are registered on DigitalHub."""
    import mlrun

    from dhmlrun.platform.sdk import sdk_session

    order = request.run
    with sdk_session(order.project, order.run_id, leased=False):
        try:
            function = stored_function(mlrun, order)
            task = build_task(mlrun, order, function, _inputs(order, order.remote))
        except Exception as exc:
            traceback.print_exc()
            return Result.failure(order.run_id, one_line(exc))
        try:
            if order.remote:
                record, message = _submit(mlrun, order, function, task)
            else:
                record, message = _run_recorded_here(mlrun, order, function, task)
        except KeyboardInterrupt:  # apply was stopped: end the run on MLRun, say so
            return _interrupted(mlrun.get_run_db(), order)
        return _finish(mlrun, order, record, message)


def _interrupted(db: Any, order: RunOrder) -> Result:
    if order.remote:
        with contextlib.suppress(Exception):
            db.abort_run(order.run_id, order.project)
    _mark_failed(order.project, order.run_id, INTERRUPTED_MESSAGE, endings.INTERRUPTED)
    return Result.failure(order.run_id, INTERRUPTED_MESSAGE, states.STOPPED if order.remote else states.ERROR)


def build_task(
    mlrun: Any, order: RunOrder, function: Any, inputs: dict[str, str], name: str | None = None
) -> Any:
    """The MLRun run of `order`: the plan's run id as its uid, dhmlrun's bookkeeping kept; named
    `name` (a schedule's runs are named by the schedule), else as mlrun names runs."""
    labels = list(order.labels)
    task = mlrun.new_task(
        name=name or run_name(function),
        handler=function.spec.default_handler,
        params=dict(order.parameters),
        inputs=inputs or None,
        returns=list(order.outputs) or [DEFAULT_RETURN],
    )
    task.metadata.uid = order.run_id
    for key, value in mlrun_labels(labels).items():
        task.set_label(key, value)
    task.metadata.annotations = mlrun_annotations(labels)
    return task


def run_name(function: Any) -> str:
    """How mlrun names a function's runs (`{function}-{handler}`)."""
    from dhmlrun.mlrun_names import mlrun_run_name

    return mlrun_run_name(function.metadata.name, function.spec.default_handler or "handler")


def _inputs(order: RunOrder, remote: bool) -> dict[str, str]:
    """Local paths for a run executing here, URLs a pod can read for one on MLRun."""
    if not remote:
        from dhmlrun.runtime.inputs import fetch_inputs
        from dhmlrun.runtime.runtime import runs_root

        return fetch_inputs(dict(order.inputs), runs_root(order.project) / order.run_id / "inputs")
    return {name: readable_url(name, ref) for name, ref in order.inputs.items()}


def readable_url(name: str, ref: str) -> str:
    """Where a pod reads input `name`: the path of the DigitalHub entity (or the URL given), which
    must be a URL; a local file on the apply machine is refused with the way out."""
    from urllib.parse import urlparse

    from dhmlrun.runtime.run import read_material_entity

    path = read_material_entity(ref).spec.path if ref.startswith("store://") else ref
    if urlparse(str(path)).scheme.lower() in URL_SCHEMES:
        return str(path)
    raise ValueError(
        f"input {name!r}: {path} is a file on this machine, which a run on MLRun's Kubernetes cannot "
        "read; set DHCORE_DEFAULT_FILES_STORE (s3://…) so apply uploads declared files there, or "
        "declare the dataitem at an s3:// or https:// path"
    )


def _submit(mlrun: Any, order: RunOrder, function: Any, task: Any) -> tuple[Any, str | None]:
    """Submit to MLRun's Kubernetes and poll until the run ends; (its record, failure or None)."""
    from dhmlrun.runtime.k8s import apply_task_params, run_options

    project, run_id = order.project, order.run_id
    db = mlrun.get_run_db()
    task_params = dict(order.task)
    try:
        apply_task_params(function, task_params, project)
        function.run(task, local=False, watch=False, **run_options(task_params))
    except Exception as exc:
        traceback.print_exc()
        message = f"MLRun refused the run: {one_line(exc)}"
        _mark_failed(project, run_id, message)
        return None, message
    while True:
        record = _read_run(db, project, run_id)
        if record is not None and STATES.get(str((record.get("status") or {}).get("state"))) in states.FINAL:
            return record, None
        time.sleep(POLL_SECONDS)


def _run_recorded_here(mlrun: Any, order: RunOrder, function: Any, task: Any) -> tuple[Any, str | None]:
    """Run the handler in this process (`runtime.execute.run_here`), recorded on MLRun, holding
    the run's lease there; its log is stored there too."""
    from dhmlrun.runtime.execute import run_here
    from dhmlrun.runtime.runtime import runs_root

    project, run_id = order.project, order.run_id
    db = mlrun.get_run_db()
    with _lease(db, project, run_id):
        _, message, logs = run_here(lambda: function, runs_root(project) / run_id, runspec=task, watch=False)
    with contextlib.suppress(Exception):
        db.store_log(run_id, project, logs.encode("utf-8"))
    return _read_run(db, project, run_id), message


def _finish(mlrun: Any, order: RunOrder, record: Any, message: str | None) -> Result:
    """Register a completed run's outputs on DigitalHub and record them on MLRun; the result."""
    project, run_id = order.project, order.run_id
    db = mlrun.get_run_db()
    status = (record or {}).get("status") or {}
    state = STATES.get(str(status.get("state")), states.ERROR)
    if state != states.COMPLETED:
        text = status.get("error") or message or f"the run ended {status.get('state') or 'unrecorded'}"
        _mark_failed(project, run_id, str(text))
        _record(db, order, {})
        return Result.failure(run_id, one_line(text), state if state in states.FINAL else states.ERROR)
    try:
        outputs = register_outputs(mlrun, order, status, remote=order.remote)
    except Exception as exc:
        text = one_line(exc)
        _mark_failed(project, run_id, text, force=True)
        _record(db, order, {})
        return Result.failure(run_id, text)
    _record(db, order, outputs)
    return Result(
        id=run_id,
        state=states.COMPLETED,
        outputs=dict(outputs),
        results=_values(dict(status.get("results") or {}), order),
    )


def register_outputs(mlrun: Any, order: RunOrder, status: dict[str, Any], remote: bool) -> dict[str, str]:
    """The run's artifacts as DigitalHub entities (by their path where MLRun wrote them: no copy
    for a remote run; uploaded to the files store, when one is set, for a run executed here)."""
    from dhmlrun.runtime.results import check_declared_outputs, produced_files
    from dhmlrun.runtime.results import register_outputs as register

    artifacts = [_artifact(mlrun, uri) for uri in (status.get("artifact_uris") or {}).values()]
    files = produced_files([a for a in artifacts if a])
    outputs = dict(order.outputs)
    check_declared_outputs(files, outputs)
    address = dict(L.decode(order.labels)[1]).get(L.ADDRESS, "")
    # not the `dhmlrun` marker: outputs are the runs' data, never entities dhmlrun manages
    labels = [f"{L.PREFIX}produced_by={address}", f"{L.PREFIX}mlrun_run={order.run_id}"]
    upload = False if remote else None  # a remote run's files are already where MLRun wrote them
    return register(order.project, None, files, outputs, labels=labels, upload=upload)


def _artifact(mlrun: Any, uri: str) -> dict[str, Any] | None:
    from mlrun.datastore.store_resources import get_store_resource

    try:
        return get_store_resource(uri).to_dict()
    except Exception:
        return None


def _values(results: dict[str, Any], order: RunOrder) -> dict[str, Any]:
    from dhmlrun.runtime.results import select_results

    return select_results(results, list(order.values), [*order.outputs, DEFAULT_RETURN])


def _record(db: Any, order: RunOrder, outputs: dict[str, str]) -> None:
    """What the next plan reads of this run: its spec as the plan showed it, and its outputs."""
    spec = {
        "function": f"mlrun://{order.project}/{order.function.name}:{order.function.id}",
        "task": f"mlrun+{order.action or 'job'}://{order.project}",
        "local_execution": not order.remote,
        "inputs": dict(order.inputs),
        "outputs": dict(order.outputs),
        "parameters": dict(order.parameters),
        "values": list(order.values),
        **dict(order.task),
    }
    bookkeeping = {"spec": spec, "outputs": outputs, "created": times.iso(times.now())}
    with contextlib.suppress(Exception):
        db.update_run({f"status.{BOOKKEEPING}": bookkeeping}, order.run_id, order.project)


def _mark_failed(
    project: str, run_id: str, message: str, reason: str | None = None, *, force: bool = False
) -> None:
    """An unfinished run MLRun holds becomes `error` with the message (a refused submission
    leaves it `running` there); `force`: a completed one too (its outputs could not be kept).
    Best effort: the run's own failure is what the result reports."""
    with contextlib.suppress(Exception):
        MLRunService(os.environ["MLRUN_DBPATH"]).fail_run(project, run_id, message, reason, force=force)


def _read_run(db: Any, project: str, run_id: str) -> dict[str, Any] | None:
    try:
        return db.read_run(run_id, project)
    except Exception:
        return None


@contextlib.contextmanager
def _lease(db: Any, project: str, run_id: str) -> Iterator[None]:
    """Renew the run's lease on MLRun while it executes here (`platform/lease.py`: a reader
    treats an unfinished run whose lease ran out as left by a dead process). mlrun rewrites the
    whole run when it saves it, so each beat writes the lease again."""
    seconds, holder = lease_seconds(), this_process()
    stop = threading.Event()

    def beat() -> None:
        while True:
            with contextlib.suppress(Exception):
                db.update_run({f"status.{BOOKKEEPING}.lease": lease_record(holder, seconds)}, run_id, project)
            if stop.wait(seconds / 4):
                return

    thread = threading.Thread(target=beat, name="dhmlrun-mlrun-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


# ---------------------------------------------------------------- schedules


def schedule(request: WriteMLRunSchedule, reply: Reply) -> Result:
    """Create (or replace) the MLRun schedule starting the request's run on its cron."""
    import mlrun

    from dhmlrun.config.cron import cron_fields
    from dhmlrun.platform.sdk import sdk_session
    from dhmlrun.runtime.k8s import apply_task_params, run_options

    order, name = request.run, request.name
    task_params = dict(order.task)
    cron = cron_fields(str(task_params.pop("schedule")))
    with sdk_session(order.project, name, leased=False):
        try:
            function = stored_function(mlrun, order)
            task = build_task(mlrun, order, function, _inputs(order, remote=True), name=name)
            task.metadata.uid = None
            apply_task_params(function, task_params, order.project)
            # MLRun replaces a schedule of that name in place (nothing lost if it refuses)
            function.run(task, schedule=cron, local=False, watch=False, **run_options(task_params))
        except Exception as exc:
            traceback.print_exc()  # into the worker's log (.dhmlrun/logs/ADDRESS.log)
            return Result.failure(name, f"MLRun refused the schedule: {one_line(exc)}")
    return Result(id=name, state=states.COMPLETED)


# ---------------------------------------------------------------- results


def one_line(exc: BaseException | str) -> str:
    """An error on one line (mlrun's messages carry the server's whole answer)."""
    text = str(exc).strip() or type(exc).__name__
    first = " ".join(text.split())
    return first if len(first) <= 500 else first[:497] + "..."
