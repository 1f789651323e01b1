"""Map a run's task parameters (DHCore's shapes) onto an mlrun Kubernetes function, for a run
submitted to an MLRun service.

Each parameter maps to what mlrun stores and sends to Kubernetes, so that
`KubejobRuntime.from_dict(fn.to_dict())` gives the same function back (tested field by field):

- `resources.cpu`, `resources.mem`: a bare value is both request and limit, `{requests, limits}`
  sets each; `resources.gpu`: a limit (`nvidia.com/gpu`);
- `envs`: environment variables; `secrets` (DHCore's: names of project secrets): environment
  variables read from the Kubernetes secret where DHCore keeps the project's secrets
  (`dhcore_secret_name`), one variable per name, as DHCore itself injects them;
- `volumes` (DHCore's `CoreVolume` and its `spec` keys): `shared_volume` mounts the existing claim
  `claimName` (else the volume's name); `persistent_volume_claim`, a claim DHCore makes for each
  run, is a claim made for the run's pod (`size`, `storage_class`); `ephemeral` the same
  (`size`, `storageClass`); `empty_dir` as such (`sizeLimit`, `medium`); `subPath` on any mount;
- `node_selector`, `affinity`, `tolerations`: node selection;
- `timeout`: the run's `executing` state threshold (mlrun ends a job executing longer);
- `backoff_limit`: the run's `retry` count (`run_options`).

What mlrun cannot express is refused when the plan is made (`dhmlrun.plan.mlrun_host.INEXPRESSIBLE`),
never dropped: `resources.disk` (mlrun refuses more than three limits
with a GPU, and MLRun drops ephemeral-storage requests) and `profile` (a DHCore resource profile
has no MLRun counterpart). `replicas` has no meaning for a job (a plan warning says so).
"""

from __future__ import annotations

import json
import re
from typing import Any

GPU_RESOURCE = "nvidia.com/gpu"
DEFAULT_VOLUME_SIZE = "1Gi"
"""A claim's size when the volume gives none (DHCore's default volume size)."""


def dhcore_secret_name(project: str) -> str:
    """The Kubernetes secret where DHCore's Kubernetes secrets provider keeps a project's
    secrets (`proj-secrets-<project>`, lower-cased, other characters as '-', at most 62)."""
    return ("proj-secrets-" + re.sub(r"[^a-z0-9-]", "-", project.lower()))[:62].rstrip("-")


def apply_task_params(function: Any, params: dict[str, Any], project: str) -> Any:
    """Set the task parameters (validated task-spec dicts) on an mlrun Kubernetes function."""
    _apply_resources(function, params.get("resources") or {})
    _apply_node_selection(function, params)
    for env in params.get("envs") or []:
        function.set_env(env["name"], env["value"])
    _apply_volumes(function, params.get("volumes") or [])
    for name in params.get("secrets") or []:
        function.set_env_from_secret(name, secret=dhcore_secret_name(project), secret_key=name)
    if params.get("timeout"):
        function.set_state_thresholds({"executing": f"{int(float(params['timeout']))}s"}, patch=True)
    return function


def run_options(params: dict[str, Any]) -> dict[str, Any]:
    """`function.run` keyword arguments for the task's retry limit."""
    if params.get("backoff_limit") is None:
        return {}
    return {"retry": {"count": int(params["backoff_limit"])}}


def _split(value: Any) -> tuple[str | None, str | None]:
    """(requests, limits) of one resource: a bare value is both."""
    if value is None:
        return None, None
    if isinstance(value, dict):
        req, lim = value.get("requests"), value.get("limits")
        return (str(req) if req is not None else None, str(lim) if lim is not None else None)
    return str(value), str(value)


def _apply_resources(function: Any, resources: dict[str, Any]) -> None:
    cpu_req, cpu_lim = _split(resources.get("cpu"))
    mem_req, mem_lim = _split(resources.get("mem"))
    _, gpu_lim = _split(resources.get("gpu"))
    if cpu_req or mem_req:
        function.with_requests(mem=mem_req, cpu=cpu_req, patch=True)
    if cpu_lim or mem_lim or gpu_lim:
        gpus = int(float(gpu_lim)) if gpu_lim else None
        function.with_limits(mem=mem_lim, cpu=cpu_lim, gpus=gpus, gpu_type=GPU_RESOURCE, patch=True)


def _apply_node_selection(function: Any, params: dict[str, Any]) -> None:
    from kubernetes import client as k8s

    selector = {pair["key"]: pair["value"] for pair in params.get("node_selector") or []}
    tolerations = [
        k8s.V1Toleration(
            key=t.get("key"),
            operator=t.get("operator"),
            value=t.get("value"),
            effect=t.get("effect"),
            toleration_seconds=t.get("toleration_seconds"),
        )
        for t in params.get("tolerations") or []
    ]
    affinity = _affinity(params.get("affinity"))
    if selector or tolerations or affinity is not None:
        function.with_node_selection(
            node_selector=selector or None,
            affinity=affinity,
            tolerations=tolerations or None,
        )


def _affinity(value: dict[str, Any] | None) -> Any:
    """A k8s `V1Affinity` from its dict form (camelCase, as in a pod manifest)."""
    if not value:
        return None
    from kubernetes import client as k8s

    return k8s.ApiClient().deserialize(json.dumps(value), "V1Affinity", "application/json")


def _apply_volumes(function: Any, volumes: list[dict[str, Any]]) -> None:
    definitions, mounts = [], []
    for volume in volumes:
        spec = volume.get("spec") or {}
        definitions.append(_volume_source(volume["name"], volume["volume_type"], spec))
        mount = {"name": volume["name"], "mountPath": volume["mount_path"]}
        if spec.get("subPath"):
            mount["subPath"] = spec["subPath"]
        mounts.append(mount)
    if definitions:
        function.spec.update_vols_and_mounts(definitions, mounts)


def _volume_source(name: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """One Kubernetes volume from a DHCore volume (keys read as DHCore's K8sBuilderHelper reads
    them, with the snake_case spellings accepted too)."""
    if kind == "empty_dir":
        size_limit = spec.get("sizeLimit") or spec.get("size_limit")
        empty_dir = {k: v for k, v in (("sizeLimit", size_limit), ("medium", spec.get("medium"))) if v}
        return {"name": name, "emptyDir": empty_dir}
    if kind == "shared_volume":
        claim = spec.get("claimName") or spec.get("claim_name") or name
        return {"name": name, "persistentVolumeClaim": {"claimName": claim}}
    storage_class = spec.get("storage_class") or spec.get("storageClass")
    claim_spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": spec.get("size") or DEFAULT_VOLUME_SIZE}},
    }
    if storage_class:
        claim_spec["storageClassName"] = storage_class
    return {"name": name, "ephemeral": {"volumeClaimTemplate": {"spec": claim_spec}}}
