"""`dhmlrun graph`: the declared pipeline as a picture (Mermaid, Graphviz DOT or SVG), optionally
coloured by a plan: a saved one (`--plan FILE`) or the one apply would make now (`--live`).

Without `--live` the platform is never read (as `validate`), so the graph of a config repo
draws anywhere, offline. `emit_graph` is shared with `show --graph`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from dhmlrun.cli.options import ProjectOptions, project_options
from dhmlrun.cli.output import info
from dhmlrun.errors import DhmlrunError

if TYPE_CHECKING:
    from dhmlrun.views.graph import Graph

F = TypeVar("F", bound=Callable[..., Any])
FORMATS = ("mermaid", "dot", "svg")


def format_option(func: F) -> F:
    """`--format mermaid|dot|svg`, shared by `graph` and `show --graph`."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(FORMATS),
        default="mermaid",
        show_default=True,
        help="mermaid (GitHub draws it in Markdown), dot (Graphviz), or svg (drawn by Graphviz's dot).",
    )(func)


def emit_graph(graph: Graph, output_format: str, out: Path | None) -> None:
    """Render `graph` in `output_format` to `out` (else stdout)."""
    from dhmlrun.views.graph import to_dot, to_mermaid
    from dhmlrun.views.graphviz import svg

    if output_format == "mermaid":
        data = to_mermaid(graph).encode()
    elif output_format == "dot":
        data = to_dot(graph).encode()
    else:
        data = svg(to_dot(graph))
    if out is None:
        click.echo(data, nl=False)
        return
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise DhmlrunError.single(f"cannot write {out}: {exc.strerror or exc}") from exc
    info(f"Wrote the graph to {out}")


@click.command()
@click.argument("path", default=".", type=click.Path(path_type=Path))
@format_option
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Colour the nodes by this saved plan's actions (made with `dhmlrun plan --out FILE`).",
)
@click.option(
    "--live",
    is_flag=True,
    help="Colour the nodes by what apply would do now (reads the platform, like `dhmlrun plan`).",
)
@click.option(
    "-o",
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Write the graph to FILE instead of stdout.",
)
@project_options
def graph(
    path: Path,
    output_format: str,
    plan_file: Path | None,
    live: bool,
    out: Path | None,
    options: ProjectOptions,
) -> None:
    """Draw the dependency graph of the declaration at PATH: dataitems, functions, runs and the
    outputs runs write and read (lineage). With a plan, each node is coloured by its action and
    labelled with the reason; everything downstream of a change is highlighted."""
    from dhmlrun.views.graph import declaration_graph, plan_graph

    if plan_file is not None and live:
        raise click.UsageError("--plan FILE and --live are two sources of the plan: give one")
    if plan_file is not None:
        from dhmlrun.plan.saved import load_plan, load_saved_plan

        saved = load_saved_plan(plan_file)
        project = options.project(path, environment=saved.environment, variables=saved.variables)
        plan = load_plan(plan_file)
        declared = project.declaration.project_name
        if plan.project != declared:
            raise DhmlrunError.single(
                f"{plan_file} is a plan for project {plan.project}, but {path} declares project {declared}"
            )
        drawn = plan_graph(project.declaration, plan)
    elif live:
        project = options.project(path)
        with project.connect() as platform:
            info(f"Reading project {project.declaration.project_name} from {platform.shown}")
            plan = project.plan(platform=platform)
        drawn = plan_graph(project.declaration, plan)
    else:
        drawn = declaration_graph(options.project(path).declaration)
    emit_graph(drawn, output_format, out)
