"""What DHCore does when a run it executed completes: its runtimes' `onComplete`.

Two of them write back into the executable the run was built from, in place (a forced update of
that version: `updateWorkflow(id, wf, true)`, `updateFunction(id, fn, true)`):

- a `hera+build` run: its result `workflow` is the base64 YAML of the Argo `Workflow` the hera
  pipeline returned; DHCore keeps the workflow's `spec` part, as YAML, in the workflow's
  `spec.build = {base64, lang: yaml}` (`HeraRuntime.onComplete`). A pipeline run built later
  carries it (the workflow's spec is merged into the run) and is what the pipeline executes.
- a `python+build` (or `container+build`) run: the function's `spec.image` becomes the image
  the build produced (`PythonRuntime.onComplete`; docs/dhcore-runs.md §2, §5).

The core applies these inside the transaction that moves the run to COMPLETED, so a client that
sees the build completed also sees the workflow or function it updated.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Any

import yaml

from dhmlrun.core import entities as dto
from dhmlrun.core.store import Tx
from dhmlrun.environments import BUILD_IMAGE_RESULT

log = logging.getLogger("dhmlrun.core.completion")

Completion = Callable[[Tx, dict[str, Any]], None]


def on_complete(tx: Tx, run: dict[str, Any]) -> None:
    """Apply the completion of `run` (just moved to COMPLETED by the core's executor) in `tx`."""
    task_kind = str(run.get("spec", {}).get("task", "")).split("://", 1)[0]
    completion = COMPLETIONS.get(task_kind)
    if completion is not None:
        completion(tx, run)


def _executable(tx: Tx, run: dict[str, Any], entity_type: str) -> Any:
    parsed = dto.parse_reference(str(run.get("spec", {}).get(entity_type) or ""))
    if parsed is None or ":" not in parsed[2]:
        return None
    row = tx.get(entity_type, parsed[2].rsplit(":", 1)[1])
    return row if row is not None and row.project == run.get("project") else None


def _update_spec(tx: Tx, row: Any, changes: dict[str, Any]) -> None:
    body = dict(row.body)
    body["spec"] = {**body.get("spec", {}), **changes}
    tx.replace(row.type, row.id, body, state=row.state, updated=dto.now_ms())


def built_workflow(results: dict[str, Any]) -> dict[str, str] | None:
    """The `spec.build` a hera build's results give its workflow, None when they give none."""
    raw = results.get("workflow")
    if not isinstance(raw, str):
        return None
    try:
        document = yaml.safe_load(base64.b64decode(raw).decode("utf-8"))
    except (ValueError, yaml.YAMLError):
        log.error("the hera build's workflow is not base64 YAML: not stored")
        return None
    if not isinstance(document, dict) or not isinstance(document.get("spec"), dict):
        log.error("the hera build's workflow has no spec: not stored")
        return None
    spec = yaml.safe_dump(document["spec"], sort_keys=False)
    return {"base64": base64.b64encode(spec.encode()).decode(), "lang": "yaml"}


def _hera_build(tx: Tx, run: dict[str, Any]) -> None:
    build = built_workflow(run.get("status", {}).get("results") or {})
    workflow = _executable(tx, run, "workflow")
    if build is not None and workflow is not None:
        _update_spec(tx, workflow, {"build": build})


def _image_build(tx: Tx, run: dict[str, Any]) -> None:
    image = (run.get("status", {}).get("results") or {}).get(BUILD_IMAGE_RESULT)
    function = _executable(tx, run, "function")
    if not isinstance(image, str) or function is None:
        return
    if function.body.get("spec", {}).get("image") != image:
        _update_spec(tx, function, {"image": image})


COMPLETIONS: dict[str, Completion] = {
    "hera+build": _hera_build,
    "python+build": _image_build,
    "container+build": _image_build,
}
