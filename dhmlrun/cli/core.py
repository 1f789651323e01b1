"""`dhmlrun core serve`: the embedded core as a standalone server (for sharing or debugging).

With `--stock` it rehearses a stock DHCore 0.15 (its kinds and spec fields only; the `mlrun`
kinds are refused as DHCore refuses them). Binds loopback unless told otherwise, and always
requires a bearer token: from
`DHMLRUN_CORE_TOKEN`, else from `--token-file FILE`, else a new random one, printed only when
stdout is a terminal (a token in a log or in the process list is a token for everyone). Every
request without it is refused with 403. The core's files store (S3 under `/s3/`, signed with a
key derived from the token) is printed beside it, its key only when the token is; `--env-file`
writes every client setting to a file only its owner reads (docs/files-store.md).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from dhmlrun.errors import DhmlrunError
from dhmlrun.vocabulary.settings import FILES_STORE_ENV

TOKEN_ENV = "DHMLRUN_CORE_TOKEN"
SECRET_SETTINGS = ("DHCORE_ACCESS_TOKEN", "AWS_SECRET_ACCESS_KEY")
"""Client settings never echoed unless this start generated them (shown on a terminal only)."""


@click.group("core")
def core() -> None:
    """The embedded DHCore-compatible server."""


def write_env_file(path: Path, settings: dict[str, str]) -> None:
    """`KEY=VALUE` lines (the SDK's `.env` form), created 0600: it holds the token."""
    from dhmlrun.private import private_file

    try:
        private_file(path)
        path.write_text(
            "".join(f"{key}={value}\n" for key, value in sorted(settings.items())), encoding="utf-8"
        )
    except OSError as exc:
        raise DhmlrunError.single(f"cannot write {path}: {exc.strerror or exc}") from exc


def _token(token_file: Path | None) -> tuple[str, bool]:
    """(token, generated?) from the environment, the file, or new (on a terminal only)."""
    from dhmlrun.core.server import new_token

    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV], False
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise DhmlrunError.single(
                f"cannot read the token file {token_file}: {exc.strerror or exc}"
            ) from exc
        if not token:
            raise DhmlrunError.single(f"the token file {token_file} is empty")
        return token, False
    if not sys.stdout.isatty():
        raise DhmlrunError.single(
            f"no token: set {TOKEN_ENV} or pass --token-file FILE (a new token is generated and "
            "printed only on a terminal)"
        )
    return new_token(), True


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
    help="SQLite database file (created if missing, with its folder, private to you).",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"Read the bearer token from FILE (else {TOKEN_ENV}, else a new one, shown on a terminal).",
)
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Remote runs executed at once.",
)
@click.option(
    "--stock",
    is_flag=True,
    help="Behave as a stock DHCore 0.15: only its kinds (no mlrun), only their spec fields.",
)
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write what an SDK client needs (endpoint, token, files store and its key) to FILE, "
    "as KEY=VALUE lines, readable by you only.",
)
def serve(
    host: str,
    port: int,
    db_path: Path,
    token_file: Path | None,
    workers: int,
    stock: bool,
    env_file: Path | None,
) -> None:
    """Serve the DHCore REST API on HOST:PORT from the database DB until interrupted."""
    from dhmlrun.core.server import EmbeddedCore

    token, generated = _token(token_file)
    embedded = EmbeddedCore(
        db_path, max_workers=workers, stock=stock, token=token, files_store=os.environ.get(FILES_STORE_ENV)
    )
    try:
        http = embedded.bind(host, port)
    except OSError as exc:
        embedded.close()
        raise DhmlrunError.single(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    flavour = ", stock DHCore 0.15 kinds only" if stock else ""
    click.echo(f"dhmlrun core serving {http.endpoint} (database {db_path}, bearer token required{flavour})")
    client = embedded.connection(http.endpoint)
    click.echo(f"export DHCORE_ENDPOINT={http.endpoint}")
    if generated:
        click.echo(
            f"export DHCORE_ACCESS_TOKEN={token}   # generated for this start; shown on this terminal only"
        )
    for key in sorted(set(client) - set(SECRET_SETTINGS) - {"DHCORE_ENDPOINT", "DH_CONFIG"}):
        click.echo(f"export {key}={client[key]}")
    if generated and "AWS_SECRET_ACCESS_KEY" in client:
        click.echo(
            f"export AWS_SECRET_ACCESS_KEY={client['AWS_SECRET_ACCESS_KEY']}   # the files store's key"
        )
    if env_file is not None:
        write_env_file(env_file, client)
        click.echo(f"client settings written to {env_file} (tokens included; readable by you only)")
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(
            "warning: listening beyond loopback: anyone who can reach it and has the token has the "
            "platform (use TLS in front of it)",
            err=True,
        )
    embedded.serve_forever(http)
