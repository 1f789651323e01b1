"""The ASGI application uvicorn serves: `CoreApi` behind a bearer token and a body limit.

A plain ASGI callable rather than a web framework: routing, parsing and rendering live in
`api.py` (shared with the in-process transport), so all this adds is the HTTP edge: read the
body (refusing one over the limit with 413 before it is all read), check the token, run writes
off the event loop, send the reply.

Why uvicorn rather than `http.server` (`bench/bench_core.py`, 2 shared cores): with the SDK's
way of calling (a new connection per request) uvicorn serves equal or up to 1.9x more GET/s
than ThreadingHTTPServer, which starts a thread per connection; uvicorn also gives HTTP/1.1
parsing that is maintained and fuzzed, graceful shutdown and no thread per client, which
matters once `core serve` is shared beyond loopback.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

from dhmlrun.core.api import WRITES, ApiReply, ApiRequest, CoreApi, error_reply, json_reply
from dhmlrun.core.errors import ApiError, forbidden
from dhmlrun.core.s3_edge import is_files_path
from dhmlrun.core.store import DatabaseUnusable

log = logging.getLogger("dhmlrun.core")

MAX_BODY_BYTES = 16 * 1024 * 1024
"""Largest request body accepted (413 beyond): entities are small; a function's code travels
base64 in its spec, and 16 MiB leaves room for large sources."""

Scope = dict[str, Any]
Receive = Any
Send = Any


class CoreApp:
    """The ASGI app serving one `CoreApi`; every request needs `Authorization: Bearer <token>`
    (403 otherwise, as DHCore answers: the SDK only refreshes on 401). There is no way to serve
    without a token: a core on loopback is still reachable by every local process."""

    def __init__(
        self, api: CoreApi, *, token: str, max_body: int = MAX_BODY_BYTES, files: Any = None
    ) -> None:
        if not token:
            raise ValueError("the embedded core is never served without a token")
        self.api = api
        self.files = files
        """The files store's S3 edge (`s3_edge.S3Edge`): requests under `/s3/`, signed with SigV4."""
        self._expected = f"Bearer {token}".encode()
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if self.files is not None and is_files_path(scope["path"]):
            await self.files(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if not hmac.compare_digest(headers.get(b"authorization", b""), self._expected):
            await _send(send, error_reply(forbidden()))
            return
        body = await _read_body(receive, self.max_body)
        if body is None:
            await _send(send, error_reply(ApiError(413, f"request body larger than {self.max_body} bytes")))
            return
        request = ApiRequest(
            method=scope["method"],
            path=scope["path"],
            query=scope.get("query_string", b"").decode("latin-1"),
            body=body,
            content_type=headers.get(b"content-type", b"application/json").decode("latin-1"),
            base_url=_base_url(scope, headers),
            headers=_headers(scope),
            client=str((scope.get("client") or ("", 0))[0]),
        )
        await _send(send, await _answer(self.api, request))


async def _answer(api: CoreApi, request: ApiRequest) -> ApiReply:
    """Reads run on the loop (WAL readers never wait); writes may wait on another process's
    write lock, so they run in a thread. A database that cannot be used (damaged, a full disk) is
    a 503 saying what to do; a bug is a 500 with core's body, logged here."""
    try:
        if request.method in WRITES:
            return await asyncio.get_running_loop().run_in_executor(None, api.handle, request)
        return api.handle(request)
    except DatabaseUnusable as exc:
        log.error("%s", exc)
        return json_reply({"status": 503, "message": str(exc), "errorCode": None}, 503)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_reply({"status": 500, "message": "Internal error", "errorCode": None}, 500)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it exceeds `limit` (the rest is never buffered)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _headers(scope: Scope) -> dict[str, str]:
    """Every header, lower-cased names, repeated ones joined (as HTTP allows)."""
    joined: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        joined[key] = f"{joined[key]}, {text}" if key in joined else text
    return joined


def _base_url(scope: Scope, headers: dict[bytes, bytes]) -> str:
    host = headers.get(b"host")
    if host:
        return f"{scope.get('scheme', 'http')}://{host.decode('latin-1')}"
    server = scope.get("server") or ("127.0.0.1", 80)
    return f"{scope.get('scheme', 'http')}://{server[0]}:{server[1]}"


async def _send(send: Send, reply: ApiReply) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": reply.status,
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers.items()],
        }
    )
    await send({"type": "http.response.body", "body": reply.body})
