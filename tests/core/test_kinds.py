"""The kinds table: what a stock DHCore 0.15 knows (notes/dhcore-0.15-facts.md §1-§6), what the
embedded core adds, and how a spec of each kind is stored in stock mode."""

from __future__ import annotations

import pytest

from dhmlrun.core.errors import ApiError
from dhmlrun.core.kinds import ALL_KINDS, RUNTIMES, KindRegistry

STOCK = KindRegistry(stock=True)
WIDE = KindRegistry()

STOCK_FUNCTIONS = {
    "python",
    "guardrail",
    "openinference",
    "container",
    "dbt",
    "kubeai-text",
    "kubeai-speech",
    "mlflowserve",
    "sklearnserve",
    "huggingfaceserve",
    "vllmserve-text",
    "vllmserve-speech",
    "vllmserve-pooling",
    "flower-app",
    "flower-client",
    "flower-server",
}
K8S_TASK_FIELDS = ["function", "volumes", "envs", "resources", "secrets", "profile"]


def kinds_of(registry: KindRegistry, entity: str) -> set[str]:
    return {doc["kind"] for doc in registry.schemas(entity) or []}


def test_stock_kinds_are_dhcore_015s_and_nothing_of_mlrun():
    assert kinds_of(STOCK, "function") == STOCK_FUNCTIONS
    assert kinds_of(STOCK, "workflow") == {"kfp", "hera"}
    assert {"python+job", "python+serve", "python+build", "kfp+pipeline", "hera+build"} <= kinds_of(
        STOCK, "task"
    )
    assert len(kinds_of(STOCK, "task")) == len(kinds_of(STOCK, "run")) == 30
    assert kinds_of(STOCK, "dataitem") == {"dataitem", "table", "croissant"}
    assert kinds_of(STOCK, "model") == {"model", "mlflow", "sklearn", "huggingface"}
    assert kinds_of(STOCK, "artifact") == {"artifact"}
    assert kinds_of(STOCK, "secret") == {"secret"}
    assert kinds_of(STOCK, "trigger") == {"scheduler", "lifecycle"}
    assert kinds_of(STOCK, "project") == {"project"}
    assert kinds_of(STOCK, "log") == {"log"}
    assert not any("mlrun" in k for e in ("function", "task", "run") for k in kinds_of(STOCK, e))


def test_the_embedded_core_adds_the_mlrun_kinds():
    assert kinds_of(WIDE, "function") == STOCK_FUNCTIONS | {"mlrun"}
    assert kinds_of(WIDE, "task") - kinds_of(STOCK, "task") == {"mlrun+job"}
    assert kinds_of(WIDE, "run") - kinds_of(STOCK, "run") == {"mlrun+job:run"}


def test_every_task_kind_has_its_run_kind_under_the_same_runtime():
    tasks = [k for k in ALL_KINDS if k.entity == "task"]
    runs = {k.kind: k for k in ALL_KINDS if k.entity == "run"}
    for task in tasks:
        assert task.kind.startswith(task.runtime + "+")
        run = runs[f"{task.kind}:run"]
        assert (run.runtime, run.base) == (task.runtime, task)
    assert len(tasks) == len(runs)


def test_k8s_task_fields_are_exactly_dhcore_015s():
    for kind in ("python+job", "container+build", "dbt+transform", "flower-app+train"):
        fields = [f.name for f in STOCK.find("task", kind).fields]  # type: ignore[union-attr]
        assert fields[: len(K8S_TASK_FIELDS)] == K8S_TASK_FIELDS
    assert [f.name for f in STOCK.find("task", "python+job").fields] == K8S_TASK_FIELDS  # type: ignore[union-attr]
    workflow_task = [f.name for f in STOCK.find("task", "kfp+pipeline").fields]  # type: ignore[union-attr]
    assert workflow_task == ["workflow", *K8S_TASK_FIELDS[1:]]
    serve = [f.name for f in STOCK.find("task", "python+serve").fields]  # type: ignore[union-attr]
    assert serve == [*K8S_TASK_FIELDS, "replicas", "service_type", "service_name"]


def test_a_stock_task_drops_what_dhcore_015_does_not_know():
    spec = {
        "function": "python://p/f:1",
        "node_selector": [{"key": "a", "value": "b"}],
        "affinity": {"nodeAffinity": {}},
        "tolerations": [],
        "backoff_limit": 3,
        "resources": {"cpu": "1", "mem": "1Gi", "memory": "2Gi"},
        "envs": [{"name": "A", "value": "1"}],
        "profile": None,
    }
    shaped = STOCK.admit("task", "python+job", spec)
    assert shaped == {
        "function": "python://p/f:1",
        "resources": {"cpu": "1", "mem": "1Gi"},
        "envs": [{"name": "A", "value": "1"}],
    }


