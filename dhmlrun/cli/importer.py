"""`dhmlrun import PROJECT [--out DIR]`: write a declaration from a live platform project."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dhmlrun.cli.options import platform_options
from dhmlrun.cli.output import info
from dhmlrun.errors import DhmlrunError
from dhmlrun.views.terminal import safe_text

if TYPE_CHECKING:
    from dhmlrun.importer import ProjectExport


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
    from dhmlrun.importer import build_import, read_export, write_import

    from_file = Path(project).is_file()
    if from_file:
        export = read_export(Path(project))
        project = export.project
    else:
        export = _read_live(project, out, endpoint, profile)
    result = build_import(export)
    written = write_import(result, out, force=force)
    _check_loads(out, result.not_copied)
    click.echo(f"Imported project {project} into {out}:")
    for path in written:
        click.echo(f"  {safe_text(str(path))}")
    if result.not_copied:
        click.echo("Not copied (import never reads a local file; listed at the top of dhmlrun.yaml):")
        for line in result.not_copied:
            click.echo(f"  {safe_text(line)}")
    if result.skipped:
        click.echo("Not imported (listed at the top of dhmlrun.yaml):")
        for line in result.skipped:
            click.echo(f"  {safe_text(line)}")
    where = "" if out.resolve() == Path.cwd().resolve() else f" {shlex.quote(str(out))}"
    adopt = len(result.to_adopt)
    if adopt:
        what = f"{adopt} to adopt (made outside dhmlrun)"
    elif result.imported:
        what = "no changes expected: every imported entity is already managed by dhmlrun"
    else:
        what = "nothing was imported"
    if from_file and not _platform_configured(endpoint, profile):
        click.echo(
            f"\nNext: point plan at the platform project {project} lives on (the export file does not "
            f"say which): dhmlrun plan{where} --endpoint URL (or --profile NAME, or DHCORE_ENDPOINT); "
            f"then dhmlrun apply{where} with the same. Without one, plan reads {out}'s own embedded "
            f"core, which does not hold {project}: it would plan every entity as new."
        )
        return
    click.echo(f"\nNext: dhmlrun plan{where}   # {what}; then dhmlrun apply{where}")


def _platform_configured(endpoint: str | None, profile: str | None) -> bool:
    """Whether plan will read a platform (an option, DHCORE_ENDPOINT or a profile), not the
    config directory's own embedded core."""
    from dhmlrun.platform.connection import resolve_connection

    chosen = resolve_connection(
        endpoint=endpoint, profile=profile, environment_profile=None, environ=os.environ
    )
    return chosen is not None


def _check_loads(out: Path, not_copied: list[str]) -> None:
    """What import writes must load (a failure here is a bug worth seeing), except that the local
    files it declared without copying them are missing: the user puts them in place, and
    validate and plan ask for them by their line until then."""
    from dhmlrun.config import load_declaration

    missing = {f"{line.split(':', 1)[0]}.path" for line in not_copied}
    try:
        load_declaration(out)
    except DhmlrunError as exc:
        unexpected = [problem for problem in exc.problems if problem.path not in missing]
        if unexpected:
            raise DhmlrunError(unexpected) from exc


def _read_live(project: str, out: Path, endpoint: str | None, profile: str | None) -> ProjectExport:
    """The live project, from the platform the options choose. With none configured, the only
    candidate is OUT's own embedded core, which must already exist: reading a project that is
    not there must leave nothing behind in OUT."""
    from dhmlrun.api import open_platform
    from dhmlrun.core.embedded import embedded_db_path
    from dhmlrun.importer import read_project

    if not _platform_configured(endpoint, profile) and not embedded_db_path(out).is_file():
        raise DhmlrunError.single(
            f"project {project} not found: no endpoint is configured and {out} has no embedded core; "
            "pass --endpoint URL or --profile NAME"
        )
    with open_platform(out, endpoint, profile) as platform:
        info(f"Reading project {project} from {platform.shown}")
        return read_project(platform, project)
