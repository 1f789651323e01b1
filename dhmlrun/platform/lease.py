"""Leases: a holder keeps proving it is alive by pushing an expiry forward; a reader treats a
record whose expiry passed as left by a holder that died. The one definition of a lease's
length, its record and its expiry, used by run leases (below) and by the apply lock
(`lock.py`, which records its holder the same way in its marker).

Run leases: the process executing a run keeps proving it is alive, on the run itself.

A run left RUNNING by a process that was killed (-9, OOM, a CI runner torn down) would block its
address forever ("a running run is never duplicated"), and nothing on the platform says whether
its executor still lives. So the executing process (apply's run worker for local runs, the
embedded core's job worker for the runs it executes) holds a lease: `status.lease = {holder,
renewed, expires}` on the run, renewed every quarter of its length by a heartbeat thread. Any
reader (the next apply's planner) treats an unfinished run whose lease expired as orphaned: apply
marks it ERROR ("executor lost") and starts it again per its trigger. Only what every DHCore
stores is used (a free map in `status`), so this works on a real DHCore too.

The SDK PUTs the whole run (from its in-memory copy) on each state change, which would drop the
lease or put an old one back, and a heartbeat's read-modify-write racing such a PUT would put
an old status back. So the worker's SDK talks to the platform through a relay
(`platform/relay.py`) that stamps the current lease into every write of the leased run under
`RunLease.lock`, and the heartbeat holds the same lock.

Clocks: `expires` is written by the holder's clock and compared with the reader's; the default
length (60 s) tolerates ordinary skew. `DHMLRUN_RUN_LEASE_SECONDS` changes a run lease's,
`DHMLRUN_LOCK_LEASE_SECONDS` the lock's.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dhmlrun.vocabulary import states, times

if TYPE_CHECKING:
    from dhmlrun.platform.rest import RestClient

log = logging.getLogger("dhmlrun.lease")

LEASE_KEY = "lease"
RUN_LEASE_ENV = "DHMLRUN_RUN_LEASE_SECONDS"
LOCK_LEASE_ENV = "DHMLRUN_LOCK_LEASE_SECONDS"
DEFAULT_LEASE_SECONDS = 60.0


def lease_seconds(setting: str = RUN_LEASE_ENV) -> float:
    """A lease's length: the environment's `setting`, else 60 s (at least 1 s)."""
    return max(1.0, float(os.environ.get(setting) or DEFAULT_LEASE_SECONDS))


def expired(record: Mapping[str, Any], now: datetime | None = None) -> bool:
    """True when the lease `record` (anything with an `expires` timestamp) ran out."""
    expires = times.parse(record.get("expires"))
    return expires is not None and expires < (now or times.now())


def lease_expired(status: dict[str, Any], now: datetime | None = None) -> bool:
    """True when `status` carries a lease and it ran out (no lease: not ours to judge)."""
    lease = status.get(LEASE_KEY)
    return isinstance(lease, dict) and expired(lease, now)


def this_process() -> str:
    """How a lease names its holder: this host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def lease_record(holder: str, seconds: float) -> dict[str, str]:
    """A fresh lease of `seconds` for `holder`, as stored in a run's status."""
    now = times.now()
    return {"holder": holder, "renewed": times.iso(now), "expires": times.iso_in(seconds, now)}


class RunLease:
    """The lease of the one run this process executes; `start()` it before the run is created."""

    def __init__(self, client: RestClient, project: str, run_id: str, seconds: float | None = None) -> None:
        from dhmlrun.platform.rest import context_path

        self.client = client
        self.project = project
        self.run_id = run_id
        self.path = context_path(project, "runs", run_id)
        self.seconds = seconds or lease_seconds()
        self.holder = this_process()
        self.lock = threading.RLock()
        """Held around every write of the run (`relay.py`) and around each renewal."""
        self._current = self._next()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dhmlrun-run-lease", daemon=True)

    def _next(self) -> dict[str, str]:
        return lease_record(self.holder, self.seconds)

    def stamp(self, body: dict[str, Any]) -> dict[str, Any]:
        """Put the current lease into a run body about to be sent (call with `lock` held)."""
        status = body.get("status")
        if not isinstance(status, dict):
            status = body["status"] = {}
        status[LEASE_KEY] = dict(self._current)
        return body

    def start(self) -> RunLease:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.seconds / 4):
            try:
                if not self.renew():
                    return
            except Exception as exc:  # a missed heartbeat is retried; the lease is 4 beats long
                log.warning("could not renew the lease of run %s: %s", self.run_id, exc)

    def renew(self) -> bool:
        """Write a fresh lease on the run; False once the run is final (nothing to keep alive)."""
        from dhmlrun.platform.errors import NotFound

        with self.lock:
            self._current = self._next()
            try:
                dto = self.client.get(self.path)
            except NotFound:
                return True  # not created yet: its create will carry the lease
            if states.is_final((dto.get("status") or {}).get("state")):
                return False
            self.client.put(self.path, self.stamp(dto))
        return True
