"""The project's dependency graph as data, built from a Declaration (and a Plan, or the
platform's state), and its Mermaid and DOT texts. Display only: nothing here decides.

Nodes are the declared dataitems, functions and runs, each run output (the entity a run writes,
named by its `outputs`) and each `store://` key a run reads from outside the declaration. Edges
are lineage: a function executes in a run (dashed), a dataitem or an output feeds a run (labelled
with the input key), a run writes an output (labelled with the output key). So
`runs.download.outputs.dataset` sits between the run that writes it and every run that reads it.

Overlays colour the same nodes: a plan's action per address, labelled with its reason, with
everything downstream of a change marked `affected` (`plan_graph`); or what the platform holds,
each run's last state and how long it took (`state_graph`).

Labels are cleaned once, here: sensitive values masked, control, bidirectional and zero-width
characters removed, long text wrapped. Each renderer then escapes them for its syntax, so no
label can end a string, a shape, a line or inject a directive (`to_mermaid`, `to_dot`).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from dhmlrun.config.model import ENTITY_TYPES, Reference
from dhmlrun.plan.model import ADOPT, CREATE, DELETE, NOOP, PROJECT_ADDRESS, RUN, SYMBOLS, UPDATE, Action
from dhmlrun.views.terminal import reviewable_text
from dhmlrun.vocabulary import keys, states, times
from dhmlrun.vocabulary.mask import mask_text

if TYPE_CHECKING:
    from dhmlrun.config.model import Declaration, Resource
    from dhmlrun.plan.model import Plan
    from dhmlrun.platform.state import PlatformState, RemoteRun

DATAITEMS = "dataitems"
ARTIFACTS = "artifacts"
MODELS = "models"
SECRETS = "secrets"
FUNCTIONS = "functions"
RUNS = "runs"
OUTPUTS = "outputs"
EXTERNAL = "external"
"""Node types: the declaration's six, a run's output, and a store key read from outside."""

EXECUTES = "executes"
INPUT = "input"
OUTPUT = "output"
"""Edge kinds: function -> run, dataitem/output/key -> run, run -> output."""

AFFECTED = "affected"
COMPLETED = "completed"
FAILED = "failed"
RUNNING = "running"
NEVER_RUN = "never-run"
PRESENT = "present"
ABSENT = "absent"
UNDECLARED = "undeclared"
"""Node statuses besides the plan's actions (create, update, delete, run, adopt, no-op)."""

CHANGES = (CREATE, UPDATE, DELETE, RUN, ADOPT)
LABEL_WIDTH = 44
"""Characters per label line: long reasons and keys wrap instead of stretching a node."""
LABEL_LINES = 5
"""Lines of one label at most (the rest is cut, with an ellipsis)."""


@dataclass(frozen=True)
class Style:
    """How one status is drawn, in every format, and what it means (for legends)."""

    fill: str
    stroke: str
    colour: str
    meaning: str
    dashed: bool = False


STYLES: dict[str, Style] = {
    CREATE: Style("#dafbe1", "#1a7f37", "green", "create"),
    UPDATE: Style("#fff8c5", "#9a6700", "yellow", "update (a new version)"),
    DELETE: Style("#ffebe9", "#cf222e", "red", "delete"),
    RUN: Style("#ddf4ff", "#0969da", "blue", "run"),
    ADOPT: Style("#fbefff", "#8250df", "purple", "adopt"),
    NOOP: Style("#f6f8fa", "#8c959f", "grey", "no change"),
    AFFECTED: Style("#fff1e5", "#bc4c00", "dashed orange", "downstream of a change", dashed=True),
    COMPLETED: Style("#dafbe1", "#1a7f37", "green", "completed"),
    FAILED: Style("#ffebe9", "#cf222e", "red", "failed"),
    RUNNING: Style("#ddf4ff", "#0969da", "blue", "running"),
    NEVER_RUN: Style("#f6f8fa", "#8c959f", "dashed grey", "never run", dashed=True),
    PRESENT: Style("#ffffff", "#57606a", "white", "on the platform"),
    ABSENT: Style("#f6f8fa", "#8c959f", "dashed grey", "not on the platform", dashed=True),
    UNDECLARED: Style("#ffebe9", "#cf222e", "dashed red", "not declared", dashed=True),
}
TEXT_COLOUR = "#1f2328"
"""Dark text on every fill: readable on GitHub's light and dark themes alike."""


