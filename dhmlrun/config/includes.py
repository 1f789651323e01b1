"""Step 2: read the root file and the files its `include:` globs name, and merge them into one.

Globs are relative to the root file's directory (`resources/*.yaml`, `**/*.yml`), with the
`glob` module's meaning (one that matches no file is an error, as in Databricks bundles: it is
more often a mistyped folder than an empty one), except that `**` never descends into a
symlinked directory (a symlink to `/` or to its own parent would make it walk the whole disk, or
for ever). A glob, and every file it matches, must stay inside the config directory (see
`confinement`): a pattern holding `..` is refused (`*/../*/../*` took exponential time, and
named files beside the repository), a directory is listed only once it is known to be inside,
and a refusal names the path as written in the config directory, never where a symlink leads.
Expanding one pattern stops after `MAX_EXPANSION` directory entries (`**/**/**/...` over a large
tree). An included file may
declare `variables`, `dataitems`, `functions` and `runs`; the project, environments and version
belong to the root file only, so there is one place to read them. A name declared twice is an
error naming both places. Each resource remembers the file that declared it, so relative paths
in it resolve against that file's directory.
"""

from __future__ import annotations

import fnmatch
import glob
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dhmlrun.errors import DhmlrunError, Location, Problem

from .confinement import HINT, Confinement
from .document import Document, display_path, dotted
from .model import ENTITY_TYPES
from .yaml_loader import LoadedYaml, load_yaml

ROOT_FILE_NAMES = ("dhmlrun.yaml", "dhmlrun.yml")
MERGED_SECTIONS = ("variables", *ENTITY_TYPES)


def find_root_file(path: Path) -> Path:
    """PATH may be the config directory or the root file itself."""
    if path.is_dir():
        for name in ROOT_FILE_NAMES:
            candidate = path / name
            if candidate.is_file():
                return candidate.resolve()
        shown = display_path(path.resolve())
        raise DhmlrunError.single(
            f"no dhmlrun.yaml in {shown}: name the config directory (`dhmlrun plan DIR`; `--path DIR` "
            f"for show, logs and outputs), or start one here with `dhmlrun init {shlex.quote(shown)}`"
        )
    if path.is_file():
        return path.resolve()
    raise DhmlrunError.single(f"no such file or directory: {path}", Location(str(path)))


def load_files(root_file: Path, confinement: Confinement | None = None) -> Document:
    """The merged document of the root file and its includes, with every problem found; files are
    read only inside `confinement` (by default, the root file's directory)."""
    root = load_yaml(root_file)
    confinement = confinement or Confinement.of(root_file.parent)
    doc = Document(root_file=root_file, data=root.data, files=[root_file], confinement=confinement)
    doc.problems.extend(root.problems)
    doc.positions.update(root.positions)
    doc.key_positions.update(root.key_positions)
    _record_origins(doc, root)
    for included in _included_paths(doc, root_file):
        _merge(doc, load_yaml(included))
    return doc


def _included_paths(doc: Document, root_file: Path) -> list[Path]:
    patterns = doc.data.get("include")
    if patterns is None:
        return []
    if not isinstance(patterns, list):
        return []  # the schema reports the wrong type
    base = root_file.parent
    found: list[Path] = []
    for index, pattern in enumerate(patterns):
        if not isinstance(pattern, str) or not pattern:
            continue
        for match in _matches(doc, base, pattern, index):
            if match != root_file and match not in found:
                found.append(match)
    return found


MAX_EXPANSION = 100_000
"""Directory entries one include pattern may look at (a deep tree matched by `**/**/**/...`)."""


class _Refused(Exception):
    """Expanding a pattern stopped; the message is the problem to report at the pattern."""


def _matches(doc: Document, base: Path, pattern: str, index: int) -> list[Path]:
    """The files `pattern` names, all inside the confinement; else a problem and nothing."""
    parts = Path(pattern).parts
    literal = 0
    while literal < len(parts) and not glob.has_magic(parts[literal]):
        literal += 1
    start = base.joinpath(*parts[:literal])
    try:
        if ".." in parts:
            raise _Refused(
                f"include {pattern!r}: '..' is not allowed in include patterns (they name files "
                "below the config directory)"
            )
        if doc.confinement.resolved_outside(start) is not None:
            if not start.is_relative_to(base):  # written as an absolute path
                raise _Refused(f"include {pattern!r} is outside the config directory {base}; {HINT}")
            raise _Refused(_leads_outside(doc, pattern, start))
        expansion = _Expansion(doc, pattern)
        matches = sorted({m for m in expansion.expand(start, _collapsed(parts[literal:])) if m.is_file()})
        outside_match = next((m for m in matches if doc.confinement.resolved_outside(m) is not None), None)
        if outside_match is not None:
            raise _Refused(_leads_outside(doc, pattern, outside_match))
    except _Refused as refused:
        doc.problem(("include", index), str(refused))
        return []
    if not matches:  # a glob matching nothing is a mistyped folder more often than an empty one
        what = "matches no file" if glob.has_magic(pattern) else "does not exist"
        doc.problem(("include", index), f"included file {pattern!r} {what}")
    return [m.resolve() for m in matches]


