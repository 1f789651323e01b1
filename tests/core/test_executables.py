"""Functions, tasks, runs, logs and metrics over HTTP (the SDK has no runtime for these kinds here)."""

from __future__ import annotations

import base64

from tests.core.conftest import Api

RUN_PATH = "/-/{project}/runs/{run_id}"


def _put_state(api: Api, project: str, run: dict, state: str):
    return api.request(
        "PUT", RUN_PATH.format(project=project, run_id=run["id"]), json={**run, "status": {"state": state}}
    )


def test_function_versions_and_latest(api: Api, project):
    first = api.function(project, "f")
    second = api.function(project, "f")
    assert api.ok("GET", f"/-/{project}/functions", params={"name": "f"})["content"][0]["id"] == second["id"]
    all_versions = api.ok("GET", f"/-/{project}/functions", params={"name": "f", "versions": "all"})[
        "content"
    ]
    assert {f["id"] for f in all_versions} == {first["id"], second["id"]}
    assert first["key"] == f"store://{project}/function/mlrun/f:{first['id']}"


def test_owned_kind_specs_are_validated(api: Api, project):
    response = api.request("POST", f"/-/{project}/functions", json={"name": "f", "kind": "mlrun", "spec": {}})
    assert response.status_code == 400
    assert "source" in response.json()["message"]


def test_other_kinds_are_stored_as_sent(api: Api, project):
    body = {"name": "c", "kind": "container", "spec": {"image": "busybox", "anything": [1, 2]}}
    stored = api.ok("POST", f"/-/{project}/functions", json=body)
    assert stored["spec"] == body["spec"]


def test_task_must_name_an_existing_function(api: Api, project):
    missing = f"mlrun://{project}/f:0123456789abcdef"
    response = api.request(
        "POST", f"/-/{project}/tasks", json={"kind": "mlrun+job", "spec": {"function": missing}}
    )
    assert response.status_code == 400
    assert response.json()["message"] == "invalid executable entity"


def test_tasks_are_found_by_function_and_kind(api: Api, project):
    function = api.function(project)
    task = api.task(project, function)
    executable = f"mlrun://{project}/{function['name']}:{function['id']}"
    found = api.ok("GET", f"/-/{project}/tasks", params={"function": executable, "kind": "mlrun+job"})[
        "content"
    ]
    assert [t["id"] for t in found] == [task["id"]]
    assert "metadata" not in task and "status" not in task
    assert task["key"] == f"store://{project}/task/mlrun+job/{task['id']}"


def test_run_needs_an_existing_task(api: Api, project):
    body = {"kind": "mlrun+job:run", "spec": {"task": f"mlrun+job://{project}/nope", "local_execution": True}}
    response = api.request("POST", f"/-/{project}/runs", json=body)
    assert response.status_code == 400
    assert response.json()["message"] == "invalid task"
    response = api.request("POST", f"/-/{project}/runs", json={"kind": "mlrun+job:run", "spec": {}})
    assert response.json()["message"] == "spec: missing task"


def test_run_follows_the_local_execution_sequence(api: Api, project):
    run = api.run(project, api.task(project, api.function(project)))
    assert run["key"] == f"store://{project}/run/mlrun+job:run/{run['id']}:{run['id']}"
    for state in ("BUILT", "READY", "RUNNING", "RUNNING", "COMPLETED"):
        response = _put_state(api, project, run, state)
        assert response.status_code == 200, response.text
        assert response.json()["status"]["state"] == state


def test_an_impossible_transition_in_a_put_keeps_the_state_and_saves_the_rest(api: Api, project):
    """As DHCore 0.15's `BaseLifecycleManager`: the InvalidTransitionException is swallowed."""
    run = api.run(project, api.task(project, api.function(project)))
    path = RUN_PATH.format(project=project, run_id=run["id"])
    response = api.request("PUT", path, json={**run, "status": {"state": "RUNNING", "message": "kept"}})
    assert response.status_code == 200
    assert response.json()["status"] == {"state": "CREATED", "message": "kept"}
    for state in ("BUILT", "READY", "RUNNING", "COMPLETED"):
        _put_state(api, project, run, state)
    again = _put_state(api, project, run, "CREATED")
    assert (again.status_code, again.json()["status"]["state"]) == (200, "COMPLETED")


