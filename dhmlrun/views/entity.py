"""One managed entity or run in full, as `show ADDR` prints it (Terraform's `state show`): every
attribute the platform holds, its versions (or, for a run, its last runs), the runs that used it,
its labels. Display only: `details` gathers plain data (what `--json` prints), `render_details`
lays it out; secrets are masked and control characters taken out before anything is shown.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from dhmlrun.views.terminal import safe_value
from dhmlrun.vocabulary import times
from dhmlrun.vocabulary.mask import mask_value

LONG = 200
"""A text longer than this (embedded code, say) is shown by its length, not in full."""
METADATA = ("name", "description", "version", "created", "updated", "created_by", "updated_by")


def details(
    address: str,
    dto: Mapping[str, Any],
    versions: Iterable[Mapping[str, Any]] = (),
    runs: Iterable[Mapping[str, Any]] = (),
    used_by: Iterable[tuple[str, Mapping[str, Any]]] = (),
    secrets: Iterable[str] = (),
) -> dict[str, Any]:
    """The data `show ADDR` prints: the entity (or run) `dto`, its other `versions` (an entity)
    or its last `runs` (a run, newest first), and `used_by`, the last run of each declared run
    that reads it (address, run DTO)."""
    metadata = dict(dto.get("metadata") or {})
    data: dict[str, Any] = {
        "address": address,
        "id": dto.get("id"),
        "key": dto.get("key"),
        "kind": dto.get("kind"),
        "state": (dto.get("status") or {}).get("state"),
        **{name: metadata.get(name) for name in METADATA if metadata.get(name) is not None},
        "labels": list(metadata.get("labels") or []),
        "spec": dict(dto.get("spec") or {}),
    }
    status = {k: v for k, v in (dto.get("status") or {}).items() if k != "state"}
    if status:
        data["status"] = status
    if versions:
        data["versions"] = [_version(v) for v in versions]
    if runs:
        data["runs"] = [_run(r) for r in runs]
    if used_by:
        data["used_by"] = [{"address": a, **_run(r)} for a, r in used_by]
    return safe_value(mask_value(data, secrets))


def _version(dto: Mapping[str, Any]) -> dict[str, Any]:
    metadata = dto.get("metadata") or {}
    return {"id": dto.get("id"), "version": metadata.get("version"), "created": metadata.get("created")}


def _run(dto: Mapping[str, Any]) -> dict[str, Any]:
    metadata, status = dto.get("metadata") or {}, dto.get("status") or {}
    return {
        "id": dto.get("id"),
        "state": status.get("state"),
        "created": metadata.get("created"),
        "updated": metadata.get("updated"),
        "message": status.get("message"),
    }


def render_details(data: Mapping[str, Any]) -> str:
    """`# ADDRESS`, then `name = value` lines (nested maps indented), then the versions or runs
    and the runs that used it, one line each."""
    lines = [f"# {data['address']}"]
    scalars = {k: v for k, v in data.items() if k not in ("address", "versions", "runs", "used_by")}
    lines += _assignments(scalars, "")
    current = data.get("id")
    if data.get("versions"):
        lines += ["", f"versions ({len(data['versions'])}, newest first):"]
        for version in data["versions"]:
            mark = "  (this one)" if version["id"] == current else ""
            created = times.short(version["created"]) or "-"
            lines.append(f"  {version['version'] or '-'}  {version['id']}  {created}{mark}")
    if data.get("runs"):
        lines += ["", f"runs (last {len(data['runs'])}, newest first):"]
        lines += [f"  {_run_line(run)}" for run in data["runs"]]
    if data.get("used_by"):
        lines += ["", "read by (the last run of each):"]
        lines += [f"  {run['address']}  {_run_line(run)}" for run in data["used_by"]]
    return "\n".join(lines)


def _run_line(run: Mapping[str, Any]) -> str:
    message = f"  {str(run['message']).splitlines()[0]}" if run.get("message") else ""
    return f"{run['id']}  {run['state'] or '-'}  {times.short(run['created']) or '-'}{message}"


def _assignments(values: Mapping[str, Any], indent: str) -> list[str]:
    """`name = value` lines, aligned; maps open a block of their own."""
    flat = {k: v for k, v in values.items() if not (isinstance(v, Mapping) and v)}
    width = max((len(str(k)) for k in flat), default=0)
    lines = [f"{indent}{str(k).ljust(width)} = {_value(v)}" for k, v in flat.items()]
    for name, value in values.items():
        if isinstance(value, Mapping) and value:
            lines += [f"{indent}{name} {{", *_assignments(value, indent + "  "), f"{indent}}}"]
    return lines


def _value(value: Any) -> str:
    if isinstance(value, str) and len(value) > LONG:
        return f"({len(value)} characters)"
    return json.dumps(value, ensure_ascii=False, default=str)
