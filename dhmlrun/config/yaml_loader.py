"""Step 1: read one YAML file into plain data, remembering the position of every key and value.

Only safe YAML is accepted: the standard scalar types (str, int, float, bool, null), mappings and
sequences. Timestamps stay strings (JSON has no date type). Aliases are allowed but budgeted by
what they expand to, not by how often they are written: dereferencing aliases may produce at most
`MAX_ALIAS_EXPANSION` values in all (twenty runs sharing one anchor with `<<: *common` are a few
hundred), and a document at most `MAX_NODES`, so an alias bomb ("billion laughs") is refused
after a bounded amount of work and memory, at the alias that crossed the budget. Tabs in YAML
indentation (never inside a block scalar's text, where a Python body may use them), duplicate
keys, a non-mapping root and an empty file are errors with their line and column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from dhmlrun.errors import Location, Problem

from .document import FieldPath, Position, display_path, dotted

MAX_ALIAS_EXPANSION = 100_000
"""Values produced by dereferencing aliases, in all: each alias counts the values of what it names."""
MAX_NODES = 500_000
MAX_DEPTH = 100
MAX_BYTES = 10 * 1024 * 1024

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_SCALAR_TAGS = {
    "tag:yaml.org,2002:int": "construct_yaml_int",
    "tag:yaml.org,2002:float": "construct_yaml_float",
    "tag:yaml.org,2002:bool": "construct_yaml_bool",
    "tag:yaml.org,2002:null": "construct_yaml_null",
}


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """The safe loader without the implicit timestamp type (dates stay the strings written)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}
_CONSTRUCTOR = yaml.constructor.SafeConstructor()


