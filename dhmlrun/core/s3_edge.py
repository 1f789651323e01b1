"""The HTTP edge of the files store: an ASGI request under `/s3/` as an `s3.Exchange`.

The S3 operations are blocking (file writes, SQLite), and bodies are large (up to 5 GiB), so
each request runs in a thread of a small pool of its own (never starving the API's writes), and
reads its body and writes its reply piece by piece through the event loop: nothing is buffered
whole. The bearer token does not apply here: S3 requests carry their own SigV4 signature
(`sigv4.py`), checked by `S3Service` before anything is read or written.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dhmlrun.core.s3 import PREFIX, Headers, S3Service

log = logging.getLogger("dhmlrun.core.files")

MAX_CONCURRENT = 8
"""Files-store requests served at once (each holds a thread while its body streams)."""


class ClientGone(Exception):
    """The client disconnected while its body was being read."""


def is_files_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


class S3Edge:
    """The ASGI side of `S3Service`."""

    def __init__(self, service: S3Service) -> None:
        self.service = service
        self._pool = ThreadPoolExecutor(MAX_CONCURRENT, thread_name_prefix="dhmlrun-files")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        loop = asyncio.get_running_loop()
        exchange = _AsgiExchange(scope, receive, send, loop)
        try:
            await loop.run_in_executor(self._pool, self.service.handle, exchange)
        except ClientGone:
            return
        except Exception:
            log.exception("files store failed on %s %s", scope.get("method"), scope.get("path"))
            if not exchange.started:
                body = b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code></Error>'
                await send(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"application/xml"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
            return
        if not exchange.finished:
            raise RuntimeError("the files store answered nothing")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class _AsgiExchange:
    """`s3.Exchange` over ASGI's receive/send, called from a worker thread."""

    def __init__(
        self, scope: dict[str, Any], receive: Any, send: Any, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.method = scope["method"]
        raw = scope.get("raw_path") or scope["path"].encode()
        self.raw_path = raw.decode("latin-1").split("?", 1)[0]
        self.raw_query = scope.get("query_string", b"").decode("latin-1")
        headers: Headers = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
        self.headers = headers
        self._receive, self._send, self._loop = receive, send, loop
        self._more = True
        self.started = False
        self.finished = False

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def body(self) -> Iterator[bytes]:
        while self._more:
            message = self._call(self._receive())
            if message["type"] == "http.disconnect":
                self._more = False
                raise ClientGone
            self._more = bool(message.get("more_body", False))
            chunk = message.get("body", b"")
            if chunk:
                yield chunk

    def reply(self, status: int, headers: list[tuple[str, str]], body: bytes | Iterator[bytes] = b"") -> None:
        encoded = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        if (
            isinstance(body, bytes | bytearray)
            and status not in (204, 304)
            and not any(k == "content-length" for k, _ in headers)
        ):
            encoded.append((b"content-length", str(len(body)).encode()))
        self.started = True
        self._call(self._send({"type": "http.response.start", "status": status, "headers": encoded}))
        if isinstance(body, bytes | bytearray):
            self._call(self._send({"type": "http.response.body", "body": bytes(body)}))
        else:
            for chunk in body:
                self._call(self._send({"type": "http.response.body", "body": chunk, "more_body": True}))
            self._call(self._send({"type": "http.response.body", "body": b""}))
        self.finished = True
