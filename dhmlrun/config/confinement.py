"""Where a declaration may read files: inside its config directory, or where `--allow-outside`
says.

A declaration may come from a pull request that CI validates and plans, and plan ships a local
source file's content as the function's code. So every file a declaration names (its `include:`
globs, function sources given as local paths, dataitems' local `path`s) must lie inside the
config directory (the directory of the root `dhmlrun.yaml`), judged after resolving symlinks
(`src/x.py -> /etc/passwd` is outside) and after `~` expands (`~/.bashrc` is outside), unless
one of the places the operator allowed (`load_declaration(allow_outside=[...])`, the CLI's
`--allow-outside PATH`) holds it. Reaching outside is a problem at the field that names the file,
before anything there is read.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

HINT = "pass --allow-outside PATH to allow it"


@dataclass(frozen=True)
class Confinement:
    """The config directory and the other places files may be read from, all symlink-resolved."""

    root: Path
    allowed: tuple[Path, ...] = ()

    @classmethod
    def of(cls, root: Path, allow_outside: Iterable[str | os.PathLike[str]] = ()) -> Confinement:
        """Relative allowed places are taken from the working directory, as a shell gives them."""
        return cls(root.resolve(), tuple(Path(place).resolve() for place in allow_outside))

    def resolved_outside(self, path: Path) -> Path | None:
        """Where `path` really is when that is outside every permitted place, else None. A path
        that cannot be resolved (a symlink loop, a NUL byte) counts as outside."""
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError, ValueError):
            return path
        if any(resolved == place or resolved.is_relative_to(place) for place in (self.root, *self.allowed)):
            return None
        return resolved

    def refusal(self, what: str, written: str, resolved: Path) -> str:
        """The problem's message: what was written, where it leads, and how to allow it."""
        where = f"; it resolves to {resolved}" if str(resolved) != written else ""
        return f"{what} {written!r} is outside the config directory {self.root}{where}; {HINT}"
