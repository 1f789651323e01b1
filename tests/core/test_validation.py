"""DHCore's validation and leniency on the embedded core (issue 23.3): what Spring's `@Valid`,
`@Pattern`, enum and type conversion refuse is 400, what DHCore accepts is accepted, a method
DHCore does not map is 405 with `Allow`. Each test names the DHCore class or Spring rule."""

from __future__ import annotations

from typing import Any

import pytest

from tests.core.conftest import Api


def python_function(**spec: Any) -> dict[str, Any]:
    base = {"source": {"code": "def f():\n    pass\n", "handler": "f"}, "python_version": "PYTHON3_11"}
    return {"name": "f", "kind": "python", "spec": {**base, **spec}}


def test_a_path_variable_that_is_no_slug_is_400(api: Api, project: str) -> None:
    """`@PathVariable @Pattern(regexp = Keys.SLUG_PATTERN)`: ConstraintViolationException."""
    response = api.request("GET", f"/-/{project}/dataitems/bad%C2%84name")
    assert (response.status_code, response.json()["message"]) == (400, 'id: must match "^[a-zA-Z0-9._+-]+$"')
    assert api.request("GET", "/-/bad%20project/dataitems").status_code == 400


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"python_version": "PYTHON2"}, 'from String "PYTHON2": not one of the values accepted'),
        ({"requirements": "numpy"}, "`java.util.List` from String"),
    ],
)
def test_a_spec_field_of_the_wrong_type_is_400(api: Api, project: str, spec: dict, fragment: str) -> None:
    """PythonFunctionSpec.configure: Jackson cannot bind the value (IllegalArgumentException)."""
    response = api.request("POST", f"/-/{project}/functions", json=python_function(**spec))
    assert response.status_code == 400 and fragment in response.json()["message"]


def test_a_task_with_replicas_that_are_no_number_is_400(api: Api, project: str) -> None:
    function = api.ok("POST", f"/-/{project}/functions", json=python_function())
    executable = f"python://{project}/f:{function['id']}"
    body = {"kind": "python+serve", "spec": {"function": executable, "replicas": "abc"}}
    response = api.request("POST", f"/-/{project}/tasks", json=body)
    assert response.status_code == 400 and 'from String "abc"' in response.json()["message"]
    body["spec"]["replicas"] = "2"  # Jackson coerces a numeric string
    assert api.request("POST", f"/-/{project}/tasks", json=body).status_code == 200


def test_kinds_are_dhcores_patterns_and_registry_in_every_mode(api: Api, project: str) -> None:
    """A kind must be a slug (`@Pattern`, 400) that the spec registry knows (404 `No such spec.`)."""
    odd = api.request(
        "POST", f"/-/{project}/artifacts", json={"name": "a", "kind": "OvN*", "spec": {"path": "p"}}
    )
    assert odd.status_code == 400 and "on field 'kind': rejected value [OvN*]" in odd.json()["message"]
    unknown = api.request(
        "POST", f"/-/{project}/artifacts", json={"name": "a", "kind": "zzz", "spec": {"path": "p"}}
    )
    assert (unknown.status_code, unknown.json()["message"]) == (404, "No such spec.")
    assert api.ok("GET", f"/-/{project}/artifacts")["content"] == []


def test_a_put_without_a_name_is_400(api: Api, project: str) -> None:
    """`@Valid @RequestBody` on PUT: the DTO's `@NotNull name`."""
    created = api.ok(
        "POST", f"/-/{project}/dataitems", json={"name": "d", "kind": "table", "spec": {"path": "p"}}
    )
    body = {k: v for k, v in created.items() if k != "name"}
    response = api.request("PUT", f"/-/{project}/dataitems/{created['id']}", json=body)
    assert response.status_code == 400 and "on field 'name'" in response.json()["message"]


def test_a_secret_may_name_any_path(api: Api, project: str) -> None:
    """SecretContextController keeps the path as sent (no check against the name)."""
    body = {"name": "tok", "kind": "secret", "spec": {"path": "secret://other-key", "provider": "kubernetes"}}
    assert api.ok("POST", f"/-/{project}/secrets", json=body)["spec"]["path"] == "secret://other-key"


@pytest.mark.parametrize("collection", ["runs", "tasks", "secrets", "logs", "triggers"])
def test_delete_by_name_is_405_where_dhcore_maps_none(api: Api, project: str, collection: str) -> None:
    """Only the artifact, dataitem, function, model and workflow context controllers map
    `DELETE ?name=`; Spring answers the others 405 with the methods it maps in `Allow`."""
    response = api.request("DELETE", f"/-/{project}/{collection}", params={"name": "x"})
    assert response.status_code == 405
    assert set(response.headers["allow"].split(",")) >= {"GET", "POST"}
    assert api.request("DELETE", f"/-/{project}/functions", params={"name": "x"}).status_code == 200


def test_head_and_options_answer_as_spring_mvc(api: Api, project: str) -> None:
    """A GET mapping answers HEAD without a body; OPTIONS lists a path's methods."""
    head = api.request("HEAD", f"/-/{project}/dataitems")
    assert (head.status_code, head.content) == (200, b"")
    options = api.request("OPTIONS", f"/-/{project}/dataitems")
    assert options.status_code == 200
    assert set(options.headers["allow"].split(",")) >= {"GET", "POST", "DELETE", "HEAD", "OPTIONS"}
