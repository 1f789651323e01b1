"""The value the loading steps pass along: plain data plus a map of where every part was written.

Keeping positions in a side table keyed by the field's path (rather than wrapping every value)
lets the data stay plain dicts/lists/scalars, which is what JSON Schema validation and Jinja
want, while every step can still say `file:line:col` for any field it complains about.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dhmlrun.errors import Location, Problem

from .confinement import Confinement

FieldPath = tuple[str | int, ...]
Position = tuple[str, int, int]
"""(file as displayed, line, column), both 1-based: cheaper to store than a Location per value."""


def display_path(path: Path) -> str:
    """A file name as the user would write it: relative to the working directory when inside it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)
    return str(path) if relative.startswith("..") else relative


def dotted(path: FieldPath) -> str:
    """`("runs", "a", "inputs", 0)` -> `runs.a.inputs[0]`: the path users see in messages."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


@dataclass
class Document:
    """A declaration on its way through the steps.

    `positions` holds the position of each value, `key_positions` the position of each mapping key
    (an unknown key is best reported where the key is written). `origins` maps a resource
    `(type, name)` to the absolute path of the file that declared it, for relative paths.
    `confinement` says where the files it names may be.
    """

    root_file: Path
    data: dict[str, Any]
    confinement: Confinement
    positions: dict[FieldPath, Position] = field(default_factory=dict)
    key_positions: dict[FieldPath, Position] = field(default_factory=dict)
    origins: dict[tuple[str, str], Path] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    flagged: set[FieldPath] = field(default_factory=set)
    reported: set[FieldPath] = field(default_factory=set)

    def locate(self, path: FieldPath, *, key: bool = False) -> Location | None:
        """The position of the field at `path`, or of its nearest written ancestor."""
        table = self.key_positions if key else self.positions
        probe = tuple(path)
        if probe in table:
            return Location(*table[probe])
        while probe:
            probe = probe[:-1]
            if probe in self.positions:
                return Location(*self.positions[probe])
        return Location(display_path(self.root_file))

    def problem(
        self, path: FieldPath, message: str, *, allowed: str | None = None, key: bool = False
    ) -> None:
        """Record one problem about the field at `path` (all problems are raised together later)."""
        self.problems.append(Problem(message, self.locate(path, key=key), dotted(path), allowed))
        self.flagged.add(tuple(path[:2]))
        self.reported.add(tuple(path))

    def later_problem(
        self, path: FieldPath, message: str, *, allowed: str | None = None, key: bool = False
    ) -> None:
        """A problem found after schema validation, dropped when the same field (or the field
        holding it) already has one: a bad value is reported once, by the first step to see it."""
        probe = tuple(path)
        while len(probe) > 2:
            if probe in self.reported:
                return
            probe = probe[:-1]
        self.problem(path, message, allowed=allowed, key=key)

    def is_flagged(self, type_: str, name: str) -> bool:
        """True when a problem was found inside resource `type_.name` (later steps then skip it)."""
        return (type_, name) in self.flagged or (type_,) in self.flagged

    def declared_in(self, type_: str, name: str) -> Path:
        """The absolute path of the file declaring resource `type_.name` (the root file if unknown)."""
        return self.origins.get((type_, name), self.root_file)
