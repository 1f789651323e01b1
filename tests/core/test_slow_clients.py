"""The served core holds under slow and half-sent clients (issue 21, item 5): 19,990 half-sent
header sets held it until it ran out of file descriptors, timing out real requests and writing
95 MB of log. Each connection has a deadline for its headers, open connections are capped, and
the warnings such clients cause are rate-limited."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from dhmlrun.core.asgi import CoreApp
from dhmlrun.core.http_server import HttpServer
from dhmlrun.core.server import EmbeddedCore

TOKEN = "t0ken-for-slow-clients"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """A core served with a short header deadline and a small connection cap; its endpoint."""
    core = EmbeddedCore(tmp_path / "core.db")
    http = HttpServer(CoreApp(core.api, token=TOKEN), header_seconds=0.5, max_connections=8)
    http.start()
    try:
        yield http.endpoint
    finally:
        http.stop()
        core.close()


def half_sent(endpoint: str) -> socket.socket:
    """A connection that sends part of a request's headers and never the rest."""
    host, port = endpoint.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(b"GET /api/v1/projects HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    return sock


def answer_of(sock: socket.socket) -> bytes:
    """What the server sent before closing (b"" when it closed without a word)."""
    chunks = []
    while chunk := sock.recv(4096):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_client_that_never_finishes_its_headers_is_answered_408_and_closed(served: str) -> None:
    slow = half_sent(served)
    assert requests.get(served + "/api/v1/projects", headers=HEADERS, timeout=10).status_code == 200
    with slow:
        assert answer_of(slow).startswith(b"HTTP/1.1 408 ")  # the socket's 10 s timeout guards a hang


def test_a_connection_over_the_cap_is_refused_at_once_and_the_core_recovers(served: str) -> None:
    held = [half_sent(served) for _ in range(8)]
    try:
        host, port = served.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as extra:
            assert answer_of(extra).startswith(b"HTTP/1.1 503 ")
    finally:
        for sock in held:
            sock.close()
    for _ in range(100):  # the core sees the held ones close, then serves again
        try:
            if requests.get(served + "/api/v1/projects", headers=HEADERS, timeout=10).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    else:
        pytest.fail("the core did not serve again once the connections over the cap closed")


def test_a_flood_of_invalid_requests_is_logged_once(served: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        for _ in range(50):
            host, port = served.removeprefix("http://").split(":")
            with socket.create_connection((host, int(port)), timeout=10) as sock:
                sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
                answer_of(sock)
    invalid = [r for r in caplog.records if "Invalid HTTP request received" in r.getMessage()]
    assert len(invalid) == 1
