"""The hera step wrapper's call, read from the container Argo would start (its `step.py --entity
KEY --kwargs JSON`), and the SDK internals it leans on, checked against the installed SDK."""

from __future__ import annotations

import base64

import pytest
import yaml

from dhmlrun.core.completion import built_workflow
from dhmlrun.worker.argo import Container
from dhmlrun.worker.hera_step import StepCall, StepError, step_call


def test_the_wrappers_step_call_is_read_from_the_container() -> None:
    container = Container(
        "img",
        ("python",),
        ("step.py", "--entity", "store://p/function/python/f:1", "--kwargs", '{"action": "job"}'),
    )
    assert step_call(container) == StepCall("store://p/function/python/f:1", {"action": "job"})


def test_other_containers_are_not_steps() -> None:
    assert step_call(Container("alpine", ("echo",), ("hi",))) is None
    assert step_call(Container("img", ("python",), ("other.py",))) is None


def test_a_malformed_step_call_fails_the_step() -> None:
    with pytest.raises(StepError, match="required"):
        step_call(Container("img", ("python",), ("step.py", "--kwargs", "{}")))
    with pytest.raises(StepError, match="JSON object"):
        step_call(Container("img", ("python",), ("step.py", "--entity", "k", "--kwargs", "[1]")))


def test_the_sdk_still_has_the_private_task_helper_step_py_calls() -> None:
    """step.py calls `Function._get_or_create_task(action)` (digitalhub 0.15); if a new SDK drops
    it, `hera_step.task_for_action` must change with it."""
    from digitalhub.entities.function._base.entity import Function

    assert callable(getattr(Function, "_get_or_create_task", None))


def test_a_hera_builds_workflow_is_stored_as_its_spec_part_in_yaml() -> None:
    """HeraRuntime.onComplete: the Workflow's `spec`, YAML, base64, lang yaml."""
    workflow = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {},
        "spec": {"entrypoint": "d"},
    }
    raw = base64.b64encode(yaml.safe_dump(workflow).encode()).decode()
    build = built_workflow({"workflow": raw})
    assert build is not None and build["lang"] == "yaml"
    assert yaml.safe_load(base64.b64decode(build["base64"])) == {"entrypoint": "d"}
    assert built_workflow({}) is None
    assert built_workflow({"workflow": base64.b64encode(b"[1, 2]").decode()}) is None