class _Refused(Exception):
    """Stops the walk at once (alias budget, recursion): the rest of the file is not trusted."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


class LoadedYaml:
    """The plain data of one file with the positions of its values and keys, by field path."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = display_path(path)
        self.data: dict[str, Any] = {}
        self.positions: dict[FieldPath, Position] = {}
        self.key_positions: dict[FieldPath, Position] = {}
        self.problems: list[Problem] = []
        self.text = ""
        self._nodes = 0
        self._expanded = 0
        self._seen: set[int] = set()
        self._stack: set[int] = set()

    def at(self, path: FieldPath, *, key: bool = False) -> Location:
        """The Location of the value (or key) at `path`; the file alone when it is not recorded."""
        position = (self.key_positions if key else self.positions).get(path)
        return Location(*position) if position else Location(self.file)

    def location(self, node: yaml.Node) -> Location:
        mark = node.start_mark
        return Location(self.file, mark.line + 1, mark.column + 1)

    def fail(self, message: str, location: Location | None = None, path: str = "") -> None:
        self.problems.append(Problem(message, location or Location(self.file), path))

    # -- the walk ---------------------------------------------------------------------------------
    # Hot code: a thousand-resource declaration has tens of thousands of nodes, so scalars are
    # handled inline and positions are stored as tuples.

    def convert(self, node: yaml.Node, path: FieldPath) -> Any:
        """Turn a composed node into plain data, recording positions and enforcing the budgets."""
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _Refused(
                Problem(f"the document expands to more than {MAX_NODES} values; refused", self.location(node))
            )
        mark = node.start_mark
        self.positions[path] = (self.file, mark.line + 1, mark.column + 1)
        ident = id(node)
        if ident in self._seen:  # reached again: through an alias (anchors come before their aliases)
            self._expanded += 1
            if self._expanded > MAX_ALIAS_EXPANSION:
                raise _Refused(self._alias_bomb(node))
        self._seen.add(ident)
        if type(node) is yaml.ScalarNode:
            return node.value if node.tag == _STR else self._scalar(node, path)
        if len(path) > MAX_DEPTH:
            raise _Refused(
                Problem(f"values are nested more than {MAX_DEPTH} levels deep; refused", self.location(node))
            )
        if ident in self._stack:
            raise _Refused(
                Problem("an alias refers to a value that contains it (recursive alias)", self.location(node))
            )
        self._stack.add(ident)
        try:
            if type(node) is yaml.MappingNode:
                return self._mapping(node, path)
            return self._sequence(node, path)
        finally:
            self._stack.discard(ident)

    def _alias_bomb(self, node: yaml.Node) -> Problem:
        """The refusal, placed at the alias that crossed the budget. The composed nodes no longer
        say where their aliases were written, so the events are read again to find it; this
        costs nothing on the normal path."""
        mark = _alias_over_budget(self.text, MAX_ALIAS_EXPANSION)
        location = Location(self.file, mark.line + 1, mark.column + 1) if mark else self.location(node)
        return Problem(
            f"aliases expand to more than {MAX_ALIAS_EXPANSION} values; refused (possible alias bomb)",
            location,
        )

    def _scalar(self, node: yaml.ScalarNode, path: FieldPath) -> Any:
        method = _SCALAR_TAGS.get(node.tag)
        if method is None:
            self.fail(
                f"unsupported YAML tag {node.tag!r}; only strings, numbers, booleans, null, "
                "mappings and lists are allowed",
                self.location(node),
                dotted(path),
            )
            return None
        try:
            return getattr(_CONSTRUCTOR, method)(node)
        except (ValueError, yaml.YAMLError) as exc:
            self.fail(
                f"invalid {node.tag.rsplit(':', 1)[-1]} value {node.value!r}: {exc}",
                self.location(node),
                dotted(path),
            )
            return None

    def _sequence(self, node: yaml.SequenceNode, path: FieldPath) -> list[Any]:
        if node.tag != _SEQ:
            self.fail(f"unsupported YAML tag {node.tag!r} on a list", self.location(node), dotted(path))
        return [self.convert(item, (*path, index)) for index, item in enumerate(node.value)]

    def _mapping(self, node: yaml.MappingNode, path: FieldPath) -> dict[str, Any]:
        if node.tag != _MAP:
            self.fail(f"unsupported YAML tag {node.tag!r} on a mapping", self.location(node), dotted(path))
        result: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        file = self.file
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merged.update(self._merge_source(value_node, path))
                continue
            if type(key_node) is not yaml.ScalarNode:
                self.fail(
                    "a mapping key must be a plain name, not a list or mapping",
                    self.location(key_node),
                    dotted(path),
                )
                continue
            key = str(key_node.value)
            child = (*path, key)
            if key in result:
                first = self.key_positions[child]
                self.fail(
                    f"duplicate key {key!r} (first written at line {first[1]})",
                    self.location(key_node),
                    dotted(child),
                )
                continue
            mark = key_node.start_mark
            self.key_positions[child] = (file, mark.line + 1, mark.column + 1)
            result[key] = self.convert(value_node, child)
        for key, value in merged.items():
            result.setdefault(key, value)
        return result

    def _merge_source(self, node: yaml.Node, path: FieldPath) -> dict[str, Any]:
        """The mappings named by a `<<:` merge key, earlier ones winning (as YAML specifies)."""
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict[str, Any] = {}
        for source in sources:
            value = self.convert(source, path)
            if not isinstance(value, dict):
                self.fail(
                    "a merge key '<<' must name a mapping or a list of mappings",
                    self.location(source),
                    dotted(path),
                )
                continue
            for key, item in value.items():
                merged.setdefault(key, item)
        return merged


