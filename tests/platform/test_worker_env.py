"""A run's environment is what DHCore's runners give a run's pod: its identity, the task's envs,
the core's configuration, its secrets, in DHCore's precedence (docs/dhcore-runs.md §1)."""

from __future__ import annotations

from dhmlrun.core.configuration import run_configuration
from dhmlrun.platform.worker_env import (
    WORKFLOW_IMAGE_ENV,
    pod_environment,
    run_identity,
    secret_variables,
    task_envs,
    task_kind_of,
)


def test_every_run_knows_its_project_and_id() -> None:
    assert run_identity("p", "r1", "python+job") == {"PROJECT_NAME": "p", "RUN_ID": "r1"}


def test_a_workflow_build_is_told_the_step_image_as_hera_build_runner_does() -> None:
    """HeraBuildRunner adds DHCORE_WORKFLOW_IMAGE (runtime.hera.image); the hera DSL needs it."""
    hera = run_identity("p", "r1", "hera+build")
    assert hera[WORKFLOW_IMAGE_ENV].endswith("wrapper-hera:latest")
    assert WORKFLOW_IMAGE_ENV not in run_identity("p", "r1", "hera+pipeline")


def test_the_task_kind_is_read_from_the_runs_task_string() -> None:
    assert task_kind_of({"task": "hera+build://p/abc"}) == "hera+build"
    assert task_kind_of({}) is None


def test_task_envs_are_dhcores_name_value_pairs() -> None:
    spec = {"envs": [{"name": "A", "value": "1"}, {"name": "B", "value": None}, {"value": "x"}]}
    assert task_envs(spec) == {"A": "1", "B": ""}
    assert task_envs({"envs": "not a list"}) == {}


def test_identity_beats_task_envs_which_beat_configuration_and_the_endpoint_beats_all() -> None:
    """K8sBaseFramework.buildEnv: shared envs first, then the runner's list (PROJECT_NAME and RUN_ID
    before the task's envs); the run secret (configuration, credentials) only as envFrom."""
    configuration = {**run_configuration("http://core"), "DHCORE_ACCESS_TOKEN": "t"}
    envs = {"RUN_ID": "forged", "DHCORE_ENDPOINT": "http://elsewhere", "DHCORE_NAME": "mine", "X": "1"}
    env = pod_environment({"PATH": "/bin", "X": "0"}, configuration, run_identity("p", "r1"), envs)
    assert env["RUN_ID"] == "r1"
    assert env["DHCORE_ENDPOINT"] == "http://core"
    assert env["DHCORE_NAME"] == "mine"
    assert env["X"] == "1"
    assert env["PATH"] == "/bin"
    assert env["DHCORE_ACCESS_TOKEN"] == "t"


def test_the_core_configuration_names_its_files_store_when_it_has_one() -> None:
    assert "DHCORE_DEFAULT_FILES_STORE" not in run_configuration("http://core")
    configured = run_configuration("http://core", "s3://bucket")
    assert configured["DHCORE_DEFAULT_FILES_STORE"] == "s3://bucket"
    assert configured["DHCORE_API_LEVEL"] == "15"


def test_secrets_never_replace_what_the_platform_sets() -> None:
    secrets = {"TOKEN": "s", "RUN_ID": "x", "DHCORE_ACCESS_TOKEN": "x", "GREETING": "x"}
    spec = {"envs": [{"name": "GREETING", "value": "hi"}]}
    assert secret_variables(secrets, spec) == {"TOKEN": "s"}


DHMLRUN_OWN = {
    "DHMLRUN_VAR_TOKEN": "v4r-s3cr3t",
    "DHMLRUN_VAR_env": "prod",
    "DHMLRUN_CORE_TOKEN": "c0re-t0ken",
    "DHMLRUN_CORE_KEY_FILE": "/home/me/.config/dhmlrun/core.key",
}


def test_dhmlruns_own_variables_reach_no_run() -> None:
    """Issue 21: DHMLRUN_VAR_* and DHMLRUN_CORE_TOKEN reached a remote run that named no secret."""
    from dhmlrun.platform.worker_env import local_run_environment, platform_run_environment

    host = {**DHMLRUN_OWN, "PATH": "/bin", "DHMLRUN_RUNS_DIR": "/runs", "HOME": "/home/me"}
    connection = {"DHCORE_ENDPOINT": "http://core", "DHCORE_ACCESS_TOKEN": "t"}
    for env in (local_run_environment(host, connection), platform_run_environment(host, connection)):
        assert not set(DHMLRUN_OWN) & set(env)
        assert env["DHMLRUN_RUNS_DIR"] == "/runs" and env["PATH"] == "/bin"
        assert env["DHCORE_ACCESS_TOKEN"] == "t"
