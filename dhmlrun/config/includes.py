"""Step 2: read the root file and the files its `include:` globs name, and merge them into one.

Globs are relative to the root file's directory (`resources/*.yaml`, `**/*.yml`). An included
file may declare `variables`, `dataitems`, `functions` and `runs`; the project, environments and
version belong to the root file only, so there is one place to read them. A name declared twice
is an error naming both places. Each resource remembers the file that declared it, so relative
paths in it resolve against that file's directory.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

from dhmlrun.errors import DhmlrunError, Location, Problem

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
        raise DhmlrunError.single(f"no dhmlrun.yaml in {display_path(path.resolve())}",
                                  Location(display_path(path.resolve())))
    if path.is_file():
        return path.resolve()
    raise DhmlrunError.single(f"no such file or directory: {path}", Location(str(path)))


def load_files(root_file: Path) -> Document:
    """The merged document of the root file and its includes, with every problem found."""
    root = load_yaml(root_file)
    doc = Document(root_file=root_file, data=root.data, files=[root_file])
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
        matches = sorted(Path(p).resolve() for p in glob.glob(str(base / pattern), recursive=True))
        matches = [m for m in matches if m.is_file()]
        if not matches and not glob.has_magic(pattern):
            doc.problem(("include", index), f"included file {pattern!r} does not exist")
        for match in matches:
            if match != root_file and match not in found:
                found.append(match)
    return found


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
            doc.problems.append(_problem_at(loaded, (key,), f"{key!r} may only be written in the root file",
                                            allowed=", ".join(MERGED_SECTIONS)))
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
                doc.problems.append(_problem_at(loaded, (section, name),
                                                f"{section}.{name} is declared twice (also at {first})"))
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
