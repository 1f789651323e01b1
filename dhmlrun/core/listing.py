"""List requests: query parameters → a store `Query`, and rows → Spring's page envelope.

Filters follow docs/dhcore.md §7 and are applied *after* the latest-version step, so `?kind=X`
returns the names whose latest version has kind X. Bad paging or sorting is the client's fault
(400), never a server error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dhmlrun.core.entities import VERSIONED_TYPES, parse_iso_ms
from dhmlrun.core.errors import bad_request
from dhmlrun.core.store import Query

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 25

# Sortable properties (Spring names and the snake/dotted spellings clients use) → columns.
SORT_COLUMNS: dict[str, str] = {
    "id": "id",
    "name": "name",
    "kind": "kind",
    "project": "project",
    "state": "state",
    "user": "created_by",
    "created": "created",
    "updated": "updated",
    "createdBy": "created_by",
    "created_by": "created_by",
    "metadata.created": "created",
    "metadata.updated": "updated",
}


class Params:
    """Query parameters with repeatable keys (`labels`, `sort`, `keys`)."""

    def __init__(self, items: Sequence[tuple[str, str]]) -> None:
        self._items = list(items)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, str]) -> Params:
        """Build from a plain dict (tests, benchmarks)."""
        return cls(list(mapping.items()))

    def get(self, key: str) -> str | None:
        """The first value of a parameter; empty strings count as absent."""
        for name, value in self._items:
            if name == key and value != "":
                return value
        return None

    def get_all(self, key: str) -> list[str]:
        """Every value of a repeatable parameter (comma-separated values split too)."""
        values: list[str] = []
        for name, value in self._items:
            if name != key or value == "":
                continue
            if key in ("labels", "keys"):
                values.extend(v for v in value.split(",") if v)
            else:
                values.append(value)
        return values


def _int_param(params: Params, key: str, default: int) -> int:
    raw = params.get(key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise bad_request(f"invalid {key}: {raw}") from exc
    if value < 0:
        raise bad_request(f"invalid {key}: {raw}")
    return value


def page_window(params: Params) -> tuple[int, int]:
    """(page, size) from `page`/`size`; size over 1000 or negative numbers → 400."""
    page = _int_param(params, "page", 0)
    size = _int_param(params, "size", DEFAULT_PAGE_SIZE)
    if size > MAX_PAGE_SIZE:
        raise bad_request(f"page size must not be greater than {MAX_PAGE_SIZE}")
    return page, size or DEFAULT_PAGE_SIZE


def sort_order(params: Params, default: tuple[str, bool]) -> list[tuple[str, bool]]:
    """`sort=field,ASC|DESC` (repeatable) → [(column, ascending)]; unknown field → 400."""
    order: list[tuple[str, bool]] = []
    for raw in params.get_all("sort"):
        parts = [p.strip() for p in raw.split(",") if p.strip()]
        if not parts:
            continue
        field, direction = parts[0], (parts[1].upper() if len(parts) > 1 else "ASC")
        if field not in SORT_COLUMNS:
            raise bad_request(f"No property '{field}' found for sort")
        if direction not in ("ASC", "DESC") or len(parts) > 2:
            raise bad_request(f"invalid sort direction: {raw}")
        order.append((SORT_COLUMNS[field], direction == "ASC"))
    return order or [default]


def _time_range(column: str, raw: str) -> tuple[list[str], list[Any]]:
    """`start[,end]`, both exclusive."""
    parts = raw.split(",")
    clauses, values = [f"e.{column} > ?"], [parse_iso_ms(parts[0])]
    if len(parts) > 1 and parts[1].strip():
        clauses.append(f"e.{column} < ?")
        values.append(parse_iso_ms(parts[1]))
    return clauses, values


def _contains(expression: str) -> str:
    return f"instr({expression}, ?) > 0"


def build_query(entity_type: str, project: str | None, params: Params) -> Query:
    """Translate a list request for one type into a store query (filters, latest, order, page)."""
    page, size = page_window(params)
    default_sort = ("name", True) if entity_type in ("project", "secret") else ("created", False)
    query = Query(
        entity_type, project, order=sort_order(params, default_sort), limit=size, offset=page * size
    )
    versions = params.get("versions") or "latest"
    if entity_type in VERSIONED_TYPES:
        if versions not in ("latest", "all"):
            raise bad_request(f"invalid versions: {versions}")
        query.latest_only = versions == "latest"
    if entity_type == "secret":
        return query

    def add(clause: str, *values: Any) -> None:
        query.where.append(clause)
        query.params.extend(values)

    for param, column in (("name", "name"), ("kind", "kind"), ("state", "state"), ("user", "created_by")):
        if (value := params.get(param)) is not None:
            add(f"e.{column} = ?", value)
    for column in ("created", "updated"):
        if (raw := params.get(column)) is not None:
            clauses, values = _time_range(column, raw)
            for clause, value in zip(clauses, values, strict=True):
                add(clause, value)
    if (text := params.get("q")) is not None:
        fields = ["e.id", "e.name"]
        if entity_type == "run":
            fields += ["json_extract(e.body, '$.spec.function')", "json_extract(e.body, '$.spec.workflow')"]
        add("(" + " OR ".join(_contains(f"coalesce({f}, '')") for f in fields) + ")", *([text] * len(fields)))
    if entity_type in VERSIONED_TYPES:
        for label in params.get_all("labels"):
            add("EXISTS (SELECT 1 FROM json_each(e.body, '$.metadata.labels') WHERE value = ?)", label)
    _reference_filters(entity_type, params, add)
    return query


def _reference_filters(entity_type: str, params: Params, add: Any) -> None:
    """Filters on the strings that link tasks, runs and triggers to each other."""
    if entity_type == "task":
        for param in ("function", "workflow"):
            if (value := params.get(param)) is not None:
                add(f"json_extract(e.body, '$.spec.{param}') = ?", value)
    elif entity_type in ("run", "trigger"):
        task = params.get("task")
        if task is not None:
            add("e.ref = ?", task)
        elif entity_type == "run" and (action := params.get("action")) is not None:
            add(_contains("coalesce(e.ref, '')"), action)
        if entity_type == "run":
            for param in ("function", "workflow"):
                if (value := params.get(param)) is None:
                    continue
                column = f"coalesce(json_extract(e.body, '$.spec.{param}'), '')"
                if "://" in value and ":" in value.split("://", 1)[1]:
                    add(f"{column} = ?", value)
                else:
                    add(_contains(column), value)
    elif entity_type == "log" and (run := params.get("run")) is not None:
        add("e.ref = ?", run)


@dataclass
class Page:
    """One page of a list answer: the stored JSON of each entity plus Spring's envelope fields."""

    items: list[str]
    envelope: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The page as a plain dict (for callers of `Core` that are not HTTP)."""
        return {"content": [json.loads(item) for item in self.items], **self.envelope}

    def render(self) -> bytes:
        """The JSON answer, built by splicing the stored entity JSON into the envelope.

        `content` sorts first among the envelope's keys, so the result has sorted keys too.
        """
        rest = json.dumps(self.envelope, sort_keys=True, separators=(",", ":"))
        return ('{"content":[' + ",".join(self.items) + "]," + rest[1:]).encode()


def page_envelope(
    count: int, *, total: int, page: int, size: int, order: list[tuple[str, bool]]
) -> dict[str, Any]:
    """Spring's `PageImpl` as Boot 3.5 serialises it (without `content`); the SDK reads `totalPages`."""
    total_pages = math.ceil(total / size) if size else 1
    sort = (
        {"empty": False, "sorted": True, "unsorted": False}
        if order
        else {"empty": True, "sorted": False, "unsorted": True}
    )
    return {
        "pageable": {
            "pageNumber": page,
            "pageSize": size,
            "sort": sort,
            "offset": page * size,
            "paged": True,
            "unpaged": False,
        },
        "last": page >= total_pages - 1,
        "totalElements": total,
        "totalPages": total_pages,
        "size": size,
        "number": page,
        "sort": sort,
        "first": page == 0,
        "numberOfElements": count,
        "empty": count == 0,
    }


