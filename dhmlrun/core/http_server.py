"""uvicorn serving an ASGI app on one bound socket, in a thread or in the foreground.

Imported only when the embedded core is served over HTTP (apply's runs, `core serve`): plan, show
and logs answer in-process and never load uvicorn or asyncio.

Whoever can reach the port can open connections, token or not, and uvicorn reads a request's
headers for as long as the client takes: 19,990 half-sent header sets held the core until it ran
out of file descriptors, timing out real requests and writing 95 MB of log. So each connection
gets `HEADER_SECONDS` to send a request's line and headers (then 408 and closed), at most
`connection_cap()` are open at once (one more is answered 503 and closed as it is accepted, so
descriptors never run out), and the warnings such clients cause (an invalid request, an accept
that failed for lack of descriptors) are logged once per `LOG_EVERY_SECONDS`, with the count of
those left out (`RateLimited`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from typing import Any

STARTUP_TIMEOUT_S = 20.0
SHUTDOWN_POLL_S = 0.005
HEADER_SECONDS = 10.0
MAX_CONNECTIONS = 4096
RESERVED_DESCRIPTORS = 256
"""Descriptors kept for everything but client connections: the database, run workers, logs."""
LOG_EVERY_SECONDS = 60.0
_BUSY = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_TOO_SLOW = b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class HttpServer:
    """uvicorn serving an ASGI app on one bound socket, in a thread or in the foreground, and
    stopping as soon as it is told to (`request_exit`), not on its next 0.1 s tick."""

    def __init__(
        self,
        app: object,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        header_seconds: float = HEADER_SECONDS,
        max_connections: int | None = None,
    ) -> None:
        import uvicorn

        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only when the
        # listening socket says TCP explicitly; with proto 0 every keep-alive request waits ~40 ms
        # for a delayed ACK (measured: 43 ms vs 0.7 ms per request).
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self._socket.listen(128)
        bound_host, bound_port = self._socket.getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.endpoint = f"http://{shown}:{bound_port}"
        config = uvicorn.Config(
            app,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=5,
            http=_guarded_protocol(header_seconds, max_connections or connection_cap()),
        )
        _rate_limit_warnings()
        self._server = _prompt_server(config)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve in a daemon thread; return once the socket answers requests."""
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="dhmlrun-core", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the embedded core did not start on {self.endpoint}")
            time.sleep(0.005)

    @property
    def serving(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run(self) -> None:
        """Serve in this thread until interrupted (uvicorn handles SIGINT and SIGTERM)."""
        try:
            self._server.run(sockets=[self._socket])
        finally:
            self._socket.close()

    def stop(self) -> None:
        self._server.request_exit()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._socket.close()


def _prompt_server(config: object) -> object:
    """uvicorn's server, waking at once when told to exit.

    uvicorn notices `should_exit` on its next 0.1 s tick, then sleeps a fixed 0.1 s and waits for
    open connections in 0.1 s steps: 0.15-0.2 s at the end of every apply (measured), on the
    command's critical path. Here `request_exit()` wakes the loop at once, and shutdown waits for
    the same things (connections to finish their replies, request tasks, bounded by
    `timeout_graceful_shutdown`) in 5 ms steps. Overrides uvicorn's `main_loop` and `shutdown`
    (uvicorn is pinned in pyproject.toml for this reason).
    """
    import uvicorn

    class PromptServer(uvicorn.Server):
        def __init__(self, config: uvicorn.Config) -> None:
            super().__init__(config)
            self._loop: asyncio.AbstractEventLoop | None = None
            self._wake: asyncio.Event | None = None

        def request_exit(self) -> None:
            self.should_exit = True
            loop, wake = self._loop, self._wake
            if loop is not None and wake is not None:
                with contextlib.suppress(RuntimeError):  # the loop already ended
                    loop.call_soon_threadsafe(wake.set)

        async def main_loop(self) -> None:
            self._wake = asyncio.Event()
            self._loop = asyncio.get_running_loop()
            self._loop.set_exception_handler(_rate_limited_loop_errors)
            counter = 0
            should_exit = await self.on_tick(counter)
            while not should_exit:
                counter = (counter + 1) % 864000
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 0.1)
                should_exit = await self.on_tick(counter)

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            for server in self.servers:
                server.close()
            for sock in sockets or []:
                sock.close()
            for connection in list(self.server_state.connections):
                connection.shutdown()  # idle ones close now, busy ones after their reply
            loop = asyncio.get_running_loop()
            deadline = loop.time() + (self.config.timeout_graceful_shutdown or 0)
            state = self.server_state
            while (state.connections or state.tasks) and not self.force_exit and loop.time() < deadline:
                await asyncio.sleep(SHUTDOWN_POLL_S)
            for task in state.tasks:
                task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
            for server in self.servers:
                await server.wait_closed()
            if not self.force_exit:
                await self.lifespan.shutdown()

    return PromptServer(config)


