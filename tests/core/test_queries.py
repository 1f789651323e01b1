"""Query parameters are the client's: whatever a list request carries, a bad one is a 400 with a
message, never a 500 (issue 21, item 7: `?page=99999999999999999999` and 3,000 label filters
answered 500)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from dhmlrun.core.api import ApiRequest
from dhmlrun.core.server import EmbeddedCore

PROJECT = "queries"
COLLECTIONS = [
    "/api/v1/projects",
    *(f"/api/v1/-/{PROJECT}/{c}" for c in ("dataitems", "functions", "runs", "secrets", "workflows", "logs")),
]


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedCore]:
    core = EmbeddedCore(tmp_path_factory.mktemp("queries") / "core.db")
    core.api.handle(ApiRequest("POST", "/api/v1/projects", body=json.dumps({"name": PROJECT}).encode()))
    try:
        yield core
    finally:
        core.close()


def get(core: EmbeddedCore, path: str, query: str) -> tuple[int, dict]:
    reply = core.api.handle(ApiRequest("GET", path, query=query))
    return reply.status, json.loads(reply.body or b"{}")


@pytest.mark.parametrize("path", COLLECTIONS)
@pytest.mark.parametrize(
    "query", ["page=99999999999999999999", "page=2147483648", "size=1&page=4611686018427387904"]
)
def test_a_page_number_past_any_int_is_a_400(core: EmbeddedCore, path: str, query: str) -> None:
    status, body = get(core, path, query)
    assert status == 400, (path, body)
    assert body["message"].startswith("invalid page")


def test_the_largest_page_number_is_an_empty_page(core: EmbeddedCore) -> None:
    status, body = get(core, f"/api/v1/-/{PROJECT}/dataitems", "size=1000&page=2147483647")
    assert status == 200, body
    assert body["content"] == []


@pytest.mark.parametrize("path", [p for p in COLLECTIONS if p.endswith(("dataitems", "functions"))])
def test_thousands_of_label_filters_are_a_400(core: EmbeddedCore, path: str) -> None:
    status, body = get(core, path, "&".join(f"labels=l{i}" for i in range(3000)))
    assert status == 400, body
    assert "too many label filters: 3000" in body["message"]


def test_many_label_filters_still_filter(core: EmbeddedCore) -> None:
    status, body = get(core, f"/api/v1/-/{PROJECT}/dataitems", "&".join(f"labels=l{i}" for i in range(100)))
    assert (status, body["content"]) == (200, [])


def test_thousands_of_sort_terms_are_a_400(core: EmbeddedCore) -> None:
    status, body = get(core, "/api/v1/projects", "&".join("sort=name,asc" for _ in range(3000)))
    assert status == 400, body
    assert "too many sort terms" in body["message"]
