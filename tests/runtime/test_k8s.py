"""The task's k8s parameters applied to real mlrun job functions (nothing is submitted)."""

from __future__ import annotations

from typing import Any

import pytest

from dhmlrun.runtime.k8s import apply_task_params, run_options
from dhmlrun.runtime.task import TaskValidatorMlrunJob

pytestmark = pytest.mark.slow  # imports mlrun


def job_function() -> Any:
    import mlrun

    return mlrun.new_function("k8s-test", project="k8s", kind="job", image="mlrun/mlrun")


def task_params(**params: Any) -> dict[str, Any]:
    """Parameters as they reach the runtime: validated, then dumped like the SDK does."""
    return TaskValidatorMlrunJob(function="mlrun://p/f:1", **params).to_dict()


def test_resources_become_requests_and_limits() -> None:
    fn = apply_task_params(
        job_function(),
        task_params(
            resources={"cpu": {"requests": "250m", "limits": "1"}, "mem": "2Gi", "gpu": 1, "disk": "5Gi"}
        ),
    )
    assert fn.spec.resources["requests"] == {"cpu": "250m", "memory": "2Gi", "ephemeral-storage": "5Gi"}
    assert fn.spec.resources["limits"] == {
        "cpu": "1",
        "memory": "2Gi",
        "nvidia.com/gpu": 1,
        "ephemeral-storage": "5Gi",
    }


def test_node_selection_tolerations_and_affinity() -> None:
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}
                ]
            }
        }
    }
    fn = apply_task_params(
        job_function(),
        task_params(
            node_selector=[{"key": "pool", "value": "gpu"}],
            tolerations=[
                {"key": "spot", "operator": "Exists", "effect": "NoSchedule", "toleration_seconds": 60}
            ],
            affinity=affinity,
        ),
    )
    assert fn.spec.node_selector == {"pool": "gpu"}
    toleration = fn.spec.tolerations[0]
    assert (toleration.key, toleration.operator, toleration.effect) == ("spot", "Exists", "NoSchedule")
    assert toleration.toleration_seconds == 60
    required = fn.spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution
    assert required.node_selector_terms[0].match_expressions[0].values == ["a"]


def test_env_volumes_and_secrets() -> None:
    fn = apply_task_params(
        job_function(),
        task_params(
            env={"MODE": "prod"},
            volumes=[
                {"volume_type": "persistent_volume_claim", "name": "data", "mount_path": "/data"},
                {
                    "volume_type": "empty_dir",
                    "name": "tmp",
                    "mount_path": "/tmp/x",
                    "spec": {"size_limit": "1Gi"},
                },
            ],
            secrets=["db-credentials"],
        ),
    )
    assert [(e.name, e.value) for e in fn.spec.env] == [("MODE", "prod")]
    volumes = {v["name"]: v for v in fn.spec.volumes}
    assert volumes["data"]["persistentVolumeClaim"] == {"claimName": "data"}
    assert volumes["tmp"]["emptyDir"] == {"sizeLimit": "1Gi"}
    mounts = {m["name"]: m["mountPath"] for m in fn.spec.volume_mounts}
    assert mounts == {"data": "/data", "tmp": "/tmp/x"}
    assert fn.spec.env_from[0].secret_ref.name == "db-credentials"


def test_schedule_and_backoff_limit_are_run_options() -> None:
    assert run_options(task_params(schedule="0 3 * * *", backoff_limit=2)) == {
        "schedule": "0 3 * * *",
        "retry": {"count": 2},
    }
    assert run_options(task_params()) == {}
