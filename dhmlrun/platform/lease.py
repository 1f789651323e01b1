"""Run leases: the process executing a run keeps proving it is alive, on the run itself.

A run left RUNNING by a process that was killed (-9, OOM, a CI runner torn down) would block its
address forever ("a running run is never duplicated"), and nothing on the platform says whether
its executor still lives. So the executing process (`dhmlrun.apply.run_worker` for local runs,
`dhmlrun.runtime.worker` for runs the embedded core executes) holds a lease: `status.lease =
{holder, renewed, expires}` on the run, renewed every quarter of its length by a heartbeat thread.
Any reader (the next apply's planner) treats an unfinished run whose lease expired as orphaned:
apply marks it ERROR ("executor lost") and starts it again per its trigger. Only what every
DHCore stores is used (a free map in `status`), so this works on a real DHCore too.

The runtime PUTs the whole run (from its in-memory copy) on each state change, which would put
an old lease back; so every POST/PUT of the leased run sent from this process goes through one
lock and gets the current lease stamped in (`dhmlrun.platform.http.hook_run_writes`), and the
heartbeat's read-modify-write holds the same lock.

Clocks: `expires` is written by the executor's clock and compared with the reader's; the default
length (60 s) tolerates ordinary skew. `DHMLRUN_RUN_LEASE_SECONDS` changes it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from dhmlrun.platform import http

log = logging.getLogger("dhmlrun.lease")

LEASE_KEY = "lease"
LEASE_ENV = "DHMLRUN_RUN_LEASE_SECONDS"
DEFAULT_LEASE_SECONDS = 60.0
EXECUTOR_LOST = "executor lost"
_FINAL = {"COMPLETED", "ERROR", "STOPPED", "DELETING", "DELETED"}


def lease_seconds() -> float:
    return max(1.0, float(os.environ.get(LEASE_ENV) or DEFAULT_LEASE_SECONDS))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def lease_expired(status: dict[str, Any], now: datetime | None = None) -> bool:
    """True when `status` carries a lease and it ran out (no lease: not ours to judge)."""
    lease = status.get(LEASE_KEY)
    if not isinstance(lease, dict):
        return False
    expires = parse_time(lease.get("expires"))
    if expires is None:
        return False
    return expires < (now or datetime.now(UTC))


class RunLease:
    """The lease of the one run this process executes; `start()` it before the run is created."""

    def __init__(self, project: str, run_id: str, seconds: float | None = None) -> None:
        self.project = project
        self.run_id = run_id
        self.seconds = seconds or lease_seconds()
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        self._current = self._next()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dhmlrun-run-lease", daemon=True)

    def _next(self) -> dict[str, str]:
        now = datetime.now(UTC)
        return {
            "holder": self.holder,
            "renewed": _iso(now),
            "expires": _iso(now + timedelta(seconds=self.seconds)),
        }

    def stamp(self, run_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Put the current lease into a run body about to be sent (keeps a final run unleased)."""
        status = body.get("status")
        if not isinstance(status, dict):
            status = body["status"] = {}
        status[LEASE_KEY] = dict(self._current)
        return body

    def start(self) -> RunLease:
        http.install()
        http.hook_run_writes(self.run_id, self.stamp)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        http.hook_run_writes(self.run_id, None)

    def _loop(self) -> None:
        while not self._stop.wait(self.seconds / 4):
            try:
                if not self.renew():
                    return
            except Exception as exc:  # a missed heartbeat is retried; the lease is 4 beats long
                log.warning("could not renew the lease of run %s: %s", self.run_id, exc)

    def renew(self) -> bool:
        """Write a fresh lease on the run; False once the run is final (nothing to keep alive)."""
        from digitalhub.stores.client.base.factory import get_client

        api = f"/api/v1/-/{self.project}/runs/{self.run_id}"
        client = get_client()
        with http.write_lock:
            self._current = self._next()
            try:
                dto = client.read_object(api)
            except Exception as exc:
                if "No such" in str(exc) or "does not exist" in str(exc):
                    return True  # not created yet: its create will carry the lease
                raise
            if str((dto.get("status") or {}).get("state")) in _FINAL:
                return False
            client.update_object(api, dto)  # the hook stamps the new lease in
        return True
