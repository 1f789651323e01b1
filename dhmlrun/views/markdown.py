"""The plan as Markdown, for pull requests (GitHub's job summary, and a comment on the pull
request): the summary line, a table of the changes with their reasons, the Mermaid graph of
what changes (each changed node coloured by its action, everything downstream highlighted), and
the whole text plan folded away. Display only, like the other plan views.

Every piece of text that comes from the declaration, the platform or a run is escaped for where
it lands: table cells (pipes, Markdown and HTML markup, @mentions, which would notify people),
code spans (a fence longer than any backtick run inside), the folded plan (a code fence longer
than any inside) and the Mermaid graph (`views.graph.to_mermaid`). Sensitive values are masked
before anything is rendered.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from dhmlrun.plan.model import SYMBOLS, Plan
from dhmlrun.views.graph import Graph, changes_graph, legend, plan_graph, to_mermaid
from dhmlrun.views.plan import plan_warnings, render_plan, shown_plan, summary_line
from dhmlrun.views.terminal import reviewable_text

if TYPE_CHECKING:
    from dhmlrun.config.model import Declaration

MERMAID_MAX_CHARS = 40_000
"""GitHub draws no Mermaid diagram longer than 50 000 characters: beyond this, the graph is
left out with a note (the table and the plan are still there)."""
MERMAID_MAX_EDGES = 400
"""Mermaid draws at most 500 edges by default."""

_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]~|!])")


def cell_text(text: str) -> str:
    """Plain text, shown as written in a Markdown table cell or paragraph: one line, markup and
    HTML escaped, and @mentions broken by a zero-width space (as Renovate does)."""
    one_line = " ".join(reviewable_text(str(text)).split())
    escaped = html.escape(one_line, quote=False)
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", escaped).replace("@", "@&#8203;")


def code_span(text: str) -> str:
    """`text` as inline code, safe in a table cell: the backtick fence is longer than any run of
    backticks inside, and pipes are escaped (GFM splits cells before reading code spans)."""
    one_line = " ".join(reviewable_text(str(text)).split())
    if not one_line:
        return ""
    longest = max((len(run) for run in re.findall("`+", one_line)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest else ""
    return f"{fence}{pad}{one_line.replace('|', chr(92) + '|')}{pad}{fence}"


def fenced(text: str, info: str = "") -> list[str]:
    """A fenced code block that no line of `text` can close."""
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{info}", *text.splitlines(), fence]


def render_plan_markdown(plan: Plan, declaration: Declaration, secrets: Iterable[str] = ()) -> str:
    """The plan for a pull request (see the module docstring)."""
    secrets = {*secrets, *declaration.sensitive_values()}
    masked = shown_plan(plan, secrets)
    verb = "destroy" if masked.destroy else "plan"
    lines = [f"## dhmlrun {verb}: project {code_span(masked.project)}", ""]
    for warning in plan_warnings(masked):
        lines += [f"> **Warning:** {cell_text(warning)}", ""]
    for note in masked.notes:
        lines += [f"> **Note:** {cell_text(note)}", ""]
    lines += [f"**{cell_text(summary_line(masked))}**", ""]
    changes = masked.changes()
    if not changes:
        return "\n".join(lines)
    lines += ["| | Address | Action | Reason |", "|:-:|---|---|---|"]
    for action in changes:
        drift = " (drift)" if action.drift else ""
        lines.append(
            f"| {code_span(SYMBOLS[action.action])} | {code_span(action.address)} | {action.action} "
            f"| {cell_text(action.reason + drift)} |"
        )
    lines.append("")
    lines += _graph_section(changes_graph(plan_graph(declaration, masked, secrets)))
    lines += [
        "<details><summary>The whole plan</summary>",
        "",
        *fenced(render_plan(masked, secrets), "text"),
        "",
        "</details>",
        "",
    ]
    return "\n".join(lines)


def _graph_section(graph: Graph) -> list[str]:
    if not graph.nodes:
        return []
    lines = ["### What changes", ""]
    diagram = to_mermaid(graph)
    if len(diagram) > MERMAID_MAX_CHARS or len(graph.edges) > MERMAID_MAX_EDGES:
        return [
            *lines,
            f"The graph of what changes has {len(graph.nodes)} nodes and {len(graph.edges)} edges, "
            "too many to draw here: `dhmlrun graph --plan FILE` draws it from a saved plan.",
            "",
        ]
    key = " · ".join(f"{style.colour}: {style.meaning}" for _, style in legend(graph))
    return [*lines, *fenced(diagram, "mermaid"), "", f"<sub>{cell_text(key)}.</sub>", ""]
