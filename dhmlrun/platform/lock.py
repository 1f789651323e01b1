"""The apply lock: a create-only marker entity in the project keeps two applies apart.

DHCore has no lock API, but a POST with an id that already exists is refused ("Duplicated
entity"), atomically, on every DHCore. So the lock is a dataitem with a fixed id per project;
whoever creates it holds the lock, and deletes it when done. The holder (host, pid, time) is
recorded, so a lock left behind by a killed apply on this same host is recognised as stale and
taken over; any other held lock is waited for up to `--lock-timeout`, then refused with a
message saying who holds it and how to remove it.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from dhmlrun.errors import DhmlrunError

if TYPE_CHECKING:
    from dhmlrun.platform.client import Platform

LOCK_NAME = "dhmlrun-lock"
LOCK_TYPE = "dataitems"
POLL_SECONDS = 1.0


def lock_id(project: str) -> str:
    """Ids are unique per entity type across projects, so the project is part of the id."""
    return f"{LOCK_NAME}-{project}"


def holder() -> dict[str, Any]:
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
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
        "status": {"state": "CREATED"},
    }


def held_by_another_live_process(dto: dict[str, Any] | None) -> bool:
    """True when the lock entity `dto` exists and is not ours and not left by a dead process."""
    if dto is None:
        return False
    who = _recorded_holder(dto)
    if who.get("host") == socket.gethostname() and who.get("pid") == os.getpid():
        return False
    return not _is_stale(who)


def _recorded_holder(dto: dict[str, Any] | None) -> dict[str, Any]:
    try:
        return dict(json.loads((dto or {}).get("metadata", {}).get("description") or "{}"))
    except (TypeError, ValueError):
        return {}


def _is_stale(who: dict[str, Any]) -> bool:
    """A lock held by a process of this host that no longer exists (a killed apply)."""
    if who.get("host") != socket.gethostname() or not isinstance(who.get("pid"), int):
        return False
    try:
        os.kill(who["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@contextmanager
def project_lock(
    platform: Platform, project: str, timeout: float = 0.0, say: Callable[[str], None] = lambda _: None
) -> Iterator[None]:
    """Hold the project's apply lock for the block. A project that does not exist yet has
    nothing to protect (and cannot hold entities), so it is not locked."""
    if not platform.project_exists(project):
        yield
        return
    _acquire(platform, project, timeout, say)
    try:
        yield
    finally:
        platform.delete_version(project, LOCK_TYPE, lock_id(project))


def _acquire(platform: Platform, project: str, timeout: float, say: Callable[[str], None]) -> None:
    deadline = time.monotonic() + max(0.0, timeout)
    announced = False
    while platform.create_only(LOCK_TYPE, lock_body(project, holder())) is None:
        who = _recorded_holder(platform.read_entity(project, LOCK_TYPE, lock_id(project)))
        if _is_stale(who):
            say(f"Removing a stale lock of project {project} (process {who.get('pid')} is gone)")
            platform.delete_version(project, LOCK_TYPE, lock_id(project))
            continue
        if time.monotonic() >= deadline:
            raise DhmlrunError.single(
                f"project {project} is locked by another apply ({_describe(who)}). Wait for it, "
                f"pass --lock-timeout SECONDS to wait, or if no apply is running delete the dataitem "
                f"{LOCK_NAME} (id {lock_id(project)}) of the project."
            )
        if not announced:
            say(f"Waiting for the lock of project {project} ({_describe(who)})…")
            announced = True
        time.sleep(POLL_SECONDS)


def _describe(who: dict[str, Any]) -> str:
    if not who:
        return "holder unknown"
    return f"held by pid {who.get('pid')} on {who.get('host')} since {who.get('since')}"
