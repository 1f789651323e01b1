"""The dependency graph of a plan's changing actions, walked N at a time.

Generic over what a node does: `walk` calls `execute(action)` in a thread pool as soon as every
changing dependency of the action is done, and marks the transitive dependents of a failed node
as skipped (its siblings carry on). No-op actions are already satisfied.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from dhmlrun.plan.model import Action
from dhmlrun.render import NodeResult


def dependencies(actions: list[Action]) -> dict[str, set[str]]:
    """For each changing action, the changing actions it must wait for."""
    changing = {a.address for a in actions if a.changes}
    return {
        a.address: {d for d in a.depends_on if d in changing and d != a.address} for a in actions if a.changes
    }


def walk(
    actions: list[Action], execute: Callable[[Action], NodeResult], parallelism: int
) -> list[NodeResult]:
    """Run every changing action in dependency order, independent ones in parallel."""
    by_address = {a.address: a for a in actions if a.changes}
    waiting = dependencies(actions)
    results: dict[str, NodeResult] = {}
    running: dict[Future[NodeResult], str] = {}
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        while waiting or running:
            _schedule(waiting, results, running, by_address, lambda a: pool.submit(_guarded, execute, a))
            if not running:
                for address in list(waiting):  # only left with a dependency cycle: refuse, never spin
                    results[address] = NodeResult(
                        address, by_address[address].action, "skipped", "dependency cycle"
                    )
                waiting.clear()
                continue
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                results[running.pop(future)] = future.result()
    return [results[a.address] for a in actions if a.address in results]


def _schedule(
    waiting: dict[str, set[str]],
    results: dict[str, NodeResult],
    running: dict[Future[NodeResult], str],
    by_address: dict[str, Action],
    submit: Callable[[Action], Future[NodeResult]],
) -> None:
    """Start every ready node; skip (repeatedly, transitively) those behind a failure."""
    progressed = True
    while progressed:
        progressed = False
        for address in _ready(waiting, results):
            del waiting[address]
            action = by_address[address]
            blocked = [d for d in sorted(action.depends_on) if d in results and results[d].status != "done"]
            if blocked:
                results[address] = NodeResult(
                    address, action.action, "skipped", f"{blocked[0]} {results[blocked[0]].status}"
                )
                progressed = True
            else:
                running[submit(action)] = address


def _ready(waiting: dict[str, set[str]], results: dict[str, NodeResult]) -> list[str]:
    return [address for address, deps in waiting.items() if deps <= set(results)]


def _guarded(execute: Callable[[Action], NodeResult], action: Action) -> NodeResult:
    """A node that raises is a failed node, never a crashed apply."""
    try:
        return execute(action)
    except Exception as exc:  # every failure of one node is reported, the walk goes on
        return NodeResult(action.address, action.action, "failed", str(exc) or type(exc).__name__)
