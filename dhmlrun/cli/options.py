"""Click options shared by every command that loads the declaration (validate, plan, apply, ...).

Usage::

    @click.command()
    @click.argument("path", default=".")
    @declaration_options
    def plan(path, variables, var_files, environment): ...
        declaration = load_declaration(path, **declaration_kwargs(variables, var_files, environment))
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def _parse_vars(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    """`--var k=v` pairs into a dict (a later pair wins); a pair without `=` is a usage error."""
    parsed: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", ctx=ctx, param=param)
        parsed[name.strip()] = value
    return parsed


def declaration_options(func: F) -> F:
    """Add `--var NAME=VALUE`, `--var-file FILE` and `-e/--env NAME` (as `variables`, `var_files`,
    `environment` keyword arguments)."""
    func = click.option("-e", "--env", "environment", metavar="NAME", default=None,
                        help="Declaration environment (environments.NAME) to use.")(func)
    func = click.option("--var-file", "var_files", multiple=True, metavar="FILE",
                        type=click.Path(dir_okay=False, path_type=Path),
                        help="YAML file of variable values (repeatable; later files win).")(func)
    func = click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", callback=_parse_vars,
                        help="Set a variable (repeatable); overrides every other source.")(func)
    return func


def declaration_kwargs(
    variables: dict[str, str], var_files: tuple[Path, ...], environment: str | None
) -> dict[str, Any]:
    """The keyword arguments of `load_declaration` from the shared options' values."""
    return {"cli_vars": dict(variables), "var_files": list(var_files), "environment": environment}
