"""A fault-injecting HTTP proxy on loopback, in front of a core: real sockets, real failures.

For a seeded share of requests it either fails them *before* forwarding (the core never sees
them: the connection is reset, or a 502 comes back) or forwards them and then loses the reply
(the core did the work, but the client gets a reset connection or a 500). The second kind is the
one that makes naive retries create duplicates. `script` forces the first faults in order, for
deterministic tests; `counts` records how many times each (method, path) reached the proxy.
`stall_after` picks one request to forward and then hold (its reply never sent, `stalled` set) so
a test can kill the client at a known point, after the core did the work.
"""

from __future__ import annotations

import http.client
import random
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

PASS = "pass"
RESET_BEFORE = "reset-before"
BAD_GATEWAY_BEFORE = "502-before"
RESET_AFTER = "reset-after"
ERROR_AFTER = "500-after"
FAULTS = (RESET_BEFORE, BAD_GATEWAY_BEFORE, RESET_AFTER, ERROR_AFTER)
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class FaultProxy:
    """`with FaultProxy(target, share=0.2, seed=1) as proxy:` ... `proxy.endpoint`."""

    def __init__(
        self,
        target: str,
        *,
        share: float = 0.0,
        seed: int = 0,
        script: list[str] | None = None,
        applies_to: Callable[[str, str], bool] = lambda method, path: True,
        stall_after: Callable[[str, str], bool] | None = None,
    ) -> None:
        parts = urlsplit(target)
        self.target_host = parts.hostname or "127.0.0.1"
        self.target_port = parts.port or 80
        self.share = share
        self.script = list(script or [])
        self.applies_to = applies_to
        self.counts: Counter[tuple[str, str]] = Counter()
        self.injected: Counter[str] = Counter()
        self.stall_after = stall_after
        self.stalled = threading.Event()
        self._stall_claimed = False
        self._release = threading.Event()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def should_stall(self, method: str, path: str) -> bool:
        with self._lock:
            if self.stall_after is None or self._stall_claimed or not self.stall_after(method, path):
                return False
            self._stall_claimed = True
            return True

    def stall(self) -> None:
        self.stalled.set()
        self._release.wait(timeout=300)

    def decide(self, method: str, path: str) -> str:
        with self._lock:
            self.counts[(method, path.split("?", 1)[0])] += 1
            if not self.applies_to(method, path):
                return PASS
            if self.script:
                fault = self.script.pop(0)
            elif self._random.random() < self.share:
                fault = self._random.choice(FAULTS)
            else:
                return PASS
            if fault != PASS:
                self.injected[fault] += 1
            return fault

    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, list, bytes]:
        conn = http.client.HTTPConnection(self.target_host, self.target_port, timeout=120)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                return

            def _reset(self) -> None:
                """Close the socket without a reply: the client sees a dropped connection."""
                self.close_connection = True
                try:
                    linger_zero = struct.pack("ii", 1, 0)  # RST instead of FIN
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger_zero)
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

            def _reply(self, status: int, headers: list, body: bytes) -> None:
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in _HOP_HEADERS:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                fault = proxy.decide(self.command, self.path)
                if fault == RESET_BEFORE:
                    return self._reset()
                if fault == BAD_GATEWAY_BEFORE:
                    return self._reply(502, [("Content-Type", "text/plain")], b"bad gateway (injected)")
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
                try:
                    status, reply_headers, reply = proxy.forward(self.command, self.path, headers, body)
                except OSError:
                    return self._reply(502, [("Content-Type", "text/plain")], b"core unreachable")
                if proxy.should_stall(self.command, self.path):
                    proxy.stall()
                    return self._reset()
                if fault == RESET_AFTER:
                    return self._reset()
                if fault == ERROR_AFTER:
                    return self._reply(500, [("Content-Type", "text/plain")], b"internal error (injected)")
                return self._reply(status, reply_headers, reply)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        return Handler
