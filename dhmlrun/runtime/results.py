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
    project: str, run_key: str, files: list[ProducedFile], outputs: dict[str, str]
) -> dict[str, str]:
    """Create one entity per produced file; return mlrun key → entity key for `status.outputs`."""
    upload = files_store_configured(project)
    produced_by = f"{run_key}:{run_key.rsplit('/', 1)[-1]}"
    registered = {}
    for produced in files:
        name = outputs.get(produced.key, produced.key)
        try:
            entity = _log(project, name, produced) if upload else _register_local(project, name, produced)
            _mark_produced(entity, produced_by, set_ready=not upload)
        except Exception as exc:
            raise ExecutionError(f"cannot register output {produced.key!r} as {name!r}: {exc}") from exc
        registered[produced.key] = entity.key
    return registered


def files_store_configured(project: str) -> bool:
    """True when the SDK has a default files store to upload outputs to."""
    from digitalhub.stores.data.api import get_default_store

    try:
        return bool(get_default_store(project))
    except ValueError:
        return False


def _log(project: str, name: str, produced: ProducedFile) -> Any:
    """Create the entity and upload the file(s) to the files store, through the SDK."""
    from digitalhub import log_generic_artifact, log_generic_model, log_table

    loggers = {"dataitem": log_table, "model": log_generic_model, "artifact": log_generic_artifact}
    return loggers[produced.entity_type](project=project, name=name, source=produced.path)


def _register_local(project: str, name: str, produced: ProducedFile) -> Any:
    """Create the entity pointing at the file in the run directory (no files store)."""
    if produced.entity_type == "dataitem":
        from digitalhub.entities.dataitem.crud import new_dataitem

        return new_dataitem(project=project, name=name, kind=produced.entity_kind, path=produced.path)
    if produced.entity_type == "model":
        from digitalhub.entities.model.crud import new_model

        return new_model(project=project, name=name, kind=produced.entity_kind, path=produced.path)
    from digitalhub.entities.artifact.crud import new_artifact

    return new_artifact(project=project, name=name, kind=produced.entity_kind, path=produced.path)


def _mark_produced(entity: Any, run_key: str, set_ready: bool) -> None:
    """Link the entity to the run that produced it (and mark a registered local file READY)."""
    from digitalhub.entities._commons.enums import Relationship, State

    entity.add_relationship(relation=Relationship.PRODUCEDBY.value, dest=run_key)
    if set_ready:
        entity.status.state = State.READY.value
    entity.save(update=True)
