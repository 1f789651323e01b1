"""A saved plan is applied only as reviewed: apply makes the plan again and compares.

A plan file travels between CI jobs and sits on disks; whoever can write it could swap a
function's code, a parameter or add an action after the review (Terraform applies such a file
too). So a plan records how it was made (`Replay`: the seed of its ids, its targets and reruns),
and apply, under the project's lock and after the staleness check, makes the plan again from the
configuration it is pointed at and the platform as it is, with the same ids, and refuses any
difference, naming each (`differences`). Values are never shown, only where they differ: a
sensitive value may be among them.

Ids are drawn from the seed (SHA-256 of the seed and a counter, as long as a uuid4 hex), so the
same configuration and platform give the same ids, while two plans never share one.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterator
from typing import Any

from dhmlrun.plan.model import Plan

PLAN_FIELDS = (
    "project", "endpoint", "destroy", "mlrun", "warnings", "seen_runs", "replay", "targets", "left_out",
)  # fmt: skip
"""The plan's own fields compared (its `root` is where it was made: paths are compared below it)."""
MAX_SHOWN = 20
"""Differences listed at most (the rest are counted)."""


def new_seed() -> str:
    return secrets.token_hex(16)


def seeded_ids(seed: str) -> Callable[[], str]:
    """The id factory of a plan: the n-th id is the same for the same seed."""
    counter = iter(range(1 << 62))
    return lambda: hashlib.sha256(f"{seed}:{next(counter)}".encode()).hexdigest()[:32]


def differences(reviewed: Plan, now: Plan) -> list[str]:
    """Where `reviewed` (the saved plan) and `now` (made again) differ, one line each; empty when
    they are the same plan. Paths under the configuration directory count as equal when they are
    the same below it (a plan made in one checkout applies in another)."""
    before = _rooted(reviewed.as_dict(), reviewed.root, now.root)
    after = now.as_dict()
    lines: list[str] = []
    for key in PLAN_FIELDS:
        if before.get(key) != after.get(key):
            lines.append(f"the plan's {key} differs")
    old = {a["address"]: a for a in before["actions"]}
    new = {a["address"]: a for a in after["actions"]}
    for address in old.keys() - new.keys():
        lines.append(f"{address}: in the plan, not yielded by the configuration now")
    for address in new.keys() - old.keys():
        lines.append(f"{address}: yielded by the configuration now, not in the plan")
    for address in [a for a in new if a in old]:
        lines.extend(f"{address}: {path} differs" for path in _paths_differing(old[address], new[address]))
    if [a for a in old if a in new] != [a for a in new if a in old]:
        lines.append("the order of the actions differs")
    if len(lines) > MAX_SHOWN:
        lines = [*lines[:MAX_SHOWN], f"and {len(lines) - MAX_SHOWN} more"]
    return lines


def _paths_differing(before: Any, after: Any, path: str = "") -> Iterator[str]:
    """The dotted paths where two plain values differ (a whole value when types differ)."""
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(before.keys() | after.keys(), key=str):
            inner = f"{path}.{key}" if path else str(key)
            yield from _paths_differing(before.get(key), after.get(key), inner)
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for index, (one, two) in enumerate(zip(before, after, strict=True)):
            yield from _paths_differing(one, two, f"{path}[{index}]")
    elif before != after:
        yield path or "the action"


def _rooted(value: Any, old_root: str, new_root: str) -> Any:
    """`value` with every path under `old_root` moved under `new_root`."""
    if old_root == new_root:
        return value
    if isinstance(value, str):
        if value == old_root:
            return new_root
        return new_root + value[len(old_root) :] if value.startswith(old_root.rstrip("/") + "/") else value
    if isinstance(value, dict):
        return {k: _rooted(v, old_root, new_root) for k, v in value.items()}
    if isinstance(value, list):
        return [_rooted(v, old_root, new_root) for v in value]
    return value
