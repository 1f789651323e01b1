"""The views of `dhmlrun show` and `dhmlrun outputs`: what dhmlrun manages as a table like
`dhcli list`'s, and a run's outputs and results as two small tables. Display only: rows in,
text out (the command reads the platform and masks what it shows)."""

from __future__ import annotations

import json
from typing import Any

from dhmlrun.vocabulary import keys, states, times
from dhmlrun.vocabulary.kinds import runtime_name

COLUMNS = ("ADDRESS", "KIND", "VERSION", "STATE", "UPDATED", "OUTPUTS")


def entity_rows(state: Any, counts: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """One row per managed entity (its version count from `counts`) and per last run."""
    rows = []
    for address, entity in sorted(state.managed().items()):
        rows.append(
            {
                "address": address,
                "kind": entity.kind,
                "id": entity.id,
                "version": entity.version,
                "versions": counts.get(entity.type, {}).get(entity.name, 1),
                "state": entity.state,
                "outputs": {},
                "created": entity.created,
                "updated": entity.updated or entity.created,
            }
        )
    for address, run in sorted(state.runs.items()):
        if address.startswith("services."):
            rows.append(_service_row(address, run))
            continue
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
                "updated": run.updated or run.created,
            }
        )
    return rows


def _service_row(address: str, run: Any) -> dict[str, Any]:
    """A service: the kind it serves, its serve run's state, and where it answers."""
    url = f"http://{run.service_url}" if run.service_url and run.state == states.RUNNING else None
    return {
        "address": address,
        "kind": runtime_name(str(run.kind or "service")),
        "id": run.id,
        "version": None,
        "versions": None,
        "state": run.state,
        "url": url,
        "message": run.message,
        "created": run.created,
        "updated": run.updated or run.created,
    }


def _cell(row: dict[str, Any], column: str) -> str:
    if column == "OUTPUTS" and "url" in row:
        return row["url"] or "-"
    if column == "OUTPUTS":
        outputs = {k: _entity_name(v) for k, v in (row.get("outputs") or {}).items()}
        outputs.update(row.get("results") or {})
        return ", ".join(f"{k}={v}" for k, v in outputs.items()) or "-"
    if column == "UPDATED":
        return times.short(row.get("updated")) or "-"
    value = row.get(column.lower())
    return "-" if value is None else str(value)


def _entity_name(value: Any) -> str:
    """An output entity by name (`employees-clean`), not its long store key."""
    key = keys.output_key(value)
    parsed = keys.parse_key(key)
    return parsed.name if parsed else str(key)


def entities_table(rows: list[dict[str, Any]]) -> str:
    """A plain aligned table, like `dhcli list`."""
    cells = [list(COLUMNS)] + [[_cell(r, c) for c in COLUMNS] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def outputs_text(data: dict[str, Any]) -> str:
    """Two small tables: OUTPUT KIND NAME PATH KEY, then RESULT VALUE."""
    lines = []
    if data["outputs"]:
        rows = [("OUTPUT", "KIND", "NAME", "PATH", "KEY")] + [
            (n, o["kind"] or "-", o["name"] or "-", o["path"] or "-", o["key"] or "-")
            for n, o in data["outputs"].items()
        ]
        lines.extend(_aligned(rows))
    if data["results"]:
        if lines:
            lines.append("")
        rows = [("RESULT", "VALUE")] + [
            (k, v if isinstance(v, str) else json.dumps(v, default=str)) for k, v in data["results"].items()
        ]
        lines.extend(_aligned(rows))
    return "\n".join(lines)


def _aligned(rows: list[tuple[Any, ...]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
