"""`dhmlrun import PROJECT [--out DIR]`: write a declaration from a live platform project."""

from __future__ import annotations

from pathlib import Path

import click

from dhmlrun.cli.options import platform_options
from dhmlrun.cli.output import info
from dhmlrun.views.terminal import safe_text


@click.command(name="import")
@click.argument("project")
@click.option(
    "--out",
    "out",
    default=".",
    show_default=True,
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="The config directory to write (dhmlrun.yaml, src/).",
)
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@platform_options
def import_project(
    project: str, out: Path, force: bool, endpoint: str | None, profile: str | None, no_color: bool
) -> None:
    """Write dhmlrun.yaml (and the functions' code in src/) from the platform project PROJECT,
    or from PROJECT's export file (`projects-NAME.yaml`, written by the SDK's project.export()).

    Then `dhmlrun plan` shows the imported entities as `adopt`, and the first apply labels
    them as managed by dhmlrun.
    """
    from dhmlrun.config import load_declaration
    from dhmlrun.importer import build_import, read_export, read_project, write_import

    if Path(project).is_file():
        export = read_export(Path(project))
        project = export.project
    else:
        from dhmlrun.platform import open_platform

        with open_platform(out, endpoint, profile) as platform:
            info(f"Reading project {project} from {platform.shown}")
            export = read_project(platform, project)
    result = build_import(export)
    written = write_import(result, out, force=force)
    load_declaration(out)  # what import writes must load: a failure here is a bug worth seeing
    click.echo(f"Imported project {project} into {out}:")
    for path in written:
        click.echo(f"  {safe_text(str(path))}")
    if result.skipped:
        click.echo("Not imported (listed at the top of dhmlrun.yaml):")
        for line in result.skipped:
            click.echo(f"  {safe_text(line)}")
    where = "" if out.resolve() == Path.cwd().resolve() else f" {out}"
    adopt = len(result.to_adopt)
    click.echo(
        f"\nNext: dhmlrun plan{where}   # {adopt} to adopt (made outside dhmlrun); then dhmlrun apply{where}"
    )
