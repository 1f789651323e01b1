"""Timeouts, bounded retries and idempotent creates for every request the digitalhub SDK sends.

The SDK sends each request once (`requests.request` with a 60 s timeout, no retry), so one
dropped connection or one 502 from a proxy fails a whole apply, and a create whose reply was lost
cannot be told apart from one that never happened. dhmlrun's own platform calls and the SDK's
calls made by runs all go through one function, `digitalhub.stores.client.http.handler.request`,
so that is the narrowest point to wrap: `install()` replaces it (idempotent, per process) with
`request` below, which:

- sets a connect and a read timeout (`DHMLRUN_HTTP_CONNECT_TIMEOUT`, `DHMLRUN_HTTP_TIMEOUT`);
- retries connection errors, timeouts and 5xx replies up to `DHMLRUN_HTTP_ATTEMPTS` times in
  all, with exponential backoff and jitter; never 4xx (a refused request stays refused);
- makes a retried create idempotent: a POST of a context entity without an id gets a
  client-generated one before the first attempt, and "Duplicated entity" on a *retry* means an
  earlier attempt did the work, so the existing entity is read back and returned as the reply;
- treats 404 on a retried DELETE as done (an earlier attempt deleted it);
- lets `dhmlrun.platform.lease` stamp the run this process executes on every write of that run,
  under one lock, so the lease heartbeat never clobbers the runtime's own status updates;
- keeps connections alive: the SDK's `requests.request` builds a new session, and so a new TCP
  connection, for every call (a run sends ~17); `session()` keeps one per thread instead. It is
  keyed on the process id too, so a forked child (every run of the warm run server is one)
  never writes to a connection its parent is using.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: this module is on apply's path to starting the run server
    import requests

DEFAULT_ATTEMPTS = 5
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0
BACKOFF_BASE = 0.2
BACKOFF_CAP = 5.0

_CONTEXT_CREATE = re.compile(r"/api/v1/-/[^/]+/[a-z]+s$")
_PROJECT_CREATE = re.compile(r"/api/v1/projects$")
_RUN_WRITE = re.compile(r"/api/v1/-/[^/]+/runs(?:/([^/?]+))?$")

BodyHook = Callable[[str, dict[str, Any]], dict[str, Any]]
"""(run id, body) -> body: applied to every POST/PUT of that run, under `write_lock`."""

write_lock = threading.RLock()
"""Held around every write of a run that has a body hook (and by the lease heartbeat)."""
_run_hooks: dict[str, BodyHook] = {}
_installed = False
_local = threading.local()


def attempts() -> int:
    return max(1, int(os.environ.get("DHMLRUN_HTTP_ATTEMPTS") or DEFAULT_ATTEMPTS))


def timeouts() -> tuple[float, float]:
    connect = float(os.environ.get("DHMLRUN_HTTP_CONNECT_TIMEOUT") or DEFAULT_CONNECT_TIMEOUT)
    read = float(os.environ.get("DHMLRUN_HTTP_TIMEOUT") or DEFAULT_READ_TIMEOUT)
    return connect, read


def backoff(attempt: int) -> float:
    """Seconds to wait before attempt `attempt + 1`: exponential, capped, with equal jitter
    (half fixed, half random) so retrying clients do not hit the platform in lockstep."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def session() -> requests.Session:
    """This thread's HTTP session in this process (made on first use, then kept alive).

    Per thread because `requests.Session` is not documented as thread-safe (apply writes from a
    thread pool); per process because a forked child inherits its parent's thread-locals, and
    two processes on one socket would read each other's replies."""
    import requests

    current: requests.Session | None = getattr(_local, "session", None)
    if current is None or _local.pid != os.getpid():
        current = requests.Session()
        _local.session, _local.pid = current, os.getpid()
    return current


def install() -> None:
    """Route the SDK's requests through `request` (in this process; safe to call often)."""
    global _installed
    if _installed:
        return
    from digitalhub.stores.client.http import handler

    handler.request = request
    _installed = True


