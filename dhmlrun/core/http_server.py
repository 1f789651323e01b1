"""uvicorn serving an ASGI app on one bound socket, in a thread or in the foreground.

Imported only when the embedded core is served over HTTP (apply's runs, `core serve`): plan, show
and logs answer in-process and never load uvicorn or asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time

STARTUP_TIMEOUT_S = 20.0
SHUTDOWN_POLL_S = 0.005


class HttpServer:
    """uvicorn serving an ASGI app on one bound socket, in a thread or in the foreground, and
    stopping as soon as it is told to (`request_exit`), not on its next 0.1 s tick."""

    def __init__(self, app: object, host: str = "127.0.0.1", port: int = 0) -> None:
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
            app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=5
        )
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
