"""Rendering at the CLI edge: errors once, in one format, to stderr; masking of secrets."""

from __future__ import annotations

import json
import signal
import sys

import click

from dhmlrun.errors import DhmlrunError
from dhmlrun.views.terminal import safe_text
from dhmlrun.vocabulary.mask import mask_userinfo
from dhmlrun.vocabulary.processes import EXIT_INTERRUPTED

EXIT_ERROR = 1
"""Every error is 1, usage errors included: 2 means "changes" (`plan --detailed-exitcode`), and a
CI job reading a mistyped flag as "changes" would pass."""


def run_cli(group: click.Group) -> int:
    """Invoke the click group; a DhmlrunError becomes `error: ...` lines and exit code 1.

    SIGTERM (how CI cancels a job) is turned into KeyboardInterrupt, as Ctrl-C is, so that every
    command unwinds the same way: locks released, the embedded core stopped, exit 130."""
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        code = group.main(standalone_mode=False, prog_name="dhmlrun")
    except DhmlrunError as exc:
        print_problems(exc)
        return 1
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):  # click turns Ctrl-C into Abort
            click.echo("Interrupted.", err=True)
            return EXIT_INTERRUPTED
        click.echo("Aborted.", err=True)
        return 1
    except click.ClickException as exc:  # usage errors too (click's own code for them is 2)
        _show_click_error(exc)
        return EXIT_ERROR
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return EXIT_INTERRUPTED
    # without standalone mode click returns (not raises) the code of `ctx.exit(n)`
    return code if isinstance(code, int) else 0


def _show_click_error(exc: click.ClickException) -> None:
    """click's errors in dhmlrun's one format (`error: ...`), then, for a usage error, the
    command's usage and where its help is."""
    click.echo(f"error: {safe_text(exc.format_message())}", err=True)
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        click.echo(ctx.get_usage(), err=True)
        click.echo(f"Try '{ctx.command_path} --help' for help.", err=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def print_problems(exc: DhmlrunError, as_json: bool = False) -> None:
    """Print every problem of an error: one `error: file:line:col: path: message` line each."""
    if as_json:
        click.echo(json.dumps({"valid": False, "errors": [p.as_dict() for p in exc.problems]}, indent=2))
        return
    for problem in exc.problems:  # a message may quote the platform or a run: no control sequences
        click.echo(f"error: {safe_text(mask_userinfo(problem.render()))}", err=True)
    count = len(exc.problems)
    if count > 1:
        click.echo(f"{count} errors.", err=True)


def use_color(no_color: bool = False) -> bool:
    """Colour only on a TTY, and never when NO_COLOR or --no-color says so."""
    import os

    return not no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()


def info(text: str) -> None:
    """Progress and logs go to stderr; results to stdout. Notes may quote the platform: shown
    without control sequences."""
    click.echo(safe_text(text), err=True)


def stdin_is_tty() -> bool:
    """Whether a person can answer a prompt (apply and destroy ask only then)."""
    return sys.stdin.isatty()
