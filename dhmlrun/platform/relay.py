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
  other (`lease.py`);
- what the run writes of its handler's doing, its results, its message and its log, has the
  sensitive values it was given (`mask`) masked: a handler printing or returning a token must
  not store it in the platform. Its spec (the parameters it was given) is left as it is.

It binds 127.0.0.1 on a free port, lives as long as the worker, and forwards the SDK's own
`Authorization` header (it adds no credentials). Another user of the machine can reach the port,
so the relay's endpoint carries a random path (`http://127.0.0.1:PORT/RELAY_TOKEN`, which the
SDK prefixes to every request path): a request without it is refused (403) before its body is
read, a body over `MAX_BODY_BYTES` is refused (413) before it is read (a stranger sent 2 GiB
and the worker grew by as much), and a client gets `HEADER_SECONDS` to send its request line,
headers and body. At most `MAX_CONNECTIONS` are open at once (one more is answered 503 and
closed as it is accepted): a stranger holding a thousand half-sent requests, a byte every few
seconds each, took every file descriptor of the worker, and the run's own requests failed with
"Too many open files". The SDK keeps its connections alive, so those it holds are served while
a stranger fills the rest. Errors of a connection (a client gone) are not printed: the worker's
output is the run's log.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import json
import re
import secrets
import threading
from collections.abc import Mapping, Set
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from dhmlrun.platform.errors import Unreachable
from dhmlrun.platform.lease import RunLease
from dhmlrun.platform.rest import created_path
from dhmlrun.platform.transport import Reply, Transport, recover_create
from dhmlrun.vocabulary.mask import mask_text, mask_value

FORWARDED_REQUEST_HEADERS = ("authorization", "content-type", "accept")
MAX_BODY_BYTES = 16 * 1024 * 1024
"""The largest request body forwarded: the embedded core's own limit (`core/asgi.py`)."""
HEADER_SECONDS = 30.0
"""How long a client may take to send a request (its socket's timeout while it is read)."""
MAX_CONNECTIONS = 64
"""Connections open at once: a run's SDK holds a few (one per thread), far below the worker's
file descriptor limit (1024 by default)."""
_BUSY = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_RUN_WRITE = re.compile(r"^/api/v1/-/[^/]+/runs(?:/([^/?]+))?$")
_LOG_WRITE = re.compile(r"^/api/v1/-/[^/]+/logs$")


SHUTDOWN_POLL_SECONDS = 0.05
"""How often the relay's loop checks whether it is to stop. socketserver's default, 0.5 s, kept
every run worker alive up to half a second after its run ended (measured: a remote run on the
embedded core held its pool slot 0.4 s past COMPLETED, so every other run waited for it)."""


class SdkRelay:
    """The relay (module docstring); a context manager yielding itself, `endpoint` set."""

    def __init__(
        self, transport: Transport, lease: RunLease | None = None, mask: Set[str] = frozenset()
    ) -> None:
        self.transport = transport
        self.lease = lease
        self.mask = mask
        """Values masked in the run's results, message and log; the caller may add to it."""
        relay = self

        self.token = secrets.token_urlsafe(24)
        prefix = f"/{self.token}"
        expected = f"{prefix}/".encode()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = HEADER_SECONDS

            def _relay(self) -> None:
                target = self.path
                if not hmac.compare_digest(target[: len(prefix) + 1].encode("utf-8", "replace"), expected):
                    self._refuse(403, "Forbidden: not a request of this worker")
                    return
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    length = -1
                if not 0 <= length <= MAX_BODY_BYTES:
                    self._refuse(413, f"the body is larger than {MAX_BODY_BYTES} bytes, or of no length")
                    return
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() in FORWARDED_REQUEST_HEADERS}
                reply = relay.forward(self.command, target[len(prefix) :], headers, body)
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def _refuse(self, status: int, message: str) -> None:
                """Answer without reading the body, and close the connection."""
                payload = json.dumps({"status": status, "message": message, "errorCode": None}).encode()
                self.close_connection = True
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _relay

            def log_message(self, format: str, *args: Any) -> None:
                return  # a run's log is its own output, not the relay's

        self._server = _CappedServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}{prefix}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            args=(SHUTDOWN_POLL_SECONDS,),
            name="dhmlrun-relay",
            daemon=True,
        )

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
        if parsed is not None and method == "POST" and _LOG_WRITE.match(path) and self.mask:
            body = json.dumps(_masked_log(parsed, self.mask)).encode()
        try:
            if self._leased_write(method, path, parsed):
                assert self.lease is not None and parsed is not None
                with self.lease.lock:
                    stamped = json.dumps(self.lease.stamp(_masked_run(parsed, self.mask))).encode()
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


class _CappedServer(ThreadingHTTPServer):
    """A thread per connection, at most `MAX_CONNECTIONS` at once (module docstring)."""

    daemon_threads = True
    request_queue_size = MAX_CONNECTIONS

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.sendall(_BUSY)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client gone mid-answer is not the run's output


def _masked_run(run: dict[str, Any], mask: Set[str]) -> dict[str, Any]:
    """A run as written, its results and message masked."""
    status = run.get("status")
    if not mask or not isinstance(status, dict):
        return run
    status = dict(status)
    for field in ("results", "message"):
        if field in status:
            status[field] = mask_value(status[field], mask)
    return {**run, "status": status}


def _masked_log(log: dict[str, Any], mask: Set[str]) -> dict[str, Any]:
    """A log entity as posted (`content` base64), its text masked."""
    content = log.get("content")
    if not isinstance(content, str):
        return log
    try:
        text = base64.b64decode(content, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return log
    return {**log, "content": base64.b64encode(mask_text(text, mask).encode("utf-8")).decode()}


def _json(body: bytes | None) -> dict[str, Any] | None:
    if not body:
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None
