"""One error type for everything a user can get wrong, carrying where it went wrong.

Errors are values with a location (file, line, column) and the dotted path of the field, raised
as one `DhmlrunError` and rendered once at the CLI edge, so no user ever sees a traceback for bad
input and every message can say exactly which line to fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Location:
    """Where a value was written: file path (as the user gave it, relative when possible), 1-based."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        text = self.file
        if self.line is not None:
            text += f":{self.line}"
            if self.column is not None:
                text += f":{self.column}"
        return text


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: message, where, which field, and what would be accepted."""

    message: str
    location: Location | None = None
    path: str = ""
    allowed: str | None = None

    def render(self) -> str:
        """`file:line:col: path: message (allowed: ...)` — the one line format of all errors."""
        parts = []
        if self.location is not None:
            parts.append(f"{self.location}:")
        if self.path:
            parts.append(f"{self.path}:")
        parts.append(self.message)
        text = " ".join(parts)
        if self.allowed:
            text += f" (allowed: {self.allowed})"
        return text

    def as_dict(self) -> dict:
        """Machine-readable form for `--json` outputs."""
        loc = self.location
        return {
            "message": self.message,
            "file": loc.file if loc else None,
            "line": loc.line if loc else None,
            "column": loc.column if loc else None,
            "path": self.path,
            "allowed": self.allowed,
        }


@dataclass
class DhmlrunError(Exception):
    """The project's error: one or more problems, all reported at once."""

    problems: list[Problem] = field(default_factory=list)

    @classmethod
    def single(
        cls,
        message: str,
        location: Location | None = None,
        path: str = "",
        allowed: str | None = None,
    ) -> DhmlrunError:
        return cls([Problem(message, location, path, allowed)])

    def __str__(self) -> str:
        return "\n".join(p.render() for p in self.problems)


class PlatformError(DhmlrunError):
    """The platform (DHCore or the embedded core) refused or failed a request."""
