"""Whether a plan still describes the platform: what moved since it was made.

A saved plan was reviewed against what the platform held then; applying it after someone else
changed an entity or ran a run would apply something nobody reviewed. Each action records what
it saw (`seen`: an id, or absent) and the plan the last run of each address (`seen_runs`).
"""

from __future__ import annotations

from dhmlrun.errors import DhmlrunError
from dhmlrun.plan.model import (
    ABSENT,
    MLRUN_PROJECT_ADDRESS,
    PROJECT_ADDRESS,
    Action,
    Plan,
    ScheduleDelete,
    ScheduleWrite,
)
from dhmlrun.platform.state import PlatformState


def stale_reasons(plan: Plan, state: PlatformState) -> list[str]:
    """What moved on the platform since `plan` was made (empty when it still applies), one
    reason per address."""
    reasons: dict[str, str] = {}
    for action in plan.actions:
        now = _seen_now(action, state)
        if now == action.seen:
            continue
        if action.type == "runs" and not isinstance(action, ScheduleWrite | ScheduleDelete):
            reasons[action.address] = _ran(action.address, now)
        else:
            was = "absent" if action.seen == ABSENT else f"at {action.seen}"
            is_ = "absent" if now == ABSENT else f"at {now}"
            reasons[action.address] = f"{action.address} was {was} when planned, is now {is_}"
    for address, run_id in sorted(plan.seen_runs.items()):
        now_run = state.runs.get(address)
        if address not in reasons and (now_run is None or now_run.id != run_id):
            reasons[address] = _ran(address, now_run.id if now_run else ABSENT)
    for address, run in sorted(state.runs.items()):
        if address not in plan.seen_runs and address not in reasons:
            reasons[address] = _ran(address, run.id)
    return list(reasons.values())


def _ran(address: str, run_id: str) -> str:
    if run_id == ABSENT:
        return f"the last run of {address} is gone since the plan was made"
    return f"{address} has run since the plan was made ({run_id})"


def _seen_now(action: Action, state: PlatformState) -> str:
    if action.address == PROJECT_ADDRESS:
        return state.project if state.project_exists else ABSENT
    if action.address == MLRUN_PROJECT_ADDRESS:
        return state.project if state.mlrun_project_exists else ABSENT
    if isinstance(action, ScheduleWrite | ScheduleDelete):
        schedule = state.schedules.get(action.address)
        return schedule.name if schedule else ABSENT
    if action.type == "runs":
        run = state.runs.get(action.address)
        return run.id if run else ABSENT
    entity = state.entities.get(action.address)
    return entity.id if entity else ABSENT


def check_not_stale(plan: Plan, state: PlatformState) -> None:
    reasons = stale_reasons(plan, state)
    if reasons:
        raise DhmlrunError.single(
            "the saved plan is stale: the platform changed since it was made ("
            + "; ".join(reasons)
            + "). Run `dhmlrun plan` again."
        )
