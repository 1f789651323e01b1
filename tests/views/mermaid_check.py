"""A strict structural checker of the Mermaid flowcharts dhmlrun writes.

It accepts only the statements `to_mermaid` emits (a header, quoted node declarations, edges,
`classDef` and `class` lines), so any label that leaked syntax (a quote, a bracket, a newline,
a directive) makes a line that does not parse. Then it checks the graph: every node id declared
once and not a Mermaid keyword, every edge between declared nodes, every class assignment to a
declared node and a defined class, and every label made only of text and entity codes. Labels
come back decoded, so tests can compare them with what was drawn.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

ID = r"[A-Za-z_][A-Za-z0-9_]*"
SHAPES = {"[(": ")]", "[[": "]]", "([": "])", "[/": "/]", ">": "]", "[": "]"}
OPEN = r"\[\(|\[\[|\(\[|\[/|>|\["
CLOSE = r"\)\]|\]\]|\]\)|/\]|\]"
NODE = re.compile(rf"^    (?P<id>{ID})(?P<open>{OPEN})\"(?P<label>[^\"]*)\"(?P<close>{CLOSE})$")
EDGE = re.compile(
    rf"^    (?P<source>{ID}) (?P<arrow>-->|-\.->)(?:\|\"(?P<label>[^\"]*)\"\|)? (?P<target>{ID})$"
)
CLASS_DEF = re.compile(rf"^    classDef (?P<name>{ID}) (?P<styles>\S.*)$")
STYLE = re.compile(r"^(fill|stroke|color):#[0-9a-fA-F]{6}$|^stroke-dasharray:\d+ \d+$")
CLASS = re.compile(rf"^    class (?P<ids>{ID}(?:,{ID})*) (?P<name>{ID})$")
KEYWORDS = {"end", "graph", "flowchart", "subgraph", "class", "classdef", "style", "linkstyle", "click"}
ENTITY = re.compile(r"#(\w+);")
LABEL_TEXT = re.compile(r"^(?:[^\"<>&#%`|:\\\x00-\x1f\x7f]|<br>|#\w+;)*$")
"""Text, `<br>` and entity codes; no colon either (Mermaid's preprocessing cuts the last `;` of a
line matching `style.*:\\S*#.*;`, which would break an entity code)."""


class MermaidError(AssertionError):
    pass


@dataclass
class Flowchart:
    """What a checked flowchart declares: labels decoded (`<br>` as a newline)."""

    nodes: dict[str, str] = field(default_factory=dict)
    shapes: dict[str, str] = field(default_factory=dict)
    edges: list[tuple[str, str, str, str]] = field(default_factory=list)
    class_defs: dict[str, str] = field(default_factory=dict)
    classes: dict[str, str] = field(default_factory=dict)

    def with_class(self, name: str) -> set[str]:
        return {node for node, cls in self.classes.items() if cls == name}


def decode(label: str) -> str:
    """A Mermaid label as shown: entity codes decoded, `<br>` as a newline."""
    text = label.replace("<br>", "\n")
    return html.unescape(ENTITY.sub(lambda m: f"&#{m[1]};" if m[1].isdigit() else f"&{m[1]};", text))


def check_label(label: str, where: str) -> str:
    if not LABEL_TEXT.match(label):
        raise MermaidError(f"{where}: label {label!r} holds syntax outside quotes or entity codes")
    return decode(label)


def check_mermaid(text: str) -> Flowchart:
    """Parse `text` statement by statement and check the graph it declares (module docstring)."""
    if "%%" in text:
        raise MermaidError("a comment or directive (%%) in the diagram")
    lines = text.splitlines()
    if not lines or lines[0] != "flowchart LR":
        raise MermaidError(f"the first line is not `flowchart LR`: {lines[:1]!r}")
    chart = Flowchart()
    pending_classes: list[tuple[int, list[str], str]] = []
    for number, line in enumerate(lines[1:], start=2):
        where = f"line {number}"
        if match := NODE.match(line):
            node, opened, closed = match["id"], match["open"], match["close"]
            if SHAPES[opened] != closed:
                raise MermaidError(f"{where}: shape {opened}...{closed} does not close as it opens")
            if node in chart.nodes:
                raise MermaidError(f"{where}: node {node} declared twice")
            if node.lower() in KEYWORDS:
                raise MermaidError(f"{where}: node id {node} is a Mermaid keyword")
            chart.nodes[node] = check_label(match["label"], where)
            chart.shapes[node] = opened + closed
        elif match := EDGE.match(line):
            for end in (match["source"], match["target"]):
                if end not in chart.nodes:
                    raise MermaidError(f"{where}: edge from or to undeclared node {end}")
            label = check_label(match["label"], where) if match["label"] is not None else ""
            chart.edges.append((match["source"], match["target"], label, match["arrow"]))
        elif match := CLASS_DEF.match(line):
            if not all(STYLE.match(style) for style in match["styles"].split(",")):
                raise MermaidError(f"{where}: classDef styles {match['styles']!r} are not all valid")
            if match["name"] in chart.class_defs:
                raise MermaidError(f"{where}: class {match['name']} defined twice")
            chart.class_defs[match["name"]] = match["styles"]
        elif match := CLASS.match(line):
            pending_classes.append((number, match["ids"].split(","), match["name"]))
        else:
            raise MermaidError(f"{where}: not a statement of the flowchart: {line!r}")
    for number, ids, name in pending_classes:
        if name not in chart.class_defs:
            raise MermaidError(f"line {number}: class {name} has no classDef")
        for node in ids:
            if node not in chart.nodes:
                raise MermaidError(f"line {number}: class assigned to undeclared node {node}")
            if node in chart.classes:
                raise MermaidError(f"line {number}: node {node} assigned two classes")
            chart.classes[node] = name
    return chart
