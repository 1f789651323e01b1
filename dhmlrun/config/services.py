"""What a declared service takes, by kind: a python function's serve action, or a model served
by a model-serving kind (DHCore 0.15's `python+serve`, `sklearnserve+serve`, `mlflowserve+serve`,
`huggingfaceserve+serve` tasks; `docs/services.md`).

The JSON Schema describes the union; this step refuses what a kind does not take, names the
function a python service serves as `functions.NAME`, and writes `env` as `envs`. References
(the function, the model, init parameters that are addresses) become edges in `references.py`.
"""

from __future__ import annotations

from typing import Any

from .document import Document
from .model import function_address

PYTHON_SERVICE = "python"
MODEL_ONLY = ("model", "model_name", "image")
PYTHON_ONLY = ("function", "init_parameters")
TASK_FIELDS = ("replicas", "service_type", "service_name", "resources", "volumes", "envs", "secrets")
"""The serve task's fields a service may declare (DHCore 0.15's `*ServeTaskSpec`)."""


def service(doc: Document, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A service in canonical form (see `model.py`), with a problem for each field its kind refuses."""
    path = ("services", name)
    kind = spec.get("kind")
    refused = MODEL_ONLY if kind == PYTHON_SERVICE else PYTHON_ONLY
    for field in refused:
        if field in spec:
            what = (
                "a python service serves a function's handler"
                if kind == PYTHON_SERVICE
                else (f"a {kind} service serves a model")
            )
            doc.later_problem((*path, field), f"a {kind} service has no {field}: {what}", key=True)
    needed = "function" if kind == PYTHON_SERVICE else "model"
    if needed not in spec:
        what = "the python function it serves" if kind == PYTHON_SERVICE else "the model it serves"
        doc.later_problem(path, f"a {kind} service needs {needed}: {what}")
    if kind == PYTHON_SERVICE and isinstance(spec.get("function"), str):
        spec["function"] = function_address(spec["function"])
        spec.setdefault("init_parameters", {})
    if "env" in spec:
        if "envs" in spec:
            doc.later_problem(
                (*path, "env"), "give either env or envs, not both (they are the same)", key=True
            )
        spec["envs"] = spec.pop("env")
    return spec
