"""Apply's steps for services: deploy one (a serve task and run on the platform, waited for until
it serves, the run it replaces stopped after) and stop one.

A serve run is created through the platform's REST API like any entity, with `local_execution:
false`: the platform serves it (DHCore on Kubernetes, the embedded core as a process of this host:
`docs/services.md`), so nothing here imports the SDK or runs a worker. Ready means the platform
says so (RUNNING, `status.service.url`) and the endpoint answers: MLServer's `/v2/health/ready`,
the embedded core's python host its readiness path, any other python service a TCP connection
(DHCore's nuclio processor has no such path, and a request would reach the user's handler); a
URL this host cannot resolve (a Kubernetes service name) is taken on the platform's word. A
service that never becomes ready fails the step with the platform's message, which on the
embedded core is the service's own last log line.
"""

from __future__ import annotations

import os
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from dhmlrun.apply.context import StepContext
from dhmlrun.apply.results import DONE, NodeResult
from dhmlrun.errors import DhmlrunError
from dhmlrun.plan.model import ServiceDeploy, ServiceRequest, ServiceStop
from dhmlrun.plan.services import served_labels, served_versions
from dhmlrun.platform import labels as L
from dhmlrun.platform.dhcore import Platform
from dhmlrun.platform.errors import NotFound, PlatformError
from dhmlrun.platform.rest import context_path
from dhmlrun.serving import endpoints
from dhmlrun.vocabulary import keys, states

READY_TIMEOUT_ENV = "DHMLRUN_SERVICE_READY_TIMEOUT"
DEFAULT_READY_TIMEOUT = 300.0
POLL_SECONDS = 0.1
PROBE_TIMEOUT = 2.0


@dataclass(frozen=True)
class Served:
    """A service that is ready: its run and where it answers."""

    run_id: str
    url: str


def deploy(ctx: StepContext, action: ServiceDeploy) -> NodeResult:
    """Create the serve run of `action`, wait until it serves, then stop the one it replaces."""
    request = action.request
    assert request is not None
    model_key = ctx.resolve(request.model.ref, request.model) if request.model else None
    init_keys = {key: ctx.resolve(binding.ref, binding) for key, binding in request.init_inputs.items()}
    function_ref = _function_ref(ctx.platform, request, model_key)
    labels = served_labels(
        request.labels, served_versions({"model": model_key} if model_key else {}, init_keys)
    )
    task_kind = f"{request.kind}+serve"
    task = {
        "id": request.task_id,
        "project": request.project,
        "kind": task_kind,
        "spec": {"function": function_ref, **_task_spec(request.task)},
    }
    ctx.platform.create_entity("tasks", task)
    spec: dict[str, Any] = {
        "task": keys.task_ref(task_kind, request.project, request.task_id),
        "local_execution": False,
    }
    if model_key is not None:
        spec["path"] = model_key
    if request.kind == endpoints.PYTHON:
        spec["init_parameters"] = {**request.init_parameters, **init_keys}
    run = {
        "id": request.run_id,
        "name": request.run_id,
        "project": request.project,
        "kind": f"{task_kind}:run",
        "metadata": {"labels": labels},
        "spec": spec,
    }
    ctx.platform.create_entity("runs", run)
    served = wait_ready(ctx, request)
    if request.supersedes and request.supersedes != request.run_id:
        stop_run(ctx.platform, request.project, request.supersedes)
    return NodeResult(
        action.address, action.action, DONE, f"serving at http://{served.url}", entity_id=request.run_id
    )


def stop(ctx: StepContext, action: ServiceStop) -> NodeResult:
    """Stop the service's serve run, and delete the function a model service owns."""
    if action.run_id:
        stop_run(ctx.platform, ctx.project, action.run_id)
    if action.function_name:
        ctx.platform.delete_entity(ctx.project, "functions", action.function_name)
    return NodeResult(action.address, action.action, DONE)


def stop_run(platform: Platform, project: str, run_id: str) -> None:
    """Stop a serve run that serves (DHCore undeploys it); one still starting cannot be stopped
    (no such transition) and is deleted instead; one gone or ended is left as it is."""
    client = platform.client
    run = platform.read_run(project, run_id)
    state = (run or {}).get("status", {}).get("state")
    try:
        if state == states.RUNNING:
            client.post(context_path(project, "runs", run_id, "stop"), None)
        elif state is not None and not states.is_final(state):
            client.delete(context_path(project, "runs", run_id))
    except NotFound:
        pass


