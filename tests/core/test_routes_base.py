"""DHCore 0.15's routes beyond a project's entity collections, on the embedded core (over HTTP:
the SDK 0.15 calls none of them). Each test names the DHCore class whose behaviour it checks."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from dhmlrun.core.server import EmbeddedCore
from tests.conftest import auth_headers
from tests.core.conftest import Api


def material(api: Api, project: str, collection: str, name: str, **metadata: Any) -> dict[str, Any]:
    body = {
        "name": name,
        "kind": "table" if collection == "dataitems" else collection[:-1],
        "project": project,
    }
    body["spec"] = {"path": f"s3://dhcore/{project}/{name}"}
    body["metadata"] = metadata
    return api.ok("POST", f"/-/{project}/{collection}", json=body)


# base entity APIs ---------------------------------------------------------------------------


def test_base_apis_create_read_update_and_delete_by_id_out_of_the_context(api: Api, project: str) -> None:
    """FunctionController (base): the project comes from the body; ids are found in any project."""
    spec = {"source": {"code": "def h():\n    pass\n"}, "handler": "h"}
    body = {"name": "f", "kind": "mlrun", "project": project, "spec": spec}
    created = api.ok("POST", "/functions", json=body)
    assert created["project"] == project
    assert api.ok("GET", f"/functions/{created['id']}")["name"] == "f"
    updated = api.ok("PUT", f"/functions/{created['id']}", json={**created, "metadata": {"description": "d"}})
    assert updated["metadata"]["description"] == "d"
    assert api.ok("GET", f"/-/{project}/functions/{created['id']}")["metadata"]["description"] == "d"
    api.ok("DELETE", f"/functions/{created['id']}")
    assert api.request("GET", f"/functions/{created['id']}").json()["message"] == "No such function."


def test_a_base_create_without_a_project_is_refused_as_spring_validation(api: Api) -> None:
    """`@Valid @RequestBody`: a DTO's project is `@NotNull` (MethodArgumentNotValidException, 400)."""
    response = api.request(
        "POST", "/artifacts", json={"name": "a", "kind": "artifact", "spec": {"path": "s3://b/a"}}
    )
    assert response.status_code == 400
    assert "on field 'project'" in response.json()["message"]


def test_base_lists_span_projects_with_every_version(api: Api, project: str) -> None:
    """ArtifactController.getArtifacts: `versions` defaults to `all`, sorted by created DESC;
    the `project` parameter filters (AbstractEntityFilter)."""
    first = material(api, project, "artifacts", "a")
    second = material(api, project, "artifacts", "a")
    listed = api.ok("GET", "/artifacts", params={"project": project})
    assert [a["id"] for a in listed["content"]] == [second["id"], first["id"]]
    latest = api.ok("GET", "/artifacts", params={"project": project, "versions": "latest"})
    assert [a["id"] for a in latest["content"]] == [second["id"]]


def test_secrets_have_no_base_list_and_reindex_has_no_index_to_rebuild(api: Api) -> None:
    """SecretController maps no GET on `/secrets` (405); `search/reindex` with no search index."""
    assert api.request("GET", "/secrets").status_code == 405
    assert api.request("POST", "/functions/search/reindex").status_code == 200
    assert api.request("POST", "/secrets/search/reindex").status_code == 404


def test_a_run_performs_any_lifecycle_event_or_refuses_as_the_fsm_does(api: Api, project: str) -> None:
    """RunContextController.performOnRun → lifecycleManager.perform(run, ACTION): ERROR from
    CREATED is a transition; an event the state has no transition for (an unknown one too) is
    Fsm.perform's InvalidTransitionException(current, null)."""
    run = api.run(project, api.task(project, api.function(project)))
    unknown = api.request("POST", f"/-/{project}/runs/{run['id']}/explode")
    assert unknown.status_code == 400
    assert unknown.json()["message"] == "Invalid transition from state CREATED to state null."
    assert api.ok("POST", f"/-/{project}/runs/{run['id']}/error")["status"]["state"] == "ERROR"
    assert api.request("POST", f"/runs/{run['id']}/complete").status_code == 400  # ERROR is final
    assert api.request("GET", f"/-/{project}/runs/{run['id']}/stop").status_code == 405


# what hangs off entities ----------------------------------------------------------------------


def test_relationships_are_seen_from_both_ends_and_go_with_either(api: Api, project: str) -> None:
    """BaseEntityRelationshipsManager.register and RelationshipRepository.findByProjectAndEntityId."""
    run = api.run(project, api.task(project, api.function(project)))
    run_key = run["key"]
    produced = material(
        api, project, "dataitems", "out", relationships=[{"type": "produced_by", "dest": run_key}]
    )
    expected = [{"type": "produced_by", "source": produced["key"], "dest": run_key}]
    assert api.ok("GET", f"/-/{project}/dataitems/{produced['id']}/relationships") == expected
    assert api.ok("GET", f"/-/{project}/runs/{run['id']}/relationships") == expected
    assert api.ok("GET", f"/projects/{project}/relationships") == expected
    api.ok("DELETE", f"/-/{project}/dataitems/{produced['id']}")
    assert api.ok("GET", f"/-/{project}/runs/{run['id']}/relationships") == []


def test_the_tasks_of_a_function_and_the_runs_of_a_task(api: Api, project: str) -> None:
    """FunctionManager.getTasksByFunctionId, RunManager.getRunsByTaskId."""
    function = api.function(project)
    task = api.task(project, function)
    run = api.run(project, task)
    assert [t["id"] for t in api.ok("GET", f"/-/{project}/functions/{function['id']}/tasks")] == [task["id"]]
    assert [r["id"] for r in api.ok("GET", f"/-/{project}/tasks/{task['id']}/runs")] == [run["id"]]
    assert api.request("GET", f"/-/{project}/models/x/tasks").status_code == 404


