"""Human and JSON views of a Plan. Display only: no decisions here.

Both views render the same `Plan` value (Terraform's plan/view split), as `shown_plan` makes it:
sensitive values masked as `(sensitive)` in every output, JSON included, and text made
reviewable (terminal controls, bidirectional and zero-width characters removed), in the values a
reader sees, never in the plan's structure.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import click

from dhmlrun.plan.model import (
    ADOPT,
    CREATE,
    DELETE,
    FORMAT_VERSION,
    NOOP,
    RUN,
    SYMBOLS,
    UPDATE,
    Action,
    Plan,
)
from dhmlrun.views.terminal import reviewable_value
from dhmlrun.vocabulary import keys
from dhmlrun.vocabulary.mask import mask_value

STRUCTURE = frozenset({"shape", "action", "address", "depends_on", "seen", "drift"})
"""The fields of an action that say what it is, not what it carries: never masked or changed."""

COLOURS = {CREATE: "green", UPDATE: "yellow", DELETE: "red", RUN: "cyan", ADOPT: "magenta", NOOP: None}
NO_CHANGES = "No changes. The platform matches the configuration."


def summary_line(plan: Plan) -> str:
    """`Plan: 2 to create, ...`, or that nothing changes; a partial plan (`--target`) never says
    the platform matches while changes were left out of it."""
    left_out = _left_out(plan)
    if not plan.has_changes:
        if left_out:
            return (
                f"No changes for {_targets(plan)}, but {left_out} outside it: "
                "the platform does not match the configuration."
            )
        return NO_CHANGES
    c = plan.counts()
    adopt = f"{c[ADOPT]} to adopt, " if c.get(ADOPT) else ""
    rest = f"{c[CREATE]} to create, {c[UPDATE]} to update, {c[DELETE]} to delete, {c[RUN]} to run."
    return f"Plan: {adopt}{rest}" + (f" ({left_out} left out by --target.)" if left_out else "")


def plan_warnings(plan: Plan) -> list[str]:
    """The planner's warnings, then, for a plan made with `--target`, that it is partial (as
    Terraform warns of resource targeting)."""
    warnings = list(plan.warnings)
    if plan.partial:
        if plan.left_out:
            shown = ", ".join(plan.left_out[:PARTIAL_SHOWN])
            hidden = len(plan.left_out) - PARTIAL_SHOWN
            more = f" and {hidden} more" if hidden > 0 else ""
            left = f"{_left_out(plan)} left out ({shown}{more})"
        else:
            left = "no other change is pending"
        if plan.destroy:
            warnings.append(f"partial destroy: only {_targets(plan)}; {left}.")
        else:
            warnings.append(
                f"partial plan: only {_targets(plan)} and what it depends on; {left}. "
                "Plan and apply without --target to make the platform match the whole configuration."
            )
    return warnings


PARTIAL_SHOWN = 5
"""How many left-out addresses a partial plan's warning names."""


def _targets(plan: Plan) -> str:
    return " ".join(f"--target {t}" for t in plan.targets)


def _left_out(plan: Plan) -> str:
    count = len(plan.left_out)
    return f"{count} change{'s' if count != 1 else ''}" if count else ""


def _show(value: Any, names: Mapping[str, str] | None = None) -> str:
    """A value as a reviewer reads it: digests shortened, entity versions by the names the
    platform gave them (as `show` prints them; else their ids, shortened), the rest as JSON."""
    names = names or {}
    if isinstance(value, str) and value in names:
        return f"version {names[value]}"
    if isinstance(value, str) and len(value) == 64 and all(ch in "0123456789abcdef" for ch in value):
        return f'"{value[:12]}…"'
    key = keys.parse_key(value) if isinstance(value, str) else None
    if key is not None:
        version = names.get(key.id) or f"{key.id[:12]}{'…' if len(key.id) > 12 else ''}"
        return f"{key.type} {key.name} (version {version})"
    return json.dumps(value, ensure_ascii=False, default=str)


