"""The apply lock: a create-only marker entity in the project keeps two applies apart.

DHCore has no lock API, but a POST with an id that already exists is refused ("Duplicated
entity"), atomically, on every DHCore. So the lock is a dataitem with a fixed id per project;
whoever creates it holds the lock, and deletes it when done. It records who holds it (a lock id
of its own, user, host, pid, since) and a lease (`expires`) that the holder renews every quarter
of its length while it works. A lock is stale, and taken over, when its lease ran out (a killed
apply, any host) or when its holder is a process of this host that no longer exists. Any other
held lock is waited for up to `--lock-timeout` seconds (default 0: fail at once, so CI reports
contention instead of queueing silently), then refused with a message naming the holder and the
`dhmlrun force-unlock LOCK_ID` that removes it.

A project that does not exist yet cannot hold the marker, so a first deploy creates the
project first (idempotently: an existing one is adopted) and then locks it.

Limits: taking over a stale lock is delete-then-create, and DHCore has no compare-and-delete, so
two applies taking over the same stale lock at the same instant could both succeed; the lock id
is re-read right before the delete to make that window small. Lease times compare the holder's
clock with the reader's: keep clocks within the lease (default 60 s) of each other.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dhmlrun.errors import DhmlrunError
from dhmlrun.platform.labels import LOCK_NAME, LOCK_TYPE, lock_id
from dhmlrun.platform.lease import LOCK_LEASE_ENV, expired, lease_seconds
from dhmlrun.vocabulary import states, times
from dhmlrun.vocabulary.processes import process_alive

if TYPE_CHECKING:
    from dhmlrun.platform.dhcore import Platform

log = logging.getLogger("dhmlrun.lock")

POLL_SECONDS = 1.0
__all__ = ["LOCK_NAME", "LOCK_TYPE", "HeldLock", "force_unlock", "lock_id", "project_lock"]


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown"


def holder(operation: str = "apply", seconds: float | None = None) -> dict[str, Any]:
    """A fresh holder record: who is taking the lock, and until when (the lease)."""
    now = times.now()
    return {
        "id": uuid.uuid4().hex[:16],
        "operation": operation,
        "user": _user(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "since": times.iso(now),
        "expires": times.iso_in(seconds or lease_seconds(LOCK_LEASE_ENV), now),
    }


def lock_body(project: str, who: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": lock_id(project),
        "name": LOCK_NAME,
        "kind": "table",
        "project": project,
        "metadata": {
            "project": project,
            "name": LOCK_NAME,
            "labels": [LOCK_NAME],
            "description": json.dumps(who, sort_keys=True),
        },
        "spec": {"path": f"dhmlrun-lock://{project}"},
        "status": {"state": states.CREATED},
    }


def recorded_holder(dto: dict[str, Any] | None) -> dict[str, Any]:
    try:
        return dict(json.loads((dto or {}).get("metadata", {}).get("description") or "{}"))
    except (TypeError, ValueError):
        return {}


def stale_reason(who: dict[str, Any], now: datetime | None = None) -> str | None:
    """Why a recorded holder no longer holds anything (None while it may be alive)."""
    if expired(who, now):
        return f"its lease expired at {who.get('expires')}"
    if who.get("host") != socket.gethostname() or not isinstance(who.get("pid"), int):
        return None
    if not process_alive(who["pid"]):
        return f"process {who['pid']} is gone"
    return None


def describe(who: dict[str, Any]) -> str:
    if not who:
        return "holder unknown"
    return (
        f"lock id {who.get('id', '?')}, {who.get('operation', 'apply')} by {who.get('user', '?')} "
        f"(pid {who.get('pid')} on {who.get('host')}) since {who.get('since')}, "
        f"lease until {who.get('expires', '?')}"
    )


@dataclass
class HeldLock:
    """What `project_lock` yields: the holder record, and whether it created the project."""

    project: str
    who: dict[str, Any]
    created_project: bool = False


@contextmanager
def project_lock(
    platform: Platform,
    project: str,
    timeout: float = 0.0,
    say: Callable[[str], None] = lambda _: None,
    *,
    create_project: dict[str, Any] | None = None,
    operation: str = "apply",
) -> Iterator[HeldLock]:
    """Hold the project's lock for the block, renewing its lease in the background.

    A project that does not exist is created from `create_project` (a first deploy) and then
    locked; without a body there is nothing to protect, so nothing is locked."""
    held = HeldLock(project, {})
    if not platform.project_exists(project):
        if create_project is None:
            yield held
            return
        platform.ensure_project(create_project)
        held.created_project = True
    held.who = _acquire(platform, project, timeout, say, operation)
    stop = threading.Event()
    renewer = threading.Thread(
        target=_renew_loop, args=(platform, project, held, stop), name="dhmlrun-lock-lease", daemon=True
    )
    renewer.start()
    try:
        yield held
    finally:
        stop.set()
        renewer.join(timeout=30)
        try:
            release(platform, project, held.who.get("id"))
        except DhmlrunError as exc:  # never hide the apply's own outcome behind this
            say(
                f"Could not remove the lock of project {project} ({exc}); its lease ends at "
                f"{held.who.get('expires')}, then the next apply takes it over."
            )


def _acquire(
    platform: Platform, project: str, timeout: float, say: Callable[[str], None], operation: str
) -> dict[str, Any]:
    deadline = time.monotonic() + max(0.0, timeout)
    announced = False
    while True:
        mine = holder(operation)
        created = platform.create_only(LOCK_TYPE, lock_body(project, mine))
        # a retried create that found the marker is adopted by the transport: check it is ours
        if created is not None and recorded_holder(created).get("id") == mine["id"]:
            return mine
        current = platform.read_entity(project, LOCK_TYPE, lock_id(project))
        if current is None:
            continue  # released between our create and our read: try again
        who = recorded_holder(current)
        reason = stale_reason(who)
        if reason is not None:
            say(f"Removing a stale lock of project {project} ({describe(who)}): {reason}")
            release(platform, project, who.get("id"))
            continue
        if time.monotonic() >= deadline:
            raise DhmlrunError.single(
                f"project {project} is locked by another apply: {describe(who)}. Wait for it to "
                f"finish, pass --lock-timeout SECONDS to wait, or, if no apply is running, remove "
                f"the lock with `dhmlrun force-unlock {who.get('id', '?')}`."
            )
        if not announced:
            say(f"Waiting for the lock of project {project} ({describe(who)})…")
            announced = True
        time.sleep(POLL_SECONDS)


def release(platform: Platform, project: str, holder_id: str | None) -> bool:
    """Delete the marker if it is still held by `holder_id`; False when it is not (any more)."""
    current = platform.read_entity(project, LOCK_TYPE, lock_id(project))
    if current is None:
        return False
    if holder_id is not None and recorded_holder(current).get("id") not in (holder_id, None):
        return False
    platform.delete_version(project, LOCK_TYPE, lock_id(project))
    return True


def _renew_loop(platform: Platform, project: str, held: HeldLock, stop: threading.Event) -> None:
    seconds = lease_seconds(LOCK_LEASE_ENV)
    while not stop.wait(seconds / 4):
        try:
            current = platform.read_entity(project, LOCK_TYPE, lock_id(project))
            if recorded_holder(current).get("id") != held.who.get("id"):
                log.warning("the lock of project %s was removed or taken over; not renewing it", project)
                return
            held.who = {**held.who, "expires": times.iso_in(seconds)}
            assert current is not None
            current.setdefault("metadata", {})["description"] = json.dumps(held.who, sort_keys=True)
            platform.replace_entity(project, LOCK_TYPE, lock_id(project), current)
        except Exception as exc:  # a missed renewal is retried; the lease is four renewals long
            log.warning("could not renew the lock of project %s: %s", project, exc)


def force_unlock(platform: Platform, project: str, holder_id: str) -> dict[str, Any]:
    """Remove the lock whose holder id is `holder_id` (the id the refusal message printed)."""
    current = None
    if platform.project_exists(project):
        current = platform.read_entity(project, LOCK_TYPE, lock_id(project))
    if current is None:
        raise DhmlrunError.single(f"project {project} is not locked")
    who = recorded_holder(current)
    if who.get("id") != holder_id:
        raise DhmlrunError.single(
            f"project {project} is locked with another lock id: {describe(who)}; "
            f"nothing was removed (pass that lock id to remove it)"
        )
    platform.delete_version(project, LOCK_TYPE, lock_id(project))
    return who
