"""`dhmlrun force-unlock LOCK_ID [PATH]`: remove a project's apply lock by its id.

For a lock whose holder died where its lease cannot tell (e.g. a lock taken with a very long
lease, or a clock far off). The LOCK_ID printed in the "is locked" message is required, so a
lock taken since by another apply is never removed by mistake.
"""

from __future__ import annotations

from pathlib import Path

import click

from dhmlrun.cli.options import ProjectOptions, project_options
from dhmlrun.cli.output import info


@click.command("force-unlock")
@click.argument("lock_id")
@click.argument("path", default=".", type=click.Path(path_type=Path))
@project_options
def force_unlock(
    lock_id: str,
    path: Path,
    options: ProjectOptions,
) -> None:
    """Remove the apply lock LOCK_ID of the project declared at PATH (only if it still holds it)."""
    from dhmlrun.platform.lock import describe
    from dhmlrun.platform.lock import force_unlock as unlock

    configured = options.project(path)
    project = configured.declaration.project_name
    with configured.connect() as platform:
        who = unlock(platform, project, lock_id)
    info(f"Removed the lock of project {project} ({describe(who)}).")
