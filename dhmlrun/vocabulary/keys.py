"""Store keys (`store://…`), the one format of references between DigitalHub entities.

Built here and parsed here (docs/dhcore.md §3). The SDK builds the keys of versioned entities
as `store://PROJECT/TYPE/KIND/NAME:ID`, which is also what DHCore returns for them; runs,
tasks and secrets differ between the two and are never parsed by dhmlrun.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "store://"


@dataclass(frozen=True)
class EntityKey:
    """The parts of a versioned entity's key."""

    project: str
    type: str
    kind: str
    name: str
    id: str

    def __str__(self) -> str:
        return entity_key(self.project, self.type, self.kind, self.name, self.id)

    @property
    def collection(self) -> str:
        """The REST collection of the entity (`dataitems`)."""
        return f"{self.type}s"


def entity_key(project: str, entity_type: str, kind: str, name: str, entity_id: str) -> str:
    """`store://p/dataitem/table/employees:abc`; `entity_type` is singular (`dataitem`)."""
    return f"{PREFIX}{project}/{entity_type}/{kind}/{name}:{entity_id}"


def parse_key(key: str | None) -> EntityKey | None:
    """The parts of `store://PROJECT/TYPE/KIND/NAME:ID`; None for anything else."""
    if not key or not key.startswith(PREFIX):
        return None
    parts = key[len(PREFIX) :].split("/")
    if len(parts) != 4 or not all(parts):
        return None
    project, entity_type, kind, rest = parts
    name, _, entity_id = rest.partition(":")
    if not name:
        return None
    return EntityKey(project, entity_type, kind, name, entity_id)


def executable_ref(kind: str, project: str, name: str, entity_id: str) -> str:
    """`python://p/f1:abc`: how a task points at the function version it runs."""
    return f"{kind}://{project}/{name}:{entity_id}"


def task_ref(kind: str, project: str, task_id: str) -> str:
    """`python+job://p/9f…`: how a run points at its task."""
    return f"{kind}://{project}/{task_id}"


def output_key(value: object) -> str | None:
    """A run output (`status.outputs` holds a key, or an entity dict) as its store key."""
    if isinstance(value, dict):
        found = value.get("key") or value.get("id")
        return None if found is None else str(found)
    return None if value is None else str(value)
