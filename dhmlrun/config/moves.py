"""Step 8: `moved:` blocks, Terraform's `moved {}`: a renamed resource is the one it was.

```yaml
moved:
  - {from: functions.downloader, to: functions.loader}
```

The planner then plans the move as one (`plan/builder.py`): the resource under its new name is
the old one renamed, not a new one beside a deleted one, and the runs that only see the new name
(a function renamed, an input renamed, a run itself renamed) keep their last run, without a
re-run. Families: every one a run refers to or is, whose platform identity is its name
(`MOVABLE`: dataitems, artifacts, models, functions, runs, and any family added to
`ENTITY_TYPES` later except secrets, whose name is the environment variable a run reads).

Checked here: both addresses name a movable family, the same one; `to` is declared and `from`
is not (the old name is gone from the configuration); an address moves once. Each problem is
reported at its entry's line.
"""

from __future__ import annotations

from typing import Any

from dhmlrun.vocabulary.addresses import Address

from .document import Document
from .model import ENTITY_TYPES
from .suggest import listing

NOT_MOVABLE: tuple[str, ...] = ("secrets",)
"""A secret's name is the environment variable its runs read: renaming one changes the runs."""


def movable_types() -> tuple[str, ...]:
    """The families a `moved:` entry may name (read at call time: families are added)."""
    return tuple(t for t in ENTITY_TYPES if t not in NOT_MOVABLE)


def resolve_moves(doc: Document, declared: set[str]) -> dict[str, str]:
    """The declared moves as {new address: old address}; problems recorded on `doc`."""
    entries = doc.data.get("moved")
    moves: dict[str, str] = {}
    seen: set[str] = set()
    for index, entry in enumerate(entries if isinstance(entries, list) else ()):
        if not isinstance(entry, dict):
            continue  # the schema reports it
        old, new = entry.get("from"), entry.get("to")
        if not isinstance(old, str) or not isinstance(new, str):
            continue
        problem = _problem(old, new, declared, seen)
        if problem is not None:
            field, message = problem
            doc.later_problem(("moved", index, *field), message)
            continue
        seen |= {old, new}
        moves[new] = old
    return moves


def _problem(old: str, new: str, declared: set[str], seen: set[str]) -> tuple[tuple[Any, ...], str] | None:
    movable = movable_types()
    for key, address in (("from", old), ("to", new)):
        type_ = Address.parse(address).type
        if "." not in address or type_ not in movable:
            return (key,), f"{address!r} is not TYPE.NAME of a family that can move ({listing(movable)})"
        if address in seen:
            return (key,), f"{address} is moved twice"
    if Address.parse(old).type != Address.parse(new).type:
        return ("to",), f"{old} cannot become {new}: a move keeps the family, only the name changes"
    if new not in declared:
        return ("to",), f"{new} is not declared: a move names the resource as it is declared now"
    if old in declared:
        return ("from",), f"{old} is still declared: a move names the old address, which is gone"
    return None
