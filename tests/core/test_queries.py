"""Query parameters are the client's: whatever a list request carries, the answer is never a 500
(issue 21, item 7: `?page=99999999999999999999` and 3,000 label filters answered 500). A page
number that is no Java int is page 0, as Spring Data reads it; thousands of label filters or
sort terms are answered."""

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
def test_a_page_number_past_any_int_is_answered(core: EmbeddedCore, path: str, query: str) -> None:
    status, body = get(core, path, query)
    assert status == 200, (path, body)


@pytest.mark.parametrize("path", [p for p in COLLECTIONS if p.endswith(("dataitems", "functions"))])
def test_thousands_of_label_filters_are_answered(core: EmbeddedCore, path: str) -> None:
    status, body = get(core, path, "&".join(f"labels=l{i}" for i in range(3000)))
    assert (status, body["content"]) == (200, [])


def test_thousands_of_sort_terms_are_answered_sorting_each_column_once(core: EmbeddedCore) -> None:
    status, body = get(core, "/api/v1/projects", "&".join("sort=name,desc" for _ in range(3000)))
    assert status == 200, body
    assert [p["name"] for p in body["content"]] == [PROJECT]
