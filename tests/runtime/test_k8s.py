"""The task's k8s parameters applied to real mlrun job functions (nothing is submitted)."""

from __future__ import annotations

from typing import Any

import pytest

from dhmlrun.runtime.k8s import apply_task_params, dhcore_secret_name, run_options
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
        task_params(resources={"cpu": {"requests": "250m", "limits": "1"}, "mem": "2Gi", "gpu": 1}),
        "k8s",
    )
    assert fn.spec.resources["requests"] == {"cpu": "250m", "memory": "2Gi"}
    assert fn.spec.resources["limits"] == {"cpu": "1", "memory": "2Gi", "nvidia.com/gpu": 1}


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
        "k8s",
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
                {
                    "volume_type": "persistent_volume_claim",
                    "name": "data",
                    "mount_path": "/data",
                    "spec": {"size": "5Gi", "storage_class": "fast"},
                },
                {
                    "volume_type": "shared_volume",
                    "name": "shared",
                    "mount_path": "/shared",
                    "spec": {"claimName": "team-pvc", "subPath": "models"},
                },
                {
                    "volume_type": "empty_dir",
                    "name": "tmp",
                    "mount_path": "/tmp/x",
                    "spec": {"size_limit": "1Gi"},
                },
            ],
            secrets=["DB_PASSWORD"],
        ),
        "Team Project",
    )
    env = {e["name"]: e for e in fn.to_dict()["spec"]["env"]}
    assert env["MODE"]["value"] == "prod"
    secret_ref = env["DB_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert secret_ref == {"name": "proj-secrets-team-project", "key": "DB_PASSWORD"}
    volumes = {v["name"]: v for v in fn.spec.volumes}
    # DHCore makes a claim for each run of a persistent_volume_claim: a claim for the run's pod
    claim = volumes["data"]["ephemeral"]["volumeClaimTemplate"]["spec"]
    assert claim["resources"]["requests"]["storage"] == "5Gi"
    assert claim["storageClassName"] == "fast"
    assert volumes["shared"]["persistentVolumeClaim"] == {"claimName": "team-pvc"}
    assert volumes["tmp"]["emptyDir"] == {"sizeLimit": "1Gi"}
    mounts = {m["name"]: m for m in fn.spec.volume_mounts}
    assert {name: m["mountPath"] for name, m in mounts.items()} == {
        "data": "/data",
        "shared": "/shared",
        "tmp": "/tmp/x",
    }
    assert mounts["shared"]["subPath"] == "models"


def test_timeout_is_the_executing_threshold() -> None:
    fn = apply_task_params(job_function(), task_params(timeout=90), "k8s")
    assert fn.spec.state_thresholds["executing"] == "90s"


def test_the_function_comes_back_the_same_from_its_stored_form() -> None:
    """What MLRun stores (`to_dict`) gives the same function back: nothing is lost on the way."""
    from mlrun.runtimes import KubejobRuntime

    fn = apply_task_params(
        job_function(),
        task_params(
            resources={"cpu": "1", "mem": {"requests": "1Gi", "limits": "2Gi"}, "gpu": 1},
            node_selector={"pool": "gpu"},
            envs={"MODE": "prod"},
            secrets=["TOKEN"],
            volumes=[{"volume_type": "empty_dir", "name": "tmp", "mount_path": "/scratch"}],
            timeout=60,
        ),
        "p",
    )
    stored = fn.to_dict()
    assert KubejobRuntime.from_dict(stored).to_dict() == stored


def test_backoff_limit_is_a_run_option_and_schedule_is_not() -> None:
    """A schedule is its own MLRun object (made by apply), not an option of one run."""
    assert run_options(task_params(schedule="0 3 * * *", backoff_limit=2)) == {"retry": {"count": 2}}
    assert run_options(task_params()) == {}


def test_dhcore_secret_name_is_a_kubernetes_name() -> None:
    assert dhcore_secret_name("employees") == "proj-secrets-employees"
    assert dhcore_secret_name("My_Project") == "proj-secrets-my-project"
    assert len(dhcore_secret_name("x" * 100)) <= 62