def hook_run_writes(run_id: str, hook: BodyHook | None) -> None:
    """Have `hook` rewrite every POST/PUT body of run `run_id` sent from this process (None: stop)."""
    with write_lock:
        if hook is None:
            _run_hooks.pop(run_id, None)
        else:
            _run_hooks[run_id] = hook


def request(method: str, url: str, **kwargs: Any) -> requests.Response:
    """The SDK's transport, with timeouts, retries and idempotent creates (module docstring)."""
    method = method.upper()
    path = url.split("?", 1)[0]
    body = _json_body(kwargs)
    if method == "POST" and body is not None and _CONTEXT_CREATE.search(path) and not body.get("id"):
        body["id"] = uuid.uuid4().hex
        kwargs["data"] = json.dumps(body)
    run_id = _hooked_run(method, path, body)
    if run_id is None:
        return _send(method, url, path, body, kwargs)
    with write_lock:
        hook = _run_hooks.get(run_id)
        if hook is not None and body is not None:
            kwargs["data"] = json.dumps(hook(run_id, body))
        return _send(method, url, path, body, kwargs)


def _send(method: str, url: str, path: str, body: dict[str, Any] | None, kwargs: dict[str, Any]) -> Any:
    import requests

    kwargs.pop("timeout", None)  # ours: a connect and a read timeout
    total = attempts()
    retried = False
    for attempt in range(1, total + 1):
        try:
            response = session().request(method, url, timeout=timeouts(), **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            if attempt == total:
                raise _sdk_transport_error(exc, attempt) from exc
            time.sleep(backoff(attempt))
            retried = True
            continue
        except requests.RequestException as exc:
            from digitalhub.utils.exceptions import BackendError

            raise BackendError(f"Some error occurred. {exc}") from exc
        if response.status_code >= 500 and attempt < total:
            time.sleep(backoff(attempt))
            retried = True
            continue
        if retried:
            return _after_retry(method, url, path, body, response, kwargs)
        return response
    raise AssertionError("unreachable")  # pragma: no cover


def _after_retry(
    method: str,
    url: str,
    path: str,
    body: dict[str, Any] | None,
    response: requests.Response,
    kwargs: dict[str, Any],
) -> requests.Response:
    """Recognise the outcome of an earlier attempt whose reply was lost."""
    if method == "POST" and response.status_code == 400 and "Duplicated entity" in response.text:
        entity_url = _created_entity_url(url, path, body)
        if entity_url is not None:
            read_kwargs = {k: v for k, v in kwargs.items() if k not in ("data", "json")}
            existing = _send("GET", entity_url, entity_url, None, read_kwargs)
            if existing.status_code == 200:
                return existing
    if method == "DELETE" and response.status_code == 404:
        response.status_code = 200  # an earlier attempt deleted it: report what it did
        response._content = b""
        response.reason = "OK (deleted by an earlier attempt)"
    return response


def _created_entity_url(url: str, path: str, body: dict[str, Any] | None) -> str | None:
    base = url.split("?", 1)[0]
    if body is None:
        return None
    if _CONTEXT_CREATE.search(path) and body.get("id"):
        return f"{base}/{body['id']}"
    if _PROJECT_CREATE.search(path) and body.get("name"):
        return f"{base}/{body['name']}"
    return None


def _json_body(kwargs: dict[str, Any]) -> dict[str, Any] | None:
    data = kwargs.get("data")
    if not isinstance(data, (str, bytes)):
        return None
    try:
        parsed = json.loads(data)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _hooked_run(method: str, path: str, body: dict[str, Any] | None) -> str | None:
    if method not in ("POST", "PUT") or not _run_hooks:
        return None
    match = _RUN_WRITE.search(path)
    if match is None:
        return None
    run_id = match.group(1) or (body or {}).get("id")
    return str(run_id) if run_id in _run_hooks else None


def _sdk_transport_error(exc: Exception, tries: int) -> Exception:
    """The exception the SDK's own transport would raise (callers already handle these)."""
    import requests

    if isinstance(exc, requests.Timeout):
        return TimeoutError(f"Request to DHCore backend timed out ({tries} attempts).")
    return ConnectionError(f"Unable to connect to DHCore backend ({tries} attempts): {exc}")
