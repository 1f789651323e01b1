"""`dhmlrun plan`: load the declaration, read the platform, print what apply would do."""

from __future__ import annotations

import json
from pathlib import Path

import click

from dhmlrun.cli.options import ProjectOptions, project_options
from dhmlrun.cli.output import info
from dhmlrun.errors import DhmlrunError

FORMATS = ("text", "json", "markdown")


@click.command()
@click.argument("path", default=".", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Save the plan to FILE (mode 0600) for `dhmlrun apply FILE`.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default=None,
    help="text (default), json (format_version 1) or markdown (for pull requests: a table of the "
    "changes and the Mermaid graph of what changes).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON: the same as --format json.")
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when no changes, 2 when changes (with --target: also when changes were left out), "
    "1 on error.",
)
@click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="ADDR",
    help="Plan only ADDR and what it depends on (repeatable).",
)
@click.option("--rerun", "reruns", multiple=True, metavar="ADDR", help="Force the run ADDR (repeatable).")
@click.option(
    "--destroy",
    is_flag=True,
    help="Plan the deletion of every managed entity (save it with --out, apply it later).",
)
@project_options
@click.pass_context
def plan(
    ctx: click.Context,
    path: Path,
    out: Path | None,
    output_format: str | None,
    as_json: bool,
    detailed_exitcode: bool,
    targets: tuple[str, ...],
    reruns: tuple[str, ...],
    destroy: bool,
    options: ProjectOptions,
) -> None:
    """Show what `dhmlrun apply` would change on the platform for the declaration at PATH."""
    from dhmlrun.plan.saved import save_plan
    from dhmlrun.views.plan import plan_json, render_plan

    if as_json and output_format not in (None, "json"):
        raise click.UsageError(f"--json and --format {output_format} ask for two formats: give one")
    output_format = "json" if as_json else output_format or "text"
    project = options.project(path)
    if destroy and reruns:
        raise DhmlrunError.single("--destroy deletes managed entities, it runs nothing: it takes no --rerun")
    with project.connect() as platform:
        info(f"Reading project {project.declaration.project_name} from {platform.shown}")
        if destroy:
            result = project.destroy_plan(targets=targets, platform=platform)
        else:
            result = project.plan(targets=targets, reruns=reruns, platform=platform)
    if out is not None:
        save_plan(result, out, project.declaration)
        info(f"Saved the plan to {out}; apply it with: dhmlrun apply {out}")
    if output_format == "json":
        click.echo(json.dumps(plan_json(result, project.secrets), indent=2, ensure_ascii=False))
    elif output_format == "markdown":
        from dhmlrun.views.markdown import render_plan_markdown

        click.echo(render_plan_markdown(result, project.declaration, project.secrets))
    else:
        click.echo(render_plan(result, project.secrets, colour=options.colour))
    if detailed_exitcode and result.pending:  # a partial plan never says "no changes" for what it left out
        ctx.exit(2)