def _leads_outside(doc: Document, pattern: str, found: Path) -> str:
    """A refusal naming `found` as it is written inside the config directory (a symlink there),
    never the place outside it leads to."""
    shown = str(found.relative_to(doc.root_file.parent))
    where = "" if shown == pattern else f" at {shown!r}"
    return (
        f"include {pattern!r}{where} leads outside the config directory {doc.root_file.parent} "
        f"through a symlink; {HINT}"
    )


def _collapsed(segments: tuple[str, ...]) -> tuple[str, ...]:
    """`**/**` matches what `**` does: one is kept."""
    kept: list[str] = []
    for segment in segments:
        if not (segment == "**" and kept and kept[-1] == "**"):
            kept.append(segment)
    return tuple(kept)


class _Expansion:
    """What `glob` would match, walked within the confinement and a budget of entries."""

    def __init__(self, doc: Document, pattern: str) -> None:
        self.doc, self.pattern, self.seen = doc, pattern, 0

    def expand(self, directory: Path, segments: tuple[str, ...]) -> Iterator[Path]:
        """Never following a symlinked directory for `**`, never listing one that leads outside."""
        if not segments:
            if directory.exists():
                yield directory
            return
        head, rest = segments[0], segments[1:]
        if head == "**":
            yield from self.expand(directory, rest)
            for child in self._children(directory, "*"):
                if child.is_dir() and not child.is_symlink():
                    yield from self.expand(child, segments)
        elif not glob.has_magic(head):
            yield from self.expand(directory / head, rest)
        else:
            for child in self._children(directory, head):
                yield from self.expand(child, rest)

    def _children(self, directory: Path, pattern: str) -> list[Path]:
        """Entries of `directory` matching one glob segment; hidden ones only when it asks for a dot."""
        if not directory.is_dir():
            return []
        if self.doc.confinement.resolved_outside(directory) is not None:
            raise _Refused(_leads_outside(self.doc, self.pattern, directory))
        try:
            names = sorted(entry.name for entry in directory.iterdir())
        except OSError:
            return []
        self.seen += len(names)
        if self.seen > MAX_EXPANSION:
            raise _Refused(
                f"include {self.pattern!r} looks at more than {MAX_EXPANSION:,} directory "
                "entries; name the files more precisely"
            )
        hidden_too = pattern.startswith(".")
        return [
            directory / name
            for name in names
            if fnmatch.fnmatchcase(name, pattern) and (hidden_too or not name.startswith("."))
        ]


def _record_origins(doc: Document, loaded: LoadedYaml) -> None:
    for section in ENTITY_TYPES:
        entries = loaded.data.get(section)
        if isinstance(entries, dict):
            for name in entries:
                doc.origins[(section, name)] = loaded.path


def _merge(doc: Document, loaded: LoadedYaml) -> None:
    """Add an included file's sections to the document, refusing names declared twice."""
    doc.files.append(loaded.path)
    doc.problems.extend(loaded.problems)
    for key in loaded.data:
        if key not in MERGED_SECTIONS:
            doc.problems.append(
                _problem_at(
                    loaded,
                    (key,),
                    f"{key!r} may only be written in the root file",
                    allowed=", ".join(MERGED_SECTIONS),
                )
            )
    accepted: set[tuple[str, str]] = set()
    for section in MERGED_SECTIONS:
        entries = loaded.data.get(section)
        target = doc.data.setdefault(section, {}) if isinstance(entries, dict) else None
        if not isinstance(entries, dict) or not isinstance(target, dict):
            continue
        doc.positions.setdefault((section,), loaded.positions[(section,)])
        for name, value in entries.items():
            if name in target:
                first = doc.locate((section, name), key=True)
                doc.problems.append(
                    _problem_at(
                        loaded, (section, name), f"{section}.{name} is declared twice (also at {first})"
                    )
                )
                continue
            target[name] = value
            accepted.add((section, name))
            if section in ENTITY_TYPES:
                doc.origins[(section, name)] = loaded.path
    for table, into in ((loaded.positions, doc.positions), (loaded.key_positions, doc.key_positions)):
        for path, location in table.items():
            if path[:2] in accepted:
                into[path] = location


def _problem_at(
    loaded: LoadedYaml, path: tuple[Any, ...], message: str, allowed: str | None = None
) -> Problem:
    """A problem about a key of an included file, located where that key is written."""
    return Problem(message, loaded.at(path, key=True), dotted(path), allowed)
