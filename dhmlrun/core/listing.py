"""List requests: query parameters → a store `Query`, and rows → Spring's page envelope.

Filters follow docs/dhcore.md §7 and are applied *after* the latest-version step, so `?kind=X`
returns the names whose latest version has kind X. Bad paging or sorting is the client's fault
(400), never a server error.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dhmlrun.core.entities import VERSIONED_TYPES
from dhmlrun.core.errors import bad_request
from dhmlrun.core.store import Query

DEFAULT_PAGE_SIZE = 25
"""ApplicationKeys.DEFAULT_PAGE_SIZE: the controllers' `@PageableDefault(size = …)`."""
SPRING_DEFAULT_PAGE_SIZE = 20
SPRING_MAX_PAGE_SIZE = 2000
"""Spring Data's defaults for a Pageable: size 20, at most 2000 (larger sizes are clamped)."""

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


JAVA_INT_MAX = 2**31 - 1


def _java_int(raw: str) -> int:
    """`Integer.parseInt`, as Spring Data reads `page` and `size`: what does not parse, or does
    not fit in an int, is 0 (PageableHandlerMethodArgumentResolverSupport.parseAndApplyBoundaries),
    never an error."""
    text = raw.strip()
    if not re.fullmatch(r"[+-]?\d{1,10}", text):
        return 0
    value = int(text)
    return value if -(2**31) <= value <= JAVA_INT_MAX else 0


def page_window(params: Params, default_size: int = DEFAULT_PAGE_SIZE) -> tuple[int, int]:
    """(page, size) as Spring Data resolves a `@PageableDefault(size = 25)` Pageable: a page
    below 0 is 0, a size below 1 is the default, above 2000 is 2000; nothing is refused."""
    raw_page, raw_size = params.get("page"), params.get("size")
    page = max(0, _java_int(raw_page)) if raw_page is not None else 0
    size = _java_int(raw_size) if raw_size is not None else default_size
    if size < 1:
        size = default_size
    return page, min(size, SPRING_MAX_PAGE_SIZE)


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


def _offset_date(text: str) -> int | None:
    """Epoch ms of an ISO-8601 date-time with an offset (`ISO_OFFSET_DATE_TIME`), else None."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None or "T" not in text:
        return None
    return int(moment.timestamp() * 1000)


def _time_range(column: str, raw: str) -> tuple[list[str], list[Any]]:
    """`start[,end]`, both exclusive; a date that does not parse drops the whole filter, as
    AbstractEntityFilter skips it on a DateTimeParseException."""
    parts = raw.split(",")
    start = _offset_date(parts[0])
    if start is None:
        return [], []
    clauses, values = [f"e.{column} > ?"], [start]
    if len(parts) == 2:
        end = _offset_date(parts[1])
        if end is None:
            return [], []
        clauses.append(f"e.{column} < ?")
        values.append(end)
    return clauses, values


def _contains(expression: str) -> str:
    """BaseEntitySearchCriteria's `like`: `lower(field) LIKE %lower(value)%` (the value's own
    `%` and `_` stay wildcards, as in DHCore)."""
    return f"lower({expression}) LIKE '%' || lower(?) || '%'"


def _check_filter(name: str, value: str, pattern: re.Pattern[str], shown: str) -> None:
    """AbstractEntityFilter's `@Pattern`s on `name`, `kind` and `project`: a BindException (400)."""
    if not pattern.match(value):
        raise bad_request(
            f"Field error in object 'entityFilter' on field '{name}': rejected value [{value}]; "
            f'default message [must match "{shown}"]'
        )


JOINED_LABELS = (
    "coalesce((SELECT group_concat(l.value, ',') FROM json_each(e.body, '$.metadata.labels') l), '')"
)
"""An entity's labels as DHCore stores them: one string, joined with commas."""
LABEL_MATCH = f"lower({JOINED_LABELS}) LIKE '%' || lower(w.value) || '%'"
FILTER_PATTERNS: dict[str, tuple[re.Pattern[str], str]] = {
    "name": (re.compile(r"^[a-zA-Z0-9._+-]+$"), "^[a-zA-Z0-9._+-]+$"),
    "project": (re.compile(r"^[a-zA-Z0-9._+-]+$"), "^[a-zA-Z0-9._+-]+$"),
    "kind": (re.compile(r"^[a-zA-Z0-9._+\-:]+$"), "^[a-zA-Z0-9._+-:]+$"),
}
"""Keys.SLUG_PATTERN and KIND_PATTERN on the filter's fields."""
EQUAL_FILTERS = (
    ("name", "name"),
    ("kind", "kind"),
    ("state", "state"),
    ("user", "created_by"),
    ("project", "project"),
)
"""AbstractEntityFilter's equality criteria: query parameter → column."""


def build_query(
    entity_type: str,
    project: str | None,
    params: Params,
    *,
    versions: str = "latest",
    sort: tuple[str, bool] | None = None,
) -> Query:
    """Translate a list request for one type into a store query (filters, latest, order, page).

    `versions` and `sort` are the controller's defaults: the context APIs list the latest
    versions by `created` descending, the base APIs (`/api/v1/functions`, ...) every version,
    each sorted as its controller's `@SortDefault` says."""
    page, size = page_window(params)
    default_sort = sort or (("name", True) if entity_type in ("project", "secret") else ("created", False))
    query = Query(
        entity_type, project, order=sort_order(params, default_sort), limit=size, offset=page * size
    )
    versions = params.get("versions") or versions
    if entity_type in VERSIONED_TYPES:  # the controllers: `"all".equals(versions)`, else latest
        query.latest_only = versions != "all"
    if entity_type == "secret":
        return query

    def add(clause: str, *values: Any) -> None:
        query.where.append(clause)
        query.params.extend(values)

    for param, column in EQUAL_FILTERS:
        if (value := params.get(param)) is not None:
            if param in FILTER_PATTERNS:
                _check_filter(param, value, *FILTER_PATTERNS[param])
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
    labels = params.get_all("labels")
    if entity_type in VERSIONED_TYPES and labels:
        # every label a `like` on the comma-joined labels, in one predicate whatever their number
        add(f"NOT EXISTS (SELECT 1 FROM json_each(?) w WHERE NOT ({LABEL_MATCH}))", json.dumps(labels))
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


def spring_pageable(params: Params) -> tuple[int, int]:
    """(page, size) as Spring resolves a `Pageable` no controller default applies to (size 20):
    `page_window` with Spring's own default."""
    return page_window(params, default_size=SPRING_DEFAULT_PAGE_SIZE)


def whole_list_page(documents: list[dict[str, Any]], params: Params) -> Page:
    """`new PageImpl<>(all, pageable, all.size())`: every document in `content` whatever the page
    asked for (DHCore's schema lists), with the total PageImpl reports for that."""
    page, size = spring_pageable(params)
    count = len(documents)
    offset = page * size
    total = offset + count if count and offset + size > count else count
    items = [json.dumps(d, sort_keys=True, separators=(",", ":")) for d in documents]
    return Page(items, page_envelope(count, total=total, page=page, size=size, order=[]))
