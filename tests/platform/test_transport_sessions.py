"""`HttpTransport` keeps connections alive (one for sequential requests, one more per request in
flight at once), and a forked child (every run of the warm run server is one) never uses its
parent's.

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

from dhmlrun.platform.transport import HttpTransport
from tests.conftest import send_json


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
        send_json(self, {"port": self.client_address[1]})

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


def port_of(transport: HttpTransport) -> int:
    reply = transport.send("GET", "/api/v1/projects", {}, None)
    assert reply.status == 200
    return int(json.loads(reply.body)["port"])


def transport_for(recorder: PortRecorder) -> HttpTransport:
    return HttpTransport(recorder.url.removesuffix("/api/v1/projects"))


def test_sequential_requests_share_one_connection(recorder: PortRecorder) -> None:
    transport = transport_for(recorder)
    assert len({port_of(transport) for _ in range(5)}) == 1


def test_requests_in_flight_at_once_use_their_own_connections(recorder: PortRecorder) -> None:
    transport = transport_for(recorder)
    barrier = threading.Barrier(2, timeout=10)
    ports: list[int] = []

    def both() -> None:
        barrier.wait()
        ports.append(port_of(transport))

    threads = [threading.Thread(target=both) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ports) == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_opens_its_own_connection_and_leaves_the_parents_alone(
    recorder: PortRecorder,
) -> None:
    transport = transport_for(recorder)
    parent_port = port_of(transport)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what it used, then leave without any cleanup of the parent's
        code = 1
        try:
            os.close(read_end)
            report = {"ports": [port_of(transport), port_of(transport)]}
            os.write(write_end, json.dumps(report).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        report = json.loads(pipe.read() or "{}")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    child_ports = set(report["ports"])
    assert len(child_ports) == 1  # the child keeps its own connection alive too
    assert parent_port not in child_ports
    # the parent's connection was neither used nor closed by the child: still the same one
    assert port_of(transport) == parent_port