def connection_cap() -> int:
    """Client connections open at once: three quarters of the descriptors this process may open
    beyond `RESERVED_DESCRIPTORS`, at most `MAX_CONNECTIONS` (768 under the usual limit of 1024)."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    available = soft - RESERVED_DESCRIPTORS if soft != resource.RLIM_INFINITY else MAX_CONNECTIONS
    return max(16, min(MAX_CONNECTIONS, available * 3 // 4))


def _guarded_protocol(header_seconds: float, max_connections: int) -> type:
    """uvicorn's h11 protocol with a header deadline and a cap on open connections (module
    docstring). Subclasses `H11Protocol` (uvicorn is pinned for `_prompt_server` already)."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                transport.write(_BUSY)
                transport.close()
                return
            self._await_headers()

        def data_received(self, data: bytes) -> None:
            if self._header_timer is None and self.conn.their_state is h11.IDLE:
                self._await_headers()  # a new request on a kept-alive connection
            super().data_received(data)

        def handle_events(self) -> None:
            super().handle_events()
            if self.conn.their_state is not h11.IDLE:
                self._stop_waiting()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_waiting()
            super().connection_lost(exc)

        def _await_headers(self) -> None:
            self._header_timer = self.loop.call_later(header_seconds, self._headers_late)

        def _stop_waiting(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_late(self) -> None:
            self._header_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.write(_TOO_SLOW)
                self.transport.close()

    return GuardedH11Protocol


class RateLimited(logging.Filter):
    """Lets each distinct message through once per `every` seconds; the next one let through
    says how many were left out meanwhile."""

    def __init__(self, every: float = LOG_EVERY_SECONDS) -> None:
        super().__init__()
        self.every = every
        self._last: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        now, key = time.monotonic(), str(record.msg)
        with self._lock:
            last, left_out = self._last.get(key, (float("-inf"), 0))
            if now - last < self.every:
                self._last[key] = (last, left_out + 1)
                return False
            self._last[key] = (now, 0)
        if left_out:
            record.msg = f"{record.msg} ({left_out} more like it in the last {self.every:g} s not logged)"
        return True


_LIMITED = RateLimited()


def _rate_limit_warnings() -> None:
    """uvicorn's per-connection warnings, once per `LOG_EVERY_SECONDS` each (idempotent)."""
    for name in ("uvicorn.error", "asyncio"):
        logger = logging.getLogger(name)
        if _LIMITED not in logger.filters:
            logger.addFilter(_LIMITED)


def _rate_limited_loop_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """An accept that failed for lack of resources (once a second while it lasts, with a
    traceback each time) through the rate-limited `asyncio` logger, in one line; any other
    error of the loop as asyncio reports it."""
    message = str(context.get("message") or "")
    if not message.startswith("socket.accept() out of system resource"):
        loop.default_exception_handler(context)
        return
    exception = context.get("exception")
    logging.getLogger("asyncio").error("%s: %s", message, exception)