def test_a_stale_save_after_the_end_keeps_the_runs_final_record(api: Api, project):
    """A client saving the copy it read while the run executed (the SDK PUTs the whole run) gets
    200, and the results, outputs and message the executor recorded stay."""
    run = api.run(project, api.task(project, api.function(project)))
    path = RUN_PATH.format(project=project, run_id=run["id"])
    for state in ("BUILT", "READY", "RUNNING"):
        _put_state(api, project, run, state)
    final = {"state": "COMPLETED", "results": {"doubled": 42}, "outputs": {"model": "store://p/model/m:1"}}
    api.ok("PUT", path, json={**run, "status": final})
    stale = api.request(
        "PUT",
        path,
        json={**run, "metadata": {**run["metadata"], "description": "d"}, "status": {"state": "RUNNING"}},
    )
    assert stale.status_code == 200
    assert stale.json()["status"] == final
    assert stale.json()["metadata"]["description"] == "d"  # the rest is saved


def test_an_sdk_update_right_after_create_never_fails(api: Api, project):
    """`run.save(update=True)` carrying CREATED while the run is already BUILT: 200, still BUILT."""
    run = api.run(project, api.task(project, api.function(project)))
    _put_state(api, project, run, "BUILT")
    response = _put_state(api, project, run, "CREATED")
    assert (response.status_code, response.json()["status"]["state"]) == (200, "BUILT")


def test_run_spec_is_frozen_after_created(api: Api, project):
    run = api.run(project, api.task(project, api.function(project)))
    path = RUN_PATH.format(project=project, run_id=run["id"])
    first, second = {"code": "x"}, {"code": "y"}
    built = api.ok(
        "PUT", path, json={**run, "spec": {**run["spec"], "source": first}, "status": {"state": "BUILT"}}
    )
    assert built["spec"]["source"] == first
    later = api.ok(
        "PUT", path, json={**run, "spec": {**run["spec"], "source": second}, "status": {"state": "READY"}}
    )
    assert later["spec"]["source"] == first


def test_stop_and_resume_follow_the_fsm(api: Api, project):
    run = api.run(project, api.task(project, api.function(project)))
    stop = f"/-/{project}/runs/{run['id']}/stop"
    assert api.request("POST", stop, json={}).status_code == 400
    for state in ("BUILT", "READY", "RUNNING"):
        _put_state(api, project, run, state)
    assert api.ok("POST", stop, json={})["status"]["state"] == "STOP"
    _put_state(api, project, run, "STOPPED")
    assert api.ok("POST", f"/-/{project}/runs/{run['id']}/resume", json={})["status"]["state"] == "RESUME"


def test_run_filters_by_task_and_state(api: Api, project):
    function = api.function(project)
    task_a, task_b = api.task(project, function), api.task(project, function)
    run_a = api.run(project, task_a)
    api.run(project, task_b)
    _put_state(api, project, run_a, "BUILT")
    task_string = f"mlrun+job://{project}/{task_a['id']}"
    assert [
        r["id"] for r in api.ok("GET", f"/-/{project}/runs", params={"task": task_string})["content"]
    ] == [run_a["id"]]
    assert [r["id"] for r in api.ok("GET", f"/-/{project}/runs", params={"state": "BUILT"})["content"]] == [
        run_a["id"]
    ]


def test_logs_are_written_and_read_back_base64(api: Api, project):
    run = api.run(project, api.task(project, api.function(project)))
    content = base64.b64encode(b"hello from the run\n").decode()
    log = api.ok("POST", f"/-/{project}/logs", json={"spec": {"run": run["id"]}, "content": content})
    assert "kind" not in log
    (read,) = api.ok("GET", f"/-/{project}/runs/{run['id']}/logs")
    assert base64.b64decode(read["content"]) == b"hello from the run\n"
    assert read["spec"]["run"] == run["id"]


