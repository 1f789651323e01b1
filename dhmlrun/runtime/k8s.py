"""Map the task's k8s parameters onto an mlrun function, for submission to an MLRun service.

DHCore shapes in, mlrun calls out: resources → requests/limits, node_selector/affinity/
tolerations → node selection, envs → env, volumes → volumes and mounts, secrets → env from
the Kubernetes secret of that name. `schedule` and `backoff_limit` are options of the run
(`run_options`), not of the function. `replicas` has no meaning for an mlrun job and is ignored.
"""

from __future__ import annotations

import json
from typing import Any

GPU_RESOURCE = "nvidia.com/gpu"


def apply_task_params(function: Any, params: dict[str, Any]) -> Any:
    """Set the k8s parameters (validated task-spec dicts) on an mlrun Kubernetes function."""
    _apply_resources(function, params.get("resources") or {})
    _apply_node_selection(function, params)
    for env in params.get("envs") or []:
        function.set_env(env["name"], env["value"])
    _apply_volumes(function, params.get("volumes") or [])
    for secret in params.get("secrets") or []:
        function.set_env_from_secret_ref(secret)
    return function


def run_options(params: dict[str, Any]) -> dict[str, Any]:
    """`function.run` keyword arguments for the task's schedule and retry limit."""
    options: dict[str, Any] = {}
    if params.get("schedule"):
        options["schedule"] = params["schedule"]
    if params.get("backoff_limit") is not None:
        options["retry"] = {"count": int(params["backoff_limit"])}
    return options


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
    disk_req, disk_lim = _split(resources.get("disk"))
    if cpu_req or mem_req:
        function.with_requests(mem=mem_req, cpu=cpu_req, patch=True)
    if cpu_lim or mem_lim or gpu_lim:
        gpus = int(float(gpu_lim)) if gpu_lim else None
        function.with_limits(mem=mem_lim, cpu=cpu_lim, gpus=gpus, gpu_type=GPU_RESOURCE, patch=True)
    spec_resources = function.spec.resources
    if disk_req:
        spec_resources.setdefault("requests", {})["ephemeral-storage"] = disk_req
    if disk_lim:
        spec_resources.setdefault("limits", {})["ephemeral-storage"] = disk_lim


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
        definitions.append(_volume_source(volume))
        mounts.append({"name": volume["name"], "mountPath": volume["mount_path"]})
    if definitions:
        function.spec.update_vols_and_mounts(definitions, mounts)


def _volume_source(volume: dict[str, Any]) -> dict[str, Any]:
    """One k8s volume from a DHCore volume (PVCs and shared volumes are claims named like the volume)."""
    name, kind, spec = volume["name"], volume["volume_type"], volume.get("spec") or {}
    if kind == "empty_dir":
        empty_dir = {
            k: v for k, v in (("sizeLimit", spec.get("size_limit")), ("medium", spec.get("medium"))) if v
        }
        return {"name": name, "emptyDir": empty_dir}
    if kind == "ephemeral":
        storage = spec.get("size") or "1Gi"
        template = {
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage}}}
        }
        return {"name": name, "ephemeral": {"volumeClaimTemplate": template}}
    return {"name": name, "persistentVolumeClaim": {"claimName": name}}
