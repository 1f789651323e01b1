"""Bad requests get the contract's 4xx bodies (never a 500), and every answer carries the API headers."""

from __future__ import annotations

import pytest

from tests.core.conftest import Api


def test_api_headers_on_every_answer(api: Api, project):
    for response in (api.request("GET", "/projects"), api.request("GET", f"/-/{project}/functions/missing")):
        assert response.headers["X-Api-Level"] == "15"
        assert response.headers["X-Api-Version"] == "0.15.0"


def test_auth_endpoint_answers(api: Api):
    body = api.session.get(api.base.replace("/api/v1", "/api/auth"), timeout=10).json()
    assert body["username"] == "anonymous"


def test_malformed_json_is_a_400_with_core_body(api: Api, project):
    response = api.request(
        "POST", f"/-/{project}/functions", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert set(response.json()) == {"status", "message", "errorCode"}


@pytest.mark.parametrize("body", ["[]", '"text"', "", "null"])
def test_non_object_bodies_are_400(api: Api, project, body):
    response = api.request(
        "POST", f"/-/{project}/dataitems", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400


def test_missing_kind_is_invalid_kind(api: Api, project):
    response = api.request("POST", f"/-/{project}/dataitems", json={"name": "d", "spec": {"path": "s3://x"}})
    assert response.json()["message"] == "invalid kind"


def test_bad_names_are_refused(api: Api, project):
    response = api.request("POST", f"/-/{project}/dataitems", json={"name": "a b", "kind": "table"})
    assert response.status_code == 400
    assert api.request("POST", "/projects", json={"name": "Upper_Case"}).status_code == 400


def test_unknown_paths_get_spring_default_body(api: Api, project):
    for path in ("/nothing", f"/-/{project}/widgets", f"/-/{project}/runs/x/explode"):
        response = api.request("GET" if "explode" not in path else "POST", path)
        assert response.status_code == 404
        assert set(response.json()) == {"timestamp", "status", "error", "path"}


def test_wrong_method_is_405_spring_body(api: Api):
    response = api.request("PATCH", "/projects")
    assert response.status_code == 405
    assert response.json()["error"] == "Method Not Allowed"


def test_missing_entity_is_no_such_type(api: Api, project):
    response = api.request("GET", f"/-/{project}/dataitems/0000")
    assert response.status_code == 404
    assert response.json() == {"status": 404, "message": "No such dataitem.", "errorCode": None}
    assert api.request("DELETE", f"/-/{project}/models/0000").json()["message"] == "No such model."


@pytest.mark.parametrize(
    "params",
    [
        {"size": "1001"},
        {"size": "-1"},
        {"page": "x"},
        {"sort": "nope,ASC"},
        {"sort": "name,SIDEWAYS"},
        {"versions": "few"},
    ],
)
def test_bad_paging_and_sorting_are_400(api: Api, project, params):
    response = api.request("GET", f"/-/{project}/dataitems", params=params)
    assert response.status_code == 400
    assert response.json()["status"] == 400


def test_bad_time_filter_is_400(api: Api, project):
    assert api.request("GET", f"/-/{project}/runs", params={"created": "yesterday"}).status_code == 400


def test_pagination_and_sort(api: Api, project):
    for name in ("c", "a", "b"):
        api.ok(
            "POST",
            f"/-/{project}/dataitems",
            json={"name": name, "kind": "table", "spec": {"path": "s3://x"}},
        )
    first = api.ok("GET", f"/-/{project}/dataitems", params={"size": 2, "page": 0, "sort": "name,ASC"})
    second = api.ok("GET", f"/-/{project}/dataitems", params={"size": 2, "page": 1, "sort": "name,ASC"})
    assert [d["name"] for d in first["content"] + second["content"]] == ["a", "b", "c"]
    assert first["totalPages"] == 2 and first["totalElements"] == 3 and second["last"] is True
    newest = api.ok("GET", f"/-/{project}/dataitems")["content"]
    assert [d["name"] for d in newest] == ["b", "a", "c"]


def test_created_filter_is_exclusive_range(api: Api, project):
    item = api.ok(
        "POST", f"/-/{project}/dataitems", json={"name": "t", "kind": "table", "spec": {"path": "s3://x"}}
    )
    created = item["metadata"]["created"]
    assert api.ok("GET", f"/-/{project}/dataitems", params={"created": created})["content"] == []
    window = "2000-01-01T00:00:00Z," + "2999-01-01T00:00:00+00:00"
    assert len(api.ok("GET", f"/-/{project}/dataitems", params={"created": window})["content"]) == 1


def test_responses_have_sorted_keys_and_no_nulls(api: Api, project):
    body = {
        "name": "n",
        "kind": "table",
        "spec": {"path": "s3://x", "schema": None},
        "metadata": {"description": None},
    }
    response = api.request("POST", f"/-/{project}/dataitems", json=body)
    data = response.json()
    assert list(data) == sorted(data)
    assert "schema" not in data["spec"] and "description" not in data["metadata"]
    assert response.text.find('"content"') == -1