@dataclass(frozen=True)
class Shape:
    """A node type's shape: Mermaid's brackets around the label, and Graphviz's shape."""

    mermaid_open: str
    mermaid_close: str
    dot: str
    rounded: bool = False


SHAPES: dict[str, Shape] = {
    DATAITEMS: Shape("[(", ")]", "cylinder"),
    ARTIFACTS: Shape("[(", ")]", "cylinder"),
    MODELS: Shape("[(", ")]", "cylinder"),
    SECRETS: Shape("{{", "}}", "hexagon"),
    FUNCTIONS: Shape("[[", "]]", "component"),
    RUNS: Shape("([", "])", "box", rounded=True),
    OUTPUTS: Shape("[/", "/]", "note"),
    EXTERNAL: Shape(">", "]", "cds"),
}
DEFAULT_SHAPE = Shape("[", "]", "box")


@dataclass(frozen=True)
class Node:
    """One box: `id` is safe in every syntax (`[A-Za-z0-9_]`, never a keyword), `lines` its
    label (cleaned, first line the title), `status` an action or state (None: undecorated)."""

    id: str
    address: str
    type: str
    lines: tuple[str, ...]
    status: str | None = None


@dataclass(frozen=True)
class Edge:
    """`source` -> `target`, by node address."""

    source: str
    target: str
    kind: str
    label: str = ""


@dataclass
class Graph:
    """Nodes (by address, in drawing order) and the edges between them."""

    title: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._ids = {n.id for n in self.nodes.values()}
        self._edges = set(self.edges)

    def add(self, address: str, type_: str, lines: Iterable[str], status: str | None = None) -> Node:
        node = Node(self._new_id(address, type_), address, type_, tuple(lines), status)
        self.nodes[address] = node
        self._ids.add(node.id)
        return node

    def connect(self, source: str, target: str, kind: str, label: str = "") -> None:
        """An edge between two nodes of the graph (a reference to nothing draws nothing: the
        config loader has already reported it), once."""
        edge = Edge(source, target, kind, label)
        if source in self.nodes and target in self.nodes and edge not in self._edges:
            self.edges.append(edge)
            self._edges.add(edge)

    def annotate(self, address: str, lines: Iterable[str], status: str | None) -> None:
        """Add label lines (after the node's own) and set its status."""
        node = self.nodes[address]
        self.nodes[address] = replace(node, lines=(*node.lines, *lines), status=status)

    def downstream(self, addresses: Iterable[str]) -> set[str]:
        """Every node reachable from `addresses` along the edges (those not included, unless a
        cycle leads back to them)."""
        return _reachable(addresses, _adjacency(self.edges, forward=True))

    def upstream(self, addresses: Iterable[str]) -> set[str]:
        """Every node from which `addresses` can be reached."""
        return _reachable(addresses, _adjacency(self.edges, forward=False))

    def restricted(self, addresses: Iterable[str]) -> Graph:
        """The subgraph of these nodes (ids kept) and the edges between them."""
        keep = set(addresses)
        return Graph(
            self.title,
            {a: n for a, n in self.nodes.items() if a in keep},
            [e for e in self.edges if e.source in keep and e.target in keep],
        )

    def _new_id(self, address: str, type_: str) -> str:
        if address in self.nodes:
            return self.nodes[address].id
        if type_ == OUTPUTS:
            run, _, key = address.partition(".outputs.")
            base = f"run_{_id_part(run.split('.', 1)[-1])}__{_id_part(key)}"
        elif type_ == EXTERNAL:
            base = f"store_{len(self.nodes) + 1}"
        else:
            prefixes = {DATAITEMS: "dataitem", ARTIFACTS: "artifact", MODELS: "model", SECRETS: "secret"}
            prefix = {**prefixes, FUNCTIONS: "function", RUNS: "run"}.get(type_, "entity")
            base = f"{prefix}_{_id_part(address.split('.', 1)[-1])}"
        candidate, n = base, 1
        while candidate in self._ids:
            n += 1
            candidate = f"{base}_{n}"
        return candidate


def _id_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text) or "_"


def _adjacency(edges: list[Edge], forward: bool) -> dict[str, list[str]]:
    adjacent: dict[str, list[str]] = {}
    for edge in edges:
        start, end = (edge.source, edge.target) if forward else (edge.target, edge.source)
        adjacent.setdefault(start, []).append(end)
    return adjacent


