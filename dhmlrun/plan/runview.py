"""A run as a reviewer reads it: what it executes, with what, where; and the attribute diff
between the run a plan would start and the last run of the same address.

A run is compared by fingerprint (`fingerprint.py`) to decide whether it fires; this module only
says what differs, in the words of the declaration: `function` and its `function_version`,
`action`, `execution`, `inputs.NAME` (the store key of the entity version read, or what will
produce it), `outputs.NAME`, `parameters.NAME...`, `values`, and the task parameters
(`resources.cpu`...), less those a run of its kind does not take (a python run's `outputs` and
`values`: `vocabulary/runs.py`). The last run's side is read from the run's own spec on the
platform (the runtime's build adds fields there; only the ones above are compared).

Why not deepdiff: it imports pandas when pandas is installed (it always is beside mlrun), 0.9
to 1.9 s measured, on `dhmlrun plan`'s path, which must stay light; the diff of two small nested
dicts needed here is a few lines. So it is no dependency of dhmlrun (README, Performance).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dhmlrun.plan.model import AttributeChange, InputBinding, RunRequest
from dhmlrun.platform.state import RemoteRun
from dhmlrun.vocabulary import keys
from dhmlrun.vocabulary.addresses import Address
from dhmlrun.vocabulary.kinds import PLATFORM_ACTIONS, runtime_name
from dhmlrun.vocabulary.runs import FIELDS_NOT_TAKEN

PRODUCED_LATER = "(produced by {run} in this apply)"
NEW_VERSION = "(new version: {why})"
RUN_FIELDS = (
    "function",
    "function_version",
    "action",
    "execution",
    "inputs",
    "outputs",
    "parameters",
    "values",
)


def declared_view(request: RunRequest, new_function_version: str | None = None) -> dict[str, Any]:
    """The run `request` would start. `new_function_version` says why its function gets a new
    version in the same apply (then its id is not worth showing)."""
    function = request.function
    view = {
        "function": Address.parse(function.address).name,
        "function_version": NEW_VERSION.format(why=new_function_version)
        if new_function_version
        else function.id,
        "action": request.action,
        "execution": request.execution,
        "inputs": {name: _input(binding) for name, binding in sorted(request.inputs.items())},
        "outputs": dict(request.outputs),
        "parameters": dict(request.parameters),
        "values": list(request.values),
        **{name: value for name, value in sorted(request.task.items())},
    }
    return _taken(view, function.kind)


def _input(binding: InputBinding) -> str:
    if binding.key:
        return binding.key
    return PRODUCED_LATER.format(run=binding.run) if binding.run else binding.ref


def recorded_view(run: RemoteRun, task_fields: tuple[str, ...]) -> dict[str, Any]:
    """The same view of a run the platform holds, from its spec."""
    spec = run.spec
    function = str(spec.get("function") or spec.get("workflow") or "")
    name, _, version = function.split("://", 1)[-1].split("/", 1)[-1].partition(":")
    task = str(spec.get("task") or "")
    action = task.split("://", 1)[0].rpartition("+")[2] if "+" in task.split("://", 1)[0] else None
    view: dict[str, Any] = {
        "function": name or None,
        "function_version": version or None,
        "action": action,
        # a build's or pipeline's run spec has no local_execution: it is always the platform's
        "execution": "local" if spec.get("local_execution", action not in PLATFORM_ACTIONS) else "remote",
        "inputs": {k: keys.output_key(v) for k, v in sorted(dict(spec.get("inputs") or {}).items())},
        "outputs": dict(spec.get("outputs") or {}),
        "parameters": dict(spec.get("parameters") or {}),
        "values": list(spec.get("values") or []),
    }
    view.update({field: spec[field] for field in task_fields if spec.get(field) is not None})
    return _taken(view, runtime_name(str(run.kind or "")))


def _taken(view: dict[str, Any], function_kind: str) -> dict[str, Any]:
    """The view without the fields a run of `function_kind` does not take (`FIELDS_NOT_TAKEN`):
    the platform never records them, so comparing them would show them added at every plan."""
    return {k: v for k, v in view.items() if k not in FIELDS_NOT_TAKEN.get(function_kind, ())}


def diff(before: Mapping[str, Any], after: Mapping[str, Any], prefix: str = "") -> list[AttributeChange]:
    """Every leaf that differs between two nested dicts, by dotted path (lists compared whole; a
    map on one side and nothing on the other is compared key by key)."""
    changes: list[AttributeChange] = []
    for key in sorted(set(before) | set(after), key=str):
        path = f"{prefix}{key}"
        old, new = before.get(key), after.get(key)
        if _map_or_nothing(old) and _map_or_nothing(new) and (old is not None or new is not None):
            changes.extend(diff(old or {}, new or {}, f"{path}."))
        elif old != new:
            changes.append(AttributeChange(path, old, new))
    return changes


def _map_or_nothing(value: Any) -> bool:
    return value is None or isinstance(value, Mapping)


def additions(view: Mapping[str, Any]) -> list[AttributeChange]:
    """A run never run: every attribute it declares, as added (empty ones left out)."""
    return [change for change in diff({}, view) if change.after not in (None, {}, [], "")]