def test_a_stock_run_keeps_its_own_its_tasks_and_its_functions_fields():
    spec = {
        "task": "python+job://p/t1",
        "function": "python://p/f:1",
        "source": {"source": "main.py", "handler": "main"},
        "python_version": "PYTHON3_11",
        "parameters": {"n": 1},
        "resources": {"cpu": "1"},
        "outputs": {"x": "y"},  # disabled in DHCore 0.15's python runs
        "values": ["a"],
    }
    assert STOCK.admit("run", "python+job:run", spec) == {
        "task": "python+job://p/t1",
        "function": "python://p/f:1",
        "source": {"source": "main.py", "handler": "main"},
        "python_version": "PYTHON3_11",
        "parameters": {"n": 1},
        "resources": {"cpu": "1"},
        "local_execution": False,
        "inputs": {},
        "init_parameters": {},
    }


def test_stock_required_fields_are_checked_and_unknown_kinds_refused():
    with pytest.raises(ApiError) as missing:
        STOCK.admit("function", "python", {"source": {"base64": "eA=="}})
    assert missing.value.status == 400
    assert "'python_version'" in missing.value.message
    with pytest.raises(ApiError) as unknown:
        STOCK.admit("function", "mlrun", {"source": {"code": "x"}})
    assert (unknown.value.status, unknown.value.message) == (404, "No such spec.")
    assert STOCK.admit("model", "model", {"path": "s3://b/m.pkl"}) == {
        "path": "s3://b/m.pkl",
        "parameters": {},
    }


def test_outside_stock_mode_a_known_kind_is_stored_as_sent_an_unknown_one_refused():
    """DHCore's spec registry knows its kinds only (404 `No such spec.`), in both modes."""
    spec = {"function": "python://p/f:1", "node_selector": [{"key": "a", "value": "b"}]}
    assert WIDE.admit("task", "python+job", spec) == spec
    with pytest.raises(ApiError) as refused:
        WIDE.admit("function", "something-new", {"anything": 1})
    assert (refused.value.status, refused.value.message) == (404, "No such spec.")


@pytest.mark.parametrize(
    ("kind", "spec", "message"),
    [
        ("python", {"python_version": "PYTHON2"}, "not one of the values accepted for Enum class"),
        ("python", {"source": "code"}, "Cannot deserialize value of type `java.util.Map` from String"),
        ("python", {"requirements": "numpy"}, "Cannot deserialize value of type `java.util.List`"),
    ],
)
def test_a_spec_field_that_cannot_bind_is_400_in_both_modes(kind, spec, message):
    """PythonFunctionSpec.configure: Jackson refuses a value of the wrong type or an enum
    constant that does not exist (IllegalArgumentException, 400)."""
    for registry in (WIDE, STOCK):
        with pytest.raises(ApiError) as refused:
            base = {"source": {"code": "x"}, "python_version": "PYTHON3_11"}
            registry.admit("function", kind, {**base, **spec})
        assert refused.value.status == 400 and message in refused.value.message


def test_scalars_coerce_as_jackson_does():
    """Jackson's defaults: a numeric string binds to an int, a number to a string."""
    task = {"function": "python://p/f:1", "replicas": "3", "service_name": 5}
    assert WIDE.admit("task", "python+serve", task)["replicas"] == "3"
    with pytest.raises(ApiError):
        WIDE.admit("task", "python+serve", {**task, "replicas": "abc"})


def test_the_mlrun_kinds_are_in_step_with_the_mlrun_runtime():
    from dhmlrun.runtime.run import FUNCTION_FIELDS, RUN_FIELDS
    from dhmlrun.runtime.taskparams import TASK_PARAM_FIELDS

    (mlrun,) = [r for r in RUNTIMES if r.name == "mlrun"]
    assert [f.name for f in mlrun.executable] == [*FUNCTION_FIELDS]
    assert [f.name for f in mlrun.task_base] == [*TASK_PARAM_FIELDS]
    run = WIDE.find("run", "mlrun+job:run")
    assert run is not None
    assert {f.name for f in run.fields} == {"task", *RUN_FIELDS}


def test_built_run_spec_merges_function_task_and_run_later_ones_winning():
    function = {"source": {"code": "x"}, "image": "from-function"}
    task = {"function": "mlrun://p/f:1", "image": "from-task", "timeout": 5}
    run = {"task": "mlrun+job://p/t", "parameters": {"a": 1}, "timeout": 9}
    assert WIDE.built_run_spec("mlrun+job:run", function, task, run) == {
        "source": {"code": "x"},
        "image": "from-task",
        "function": "mlrun://p/f:1",
        "timeout": 9,
        "task": "mlrun+job://p/t",
        "parameters": {"a": 1},
    }
