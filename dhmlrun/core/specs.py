"""dhmlrun's own checks of the specs of the kinds it executes (`mlrun`, `mlrun+job`, `mlrun+job:run`).

The kinds table (`kinds.py`) attaches each check to its kind. They refuse, with core's 400
wording, a body that the mlrun runtime could never execute, so the error comes at create time
rather than from a worker later; DHCore's own kinds are shaped and checked by the table itself.
"""

from __future__ import annotations

from typing import Any

from dhmlrun.core.errors import bad_request

_SOURCE_FORMS = ("source", "code", "base64")


def check_mlrun_function(spec: dict[str, Any]) -> None:
    """An `mlrun` function needs its code (one of the source forms) and a string handler."""
    source = spec.get("source")
    if not isinstance(source, dict) or not any(isinstance(source.get(k), str) for k in _SOURCE_FORMS):
        raise bad_request("spec: missing source (one of source, code, base64)")
    handler = spec.get("handler")
    if handler is not None and not isinstance(handler, str):
        raise bad_request("spec.handler: must be a string")


def check_mlrun_task(spec: dict[str, Any]) -> None:
    """An `mlrun+job` task names its function."""
    if not isinstance(spec.get("function"), str):
        raise bad_request("spec: missing function")


def check_mlrun_run(spec: dict[str, Any]) -> None:
    """An `mlrun+job:run`'s inputs and parameters are maps; outputs a map (or the SDK's list form)."""
    for field in ("inputs", "parameters"):
        if spec.get(field) is not None and not isinstance(spec[field], dict):
            raise bad_request(f"spec.{field}: must be an object")
    if spec.get("outputs") is not None and not isinstance(spec["outputs"], dict | list):
        raise bad_request("spec.outputs: must be an object")
