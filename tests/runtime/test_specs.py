"""Spec validation of the three kinds: the seed's forms, DHCore's task shapes, clear refusals."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from dhmlrun.runtime.function import FunctionValidatorMlrun, normalise_source
from dhmlrun.runtime.ioforms import as_mapping
from dhmlrun.runtime.run import RunValidatorMlrunJob
from dhmlrun.runtime.task import TaskValidatorMlrunJob

TASK = "mlrun+job://p/abc"


def test_list_of_one_key_dicts_and_dict_forms_are_the_same_inputs() -> None:
    listed = RunValidatorMlrunJob(task=TASK, inputs=[{"url": "store://a"}, {"b": "store://b"}])
    mapped = RunValidatorMlrunJob(task=TASK, inputs={"url": "store://a", "b": "store://b"})
    assert listed.inputs == mapped.inputs == {"url": "store://a", "b": "store://b"}


def test_outputs_and_values_accept_the_seed_forms() -> None:
    spec = RunValidatorMlrunJob(task=TASK, outputs=[{"dataset": "clean"}], values="rows").to_dict()
    assert spec["outputs"] == {"dataset": "clean"}
    assert spec["values"] == ["rows"]


def test_a_name_given_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="names 'url' twice"):
        as_mapping([{"url": "a"}, {"url": "b"}], "inputs")


def test_a_non_string_input_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"inputs\.url must be a non-empty string"):
        RunValidatorMlrunJob(task=TASK, inputs={"url": 3})


def test_task_accepts_env_as_envs_and_maps_as_pair_lists() -> None:
    spec = TaskValidatorMlrunJob(
        function="mlrun://p/f:1",
        env={"A": 1},
        node_selector={"pool": "gpu"},
        resources={"cpu": "500m", "mem": {"requests": "1Gi", "limits": "2Gi"}, "gpu": 1},
        tolerations=[{"key": "spot", "operator": "Exists", "tolerationSeconds": 30}],
        volumes=[{"volume_type": "empty_dir", "name": "scratch", "mount_path": "/scratch"}],
        secrets=["creds"],
        backoff_limit=2,
        schedule="0 3 * * *",
        replicas=1,
        affinity={"nodeAffinity": {}},
    ).to_dict()
    assert spec["envs"] == [{"name": "A", "value": "1"}]
    assert spec["node_selector"] == [{"key": "pool", "value": "gpu"}]
    assert spec["resources"]["mem"] == {"requests": "1Gi", "limits": "2Gi"}
    assert spec["tolerations"][0]["toleration_seconds"] == 30
    assert spec["volumes"][0]["volume_type"] == "empty_dir"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("schedule", "every day", "not a cron expression"),
        ("backoff_limit", -1, "greater than or equal to 0"),
        ("replicas", 0, "greater than or equal to 1"),
        ("resources", {"cpu": "lots"}, "cpu"),
        ("volumes", [{"volume_type": "nfs", "name": "v", "mount_path": "/v"}], "volume_type"),
    ],
)
def test_bad_task_parameters_are_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TaskValidatorMlrunJob(function="mlrun://p/f:1", **{field: value})


def test_run_spec_keeps_the_task_parameters_merged_in_at_build() -> None:
    spec = RunValidatorMlrunJob(
        task=TASK, envs=[{"name": "A", "value": "1"}], source={"base64": "eA=="}
    ).to_dict()
    assert spec["envs"] == [{"name": "A", "value": "1"}]
    assert spec["source"] == {"base64": "eA=="}


def test_function_needs_a_handler_and_some_code() -> None:
    with pytest.raises(ValidationError, match="needs a handler"):
        FunctionValidatorMlrun(source={"code": "x = 1"})
    with pytest.raises(ValidationError, match="one of 'source', 'code' or 'base64'"):
        FunctionValidatorMlrun(source={"lang": "python"}, handler="h")
    assert FunctionValidatorMlrun(source={"code": "x", "handler": "h"}).source.handler == "h"


def test_a_local_source_file_is_embedded_and_its_path_kept(tmp_path) -> None:
    code = tmp_path / "job.py"
    code.write_text("def h(context):\n    pass\n")
    source = normalise_source({"source": {"source": str(code)}})
    assert source["source"] == str(code)
    assert base64.b64decode(source["base64"]).decode() == code.read_text()


def test_inline_code_is_stored_as_base64_like_the_python_runtime() -> None:
    source = normalise_source({"code": "x = 1\n"})
    assert source == {"base64": base64.b64encode(b"x = 1\n").decode()}


def test_remote_sources_are_left_for_run_time() -> None:
    uri = "git+https://example.com/repo.git#main"
    assert normalise_source({"source": {"source": uri}}) == {"source": uri}
