"""Light validation of the specs of the kinds dhmlrun owns; every other kind is stored as sent.

Clients create `python`, `container`, … entities too, and core's own schemas are not available
here, so only `mlrun`, `mlrun+job` and `mlrun+job:run` are checked: enough to refuse a body that
the mlrun runtime could never execute, with core's 400 wording.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dhmlrun.core.errors import bad_request

_SOURCE_FORMS = ("source", "code", "base64")


def _mlrun_function(spec: dict[str, Any]) -> None:
    source = spec.get("source")
    if not isinstance(source, dict) or not any(isinstance(source.get(k), str) for k in _SOURCE_FORMS):
        raise bad_request("spec: missing source (one of source, code, base64)")
    handler = spec.get("handler")
    if handler is not None and not isinstance(handler, str):
        raise bad_request("spec.handler: must be a string")


def _mlrun_task(spec: dict[str, Any]) -> None:
    if not isinstance(spec.get("function"), str):
        raise bad_request("spec: missing function")


def _mlrun_run(spec: dict[str, Any]) -> None:
    for field in ("inputs", "parameters"):
        if spec.get(field) is not None and not isinstance(spec[field], dict):
            raise bad_request(f"spec.{field}: must be an object")
    if spec.get("outputs") is not None and not isinstance(spec["outputs"], dict | list):
        raise bad_request("spec.outputs: must be an object")


SPEC_RULES: dict[tuple[str, str], Callable[[dict[str, Any]], None]] = {
    ("function", "mlrun"): _mlrun_function,
    ("task", "mlrun+job"): _mlrun_task,
    ("run", "mlrun+job:run"): _mlrun_run,
}


def validate_spec(entity_type: str, kind: str, spec: dict[str, Any]) -> None:
    """Refuse a spec of an owned kind that is missing what its runtime needs (400)."""
    rule = SPEC_RULES.get((entity_type, kind))
    if rule is not None:
        rule(spec)
