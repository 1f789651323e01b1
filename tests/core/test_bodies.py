"""Request bodies are read strictly: JSON only, finite numbers, valid Unicode, DHCore's field
types, bounded size and nesting; whatever a client sends, the answer is never a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dhmlrun.core.asgi import MAX_BODY_BYTES
from dhmlrun.core.routing import ApiRequest
from dhmlrun.core.server import EmbeddedCore
from tests.conftest import examples

PROJECT = "bodies"


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedCore]:
    core = EmbeddedCore(tmp_path_factory.mktemp("bodies") / "core.db")
    core.api.handle(ApiRequest("POST", "/api/v1/projects", body=b'{"name": "bodies"}'))
    try:
        yield core
    finally:
        core.close()


def post(
    core: EmbeddedCore, raw: bytes, content_type: str = "application/json", collection: str = "dataitems"
):
    reply = core.api.handle(
        ApiRequest("POST", f"/api/v1/-/{PROJECT}/{collection}", body=raw, content_type=content_type)
    )
    return reply.status, json.loads(reply.body or b"{}")


def dataitem(**extra: object) -> dict:
    return {"name": "d", "kind": "table", "project": PROJECT, "spec": {"path": "s3://b/d"}, **extra}


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "d", "kind": "table", "spec": {"path": "s3://b/d", "rows": NaN}}',
        b'{"name": "d", "kind": "table", "spec": {"path": "s3://b/d", "rows": Infinity}}',
        b'{"name": "d", "kind": "table", "spec": {"path": "s3://b/d", "rows": 1e999}}',
        b'{"name": "d", "kind": "table", "spec": {"path": "s3://b/d\\ud800"}}',
        b'{"name": "d", "kind": "table", "spec": {"\\udfff": 1, "path": "p"}}',
        b"\xff\xfe not utf-8",
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_bodies_json_cannot_represent_are_refused_with_400(core: EmbeddedCore, raw: bytes) -> None:
    status, body = post(core, raw)
    assert status == 400, body
    assert body["message"].startswith("JSON parse error")


def test_yaml_bodies_are_read_as_dhcores_create_controllers_consume_them(core: EmbeddedCore) -> None:
    """The context controllers' `consumes = {application/json, application/x-yaml}`; anchors and
    aliases are refused (a billion laughs), other media types are 415 as Spring answers them."""
    document = f"name: from-yaml\nkind: table\nproject: {PROJECT}\nspec: {{path: s3://b/y, rows: 3}}\n"
    status, body = post(core, document.encode(), "application/x-yaml")
    assert (status, body["name"], body["spec"]["rows"]) == (200, "from-yaml", 3)
    laughs = b'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n' * 3
    for content_type in ("application/x-yaml", "application/yaml"):
        status, body = post(core, laughs, content_type)
        assert (status, body["message"]) == (400, "YAML parse error: anchors and aliases are not accepted")
    assert post(core, laughs, "text/plain")[0] == 415
    assert post(core, json.dumps(dataitem()).encode(), "application/json; charset=utf-8")[0] == 200


@pytest.mark.parametrize(
    ("metadata", "field"),
    [
        ({"labels": "notalist"}, "metadata.labels"),
        ({"labels": {}}, "metadata.labels"),
        ({"labels": [{"a": 1}]}, "metadata.labels"),
        ({"description": ["x"]}, "metadata.description"),
        ({"embedded": "yes"}, "metadata.embedded"),
    ],
)
def test_metadata_fields_have_dhcore_types(core: EmbeddedCore, metadata: dict, field: str) -> None:
    status, body = post(core, json.dumps(dataitem(metadata=metadata)).encode())
    assert status == 400 and body["message"].startswith(field), body


def test_numeric_labels_are_coerced_to_strings_as_jackson_does(core: EmbeddedCore) -> None:
    status, body = post(
        core, json.dumps(dataitem(name="coerced", metadata={"labels": [1, 2.5, "x"]})).encode()
    )
    assert status == 200 and body["metadata"]["labels"] == ["1", "2.5", "x"]


def test_a_body_over_the_limit_is_refused_with_413_before_it_is_stored(tmp_path: Path) -> None:
    core = EmbeddedCore(tmp_path / "big.db")
    try:
        endpoint, token = core.serve()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        big = b'{"name": "p", "x": "' + b"a" * (MAX_BODY_BYTES + 10) + b'"}'
        answer = requests.post(endpoint + "/api/v1/projects", data=big, headers=headers, timeout=60)
        assert answer.status_code == 413
        assert (
            requests.get(endpoint + "/api/v1/projects", headers=headers, timeout=10).json()["content"] == []
        )
    finally:
        core.close()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
fields = st.sampled_from(
    ["id", "name", "kind", "project", "metadata", "spec", "status", "extensions", "user"]
)
bodies = st.dictionaries(fields, json_values, max_size=6) | json_values


@settings(
    max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=bodies,
    collection=st.sampled_from(
        ["dataitems", "functions", "tasks", "runs", "secrets", "artifacts", "models", "logs"]
    ),
)
def test_no_body_gets_a_500(core: EmbeddedCore, body: object, collection: str) -> None:
    status, _ = post(core, json.dumps(body).encode(), collection=collection)
    assert status < 500
    project = core.api.handle(
        ApiRequest("PUT", f"/api/v1/projects/{PROJECT}", body=json.dumps(body).encode())
    )
    assert project.status < 500