def style(text: str, action: str, colour: bool) -> str:
    fg = COLOURS.get(action)
    return click.style(text, fg=fg) if colour and fg else text


def render_action(action: Action, colour: bool = False, names: Mapping[str, str] | None = None) -> list[str]:
    """One header line `+ address  (reason)` and one line per changed attribute (`names`: the
    version names of entity ids, `Plan.version_names`)."""
    symbol = SYMBOLS[action.action]
    drift = " [drift]" if action.drift else ""
    lines = [style(f"  {symbol} {action.address}", action.action, colour) + f"  ({action.reason}){drift}"]
    for change in action.diff:
        if action.action == CREATE or (change.before is None and action.action != DELETE):
            lines.append(f"      + {change.path}: {_show(change.after, names)}")
        elif action.action == DELETE or change.after is None:
            lines.append(f"      - {change.path}: {_show(change.before, names)}")
        else:
            before, after = _show(change.before, names), _show(change.after, names)
            lines.append(f"      ~ {change.path}: {before} -> {after}")
    return lines


def shown_plan(plan: Plan, secrets: Iterable[str] = ()) -> Plan:
    """The plan as every view shows it (module docstring): each action's `STRUCTURE` and every
    key untouched, so the copy is still a plan whatever a secret matches (a one-character secret
    masked inside `execution` made apply crash)."""
    secrets = list(secrets)

    def shown(value: Any) -> Any:
        return reviewable_value(mask_value(value, secrets))

    data = plan.as_dict()
    for name in ("project", "warnings", "notes"):
        data[name] = shown(data[name])
    data["actions"] = [
        {key: value if key in STRUCTURE else shown(value) for key, value in action.items()}
        for action in data["actions"]
    ]
    return Plan.from_dict(data)


def render_plan(plan: Plan, secrets: Iterable[str] = (), colour: bool = False) -> str:
    """The human plan: actions grouped by address, warnings, then the summary line."""
    masked = shown_plan(plan, secrets)
    lines: list[str] = []
    changes = masked.changes()
    if changes:
        verb = "destroy" if masked.destroy else "apply"
        lines.append(f"dhmlrun will {verb} the following on project {masked.project}:")
        if masked.mlrun:
            lines.append(f"(mlrun functions, schedules and runs: on the MLRun service {masked.mlrun})")
        lines.append("")
        for action in changes:
            lines.extend(render_action(action, colour, masked.version_names))
        lines.append("")
    for note in masked.notes:
        lines.append(f"Note: {note}")
    for warning in plan_warnings(masked):
        lines.append(style(f"Warning: {warning}", DELETE, colour))
    lines.append(summary_line(masked))
    return "\n".join(lines)


def plan_json(plan: Plan, secrets: Iterable[str] = ()) -> dict[str, Any]:
    """The documented JSON plan (format_version "1", schema: dhmlrun/plan/plan.schema.json): one
    object per action, no request bodies.

    {format_version, project, destroy, changes: bool, partial: null or {targets, left_out},
     summary: {create, update, delete, run[, adopt]},
     warnings: [str], notes: [str], actions: [{address, action, reason, drift, backend, depends_on,
     diff: [{path, before, after}]}]} — actions include no-ops, so readers see everything.
    """
    plan = shown_plan(plan, secrets)
    data = {
        "format_version": FORMAT_VERSION,
        "project": plan.project,
        "destroy": plan.destroy,
        "changes": plan.has_changes,
        "partial": {"targets": list(plan.targets), "left_out": list(plan.left_out)} if plan.partial else None,
        "summary": plan.counts(),
        "warnings": list(plan.warnings),
        "notes": list(plan.notes),
        "actions": [
            {
                "address": a.address,
                "action": a.action,
                "reason": a.reason,
                "drift": a.drift,
                "backend": a.backend,
                "depends_on": list(a.depends_on),
                "diff": [{"path": d.path, "before": d.before, "after": d.after} for d in a.diff],
            }
            for a in plan.actions
        ],
    }
    return data
