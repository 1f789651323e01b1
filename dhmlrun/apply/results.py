"""What applying did, as values: one `NodeResult` per action, gathered in an `ApplyResult`;
and `Observer`, what an applier tells whoever is watching while it works."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from dhmlrun.vocabulary.processes import EXIT_INTERRUPTED

DONE = "done"
FAILED = "failed"
SKIPPED = "skipped"
STARTED = "started"


@dataclass
class NodeResult:
    """What happened to one action during apply."""

    address: str
    action: str
    status: str  # done | failed | skipped
    message: str = ""
    elapsed: float = 0.0
    entity_id: str | None = None
    outputs: dict[str, Any] | None = None
    took: float | None = None
    """A run's own duration on its platform (from its record), beside `elapsed`, the step's."""


@dataclass
class ApplyResult:
    """The outcome of one apply (or destroy): every step's result, and whether it was cut short."""

    results: list[NodeResult] = field(default_factory=list)
    interrupted: bool = False
    destroy: bool = False

    @property
    def failed(self) -> list[NodeResult]:
        return [r for r in self.results if r.status == FAILED]

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(r.status == DONE for r in self.results)

    @property
    def exit_code(self) -> int:
        """0 done, 1 anything failed or skipped, 130 interrupted (the CLI contract)."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        return 0 if self.ok else 1


class Observer(Protocol):
    """Who watches an apply: plain progress lines, structured step events, and notices (an
    interrupt) that must be said at once. Texts come with secrets masked; they may hold what a
    run or the platform wrote (terminal control sequences included), which a view takes out
    before showing them (`views/terminal.py`)."""

    def line(self, text: str) -> None: ...

    def event(self, address: str, action: str, status: str, elapsed: float, message: str) -> None: ...

    def notice(self, text: str) -> None: ...

    def output(self, address: str, text: str) -> None:
        """What the step at `address` printed, as it comes (masked; any piece of any line)."""


class Silent:
    """An observer that shows nothing (the Python API's default)."""

    def line(self, text: str) -> None:
        return

    def event(self, address: str, action: str, status: str, elapsed: float, message: str) -> None:
        return

    def notice(self, text: str) -> None:
        return

    def output(self, address: str, text: str) -> None:
        return
