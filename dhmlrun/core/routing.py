"""How the core's HTTP surface is spelled, free of any web framework: a request, a reply, the
JSON rendering and error bodies DHCore answers with, and routes from URL templates.

Its own module below every part of the API (`api.py` composes the routes; `base_api.py`,
`files_api.py`, `platform_api.py`, `proxy_api.py` each contribute some), so that those parts
import this and never the module that composes them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from dhmlrun.core.bodies import check_entity_fields, parse_body, parse_entity_body
from dhmlrun.core.errors import ApiError, bad_request, spring_default_body
from dhmlrun.core.levels import DEFAULT_LEVEL, LEVELS
from dhmlrun.core.listing import Page, Params
from dhmlrun.core.validation import check_dto

JSON_TYPE = "application/json"
HEADERS = {"content-type": JSON_TYPE, **LEVELS[DEFAULT_LEVEL].headers}
"""Every reply's headers; `CoreApi.handle` sets the level of the core that answers."""


@dataclass(frozen=True)
class ApiRequest:
    """One request as the API sees it: method, path, raw query and body."""

    method: str
    path: str
    query: str = ""
    body: bytes = b""
    content_type: str = JSON_TYPE
    base_url: str = ""
    """Scheme and host the client used (`http://127.0.0.1:8080`), for the `ref` links of §6."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """The request's headers, names lower-cased (repeated ones joined with `, `)."""
    client: str = ""
    """The client's address (the run proxy's `X-Forwarded-For`)."""

    @property
    def params(self) -> Params:
        return Params(parse_qsl(self.query, keep_blank_values=True))

    def json(self) -> Any:
        """The body as strict JSON (`bodies.py`); malformed input is a 400 or 415, never a 500."""
        return parse_body(self.body, self.content_type)

    def object(self) -> dict[str, Any]:
        """A body that must be an object with DHCore's field types (an entity): JSON, or YAML
        where DHCore's create and update controllers consume `application/x-yaml` too."""
        body = parse_entity_body(self.body, self.content_type)
        if not isinstance(body, dict):
            raise bad_request("JSON parse error: the request body must be an object")
        check_entity_fields(body)
        return body

    def valid(self, entity_type: str) -> dict[str, Any]:
        """An entity body that passes its DTO's `@Valid` rules (`validation.py`)."""
        body = self.object()
        check_dto(entity_type, body)
        return body

    def flag(self, name: str, default: bool) -> bool:
        raw = self.params.get(name)
        if raw is None:
            return default
        if raw.lower() not in ("true", "false"):
            raise bad_request(f"invalid {name}: {raw}")
        return raw.lower() == "true"


@dataclass(frozen=True)
class ApiReply:
    """Status, headers and body bytes."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=lambda: dict(HEADERS))


def json_reply(content: Any, status: int = 200) -> ApiReply:
    """Alphabetical keys, compact separators, strict JSON (no NaN), the API headers always."""
    if isinstance(content, Page):
        body = content.render()
    elif content is None:
        body = b""
    else:
        body = json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    return ApiReply(status, body)


def error_reply(exc: ApiError) -> ApiReply:
    """Core's handled-error body."""
    return json_reply(exc.body(), exc.status)


def spring_reply(request: ApiRequest, status: int = 404, error: str = "Not Found") -> ApiReply:
    """Spring's default body for paths (or methods) no controller handles."""
    return json_reply(spring_default_body(status, error, request.path), status)


Handler = Callable[[ApiRequest, dict[str, str]], ApiReply]


Accepts = Callable[[dict[str, str]], bool]


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern[str]
    methods: frozenset[str]
    handler: Handler
    accepts: Accepts | None = None
    """Whether the path's parameters name something this route maps (a `{collection}` among
    those of its controllers): a path it refuses is routed on, never answered 405."""


def route(template: str, methods: Sequence[str], handler: Handler, accepts: Accepts | None = None) -> Route:
    """`/api/v1/projects/{name}` → a regex whose groups are the path parameters (one segment
    each; `{name:path}` takes the rest of the path, as Spring's `**`)."""
    regex = re.sub(r"\{(\w+):path\}", r"(?P<\1>.+)", template)
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
    return Route(re.compile(f"^{regex}$"), frozenset(methods), handler, accepts)


def collections(*names: str) -> Accepts:
    """A route's `accepts` for paths whose `{collection}` is one of `names`."""
    allowed = frozenset(names)
    return lambda args: args.get("collection") in allowed