def test_the_labels_of_a_project_are_kept_and_searched_by_prefix(api: Api, project: str) -> None:
    """LabelComponent registers every label lower-cased; LabelContextController searches them
    by prefix (`findByProjectAndLabelStartsWithIgnoreCase`); a deleted entity's labels stay."""
    item = material(api, project, "artifacts", "a", labels=["Alpha", "beta"])
    api.ok("DELETE", f"/-/{project}/artifacts/{item['id']}")
    assert sorted(x["label"] for x in api.ok("GET", f"/-/{project}/labels")["content"]) == ["alpha", "beta"]
    found = api.ok("GET", f"/-/{project}/labels", params={"label": "AL"})["content"]
    assert [(x["label"], x["project"]) for x in found] == [("alpha", project)]


# the platform ---------------------------------------------------------------------------------


def test_the_configuration_names_the_files_store_and_never_a_key(core: EmbeddedCore) -> None:
    """ConfigurationEndpoint: CoreConfig, FilesConfig and S3Config keys, lower-cased."""
    answer = requests.get(
        f"{core.endpoint}/.well-known/configuration", headers=auth_headers(core), timeout=10
    )
    config = answer.json()
    assert config["dhcore_endpoint"] == core.endpoint
    assert config["dhcore_default_files_store"] == "s3://dhcore"
    assert config["aws_endpoint_url"] == f"{core.endpoint}/s3"
    secret = core.client_environment()["AWS_SECRET_ACCESS_KEY"]
    assert secret not in answer.text and core.token not in answer.text
    text = requests.get(f"{core.endpoint}/.well-known/security.txt", headers=auth_headers(core), timeout=10)
    assert (
        text.headers["content-type"].startswith("text/plain") and "Preferred-Languages: en, it" in text.text
    )


def test_templates_are_empty_where_none_are_shipped(api: Api) -> None:
    """TemplateServiceImpl: the templates folder's YAML files (none here): empty pages, and a
    template by id is `null` (an empty answer)."""
    assert api.ok("GET", "/templates")["content"] == []
    assert api.ok("GET", "/templates/function")["totalElements"] == 0
    assert api.request("GET", "/templates/function/some-id").content == b""


def test_personal_access_tokens_are_shown_once_then_listed_read_and_revoked(api: Api) -> None:
    """UserTokensController and TokenService: default scopes openid, profile, credentials."""
    made = api.ok("POST", "/tokens/personal", json={"name": "ci"})
    assert made["access_token"].startswith("dhat_")
    [listed] = [t for t in api.ok("GET", "/tokens/personal")["content"] if t["name"] == "ci"]
    assert listed["scopes"] == ["credentials", "openid", "profile"]
    assert made["access_token"] not in json.dumps(listed)
    assert api.ok("GET", f"/tokens/personal/{listed['id']}")["name"] == "ci"
    api.ok("DELETE", f"/tokens/personal/{listed['id']}")
    assert api.request("GET", f"/tokens/personal/{listed['id']}").status_code == 404
    assert api.ok("GET", "/tokens/refresh")["content"] == []


def test_my_projects_are_listed_and_deleted_with_everything_in_them(tmp_path: Path) -> None:
    """MyUserManager.listMyProjects and deleteAllMyProjects (a core of its own: it deletes)."""
    core = EmbeddedCore(tmp_path / "core.db")
    try:
        endpoint, _ = core.serve()
        own = Api(endpoint, auth_headers(core))
        own.ok("POST", "/projects", json={"name": "mine-a"})
        material(own, "mine-a", "artifacts", "a")
        assert [p["name"] for p in own.ok("GET", "/users/me/projects")] == ["mine-a"]
        own.ok("DELETE", "/users/me/projects")
        assert own.ok("GET", "/users/me/projects") == []
        assert own.ok("GET", "/artifacts")["content"] == []
    finally:
        core.close()


# the run proxy --------------------------------------------------------------------------------


@pytest.fixture
def service() -> Iterator[str]:
    """A loopback HTTP service answering JSON, as a serve run's would."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.dumps(
                {"got": self.rfile.read(length).decode(), "auth": self.headers.get("authorization")}
            )
            self.send_response(201)
            self.send_header("content-type", "application/json")
            self.send_header("x-served-by", "test")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_the_run_proxy_reaches_the_runs_own_service_only(api: Api, project: str, service: str) -> None:
    """ProxyController.proxyRequest and ProxyService: X-Proxy-URL on the run's service host, the
    answer's status and headers as X-Proxy-*, the bearer token never forwarded."""
    run = api.run(project, api.task(project, api.function(project)))
    path = f"/-/{project}/runs/{run['id']}/proxy"
    assert api.request("POST", path).json()["message"] == "missing proxy url"
    no_service = api.request("POST", path, headers={"X-Proxy-URL": f"http://{service}/"})
    assert no_service.json()["message"] == "invalid run service"
    api.ok("PUT", f"/-/{project}/runs/{run['id']}", json={**run, "status": {"service": {"url": service}}})
    elsewhere = api.request("POST", path, headers={"X-Proxy-URL": "http://10.9.8.7/"})
    assert (elsewhere.status_code, elsewhere.json()["message"]) == (400, "invalid destination host")
    answer = api.request(
        "POST", path, data=b"ping", headers={"X-Proxy-URL": f"{service}/predict", "X-Proxy-Method": "POST"}
    )
    assert answer.status_code == 200
    assert answer.json() == {"got": "ping", "auth": None}
    assert (answer.headers["x-proxy-status"], answer.headers["x-proxy-x-served-by"]) == (
        "201 CREATED",
        "test",
    )
