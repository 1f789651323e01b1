"""`dhmlrun force-unlock LOCK_ID [PATH]`: remove a project's apply lock by its id.

For a lock whose holder died where its lease cannot tell (e.g. a lock taken with a very long
lease, or a clock far off). The LOCK_ID printed in the "is locked" message is required, so a
lock taken since by another apply is never removed by mistake.
"""

from __future__ import annotations

from pathlib import Path

import click

from dhmlrun.cli.options import declaration_options
from dhmlrun.cli.plan import info, load, platform_options


@click.command("force-unlock")
@click.argument("lock_id")
@click.argument("path", default=".", type=click.Path(path_type=Path))
@declaration_options
@platform_options
def force_unlock(
    lock_id: str,
    path: Path,
    variables: dict[str, str],
    var_files: tuple[Path, ...],
    environment: str | None,
    endpoint: str | None,
    profile: str | None,
    no_color: bool,
) -> None:
    """Remove the apply lock LOCK_ID of the project declared at PATH (only if it still holds it)."""
    from dhmlrun.platform import open_platform
    from dhmlrun.platform.lock import describe
    from dhmlrun.platform.lock import force_unlock as unlock

    declaration = load(path, variables, var_files, environment)
    project = declaration.project_name
    with open_platform(declaration.root, endpoint, profile, declaration.profile) as platform:
        who = unlock(platform, project, lock_id)
    info(f"Removed the lock of project {project} ({describe(who)}).")
