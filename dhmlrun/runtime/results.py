"""Turn what mlrun produced into DigitalHub entities and run status fields.

mlrun datasets become `table` dataitems, models become models, every other artifact an
`artifact`; each is named by the run's `outputs` (default: its own mlrun key) and recorded in
`status.outputs` by its mlrun key, so `run.output("dataset")` returns the entity. With a files
store configured (`DHCORE_DEFAULT_FILES_STORE=s3://…`) the files are uploaded there through the
SDK; otherwise they stay in the run directory and the entity points at that local path.
`log_result` values named in `values` (all of them when `values` is empty) become
`status.results`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dhmlrun.runtime.errors import ExecutionError

DATASET_KINDS = ("dataset", "table")
MODEL_KINDS = ("model",)


@dataclass(frozen=True)
class ProducedFile:
    """One mlrun artifact, reduced to what registration needs."""

    key: str
    entity_type: str
    entity_kind: str
    path: str


def produced_files(artifacts: list[dict]) -> list[ProducedFile]:
    """Classify mlrun artifact dicts: dataset → table dataitem, model → model, else artifact."""
    files = []
    for artifact in artifacts:
        key = artifact.get("metadata", {}).get("key")
        path = artifact.get("spec", {}).get("target_path")
        if not key or not path:
            continue
        kind = artifact.get("kind") or "artifact"
        if kind in DATASET_KINDS:
            files.append(ProducedFile(key, "dataitem", "table", path))
        elif kind in MODEL_KINDS:
            files.append(ProducedFile(key, "model", "model", path))
        else:
            files.append(ProducedFile(key, "artifact", "artifact", path))
    return files


def check_declared_outputs(files: list[ProducedFile], outputs: dict[str, str]) -> None:
    """A declared output the handler did not produce is a failure: later runs depend on it."""
    missing = sorted(set(outputs) - {f.key for f in files})
    if missing:
        produced = ", ".join(sorted(f.key for f in files)) or "none"
        raise ExecutionError(
            f"declared output(s) {', '.join(missing)} not produced by the handler "
            f"(artifacts produced: {produced})"
        )


def select_results(results: dict[str, Any], values: list[str], returns: list[str]) -> dict[str, Any]:
    """The run's values: those named in `values`, or all when empty (placeholders dropped).

    mlrun records a `None` result for a `returns` key when the handler returned nothing for it
    (it logged that artifact itself, or returned None); such keys are not values.
    """
    kept = {k: v for k, v in results.items() if not (k in returns and v is None)}
    if values:
        kept = {k: v for k, v in kept.items() if k in values}
    return kept


def register_outputs(
    project: str,
    run_key: str | None,
    files: list[ProducedFile],
    outputs: dict[str, str],
    *,
    labels: list[str] | None = None,
    upload: bool | None = None,
) -> dict[str, str]:
    """Create one entity per produced file; return mlrun key → entity key for `status.outputs`.

    `run_key`: the DigitalHub run that produced them (a `produced_by` relationship); None for a
    run that lives on MLRun, whose entities say where they come from in their `labels` instead.
    `upload`: None uploads to the files store when one is configured; False registers the files
    where they are (a remote MLRun run's outputs are already in its artifact store).

    All or nothing: each entity gets a client-generated id before it is created, so its key is
    known even when the create (or the upload, or the save that marks it produced and READY)
    fails half-way; on any failure every entity of this call, the failing one included, is
    deleted before the error is raised, and the run then fails with no output left behind.
    """
    upload = files_store_configured(project) if upload is None else upload
    produced_by = f"{run_key}:{run_key.rsplit('/', 1)[-1]}" if run_key else None
    registered: dict[str, str] = {}
    attempted: list[str] = []
    for produced in files:
        name = outputs.get(produced.key, produced.key)
        uuid = new_entity_id()
        attempted.append(entity_key(project, produced, name, uuid))
        try:
            register = _log if upload else _register_local
            entity = register(project, name, produced, uuid, labels or None)
            _mark_produced(entity, produced_by, set_ready=not upload)
        except Exception as exc:
            message = f"cannot register output {produced.key!r} as {name!r}: {_short(exc)}"
            left = discard_entities(attempted)
            if left:
                message += f"; could not remove the outputs already registered: {', '.join(left)}"
            raise ExecutionError(message) from exc
        registered[produced.key] = entity.key
    return registered


def new_entity_id() -> str:
    """A fresh entity id, in the SDK's format (32 hex digits)."""
    import uuid

    return uuid.uuid4().hex


def entity_key(project: str, produced: ProducedFile, name: str, uuid: str) -> str:
    """The key the entity registered for `produced` will have: `store://p/type/kind/name:id`."""
    return f"store://{project}/{produced.entity_type}/{produced.entity_kind}/{name}:{uuid}"


def discard_entities(keys: list[str]) -> list[str]:
    """Delete the entities with these keys (absent ones are fine); return the keys still present."""
    from digitalhub.entities._commons.utils import get_entity_type_from_key
    from digitalhub.entities.artifact.crud import delete_artifact
    from digitalhub.entities.dataitem.crud import delete_dataitem
    from digitalhub.entities.model.crud import delete_model

    deleters = {"dataitem": delete_dataitem, "artifact": delete_artifact, "model": delete_model}
    left = []
    for key in keys:
        try:
            deleters[get_entity_type_from_key(key)](key)
        except Exception:
            if _exists(key):
                left.append(key)
    return left


def _exists(key: str) -> bool:
    """True when the entity can be read, or when the platform cannot say (assume the worst)."""
    from digitalhub.utils.exceptions import BackendError, EntityNotExistsError

    from dhmlrun.runtime.run import read_material_entity

    try:
        read_material_entity(key)
    except EntityNotExistsError:
        return False
    except BackendError as exc:
        return "not found" not in str(exc).lower()
    except Exception:
        return True
    return True


def _short(exc: Exception) -> str:
    """An error on one line (pydantic's validation errors run over several: keep the first three)."""
    text = str(exc).strip() or type(exc).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return "; ".join(lines[:3])


def files_store_configured(project: str) -> bool:
    """True when the SDK has a default files store to upload outputs to."""
    from digitalhub.stores.data.api import get_default_store

    try:
        return bool(get_default_store(project))
    except ValueError:
        return False


def _log(project: str, name: str, produced: ProducedFile, uuid: str, labels: list[str] | None) -> Any:
    """Create the entity at the files-store path the SDK would choose, then upload the file(s).

    Done in two public steps rather than with the SDK's `log_*` helpers, because those generate
    the id themselves (and `log_table` drops a given path), while rollback needs the id known
    before the create. `upload()` moves the entity UPLOADING → READY, or ERROR and raises.
    """
    from digitalhub.entities._commons.utils import build_log_path_from_source

    path = build_log_path_from_source(project, produced.entity_type, name, uuid, produced.path)
    extra = _table_details(produced.path) if produced.entity_type == "dataitem" else {}
    entity = _create(project, name, produced, path, uuid, schema=extra.get("schema"), labels=labels)
    entity.upload(produced.path)
    if extra.get("preview") is not None:
        entity.status.preview = extra["preview"]
    return entity


def _table_details(path: str) -> dict[str, Any]:
    """Schema and preview of a table (what the SDK's `log_table` records); empty when unreadable:
    they describe the data, and a table the SDK cannot sample is still a valid output."""
    try:
        from digitalhub.entities.dataitem.table.utils import read_data_sample
        from digitalhub.stores.readers.data.api import get_reader_by_object

        data = read_data_sample(path, engine="pandas")
        reader = get_reader_by_object(data)
        return {"schema": reader.get_schema(data), "preview": reader.get_preview(data)}
    except Exception:
        return {}


def _create(project: str, name: str, produced: ProducedFile, path: str, uuid: str, **spec: Any) -> Any:
    """Create the entity of `produced` with this id and path (and extra spec fields that are set)."""
    from digitalhub.entities.artifact.crud import new_artifact
    from digitalhub.entities.dataitem.crud import new_dataitem
    from digitalhub.entities.model.crud import new_model

    creators = {"dataitem": new_dataitem, "model": new_model, "artifact": new_artifact}
    fields = {key: value for key, value in spec.items() if value is not None}
    return creators[produced.entity_type](
        project=project, name=name, kind=produced.entity_kind, path=path, uuid=uuid, **fields
    )


def _register_local(
    project: str, name: str, produced: ProducedFile, uuid: str, labels: list[str] | None
) -> Any:
    """Create the entity pointing at the file where it is (the run directory, or the artifact
    store a remote run wrote to)."""
    return _create(project, name, produced, produced.path, uuid, labels=labels)


def _mark_produced(entity: Any, run_key: str | None, set_ready: bool) -> None:
    """Link the entity to the run that produced it (and mark a registered local file READY)."""
    from digitalhub.entities._commons.enums import Relationship, State

    if run_key is None and not set_ready:
        return
    if run_key is not None:
        entity.add_relationship(relation=Relationship.PRODUCEDBY.value, dest=run_key)
    if set_ready:
        entity.status.state = State.READY.value
    entity.save(update=True)
