"""`dhmlrun.platform.http` keeps one connection per thread and process, and a forked child
(every run of the warm run server is one) never shares its parent's.

Against a real keep-alive HTTP server on loopback that records the client port of every
request: one port means one TCP connection.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dhmlrun.platform import http


class PortRecorder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.ports: list[int] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api/v1/projects"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as DHCore and the embedded core speak

    def do_GET(self) -> None:
        assert isinstance(self.server, PortRecorder)
        self.server.ports.append(self.client_address[1])
        body = json.dumps({"port": self.client_address[1]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def recorder() -> Iterator[PortRecorder]:
    server = PortRecorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def port_of(url: str) -> int:
    response = http.request("GET", url)
    assert response.status_code == 200
    return int(response.json()["port"])


def test_requests_of_one_thread_share_one_connection(recorder: PortRecorder) -> None:
    ports = {port_of(recorder.url) for _ in range(5)}
    assert len(ports) == 1
    assert http.session() is http.session()


def test_each_thread_has_its_own_session(recorder: PortRecorder) -> None:
    mine = http.session()
    seen: list[object] = []
    other = threading.Thread(target=lambda: seen.append((http.session(), port_of(recorder.url))))
    other.start()
    other.join()
    (theirs, their_port), = seen
    assert theirs is not mine
    assert their_port != port_of(recorder.url)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_opens_its_own_connection_and_leaves_the_parents_alone(
    recorder: PortRecorder,
) -> None:
    parent_port = port_of(recorder.url)
    parent_session = http.session()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what it used, then leave without any cleanup of the parent's
        code = 1
        try:
            os.close(read_end)
            report = {
                "same_session": http.session() is parent_session,
                "ports": [port_of(recorder.url), port_of(recorder.url)],
            }
            os.write(write_end, json.dumps(report).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        report = json.loads(pipe.read() or "{}")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert report["same_session"] is False
    child_ports = set(report["ports"])
    assert len(child_ports) == 1  # the child keeps its own connection alive too
    assert parent_port not in child_ports
    # the parent's connection was neither used nor closed by the child: still the same one
    assert port_of(recorder.url) == parent_port
    assert http.session() is parent_session
