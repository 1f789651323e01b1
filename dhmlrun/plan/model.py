"""The Plan: a list of actions with before/after and a reason, plus what the planner saw.

A Plan is data. It is built by `plan.builder`, shown by `dhmlrun.render`, saved by `plan.saved`
and executed by `dhmlrun.apply`; none of those re-decide anything. Every action carries the
exact request body apply will send (`body`), so a saved plan applies exactly what was shown.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

CREATE = "create"
UPDATE = "update"
DELETE = "delete"
RUN = "run"
NOOP = "no-op"
ADOPT = "adopt"
"""Take over an entity made outside dhmlrun that has a declared name: label it as managed, in
place when its spec already matches (`body["id"] == seen`), else with a new version."""

SYMBOLS = {CREATE: "+", UPDATE: "~", DELETE: "-", RUN: ">", ADOPT: "@", NOOP: " "}
FORMAT_VERSION = "1"
ABSENT = "absent"


@dataclass(frozen=True)
class AttributeChange:
    """One field that differs: dotted path, the platform's value, the declared value."""

    path: str
    before: Any = None
    after: Any = None


@dataclass
class Action:
    """One thing apply will do (or, for no-op, knowingly not do) to one address.

    `body` is what apply sends: for create/update the entity to POST (its id chosen now, so a
    retried apply adopts instead of duplicating); for runs the run request; for delete the name.
    `seen` is the platform's state of that address when planned (an id, or "absent"), used to
    refuse a stale saved plan. `depends_on` lists addresses of other actions of this plan.
    """

    address: str
    action: str
    reason: str = ""
    diff: list[AttributeChange] = field(default_factory=list)
    depends_on: list[str] = field(default_factory=list)
    body: dict[str, Any] = field(default_factory=dict)
    seen: str = ABSENT
    drift: bool = False

    @property
    def type(self) -> str:
        return self.address.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.address.split(".", 1)[1] if "." in self.address else self.address

    @property
    def changes(self) -> bool:
        return self.action != NOOP

    @property
    def in_place(self) -> bool:
        """An adopt that only relabels the existing version (no new version is created)."""
        return self.action == ADOPT and self.body.get("id") == self.seen

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Action:
        data = dict(data)
        data["diff"] = [AttributeChange(**d) for d in data.get("diff") or ()]
        return cls(**data)


@dataclass
class Plan:
    """Everything apply needs, and everything a reviewer should see."""

    project: str
    root: str
    actions: list[Action] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seen_runs: dict[str, str] = field(default_factory=dict)
    endpoint: str | None = None
    destroy: bool = False

    def by_address(self) -> dict[str, Action]:
        return {a.address: a for a in self.actions}

    def changes(self) -> list[Action]:
        return [a for a in self.actions if a.changes]

    @property
    def has_changes(self) -> bool:
        return any(a.changes for a in self.actions)

    def counts(self) -> dict[str, int]:
        """Actions per kind; `adopt` only when there is one (as Terraform shows `to import`)."""
        counts = {CREATE: 0, UPDATE: 0, DELETE: 0, RUN: 0, ADOPT: 0}
        for action in self.actions:
            if action.action in counts:
                counts[action.action] += 1
        if not counts[ADOPT]:
            del counts[ADOPT]
        return counts

    def as_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "project": self.project,
            "root": self.root,
            "endpoint": self.endpoint,
            "destroy": self.destroy,
            "warnings": list(self.warnings),
            "seen_runs": dict(self.seen_runs),
            "actions": [a.as_dict() for a in self.actions],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        return cls(
            project=data["project"],
            root=data["root"],
            actions=[Action.from_dict(a) for a in data.get("actions") or ()],
            warnings=list(data.get("warnings") or ()),
            seen_runs=dict(data.get("seen_runs") or {}),
            endpoint=data.get("endpoint"),
            destroy=bool(data.get("destroy")),
        )
