"""The ASGI application: routes, error rendering, API headers and the optional bearer token.

Why Starlette on uvicorn rather than `http.server` (`bench/bench_core.py`, 2 shared cores): with
the SDK's way of calling (a new connection per request) both serve ~400-600 GET/s, uvicorn
equal or up to 1.9x ahead (ThreadingHTTPServer starts a thread per connection); a 1,000-entity
page costs about the same on both. Only a keep-alive client doing tiny GETs favours the stdlib
(~2-4x, h11 is pure Python), which no caller here does. Uvicorn also gives HTTP/1.1 parsing that
is maintained and fuzzed, graceful shutdown and no thread per client, which matters once
`core serve` is shared beyond loopback.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from dhmlrun.core.errors import ApiError, forbidden
from dhmlrun.core.routes import Routes, error_response, json_response, spring_not_found
from dhmlrun.core.service import Core

log = logging.getLogger("dhmlrun.core")


class BearerTokenMiddleware:
    """Refuse every request without `Authorization: Bearer <token>` with 403, as core does.

    The comparison is constant-time, and the token never appears in a response or a log line.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                await error_response(forbidden())(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return spring_not_found(request, 405, "Method Not Allowed")
    return spring_not_found(request, exc.status_code, exc.detail or "Not Found")


async def _unexpected(request: Request, exc: Exception) -> Response:
    """A bug or a storage failure: a 500 with core's body, the traceback only in the server log."""
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return json_response(
        {"status": 500, "message": f"Internal error: {type(exc).__name__}", "errorCode": None}, 500
    )


def create_app(core: Core, *, token: str | None = None) -> Any:
    """The ASGI app serving `core`; wrapped in the token check when a token is set."""
    app = Starlette(
        routes=Routes(core).table(),
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, Exception: _unexpected},
    )
    if token:
        return BearerTokenMiddleware(app, token)
    return app