def wait_ready(ctx: StepContext, request: ServiceRequest) -> Served:
    """Poll the serve run until the platform serves it and its endpoint answers; `DhmlrunError`
    with the platform's (the service's) message when it ends or the deadline passes."""
    deadline = time.monotonic() + ready_timeout()
    project, run_id = request.project, request.run_id
    while time.monotonic() < deadline:
        if ctx.stop.is_set():
            raise DhmlrunError.single("apply was interrupted before the service was ready")
        run = ctx.platform.read_run(project, run_id) or {}
        status = run.get("status") or {}
        state = status.get("state")
        url = (status.get("service") or {}).get("url")
        if state in states.FINAL:
            raise DhmlrunError.single(_never_ready(ctx.platform, project, run_id, status))
        if state == states.RUNNING and url and answers(request.kind, str(url), ctx.platform.embedded):
            return Served(run_id, str(url))
        time.sleep(POLL_SECONDS)
    raise DhmlrunError.single(
        f"the service was not ready within {ready_timeout():.0f} s "
        f"(run {run_id}; {READY_TIMEOUT_ENV} sets the bound)"
    )


def _never_ready(platform: Platform, project: str, run_id: str, status: dict[str, Any]) -> str:
    message = " ".join(str(status.get("message") or "").split())
    if not message:
        try:
            lines = "".join(platform.run_logs(project, run_id)).strip().splitlines()
        except PlatformError:
            lines = []
        message = lines[-1].strip() if lines else f"its run {run_id} is {status.get('state')}"
    return f"the service never became ready: {message}"


def answers(kind: str, url: str, embedded: bool) -> bool:
    """Whether the service at `url` (`host:port`) answers its readiness probe (module doc)."""
    host, _, port = url.rpartition(":")
    try:
        socket.getaddrinfo(host, int(port))
    except (OSError, ValueError):
        return True  # a name only the platform's network resolves: its state is the word
    if kind in endpoints.MODEL_SERVER_IMPLEMENTATIONS:
        return _http_ok(f"http://{url}{endpoints.MLSERVER_READY_PATH}")
    if kind == endpoints.PYTHON and embedded:
        return _http_ok(f"http://{url}{endpoints.PYTHON_READY_PATH}")
    try:
        with socket.create_connection((host, int(port)), timeout=PROBE_TIMEOUT):
            return True
    except OSError:
        return False


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT) as reply:
            return reply.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def ready_timeout() -> float:
    try:
        return float(os.environ.get(READY_TIMEOUT_ENV, DEFAULT_READY_TIMEOUT))
    except ValueError:
        return DEFAULT_READY_TIMEOUT


def _function_ref(platform: Platform, request: ServiceRequest, model_key: str | None) -> str:
    """The executable the serve task names: the python function version declared, or the
    model service's own function (named after the service, its `path` the model's name-level
    key, as DHCore's runtimes want a run's path to extend it), a new version only when its
    spec differs from the latest."""
    if request.function is not None:
        fn = request.function
        return keys.executable_ref(fn.kind, request.project, fn.name, fn.id)
    assert model_key is not None
    spec: dict[str, Any] = {"path": _name_level(model_key)}
    if request.model_name:
        spec["model_name"] = request.model_name
    if request.image:
        spec["image"] = request.image
    listed = platform.client.list(
        context_path(request.project, "functions"), {"name": request.name, "versions": "latest"}
    )
    latest = next((f for f in listed if f.get("name") == request.name), None)
    if latest is not None and latest.get("kind") == request.kind and _same(latest.get("spec") or {}, spec):
        return keys.executable_ref(request.kind, request.project, request.name, str(latest["id"]))
    address = f"services.{request.name}"
    body = {
        "id": request.function_id,
        "name": request.name,
        "project": request.project,
        "kind": request.kind,
        "metadata": {"labels": L.encode({L.ADDRESS: address})},
        "spec": spec,
    }
    created = platform.create_entity("functions", body)
    return keys.executable_ref(request.kind, request.project, request.name, str(created.get("id")))


def _same(stored: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return all(stored.get(key) == value for key, value in wanted.items()) and all(
        stored.get(key) in (None, "") for key in ("model_name", "image") if key not in wanted
    )


def _name_level(model_key: str) -> str:
    """`store://p/model/sklearn/iris:ID` → `store://p/model/sklearn/iris` (a run's path extends it)."""
    parsed = keys.parse_key(model_key)
    if parsed is None:
        return model_key
    return model_key[: -(len(parsed.id) + 1)]


def _task_spec(task: dict[str, Any]) -> dict[str, Any]:
    """The serve task's fields as DHCore takes them (`envs` as a list of {name, value})."""
    spec = dict(task)
    envs = spec.get("envs")
    if isinstance(envs, dict):
        spec["envs"] = [{"name": str(k), "value": str(v)} for k, v in envs.items()]
    return spec
