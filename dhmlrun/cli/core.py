"""`dhmlrun core serve`: the embedded core as a standalone server (for sharing or debugging).

Binds loopback unless told otherwise; a bearer token (`--token` or `DHMLRUN_CORE_TOKEN`) makes
every request without it a 403. The token is never printed.
"""

from __future__ import annotations

from pathlib import Path

import click

from dhmlrun.errors import DhmlrunError


@click.group("core")
def core() -> None:
    """The embedded DHCore-compatible server."""


@core.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option(
    "--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free)."
)
@click.option(
    "--db",
    "db_path",
    default=".dhmlrun/core.db",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="SQLite database file (created if missing).",
)
@click.option(
    "--token",
    envvar="DHMLRUN_CORE_TOKEN",
    default=None,
    help="Require this bearer token (env DHMLRUN_CORE_TOKEN).",
)
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Remote runs executed at once.",
)
def serve(host: str, port: int, db_path: Path, token: str | None, workers: int) -> None:
    """Serve the DHCore REST API on HOST:PORT from the database DB until interrupted."""
    from dhmlrun.core.server import CoreServer

    try:
        server = CoreServer(db_path, host=host, port=port, token=token or None, max_workers=workers)
    except OSError as exc:
        raise DhmlrunError.single(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    auth = "bearer token required" if token else "no authentication"
    click.echo(f"dhmlrun core serving {server.endpoint} (database {db_path}, {auth})")
    click.echo(f"export DHCORE_ENDPOINT={server.endpoint}")
    if host not in ("127.0.0.1", "localhost", "::1") and not token:
        click.echo("warning: listening beyond loopback without a token", err=True)
    server.serve_forever()
