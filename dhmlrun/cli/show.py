"""`dhmlrun show` (managed entities, versions, last runs, outputs) and `dhmlrun logs RUN_ADDR`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from dhmlrun.cli.options import declaration_options
from dhmlrun.cli.plan import load, platform_options
from dhmlrun.errors import DhmlrunError

COLUMNS = ("ADDRESS", "KIND", "ID", "VERSION", "VERSIONS", "STATE", "OUTPUTS")


def _rows(state: Any, counts: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    rows = []
    for address, entity in sorted(state.managed().items()):
        rows.append(
            {
                "address": address,
                "kind": entity.kind,
                "id": entity.id,
                "version": entity.version,
                "versions": counts.get(entity.type, {}).get(entity.name, 1),
                "state": None,
                "outputs": {},
                "created": entity.created,
            }
        )
    for address, run in sorted(state.runs.items()):
        rows.append(
            {
                "address": address,
                "kind": "run",
                "id": run.id,
                "version": None,
                "versions": None,
                "state": run.state,
                "outputs": run.outputs,
                "results": run.results,
                "message": run.message,
                "created": run.created,
            }
        )
    return rows


def _cell(row: dict[str, Any], column: str) -> str:
    value = row.get(column.lower())
    if column == "OUTPUTS":
        outputs = {**(row.get("outputs") or {}), **(row.get("results") or {})}
        return ", ".join(f"{k}={_short(v)}" for k, v in outputs.items()) or "-"
    return "-" if value is None else str(value)


def _short(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("key") or value.get("id") or value
    return str(value)


def table(rows: list[dict[str, Any]]) -> str:
    """A plain aligned table, like `dhcli list`."""
    cells = [list(COLUMNS)] + [[_cell(r, c) for c in COLUMNS] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


@click.command()
@click.argument("address", required=False)
@click.option("--path", "path", default=".", type=click.Path(path_type=Path), help="The config directory.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@declaration_options
@platform_options
def show(
    address: str | None,
    path: Path,
    as_json: bool,
    variables: dict[str, str],
    var_files: tuple[Path, ...],
    environment: str | None,
    endpoint: str | None,
    profile: str | None,
    no_color: bool,
) -> None:
    """Show the managed entities (or ADDRESS only): versions, last run states and outputs."""
    from dhmlrun.platform import open_platform
    from dhmlrun.render import mask_value

    declaration = load(path, variables, var_files, environment)
    with open_platform(declaration.root, endpoint, profile, declaration.profile) as platform:
        state = platform.read_state(declaration.project_name)
        counts = (
            {t: platform.version_counts(declaration.project_name, t) for t in ("dataitems", "functions")}
            if state.project_exists
            else {}
        )
    rows = _rows(state, counts)
    if address:
        rows = [r for r in rows if r["address"] == address]
        if not rows:
            raise DhmlrunError.single(
                f"{address} is not managed by dhmlrun in project {declaration.project_name}"
            )
    rows = mask_value(rows, declaration.sensitive_values())
    if as_json:
        click.echo(json.dumps({"project": declaration.project_name, "entities": rows}, indent=2, default=str))
    elif not rows:
        click.echo(f"Nothing managed by dhmlrun in project {declaration.project_name}.")
    else:
        click.echo(table(rows))


@click.command()
@click.argument("run_address")
@click.option("--path", "path", default=".", type=click.Path(path_type=Path), help="The config directory.")
@declaration_options
@platform_options
def logs(
    run_address: str,
    path: Path,
    variables: dict[str, str],
    var_files: tuple[Path, ...],
    environment: str | None,
    endpoint: str | None,
    profile: str | None,
    no_color: bool,
) -> None:
    """Print the captured output of the last run of RUN_ADDRESS (e.g. runs.download)."""
    from dhmlrun.platform import open_platform
    from dhmlrun.render import mask_value

    declaration = load(path, variables, var_files, environment)
    with open_platform(declaration.root, endpoint, profile, declaration.profile) as platform:
        state = platform.read_state(declaration.project_name)
        run = state.runs.get(run_address)
        if run is None:
            raise DhmlrunError.single(f"{run_address} has never run in project {declaration.project_name}")
        texts = platform.run_logs(declaration.project_name, run.id)
    if not texts:
        local = Path(declaration.root) / ".dhmlrun" / "logs" / f"{run_address}.log"
        texts = [local.read_text(encoding="utf-8", errors="replace")] if local.is_file() else []
    if not texts:
        raise DhmlrunError.single(f"no logs recorded for {run_address} (run {run.id}, {run.state})")
    secrets = declaration.sensitive_values()
    for text in texts:
        click.echo(mask_value(text, secrets).rstrip("\n"))
