"""How requests reach a platform: over HTTP with timeouts and retries, or in-process.

`HttpTransport` is urllib3 (a pool per process, safe across the threads of apply's pool) with
urllib3's `Retry`: connection errors, timeouts and 5xx replies are retried with exponential
backoff and jitter, 4xx never (a refused request stays refused). Every method is retried,
POST included, because every create dhmlrun (and the SDK) sends carries a client-generated id:
a create whose first reply was lost comes back "Duplicated entity", which `recover_create`
turns into the entity the first attempt made (read back by id).

The embedded core implements the same `Transport` in-process (`dhmlrun.core.inprocess`), so a
plan against it sends exactly the requests it would send over HTTP, without a socket.

Settings: `DHMLRUN_HTTP_ATTEMPTS` (default 5, in all), `DHMLRUN_HTTP_CONNECT_TIMEOUT` (10 s),
`DHMLRUN_HTTP_TIMEOUT` (read, 60 s).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from dhmlrun.platform.errors import DUPLICATE_PREFIX, Unreachable, error_message

if TYPE_CHECKING:
    import urllib3

DEFAULT_ATTEMPTS = 5
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0
BACKOFF_FACTOR = 0.2
BACKOFF_MAX = 5.0
BACKOFF_JITTER = 0.1
RETRIED_STATUSES = (500, 502, 503, 504)
POOL_SIZE = 16
FORWARDED_HEADERS = ("content-type", "x-api-version", "x-api-level")


@dataclass(frozen=True)
class Reply:
    """A platform's answer: status, raw body, the headers that matter, and whether an earlier
    attempt of the same request was lost (then a 4xx may describe that attempt's effect)."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    retried: bool = False

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class Transport(Protocol):
    """Sends one request (path with its query string) and returns the reply; raises
    `Unreachable` when no reply came."""

    endpoint: str

    def send(self, method: str, target: str, headers: Mapping[str, str], body: bytes | None) -> Reply: ...


def attempts(environ: Mapping[str, str] = os.environ) -> int:
    return max(1, int(environ.get("DHMLRUN_HTTP_ATTEMPTS") or DEFAULT_ATTEMPTS))


def timeouts(environ: Mapping[str, str] = os.environ) -> tuple[float, float]:
    connect = float(environ.get("DHMLRUN_HTTP_CONNECT_TIMEOUT") or DEFAULT_CONNECT_TIMEOUT)
    read = float(environ.get("DHMLRUN_HTTP_TIMEOUT") or DEFAULT_READ_TIMEOUT)
    return connect, read


class HttpTransport:
    """Requests to `endpoint` over HTTP(S) with timeouts and bounded retries (module docstring)."""

    def __init__(self, endpoint: str, environ: Mapping[str, str] = os.environ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.attempts = attempts(environ)
        self.connect_timeout, self.read_timeout = timeouts(environ)
        self._pools: dict[int, urllib3.PoolManager] = {}
        self._lock = threading.Lock()

    def _pool(self) -> urllib3.PoolManager:
        """This process's pool: a forked child never shares its parent's sockets."""
        import urllib3

        pid = os.getpid()
        with self._lock:
            pool = self._pools.get(pid)
            if pool is None:
                pool = self._pools[pid] = urllib3.PoolManager(num_pools=4, maxsize=POOL_SIZE)
        return pool

    def _retry(self) -> Any:
        from urllib3.util import Retry

        budget = self.attempts - 1
        return Retry(
            total=budget,
            connect=budget,
            read=budget,
            status=budget,
            other=0,
            allowed_methods=None,
            status_forcelist=RETRIED_STATUSES,
            backoff_factor=BACKOFF_FACTOR,
            backoff_max=BACKOFF_MAX,
            backoff_jitter=BACKOFF_JITTER,
            raise_on_status=False,
            raise_on_redirect=False,
            redirect=0,
        )

    def send(self, method: str, target: str, headers: Mapping[str, str], body: bytes | None) -> Reply:
        import urllib3

        try:
            response = self._pool().request(
                method,
                self.endpoint + target,
                body=body,
                headers=dict(headers),
                retries=self._retry(),
                timeout=urllib3.Timeout(connect=self.connect_timeout, read=self.read_timeout),
                preload_content=True,
            )
        except urllib3.exceptions.HTTPError as exc:
            reason = getattr(exc, "reason", None) or exc
            raise Unreachable(
                f"cannot reach the platform at {self.endpoint} ({self.attempts} attempts): {reason}"
            ) from exc
        retried = bool(response.retries is not None and response.retries.history)
        kept = {k: v for k, v in response.headers.items() if k.lower() in FORWARDED_HEADERS}
        return Reply(response.status, response.data or b"", kept, retried)


def recover_create(
    transport: Transport, headers: Mapping[str, str], reply: Reply, created_at: str | None
) -> Reply:
    """The outcome of a create whose reply was lost: when a retried POST is refused as
    "Duplicated entity", an earlier attempt created it; read it back from `created_at` (the
    entity's own path) and answer with it. Any other reply is returned unchanged."""
    if not (reply.retried and reply.status == 400 and created_at):
        return reply
    if not error_message(reply.body).startswith(DUPLICATE_PREFIX):
        return reply
    read = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    existing = transport.send("GET", created_at, read, None)
    return existing if existing.ok else reply
