"""A loopback relay between a run worker's digitalhub SDK and the platform.

The SDK sends each request once, with no retry, through a transport it offers no way to
configure; one dropped connection or one 502 from a proxy would fail a run, and a create whose
reply was lost could not be told apart from one that never happened. Rather than replacing the
SDK's functions, a worker points the SDK (through its public setting, `DHCORE_ENDPOINT`) at this
relay, which forwards every request to the real endpoint through dhmlrun's own transport:

- timeouts and bounded retries with backoff (`transport.HttpTransport`);
- a create whose reply was lost is answered with the entity the first attempt made
  (`transport.recover_create`: "Duplicated entity" on a retry means it exists);
- every write of the run this worker executes carries the run's current lease, under the
  lease's lock, so the heartbeat and the runtime's own status updates never overwrite each
  other (`lease.py`).

It binds 127.0.0.1 on a free port, lives as long as the worker, and forwards the SDK's own
`Authorization` header (it adds no credentials: a process without the token gets nothing).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from dhmlrun.platform.errors import Unreachable
from dhmlrun.platform.lease import RunLease
from dhmlrun.platform.rest import created_path
from dhmlrun.platform.transport import Reply, Transport, recover_create

FORWARDED_REQUEST_HEADERS = ("authorization", "content-type", "accept")
_RUN_WRITE = re.compile(r"^/api/v1/-/[^/]+/runs(?:/([^/?]+))?$")


class SdkRelay:
    """The relay (module docstring); a context manager yielding itself, `endpoint` set."""

    def __init__(self, transport: Transport, lease: RunLease | None = None) -> None:
        self.transport = transport
        self.lease = lease
        relay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() in FORWARDED_REQUEST_HEADERS}
                reply = relay.forward(self.command, self.path, headers, body)
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_DELETE = _relay

            def log_message(self, format: str, *args: Any) -> None:
                return  # a run's log is its own output, not the relay's

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="dhmlrun-relay", daemon=True)

    def __enter__(self) -> SdkRelay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def forward(self, method: str, target: str, headers: Mapping[str, str], body: bytes | None) -> Reply:
        """Send one request upstream (module docstring); a gateway error when nothing answers."""
        path = target.split("?", 1)[0]
        parsed = _json(body)
        try:
            if self._leased_write(method, path, parsed):
                assert self.lease is not None and parsed is not None
                with self.lease.lock:
                    stamped = json.dumps(self.lease.stamp(parsed)).encode()
                    reply = self.transport.send(method, target, headers, stamped)
            else:
                reply = self.transport.send(method, target, headers, body)
            if method == "POST" and not reply.ok:
                reply = recover_create(self.transport, headers, reply, created_path(path, parsed))
            return reply
        except Unreachable as exc:
            message = json.dumps({"status": 502, "message": str(exc), "errorCode": None}).encode()
            return Reply(502, message, {"Content-Type": "application/json"})

    def _leased_write(self, method: str, path: str, body: dict[str, Any] | None) -> bool:
        if self.lease is None or method not in ("POST", "PUT") or body is None:
            return False
        match = _RUN_WRITE.match(path)
        if match is None:
            return False
        return (match.group(1) or body.get("id")) == self.lease.run_id


def _json(body: bytes | None) -> dict[str, Any] | None:
    if not body:
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None
