"""What the embedded core knows of each servable kind without importing any server: whether it
can serve it, where to probe readiness, and the `status.service` it reports once ready.

Light on purpose: the core (which never imports the SDK) and the CLI use it; the servers
themselves live in the service's own process (`worker.py`). Facts: `docs/services.md`.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from dhmlrun.vocabulary.kinds import runtime_name

LOOPBACK = "127.0.0.1"
PYTHON = "python"
SKLEARN = "sklearnserve"
MLFLOW = "mlflowserve"
HUGGINGFACE = "huggingfaceserve"

SERVICE_KINDS = (PYTHON, SKLEARN, MLFLOW, HUGGINGFACE)
"""The kinds a declared service may have (`schemas/service.schema.json`)."""

MODEL_SERVER_IMPLEMENTATIONS = {
    SKLEARN: "mlserver_sklearn.SKLearnModel",
    MLFLOW: "mlserver_mlflow.MLflowRuntime",
}
"""MLServer's runtime class per model-serving kind, as DHCore's `SklearnServeRunner` and
`MlflowServeRunner` write it into model-settings.json."""
MODEL_SERVER_MODULES = {SKLEARN: "mlserver_sklearn", MLFLOW: "mlserver_mlflow"}
MODEL_KINDS = {SKLEARN: "sklearn", MLFLOW: "mlflow"}
"""The model kind each server accepts (DHCore refuses a store key naming another kind)."""
DEFAULT_MODEL_NAME = "model"

MLSERVER_READY_PATH = "/v2/health/ready"
PYTHON_READY_PATH = "/.dhmlrun/ready"
"""Answered by dhmlrun's python host itself, never by the user's handler (nuclio's processor has
its own health port for the same reason)."""

SERVE_EXTRA_HINT = "install the servers with: pip install 'dhmlrun[serve]'"
HUGGINGFACE_REFUSAL = (
    "the embedded core cannot serve huggingfaceserve: DHCore runs it with KServe's huggingfaceserver "
    "(the kserve/huggingfaceserver image), which is not published on PyPI, so it cannot be installed "
    "here; serve it on a DHCore"
)


def refusal(kind: str) -> str | None:
    """Why this core cannot serve runs of `kind` (None: it can): a kind it has no server for, or a
    server that is not installed here."""
    runtime = runtime_name(kind)
    if runtime == HUGGINGFACE:
        return HUGGINGFACE_REFUSAL
    if runtime in MODEL_SERVER_MODULES:
        missing = [module for module in ("mlserver", MODEL_SERVER_MODULES[runtime]) if not _installed(module)]
        if missing:
            return (
                f"the server for {runtime} is not installed where this core runs "
                f"(no Python module {', '.join(missing)}): {SERVE_EXTRA_HINT}"
            )
        return None
    if runtime == PYTHON:
        return None if _installed("nuclio_sdk") else f"nuclio-sdk is not installed: {SERVE_EXTRA_HINT}"
    return f"the embedded core serves python, {SKLEARN} and {MLFLOW} functions only, not {runtime}"


def refusals() -> dict[str, str]:
    """What this host cannot serve, by service kind, with the reason (`refusal`): the plan
    refuses such a service on the embedded core before anything is deployed."""
    return {kind: reason for kind in SERVICE_KINDS if (reason := refusal(f"{kind}+serve:run"))}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def uses_second_port(kind: str) -> bool:
    """MLServer always listens for gRPC too (DHCore exposes 8080 and 8081)."""
    return runtime_name(kind) in MODEL_SERVER_IMPLEMENTATIONS


def readiness_path(kind: str) -> str:
    return MLSERVER_READY_PATH if runtime_name(kind) in MODEL_SERVER_IMPLEMENTATIONS else PYTHON_READY_PATH


def model_name(spec: dict[str, Any]) -> str:
    """The served model's name: the function's `model_name` (unwrapped into the run's spec by the
    build), else `model`, as DHCore's runners name it."""
    name = spec.get("model_name")
    return name if isinstance(name, str) and name else DEFAULT_MODEL_NAME


def service_status(
    kind: str, run_id: str, spec: dict[str, Any], host: str, port: int, second_port: int | None
) -> dict[str, Any]:
    """The status fields DHCore sets on a ready serve run: `service` as `K8sServiceProcessor`
    fills it for a ClusterIP service (url `host:port`, no scheme), and for model servers the V2
    inference URLs and `inference_v2` their runtimes' `onRunning` add."""
    base = f"{host}:{port}"
    urls = [base] + ([f"{host}:{second_port}"] if second_port else [])
    service: dict[str, Any] = {
        "name": f"{runtime_name(kind)}-serve-{run_id}",
        "type": "ClusterIP",
        "url": base,
        "urls": urls,
    }
    if runtime_name(kind) not in MODEL_SERVER_IMPLEMENTATIONS:
        return {"service": service}
    name = model_name(spec)
    service["urls"] = [*urls, f"{base}/v2", f"{base}/v2/models/{name}", f"{base}/v2/models/{name}/infer"]
    inference = {
        "baseUrl": base,
        "model": name,
        "inferenceUrl": f"{base}/v2/models/{name}/infer",
        "modelMetadataUrl": f"{base}/v2/models/{name}",
        "modelReadinessUrl": f"{base}/v2/models/{name}/ready",
        "readinessUrl": f"{base}{MLSERVER_READY_PATH}",
        "livenessUrl": f"{base}/v2/health/live",
    }
    return {"service": service, "inference_v2": inference}
