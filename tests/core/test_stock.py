"""`EmbeddedCore(stock=True)`: the core behaves as a stock DHCore 0.15 (facts §0-§4): only its kinds
(404 `No such spec.` for the others, nothing stored), only their spec fields, remote runs built
in their create."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dhmlrun.core.server import EmbeddedCore
from tests.conftest import auth_headers, served_core, unique_project_name
from tests.core.conftest import Api

NO_SUCH_SPEC = {"status": 404, "message": "No such spec.", "errorCode": None}
FINAL = ("COMPLETED", "ERROR", "STOPPED")
PYTHON_SPEC = {"source": {"source": "main.py", "handler": "main"}, "python_version": "PYTHON3_11"}


@pytest.fixture(scope="module")
def stock_core(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedCore]:
    """A stock core served over HTTP; the SDK of this process points at it for the module."""
    with served_core(tmp_path_factory.mktemp("stock") / "core.db", stock=True) as served:
        yield served


@pytest.fixture
def stock(stock_core: EmbeddedCore) -> tuple[Api, str]:
    api = Api(str(stock_core.endpoint), auth_headers(stock_core))
    project = unique_project_name("stock")
    api.ok("POST", "/projects", json={"name": project, "kind": "project"})
    return api, project


def python_function(api: Api, project: str, **spec: Any) -> dict[str, Any]:
    body = {"name": "py", "kind": "python", "spec": {**PYTHON_SPEC, **spec}}
    return api.ok("POST", f"/-/{project}/functions", json=body)


def python_task(api: Api, project: str, function: dict[str, Any], **spec: Any) -> dict[str, Any]:
    executable = f"python://{project}/{function['name']}:{function['id']}"
    body = {"kind": "python+job", "spec": {"function": executable, **spec}}
    return api.ok("POST", f"/-/{project}/tasks", json=body)


def listed(api: Api, project: str, collection: str) -> list[dict[str, Any]]:
    return api.ok("GET", f"/-/{project}/{collection}")["content"]


def test_the_mlrun_kinds_are_no_such_spec_and_nothing_is_stored(stock):
    api, project = stock
    function = {"name": "m", "kind": "mlrun", "spec": {"source": {"code": "x"}, "handler": "h"}}
    refused = api.request("POST", f"/-/{project}/functions", json=function)
    assert (refused.status_code, refused.json()) == (404, NO_SUCH_SPEC)
    assert listed(api, project, "functions") == []

    py = python_function(api, project)
    executable = f"python://{project}/py:{py['id']}"
    task = api.request(
        "POST", f"/-/{project}/tasks", json={"kind": "mlrun+job", "spec": {"function": executable}}
    )
    assert (task.status_code, task.json()) == (404, NO_SUCH_SPEC)
    assert listed(api, project, "tasks") == []

    real_task = python_task(api, project, py)
    run_spec = {"task": f"python+job://{project}/{real_task['id']}", "function": executable}
    run = api.request("POST", f"/-/{project}/runs", json={"kind": "mlrun+job:run", "spec": run_spec})
    assert (run.status_code, run.json()) == (404, NO_SUCH_SPEC)
    assert listed(api, project, "runs") == []


def test_any_other_unknown_kind_is_refused_the_same_way(stock):
    api, project = stock
    body = {"name": "blob", "kind": "blob", "spec": {"path": "s3://bucket/blob"}}
    refused = api.request("POST", f"/-/{project}/artifacts", json=body)
    assert (refused.status_code, refused.json()) == (404, NO_SUCH_SPEC)
    assert listed(api, project, "artifacts") == []


def test_a_python_task_keeps_only_dhcore_015s_fields(stock):
    api, project = stock
    function = python_function(api, project)
    task = python_task(
        api,
        project,
        function,
        node_selector=[{"key": "disk", "value": "ssd"}],
        tolerations=[{"key": "k", "operator": "Exists"}],
        resources={"cpu": "1", "mem": "512Mi", "memory": "1Gi"},
        secrets=["TOKEN"],
    )
    expected = {
        "function": f"python://{project}/py:{function['id']}",
        "resources": {"cpu": "1", "mem": "512Mi"},
        "secrets": ["TOKEN"],
    }
    assert task["spec"] == expected
    assert api.ok("GET", f"/-/{project}/tasks/{task['id']}")["spec"] == expected
    updated = api.ok(
        "PUT", f"/-/{project}/tasks/{task['id']}", json={**task, "spec": {**expected, "affinity": {"a": 1}}}
    )
    assert updated["spec"] == expected


def test_unknown_function_fields_vanish_and_required_ones_are_checked(stock):
    api, project = stock
    function = python_function(api, project, handler="main", code="print(1)")
    assert function["spec"] == PYTHON_SPEC
    body = {"name": "nover", "kind": "python", "spec": {"source": PYTHON_SPEC["source"]}}
    refused = api.request("POST", f"/-/{project}/functions", json=body)
    assert refused.status_code == 400
    assert "'python_version'" in refused.json()["message"]
    assert [f["name"] for f in listed(api, project, "functions")] == ["py"]


def test_a_remote_run_is_built_in_its_create(stock):
    api, project = stock
    function = python_function(api, project, requirements=["pandas"])
    task = python_task(api, project, function, resources={"cpu": "2"})
    executable = f"python://{project}/py:{function['id']}"
    spec = {"task": f"python+job://{project}/{task['id']}", "function": executable, "parameters": {"n": 3}}
    run = api.ok("POST", f"/-/{project}/runs", json={"kind": "python+job:run", "spec": {**spec, "junk": 1}})
    assert run["status"]["state"] == "READY"
    assert run["spec"] == {
        **PYTHON_SPEC,
        "requirements": ["pandas"],
        "function": executable,
        "resources": {"cpu": "2"},
        **spec,
        "local_execution": False,
        "inputs": {},
        "init_parameters": {},
    }


def final_status(api: Api, project: str, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while (status := api.ok("GET", f"/-/{project}/runs/{run_id}")["status"])["state"] not in FINAL:
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
    return status


@pytest.mark.slow
def test_a_built_python_run_is_executed_by_the_python_runtime(stock):
    api, project = stock
    task = python_task(api, project, python_function(api, project))
    body = {"kind": "python+job:run", "spec": {"task": f"python+job://{project}/{task['id']}"}}
    run = api.ok("POST", f"/-/{project}/runs", json=body)
    status = final_status(api, project, run["id"])
    assert status["state"] == "ERROR"  # executed: its runtime cannot fetch a source named main.py
    assert "Unable to collect source from: main.py" in status["message"]


def test_a_run_of_a_kind_whose_runtime_is_not_installed_fails_saying_so(stock):
    api, project = stock
    body = {"name": "c", "kind": "container", "spec": {"image": "alpine"}}
    function = api.ok("POST", f"/-/{project}/functions", json=body)
    executable = f"container://{project}/c:{function['id']}"
    task_body = {"kind": "container+job", "spec": {"function": executable}}
    task = api.ok("POST", f"/-/{project}/tasks", json=task_body)
    body = {"kind": "container+job:run", "spec": {"task": f"container+job://{project}/{task['id']}"}}
    run = api.ok("POST", f"/-/{project}/runs", json=body)
    assert run["status"]["state"] == "READY"
    status = final_status(api, project, run["id"])
    assert status["state"] == "ERROR"
    assert "no runtime for kind container+job:run is installed" in status["message"]


def test_a_local_run_stays_created_for_its_client(stock):
    api, project = stock
    function = python_function(api, project)
    task = python_task(api, project, function)
    spec = {"task": f"python+job://{project}/{task['id']}", "local_execution": True}
    run = api.ok("POST", f"/-/{project}/runs", json={"kind": "python+job:run", "spec": spec})
    assert run["status"]["state"] == "CREATED"
    assert run["spec"] == {**spec, "inputs": {}, "parameters": {}, "init_parameters": {}}


def test_the_sdk_meets_no_such_spec_for_an_mlrun_function(stock_core: EmbeddedCore):
    import digitalhub as dh

    project = dh.get_or_create_project(unique_project_name("stock-sdk"))
    with pytest.raises(Exception, match="No such spec"):
        project.new_function(name="m", kind="mlrun", source={"code": "def h():\n    pass\n"}, handler="h")
    assert project.list_functions() == []


def test_a_stock_core_reopens_a_database_written_by_a_wider_one(tmp_path: Path):
    """Stock mode is a rule on writes: what an earlier, wider core stored stays readable."""
    wide = EmbeddedCore(tmp_path / "c.db")
    wide.core.create_project({"name": "mixed"})
    function = wide.core.create_entity(
        "mixed", "function", {"name": "m", "kind": "mlrun", "spec": {"source": {"code": "x"}}}
    )
    wide.close()
    stock = EmbeddedCore(tmp_path / "c.db", stock=True)
    try:
        assert stock.core.get_entity("mixed", "function", function["id"])["kind"] == "mlrun"
    finally:
        stock.close()
