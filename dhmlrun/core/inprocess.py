"""The embedded core as a `Transport` without a socket: the platform client's requests go
straight to `CoreApi.handle`, the same code that answers them over HTTP.

Why: `plan`, `show`, `logs` and the bookkeeping of `apply` need no server of their own; without
one there is no listening port for another local process to reach, and no uvicorn to import.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

from dhmlrun.core.api import JSON_TYPE, ApiRequest, CoreApi
from dhmlrun.platform.transport import Reply

IN_PROCESS_BASE = "http://embedded.invalid"
"""The base URL the core sees for in-process requests (it appears only in project `ref` links)."""


class InProcessTransport:
    """`Transport` over a `CoreApi` in this process."""

    def __init__(self, api: CoreApi, endpoint: str = IN_PROCESS_BASE) -> None:
        self.api = api
        self.endpoint = endpoint

    def send(self, method: str, target: str, headers: Mapping[str, str], body: bytes | None) -> Reply:
        parts = urlsplit(target)
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), JSON_TYPE)
        reply = self.api.handle(
            # the path percent-decoded, as uvicorn hands it to the ASGI app (`python%2Bjob%3Arun`)
            ApiRequest(
                method.upper(),
                unquote(parts.path),
                parts.query,
                body or b"",
                content_type,
                self.endpoint,
                {k.lower(): v for k, v in headers.items()},
            )
        )
        return Reply(reply.status, reply.body, reply.headers)
