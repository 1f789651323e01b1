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


def test_missing_kind_or_project_is_refused_as_spring_validation(api: Api, project):
    """DataItem's `@NotNull kind` and `@NotNull project`, checked by `@Valid` before the context
    controller sets the project from the path (MethodArgumentNotValidException, 400)."""
    response = api.request("POST", f"/-/{project}/dataitems", json={"name": "d", "spec": {"path": "s3://x"}})
    assert response.status_code == 400
    message = response.json()["message"]
    assert "on field 'kind': rejected value [null]; default message [must not be null]" in message
    body = {"name": "d", "kind": "table", "project": None, "spec": {"path": "s3://x"}}
    assert "on field 'project'" in api.request("POST", f"/-/{project}/dataitems", json=body).json()["message"]


def test_bad_names_are_refused(api: Api, project):
    response = api.request("POST", f"/-/{project}/dataitems", json={"name": "a b", "kind": "table"})
    assert response.status_code == 400
    assert api.request("POST", "/projects", json={"name": "Upper_Case"}).status_code == 400


def test_unknown_paths_get_spring_default_body(api: Api, project):
    """(`runs/{id}/{action}` takes any action: RunContextController.performOnRun.)"""
    for path in ("/nothing", f"/-/{project}/widgets", f"/-/{project}/runs/x/explode/more"):
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


@pytest.mark.parametrize("params", [{"sort": "nope,ASC"}, {"sort": "name,SIDEWAYS"}])
def test_sorting_by_an_unknown_property_is_400(api: Api, project, params):
    """PropertyReferenceException (CustomExceptionHandler: 400)."""
    response = api.request("GET", f"/-/{project}/dataitems", params=params)
    assert response.status_code == 400
    assert response.json()["status"] == 400


@pytest.mark.parametrize(
    ("params", "page", "size"),
    [
        ({"size": "1001"}, 0, 1001),
        ({"size": "5000"}, 0, 2000),
        ({"size": "-1"}, 0, 25),
        ({"size": "abc"}, 0, 25),
        ({"page": "x"}, 0, 25),
        ({"page": "-3"}, 0, 25),
        ({"page": "99999999999999999999"}, 0, 25),
        ({"page": "2147483647"}, 2147483647, 25),
    ],
)
def test_paging_is_resolved_as_spring_data_does_never_refused(api: Api, project, params, page, size):
    """PageableHandlerMethodArgumentResolverSupport: what does not parse as an int is 0, a size
    below 1 is the `@PageableDefault` (25), above 2000 is 2000 (issue 21.7: a huge page was 500)."""
    answer = api.ok("GET", f"/-/{project}/dataitems", params=params)
    assert (answer["number"], answer["size"]) == (page, size)


def test_an_unknown_versions_value_lists_the_latest(api: Api, project):
    """The controllers: `"all".equals(versions)` lists every version, anything else the latest."""
    for _ in range(2):
        api.ok(
            "POST",
            f"/-/{project}/dataitems",
            json={"name": "v", "kind": "table", "project": project, "spec": {"path": "s3://x"}},
        )
    assert len(api.ok("GET", f"/-/{project}/dataitems", params={"versions": "few"})["content"]) == 1


def test_an_unparsable_time_filter_is_ignored(api: Api, project):
    """AbstractEntityFilter skips `created`/`updated` on a DateTimeParseException (an offset is
    required: ISO_OFFSET_DATE_TIME)."""
    api.run(project, api.task(project, api.function(project)))
    for created in ("yesterday", "2020-01-01T00:00:00"):
        assert len(api.ok("GET", f"/-/{project}/runs", params={"created": created})["content"]) == 1
    assert api.ok("GET", f"/-/{project}/runs", params={"created": "2999-01-01T00:00:00Z"})["content"] == []


def test_filters_keep_dhcores_patterns_and_labels_match_as_like(api: Api, project):
    """AbstractEntityFilter's `@Pattern`s (a BindException, 400), and its labels criterion: a
    case-insensitive `like` on the comma-joined labels, every label required; thousands of them
    in one request are one predicate (issue 21.7: 3,000 label filters were a 500)."""
    body = {"name": "l", "kind": "table", "project": project, "spec": {"path": "s3://x"}}
    api.ok("POST", f"/-/{project}/dataitems", json={**body, "metadata": {"labels": ["Team-A", "gold"]}})
    assert api.request("GET", f"/-/{project}/dataitems", params={"name": "bad name"}).status_code == 400
    found = api.ok("GET", f"/-/{project}/dataitems", params=[("labels", "team"), ("labels", "GOLD")])
    assert [d["name"] for d in found["content"]] == ["l"]
    assert api.ok("GET", f"/-/{project}/dataitems", params={"labels": "silver"})["content"] == []
    many = [("labels", f"label-{n}") for n in range(3000)]
    response = api.request("GET", f"/-/{project}/dataitems", params=many)
    assert response.status_code == 200 and response.json()["content"] == []


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