SPRING_DEFAULT_PAGE_SIZE = 20
SPRING_MAX_PAGE_SIZE = 2000


def spring_pageable(params: Params) -> tuple[int, int]:
    """(page, size) as Spring resolves a `Pageable` no controller default applies to: page 0 and
    size 20 unless given, bad numbers fall back to those, sizes clamp to 2000 (never a 400)."""

    def number(key: str, default: int) -> int:
        try:
            return int(params.get(key) or default)
        except ValueError:
            return default

    page = max(0, number("page", 0))
    size = min(number("size", SPRING_DEFAULT_PAGE_SIZE), SPRING_MAX_PAGE_SIZE)
    return page, size if size >= 1 else SPRING_DEFAULT_PAGE_SIZE


def whole_list_page(documents: list[dict[str, Any]], params: Params) -> Page:
    """`new PageImpl<>(all, pageable, all.size())`: every document in `content` whatever the page
    asked for (DHCore's schema lists), with the total PageImpl reports for that."""
    page, size = spring_pageable(params)
    count = len(documents)
    offset = page * size
    total = offset + count if count and offset + size > count else count
    items = [json.dumps(d, sort_keys=True, separators=(",", ":")) for d in documents]
    return Page(items, page_envelope(count, total=total, page=page, size=size, order=[]))
