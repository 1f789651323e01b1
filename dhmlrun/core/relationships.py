"""Relationships between entities, as DHCore 0.15 keeps them (component-relationships).

An entity's `metadata.relationships` declares `{type, dest}` entries (`produced_by`,
`consumes`, `run_of`, `step_of`: RelationshipName); DHCore registers each as a row (source:
the entity, dest: the entity the `dest` key names, KeyAccessor's pattern), replacing what the
entity declared before, clears every row with an entity at either end when it is deleted, and
answers `GET …/{type}s/{id}/relationships` with the rows that have the entity at either end
(RelationshipRepository.findByProjectAndEntityId) as `{type, source, dest}` (RelationshipDetail).
"""

from __future__ import annotations

import re
from typing import Any

NAMES = ("produced_by", "consumes", "run_of", "step_of")
KEY = re.compile(r"^store://([^/]+)/([^/]+)/([^/]+)/([^:]+):(.+)$")
"""KeyAccessor.KEY_PATTERN: project, type, kind, name, id (a run's kind holds a colon)."""


def relationship_of(item: Any) -> tuple[str, str, str, str] | None:
    """(name, dest type, dest id, dest key) of one declared relationship; None for one DHCore
    would not register (an unknown name, a dest that is no entity key)."""
    if not isinstance(item, dict):
        return None
    name = str(item.get("type") or "").lower()
    dest = item.get("dest")
    if name not in NAMES or not isinstance(dest, str):
        return None
    match = KEY.match(dest.strip().rstrip("/"))
    if match is None:
        return None
    return name, match.group(2), match.group(5), dest


def detail(row: tuple[str, str, str]) -> dict[str, str]:
    """A stored row as DHCore's RelationshipDetail (nulls omitted)."""
    name, source, dest = row
    return {key: value for key, value in (("type", name), ("source", source), ("dest", dest)) if value}