def _reachable(starts: Iterable[str], adjacent: dict[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    stack = [n for s in starts for n in adjacent.get(s, ())]
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(adjacent.get(node, ()))
    return seen


def output_address(run: str, key: str) -> str:
    """The node of a run's output: `runs.download.outputs.dataset`."""
    return str(Reference(run, key))


# ---------------------------------------------------------------- label text


class _Text:
    """Label text as shown: masked, without control or invisible characters, wrapped."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted({str(s) for s in secrets if str(s)})

    def clean(self, text: object) -> str:
        return reviewable_text(mask_text(str(text), self.secrets))

    def lines(self, text: object) -> list[str]:
        wrapped = [
            line
            for paragraph in self.clean(text).splitlines() or [""]
            for line in textwrap.wrap(paragraph, LABEL_WIDTH, break_on_hyphens=False) or [""]
        ]
        if len(wrapped) > LABEL_LINES:
            wrapped = [*wrapped[: LABEL_LINES - 1], wrapped[LABEL_LINES - 1][: LABEL_WIDTH - 1] + "…"]
        return wrapped


# ---------------------------------------------------------------- builders


def declaration_graph(declaration: Declaration, secrets: Iterable[str] = ()) -> Graph:
    """The declared pipeline, undecorated: entities, runs, outputs, external inputs, lineage."""
    text = _Text({*declaration.sensitive_values(), *secrets})
    graph = Graph(text.clean(f"project {declaration.project_name}"))
    rank = {type_: i for i, type_ in enumerate(ENTITY_TYPES)}
    order = sorted(declaration, key=lambda r: rank.get(r.type, len(rank)))  # then as declared
    for resource in order:
        for ref in _inputs(resource).values():
            if Reference.parse(ref) is None and ref not in graph.nodes:
                graph.add(ref, EXTERNAL, text.lines(ref))
    for resource in order:
        address = resource.address
        graph.add(address, resource.type, [address, *text.lines(_describe(resource))])
        for key, name in _outputs(resource).items():
            graph.add(output_address(address, key), OUTPUTS, text.lines(name))
    for run in declaration.of_type(RUNS):
        function = str(run.spec.get("function") or "")
        if function in graph.nodes:
            graph.connect(function, run.address, EXECUTES)
        for key, ref in _inputs(run).items():
            graph.connect(_input_node(ref), run.address, INPUT, text.clean(key))
        for name in run.spec.get("secrets") or ():
            if f"{SECRETS}.{name}" in graph.nodes:
                graph.connect(f"{SECRETS}.{name}", run.address, INPUT, "secret")
        for key in _outputs(run):
            graph.connect(run.address, output_address(run.address, key), OUTPUT, text.clean(key))
    return graph


def _inputs(resource: Resource) -> dict[str, str]:
    inputs = resource.spec.get("inputs") if resource.type == RUNS else None
    return {str(k): str(v) for k, v in inputs.items()} if isinstance(inputs, dict) else {}


def _outputs(resource: Resource) -> dict[str, str]:
    outputs = resource.spec.get("outputs") if resource.type == RUNS else None
    return {str(k): str(v) for k, v in outputs.items()} if isinstance(outputs, dict) else {}


def _input_node(ref: str) -> str:
    reference = Reference.parse(ref)
    if reference is None:
        return ref
    if reference.output is None:
        return reference.address
    return output_address(reference.address, reference.output)


def _describe(resource: Resource) -> str:
    """The second line of a declared node: what kind of thing it is."""
    spec = resource.spec
    if resource.type == FUNCTIONS:
        handler = spec.get("handler") or (spec.get("source") or {}).get("handler")
        return " · ".join(str(p) for p in (spec.get("kind"), handler) if p)
    if resource.type == RUNS:
        parts = [str(spec.get("action") or "job")]
        if spec.get("trigger") not in (None, "on_change"):
            parts.append(f"trigger: {spec['trigger']}")
        if spec.get("execution") not in (None, "local"):
            parts.append(f"execution: {spec['execution']}")
        return " · ".join(parts)
    return str(spec.get("kind") or "")


def plan_graph(declaration: Declaration, plan: Plan, secrets: Iterable[str] = ()) -> Graph:
    """The declared pipeline coloured by `plan`: each node with its action and reason, an entity
    the plan deletes added, and every node downstream of a change that does not change itself
    marked `affected`."""
    text = _Text({*declaration.sensitive_values(), *secrets})
    graph = declaration_graph(declaration, secrets)
    for action in plan.actions:
        if action.address == PROJECT_ADDRESS:
            if action.changes:
                graph.title = text.clean(f"{graph.title} ({action.action}: {action.reason})")
            continue
        if action.address not in graph.nodes:
            graph.add(action.address, action.type, text.lines(action.address))
        graph.annotate(action.address, text.lines(_action_line(action)), action.action)
    changed = [a.address for a in plan.actions if a.changes and a.address in graph.nodes]
    for address in graph.downstream(changed):
        if graph.nodes[address].status in (None, NOOP):
            graph.annotate(address, ["downstream of a change"], AFFECTED)
    return graph


def _action_line(action: Action) -> str:
    drift = " [drift]" if action.drift else ""
    if not action.changes:
        return f"{action.reason}{drift}"
    return f"{SYMBOLS[action.action]} {action.action}: {action.reason}{drift}"


def changes_graph(graph: Graph) -> Graph:
    """What changes: the changed and affected nodes, plus the direct inputs of each (as context)."""
    changing = {a for a, n in graph.nodes.items() if n.status in CHANGES or n.status == AFFECTED}
    context = {e.source for e in graph.edges if e.target in changing}
    return graph.restricted(changing | context)


def state_graph(declaration: Declaration, state: PlatformState, secrets: Iterable[str] = ()) -> Graph:
    """The declared pipeline as the platform holds it: entity versions, each run's last state and
    duration, which outputs exist; managed entities and runs no longer declared are added."""
    text = _Text({*declaration.sensitive_values(), *secrets})
    graph = declaration_graph(declaration, secrets)
    for address in list(graph.nodes):
        node = graph.nodes[address]
        if node.type in (DATAITEMS, ARTIFACTS, MODELS, SECRETS, FUNCTIONS):
            entity = state.entities.get(address)
            if entity is None:
                graph.annotate(address, ["not on the platform"], ABSENT)
            else:
                graph.annotate(address, text.lines(f"version {entity.version or entity.id}"), PRESENT)
        elif node.type == RUNS:
            run = state.runs.get(address)
            graph.annotate(address, text.lines(run_summary(run)), run_status(run))
        elif node.type == OUTPUTS:
            run_address, _, key = address.partition(".outputs.")
            run = state.runs.get(run_address)
            produced = keys.output_key(run.outputs.get(key)) if run is not None else None
            graph.annotate(address, [], PRESENT if produced else ABSENT)
    for address, entity in sorted(state.managed().items()):
        if address not in graph.nodes:
            graph.add(address, entity.type, [*text.lines(address), "not declared"], UNDECLARED)
    for address, run in sorted(state.runs.items()):
        if address not in graph.nodes:
            lines = [*text.lines(address), *text.lines(run_summary(run)), "not declared"]
            graph.add(address, RUNS, lines, UNDECLARED)
    return graph


def run_status(run: RemoteRun | None) -> str:
    """The colour of a run's node: its last run's outcome."""
    if run is None:
        return NEVER_RUN
    if run.state == states.COMPLETED:
        return COMPLETED
    if run.state in states.FAILED or run.executor_lost:
        return FAILED
    if run.state in states.REMOVED:
        return ABSENT
    return RUNNING


def run_summary(run: RemoteRun | None) -> str:
    """`COMPLETED in 3.9s`, `RUNNING since 2026-11-27 08:01:33`, `ERROR in 1.2s: boom`."""
    if run is None:
        return "never run"
    took = times.run_duration(run.created, run.updated) if run.finished else None
    if took is not None:
        summary = f"{run.state} in {times.duration_text(took)}"
    elif not run.finished and run.created:
        summary = f"{run.state} since {times.short(run.created)}"
    else:
        summary = run.state
    if run.executor_lost:
        summary += " (executor lost)"
    message = (run.message or "").strip()
    if run.failed and message:
        summary += f": {message.splitlines()[0]}"
    return summary


def legend(graph: Graph) -> list[tuple[str, Style]]:
    """The statuses drawn in `graph`, in the order of `STYLES`."""
    used = {n.status for n in graph.nodes.values()}
    return [(status, style) for status, style in STYLES.items() if status in used]


# ---------------------------------------------------------------- Mermaid

_MERMAID_ESCAPES = {
    "#": "#35;",
    '"': "#quot;",
    "&": "#amp;",
    "<": "#lt;",
    ">": "#gt;",
    "%": "#37;",
    "`": "#96;",
    "|": "#124;",
    "\\": "#92;",
    ":": "#58;",
    "\t": " ",
}
"""Mermaid entity codes (decimal `#NN;` or named `#name;`) for every character that could end a
quoted label, start markup or an entity, or form a `%%{init}%%` directive. `:` too: before
parsing, Mermaid drops the last `;` of any line matching `style.*:\\S*#.*;` (meant for `style`
statements), which would cut an entity code of a label holding "style" and a colon."""


def mermaid_text(text: str) -> str:
    """`text` as the inside of a quoted Mermaid label: one line, nothing the parser could read."""
    return "".join(_MERMAID_ESCAPES.get(ch, ch) for ch in text if ch >= " " or ch == "\t")


def mermaid_class(status: str) -> str:
    """A status as a Mermaid class name (`no-op` -> `noop`)."""
    return re.sub(r"[^A-Za-z0-9_]", "", status)


def to_mermaid(graph: Graph) -> str:
    """A Mermaid flowchart (GitHub renders it in Markdown): one statement per line, every label
    quoted and escaped, one `classDef` per status drawn and one `class` line assigning it."""
    lines = ["flowchart LR"]
    for node in graph.nodes.values():
        shape = SHAPES.get(node.type, DEFAULT_SHAPE)
        label = "<br>".join(mermaid_text(line) for line in node.lines)
        lines.append(f'    {node.id}{shape.mermaid_open}"{label}"{shape.mermaid_close}')
    for edge in graph.edges:
        arrow = "-.->" if edge.kind == EXECUTES else "-->"
        label = f'|"{mermaid_text(edge.label)}"|' if edge.label else ""
        lines.append(f"    {graph.nodes[edge.source].id} {arrow}{label} {graph.nodes[edge.target].id}")
    for status, style in legend(graph):
        dash = ",stroke-dasharray:5 4" if style.dashed else ""
        lines.append(
            f"    classDef {mermaid_class(status)} fill:{style.fill},stroke:{style.stroke},"
            f"color:{TEXT_COLOUR}{dash}"
        )
    for status, _ in legend(graph):
        ids = ",".join(n.id for n in graph.nodes.values() if n.status == status)
        lines.append(f"    class {ids} {mermaid_class(status)}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- Graphviz DOT


def dot_string(text: str) -> str:
    """`text` as a double-quoted DOT string shown literally: backslashes doubled (Graphviz reads
    `\\n`, `\\N`, `\\G`... in labels), quotes escaped, `&` as `&amp;` (Graphviz decodes entities),
    control characters dropped. Newlines are the caller's (`\\n` between lines)."""
    cleaned = "".join(ch for ch in text if ch >= " " or ch == "\t")
    return cleaned.replace("\\", "\\\\").replace('"', '\\"').replace("&", "&amp;")


def to_dot(graph: Graph) -> str:
    """A Graphviz digraph (`dot -Tsvg` draws it): left to right, shapes per type, fills per status."""
    lines = [
        "digraph dhmlrun {",
        f'  graph [rankdir=LR, label="{dot_string(graph.title)}", labelloc=t, fontname="Helvetica", '
        "fontsize=12];",
        '  node [fontname="Helvetica", fontsize=10, style=filled, fillcolor="#ffffff", color="#57606a", '
        f'fontcolor="{TEXT_COLOUR}"];',
        '  edge [fontname="Helvetica", fontsize=9, color="#57606a"];',
    ]
    for node in graph.nodes.values():
        shape = SHAPES.get(node.type, DEFAULT_SHAPE)
        label = "\\n".join(dot_string(line) for line in node.lines)
        style = STYLES.get(node.status) if node.status else None
        looks = ["filled"] + ["rounded"] * shape.rounded + ["dashed"] * bool(style and style.dashed)
        attributes = [f'label="{label}"', f"shape={shape.dot}", f'style="{",".join(looks)}"']
        if style is not None:
            attributes += [f'fillcolor="{style.fill}"', f'color="{style.stroke}"']
        lines.append(f'  "{node.id}" [{", ".join(attributes)}];')
    for edge in graph.edges:
        attributes = [f'label="{dot_string(edge.label)}"'] if edge.label else []
        if edge.kind == EXECUTES:
            attributes.append("style=dashed")
        suffix = f" [{', '.join(attributes)}]" if attributes else ""
        lines.append(f'  "{graph.nodes[edge.source].id}" -> "{graph.nodes[edge.target].id}"{suffix};')
    lines.append("}")
    return "\n".join(lines) + "\n"