def test_run_metrics_replace_values(api: Api, project):
    run = api.run(project, api.task(project, api.function(project)))
    base = f"/-/{project}/runs/{run['id']}/metrics"
    assert api.ok("GET", base) == {}
    api.ok("PUT", base + "/loss", json=[0.5])
    api.ok("PUT", base + "/loss", json=[0.5, 0.4])
    assert api.ok("GET", base) == {"loss": [0.5, 0.4]}
    assert api.request("PUT", base + "/loss", json={"not": "a number"}).status_code == 400


def test_run_delete_answers_deleting_and_removes_logs(api: Api, project):
    run = api.run(project, api.task(project, api.function(project)))
    api.ok("POST", f"/-/{project}/logs", json={"spec": {"run": run["id"]}, "content": ""})
    deleted = api.ok("DELETE", RUN_PATH.format(project=project, run_id=run["id"]))
    assert deleted["status"]["state"] == "DELETING"
    assert api.ok("GET", f"/-/{project}/logs")["content"] == []
    assert api.request("GET", RUN_PATH.format(project=project, run_id=run["id"])).status_code == 404


def test_function_delete_cascades_to_tasks_runs_and_logs(api: Api, project):
    function = api.function(project)
    other = api.function(project, "other")
    run = api.run(project, api.task(project, function))
    kept = api.run(project, api.task(project, other))
    api.ok("POST", f"/-/{project}/logs", json={"spec": {"run": run["id"]}, "content": ""})
    api.ok("DELETE", f"/-/{project}/functions/{function['id']}", params={"cascade": "true"})
    assert [
        t["spec"]["function"].split(":")[-1] for t in api.ok("GET", f"/-/{project}/tasks")["content"]
    ] == [other["id"]]
    assert [r["id"] for r in api.ok("GET", f"/-/{project}/runs")["content"]] == [kept["id"]]
    assert api.ok("GET", f"/-/{project}/logs")["content"] == []


def test_function_delete_by_name_always_cascades(api: Api, project):
    function = api.function(project, "f")
    api.function(project, "f")
    api.run(project, api.task(project, function))
    api.ok("DELETE", f"/-/{project}/functions", params={"name": "f"})
    assert api.ok("GET", f"/-/{project}/functions", params={"versions": "all"})["content"] == []
    assert api.ok("GET", f"/-/{project}/tasks")["content"] == []
    assert api.ok("GET", f"/-/{project}/runs")["content"] == []


def test_entity_of_another_project_is_refused(api: Api, project, project_name):
    function = api.function(project)
    other = project_name + "x"
    api.ok("POST", "/projects", json={"name": other})
    response = api.request("GET", f"/-/{other}/functions/{function['id']}")
    assert response.status_code == 400
    assert response.json()["message"] == "invalid project"


def test_workflows_and_triggers_are_stored(api: Api, project):
    workflow = api.ok(
        "POST", f"/-/{project}/workflows", json={"name": "w", "kind": "hera", "spec": {"code": "x"}}
    )
    task = api.task(project, api.function(project))
    body = {
        "name": "t",
        "kind": "scheduler",
        "spec": {
            "task": f"mlrun+job://{project}/{task['id']}",
            "function": f"mlrun://{project}/fn:x",
            "schedule": "* * * * *",
        },
    }
    trigger = api.ok("POST", f"/-/{project}/triggers", json=body)
    assert workflow["key"] == f"store://{project}/workflow/hera/w:{workflow['id']}"
    assert trigger["key"] == f"store://{project}/trigger/scheduler/t:{trigger['id']}"
    assert (
        api.ok("POST", f"/-/{project}/triggers/{trigger['id']}/stop", json={})["status"]["state"] == "STOPPED"
    )


def test_sdk_reads_logs_written_with_its_own_client(api: Api, project):
    from digitalhub.entities._processors.processors import context_processor
    from digitalhub.stores.client import get_client

    run = api.run(project, api.task(project, api.function(project)))
    body = {"spec": {"run": run["id"], "timestamp": 1}, "content": base64.b64encode(b"line one\n").decode()}
    get_client().create_object(f"/api/v1/-/{project}/logs", body)
    (log,) = context_processor.read_run_logs(project, "run", run["id"])
    assert log.text == "line one\n"