def _alias_over_budget(text: str, budget: int) -> Any:
    """The mark of the first alias at which the values produced by aliases pass `budget`, counted
    as `LoadedYaml.convert` counts them (mapping keys are not values); None if none does."""
    sizes: dict[str, int] = {}
    frames: list[list[Any]] = []  # open collections: [values in it, anchor, is mapping, next is key]
    expanded = 0
    loader = _Loader(text)
    try:
        while not loader.check_event(yaml.StreamEndEvent):
            event = loader.get_event()
            is_key = bool(frames) and frames[-1][2] and frames[-1][3]
            if frames and isinstance(event, yaml.NodeEvent):
                frames[-1][3] = frames[-1][2] and not frames[-1][3]
            if isinstance(event, yaml.CollectionStartEvent):
                frames.append([1, event.anchor, isinstance(event, yaml.MappingStartEvent), True, is_key])
                continue
            if isinstance(event, yaml.CollectionEndEvent):
                size, anchor, _, _, is_key = frames.pop()
            elif isinstance(event, yaml.AliasEvent):
                size, anchor = sizes.get(event.anchor, 1), None
                if not is_key:
                    expanded += size
                    if expanded > budget:
                        return event.start_mark
            elif isinstance(event, yaml.ScalarEvent):
                size, anchor = 1, event.anchor
            else:
                continue
            if anchor:
                sizes[anchor] = size
            if frames and not is_key:
                frames[-1][0] += size
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()
    return None


def _tab_problem(exc: yaml.YAMLError, text: str, file: str) -> Problem | None:
    """When the parser stopped on a line indented with a tab, say so plainly (its own words are
    "found character that cannot start any token"). Only a failed parse is looked at: a tab the
    parser accepted is inside a block scalar's text (a tab-indented Python body under
    `code: |`) or a quoted string, where it is content, not indentation."""
    mark = getattr(exc, "problem_mark", None)
    if mark is None:
        return None
    lines = text.splitlines()
    if mark.line >= len(lines):
        return None
    line = lines[mark.line]
    indent = line[: len(line) - len(line.lstrip(" \t"))]
    if "\t" not in indent:
        return None
    return Problem(
        "tab character in indentation; YAML indentation must use spaces",
        Location(file, mark.line + 1, indent.index("\t") + 1),
    )


def _syntax_problem(exc: yaml.YAMLError, file: str) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    location = Location(file, mark.line + 1, mark.column + 1) if mark is not None else Location(file)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
    return Problem(message, location)


DECLARATION_KEYS = "keys (version, project, ...)"
"""What the top level of a declaration file maps (`load_yaml`'s `holds`)."""
VARIABLE_VALUES = "variable names to values (e.g. `min_years: 3`)"
"""What the top level of a `--var-file` maps."""


def load_yaml(path: Path, holds: str = DECLARATION_KEYS) -> LoadedYaml:
    """Load one file; the result's `problems` say everything wrong with it (data is {} on failure).

    `holds` says what the top-level mapping maps, for the message when it is not one (a
    declaration's keys, or a var file's variable values). An empty var file sets nothing."""
    loaded = LoadedYaml(path)
    file = loaded.file
    try:
        raw = path.read_bytes()
    except OSError as exc:
        loaded.fail(f"cannot read the file: {exc.strerror or exc}")
        return loaded
    if len(raw) > MAX_BYTES:
        loaded.fail(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MiB; refused")
        return loaded
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        loaded.fail(f"the file is not UTF-8 text (byte {exc.start})")
        return loaded
    loaded.text = text
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        loaded.problems.append(_tab_problem(exc, text, file) or _syntax_problem(exc, file))
        return loaded
    except (ValueError, RecursionError, MemoryError) as exc:
        loaded.fail(f"YAML syntax error: {exc}")
        return loaded
    if node is None:
        if holds == DECLARATION_KEYS:
            loaded.fail("the file is empty; a declaration needs at least `version` and `project`")
        return loaded
    if not isinstance(node, yaml.MappingNode):
        kind = "a list" if isinstance(node, yaml.SequenceNode) else "a single value"
        loaded.fail(f"the top level must be a mapping of {holds}, not {kind}", loaded.location(node))
        return loaded
    try:
        data = loaded.convert(node, ())
    except _Refused as refused:
        loaded.problems.append(refused.problem)
        return loaded
    except RecursionError:
        loaded.fail("values are nested too deeply; refused")
        return loaded
    loaded.data = data
    return loaded
