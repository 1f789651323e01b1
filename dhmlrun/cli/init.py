"""`dhmlrun init [DIR]`: scaffold a config repo (declaration, handlers, sample data, CI workflow)."""

from __future__ import annotations

import shlex
from pathlib import Path

import click


@click.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", default=None, help="Project name (default: the directory's name, slugified).")
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def init(directory: Path, name: str | None, force: bool) -> None:
    """Create a ready config repo in DIRECTORY (default: the current directory).

    Writes dhmlrun.yaml (with the editor schema modeline), src/pipeline.py, sample data,
    .gitignore, a README and a GitHub Actions workflow (plan on pull requests, apply on main).
    Refuses to overwrite existing files unless --force.
    """
    from dhmlrun.scaffold import scaffold

    result = scaffold(directory, name=name, force=force)
    click.echo(f"Created project {result.project} in {directory}:")
    for path in result.files:
        click.echo(f"  {path}")
    click.echo(f"\n{result.pin_note}.")
    where = "" if directory.resolve() == Path.cwd().resolve() else f"cd {shlex.quote(str(directory))}\n  "
    click.echo(
        "\nNext steps:\n"
        f"  {where}dhmlrun validate        # check the declaration\n"
        "  dhmlrun plan            # see what apply would do (embedded core unless configured)\n"
        "  dhmlrun apply           # create the entities and run the jobs\n"
        "\nTo deploy to DigitalHub: --profile NAME (a ~/.dhcore.ini section), or DHCORE_ENDPOINT and\n"
        "DHCORE_ACCESS_TOKEN; in CI set DHCORE_ENDPOINT, DHCORE_PLAN_TOKEN (pull requests' plans) and\n"
        "DHCORE_ACCESS_TOKEN (apply on main, best in the environment dhmlrun) as secrets."
    )
