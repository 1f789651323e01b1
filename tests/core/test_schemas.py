"""`GET /api/v1/schemas/...`: DHCore 0.15's shapes and statuses (facts §2), answered from the
kinds table; how dhmlrun tells whether a platform knows the `mlrun` kinds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dhmlrun.core.api import CoreApi
from dhmlrun.core.inprocess import InProcessTransport
from dhmlrun.core.kinds import KindRegistry
from dhmlrun.core.routing import ApiRequest
from dhmlrun.core.service import Core
from dhmlrun.core.store import Store


@pytest.fixture(scope="module")
def cores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CoreApi]:
    folder: Path = tmp_path_factory.mktemp("schemas")
    return {
        mode: CoreApi(Core(Store(folder / f"{mode}.db"), kinds=KindRegistry(stock=mode == "stock")))
        for mode in ("embedded", "stock")
    }


def get(api: CoreApi, path: str, query: str = "") -> tuple[int, Any]:
    reply = api.handle(ApiRequest("GET", path, query))
    return reply.status, (json.loads(reply.body) if reply.body else None)


def test_one_schema_has_dhcores_shape(cores):
    status, schema = get(cores["embedded"], "/api/v1/schemas/function/python")
    assert status == 200
    assert set(schema) == {"kind", "runtime", "entity", "schema", "id"}
    assert (schema["kind"], schema["runtime"], schema["entity"], schema["id"]) == (
        "python",
        "python",
        "FUNCTION",
        "FUNCTION:python",
    )
    assert schema["schema"]["type"] == "object"
    assert set(schema["schema"]["required"]) == {"source", "python_version"}
    assert set(schema["schema"]["properties"]) == {
        "source",
        "python_version",
        "image",
        "base_image",
        "requirements",
    }


def test_a_run_schema_holds_its_task_schema(cores):
    _, schema = get(cores["stock"], "/api/v1/schemas/run/python+job:run")
    assert schema["id"] == "RUN:python+job:run"
    assert schema["schema"]["required"] == ["task"]
    (task,) = schema["schema"]["allOf"]
    assert task["required"] == ["function"]
    assert set(task["properties"]) == {"function", "volumes", "envs", "resources", "secrets", "profile"}


def test_kinds_without_a_runtime_omit_it(cores):
    status, schema = get(cores["stock"], "/api/v1/schemas/artifact/artifact")
    assert status == 200
    assert "runtime" not in schema
    assert (schema["entity"], schema["id"]) == ("ARTIFACT", "ARTIFACT:artifact")


@pytest.mark.parametrize("path", ["/api/v1/schemas/function/nosuch", "/api/v1/schemas/task/python"])
def test_an_unknown_kind_of_a_known_entity_is_400_missing_spec(cores, path):
    assert get(cores["embedded"], path) == (
        400,
        {"status": 400, "message": "missing spec", "errorCode": None},
    )


@pytest.mark.parametrize("path", ["/api/v1/schemas/nosuch", "/api/v1/schemas/nosuch/python"])
def test_an_unknown_entity_is_404_with_an_empty_body(cores, path):
    reply = cores["embedded"].handle(ApiRequest("GET", path))
    assert (reply.status, reply.body) == (404, b"")


def test_the_list_holds_every_match_in_one_page(cores):
    status, page = get(cores["stock"], "/api/v1/schemas/task", "runtime=python&size=1")
    assert status == 200
    assert [s["kind"] for s in page["content"]] == ["python+build", "python+job", "python+serve"]
    assert (page["totalElements"], page["numberOfElements"], page["size"], page["totalPages"]) == (3, 3, 1, 3)
    assert {"pageable", "first", "last", "number", "sort", "empty"} <= set(page)
    _, everything = get(cores["stock"], "/api/v1/schemas/task")
    assert len(everything["content"]) == everything["totalElements"] == 30


def test_an_unknown_runtime_is_an_empty_page(cores):
    status, page = get(cores["embedded"], "/api/v1/schemas/function", "runtime=nosuch")
    assert (status, page["content"], page["empty"]) == (200, [], True)


def test_mlrun_detection_embedded_knows_it_stock_does_not(cores):
    _, embedded = get(cores["embedded"], "/api/v1/schemas/function", "runtime=mlrun")
    assert [s["id"] for s in embedded["content"]] == ["FUNCTION:mlrun"]
    _, stock = get(cores["stock"], "/api/v1/schemas/function", "runtime=mlrun")
    assert stock["content"] == []
    assert get(cores["stock"], "/api/v1/schemas/function/mlrun")[0] == 400
    assert get(cores["embedded"], "/api/v1/schemas/run/mlrun+job:run")[1]["runtime"] == "mlrun"


def test_the_project_scoped_paths_answer_the_same_whatever_the_project(cores):
    api = cores["embedded"]
    assert get(api, "/api/v1/-/no-such-project/schemas/task/python+job") == get(
        api, "/api/v1/schemas/task/python+job"
    )
    assert get(api, "/api/v1/-/p/schemas/run", "runtime=mlrun") == get(
        api, "/api/v1/schemas/run", "runtime=mlrun"
    )
    assert api.handle(ApiRequest("GET", "/api/v1/-/p/schemas/nosuch")).status == 404


def test_an_encoded_kind_reaches_the_schema_in_process_too(cores):
    reply = InProcessTransport(cores["embedded"]).send(
        "GET", "/api/v1/schemas/run/python%2Bjob%3Arun", {}, None
    )
    assert reply.status == 200
    assert json.loads(reply.body)["kind"] == "python+job:run"
