"""`dhmlrun validate` and `dhmlrun schema`: the declaration, checked without touching any platform."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from dhmlrun.cli.options import declaration_kwargs, declaration_options
from dhmlrun.config.model import ENTITY_TYPES
from dhmlrun.errors import DhmlrunError
from dhmlrun.vocabulary.mask import MASK, mask_value


@click.command()
@click.argument("path", default=".", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@declaration_options
@click.pass_context
def validate(
    ctx: click.Context,
    path: Path,
    as_json: bool,
    variables: dict[str, str],
    var_files: tuple[Path, ...],
    environment: str | None,
) -> None:
    """Load, render and validate the declaration at PATH (a directory or dhmlrun.yaml).

    Exit code 0 when valid, 1 with every error found when not.
    """
    from dhmlrun.cli.output import print_problems
    from dhmlrun.config import load_declaration

    try:
        declaration = load_declaration(path, **declaration_kwargs(variables, var_files, environment))
    except DhmlrunError as exc:
        if as_json:
            click.echo(
                json.dumps(
                    {"valid": False, "errors": [p.as_dict() for p in exc.problems], "resources": []}, indent=2
                )
            )
        else:
            print_problems(exc)
        ctx.exit(1)
    if as_json:
        click.echo(json.dumps(_json_result(declaration), indent=2))
    else:
        click.echo(summary(declaration))


def summary(declaration: Any) -> str:
    """`Valid: project employees-dev, 1 dataitem, 2 functions, 2 runs.` (artifacts, models and
    secrets too, when there are any)."""
    counts = []
    for type_ in ENTITY_TYPES:
        count = len(declaration.of_type(type_))
        if count or type_ in ("dataitems", "functions", "runs"):
            counts.append(f"{count} {type_[:-1] if count == 1 else type_}")
    return f"Valid: project {declaration.project_name}, {', '.join(counts)}."


def _json_result(declaration: Any) -> dict[str, Any]:
    secrets = declaration.sensitive_values()
    resources = [
        {
            "address": r.address,
            "type": r.type,
            "name": r.name,
            "spec": r.spec,
            "lifecycle": r.lifecycle,
            "depends_on": list(r.depends_on),
            "file": r.location.file,
            "line": r.location.line,
        }
        for r in declaration
    ]
    result = {
        "valid": True,
        "errors": [],
        "project": declaration.project,
        "environment": declaration.environment,
        "profile": declaration.profile,
        "variables": {
            name: {"value": MASK if v.sensitive else v.value, "sensitive": v.sensitive}
            for name, v in declaration.variables.items()
        },
        "resources": resources,
    }
    return mask_value(result, secrets)


@click.command()
def schema() -> None:
    """Print the JSON Schema of dhmlrun.yaml as one document (for editors' yaml-language-server)."""
    from dhmlrun.config.schema import bundled_schema

    click.echo(json.dumps(bundled_schema(), indent=2))
