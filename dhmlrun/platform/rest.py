"""dhmlrun's own DHCore REST client: JSON in and out, typed errors, paginated lists.

Built from a `Transport` (HTTP with retries, or the embedded core in-process) and the
connection's `Credentials`. Refused requests raise the types of `platform.errors`, decided by
status code and DHCore's error body. A create whose reply was lost is recovered by id
(`transport.recover_create`), so callers see the entity the first attempt made.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from dhmlrun.platform.auth import Credentials
from dhmlrun.platform.errors import NotAllowed, PlatformError, refusal
from dhmlrun.platform.transport import Reply, Transport, recover_create

API = "/api/v1"
PAGE_SIZE = 1000
"""DHCore's largest page (a bigger one is a 400)."""
MIN_API_LEVEL, MAX_API_LEVEL = 15, 20
"""The DHCore API levels the digitalhub SDK 0.15 works with; dhmlrun speaks the same."""
JSON_HEADERS = {"Accept": "application/json"}
_COLLECTION = re.compile(rf"^{re.escape(API)}/-/[^/]+/[^/]+$")


def context_path(project: str, collection: str, *parts: str) -> str:
    """`/api/v1/-/{project}/{collection}[/part…]`, each part escaped."""
    tail = "".join(f"/{quote(str(p), safe='')}" for p in parts)
    return f"{API}/-/{quote(project, safe='')}/{collection}{tail}"


def project_path(*parts: str) -> str:
    return f"{API}/projects" + "".join(f"/{quote(str(p), safe='')}" for p in parts)


def created_path(path: str, body: Mapping[str, Any] | None) -> str | None:
    """Where a POST to `path` puts the entity of `body`: its id (or a project's name) under it."""
    if not body:
        return None
    if path == project_path() and body.get("name"):
        return project_path(str(body["name"]))
    if _COLLECTION.match(path) and body.get("id"):
        return f"{path}/{quote(str(body['id']), safe='')}"
    return None


class RestClient:
    """JSON requests to one DHCore (or the embedded core)."""

    def __init__(self, transport: Transport, credentials: Credentials | None = None) -> None:
        self.transport = transport
        self.credentials = credentials or Credentials({})
        self._level_checked = False

    @property
    def endpoint(self) -> str:
        return self.transport.endpoint

    def call(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None
    ) -> Any:
        """One request; the parsed JSON answer (None for an empty one). Raises on refusal."""
        target = path + (f"?{urlencode(_flat(params), doseq=True)}" if params else "")
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        reply = self._send(method, target, data)
        if method == "POST" and not reply.ok:
            reply = recover_create(self.transport, self._headers(None), reply, created_path(path, body))
        if reply.status == 401 and self.credentials.refreshable:
            refused = refusal(method, path, reply.status, reply.body)
            assert isinstance(refused, NotAllowed)
            self.credentials.refresh(refused)
            reply = self._send(method, target, data)
        if not reply.ok:
            raise refusal(method, path, reply.status, reply.body)
        self._check_level(reply)
        return json.loads(reply.body) if reply.body.strip() else None

    def _headers(self, data: bytes | None) -> dict[str, str]:
        headers = {**JSON_HEADERS, **self.credentials.headers()}
        if data is not None:
            headers["Content-Type"] = "application/json"
        return headers

    def _send(self, method: str, target: str, data: bytes | None) -> Reply:
        return self.transport.send(method, target, self._headers(data), data)

    def _check_level(self, reply: Reply) -> None:
        if self._level_checked:
            return
        level = next((v for k, v in reply.headers.items() if k.lower() == "x-api-level"), None)
        self._level_checked = True
        if level is not None and level.isdigit() and not MIN_API_LEVEL <= int(level) <= MAX_API_LEVEL:
            raise PlatformError(
                f"the platform at {self.endpoint} speaks DHCore API level {level}; "
                f"dhmlrun supports {MIN_API_LEVEL} to {MAX_API_LEVEL}"
            )

    # ------------------------------------------------------------------------- conveniences

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.call("GET", path, params=params)

    def list(self, path: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every item of a paginated list (pages of `PAGE_SIZE`), in the server's order."""
        items: list[dict[str, Any]] = []
        page = 0
        while True:
            answer = self.get(path, {"size": PAGE_SIZE, **(params or {}), "page": page})
            if isinstance(answer, list):  # some listings are bare arrays
                return answer
            content = (answer or {}).get("content") or []
            items.extend(content)
            pages = int((answer or {}).get("totalPages") or 0)
            if not content or page >= pages - 1:
                return items
            page += 1

    def post(self, path: str, body: Any) -> Any:
        return self.call("POST", path, body=body)

    def put(self, path: str, body: Any) -> Any:
        return self.call("PUT", path, body=body)

    def delete(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.call("DELETE", path, params=params)


def _flat(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Query pairs; a list value repeats its key (`labels`)."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        for item in value if isinstance(value, list | tuple) else [value]:
            if item is not None:
                pairs.append((key, str(item).lower() if isinstance(item, bool) else str(item)))
    return pairs


__all__ = ["API", "NotAllowed", "RestClient", "context_path", "created_path", "project_path"]
