"""The dependency graph of a plan's changing actions, walked N at a time.

Generic over what a node does: `walk` calls `execute(action)` in a thread pool as soon as every
changing dependency of the action is done, and marks the transitive dependents of a failed node
as skipped (its siblings carry on). No-op actions are already satisfied. Once `stop` is set
(apply was interrupted) nothing more starts: every node not started yet is skipped, and the walk
returns when the running ones have ended.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from dhmlrun.plan.model import Action
from dhmlrun.render import NodeResult

INTERRUPTED = "apply was interrupted"
STOP_POLL_SECONDS = 0.2


def dependencies(actions: list[Action]) -> dict[str, set[str]]:
    """For each changing action, the changing actions it must wait for."""
    changing = {a.address for a in actions if a.changes}
    return {
        a.address: {d for d in a.depends_on if d in changing and d != a.address} for a in actions if a.changes
    }


def walk(
    actions: list[Action],
    execute: Callable[[Action], NodeResult],
    parallelism: int,
    stop: threading.Event | None = None,
) -> list[NodeResult]:
    """Run every changing action in dependency order, independent ones in parallel."""
    by_address = {a.address: a for a in actions if a.changes}
    waiting = dependencies(actions)
    results: dict[str, NodeResult] = {}
    running: dict[Future[NodeResult], str] = {}
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        submit = lambda action: pool.submit(_guarded, execute, action, stop)  # noqa: E731
        while waiting or running:
            if stop is not None and stop.is_set():
                _skip_unstarted(waiting, running, results, by_address)
            _schedule(waiting, results, running, by_address, submit)
            if not running:
                for address in list(waiting):  # only left with a dependency cycle: refuse, never spin
                    results[address] = NodeResult(
                        address, by_address[address].action, "skipped", "dependency cycle"
                    )
                waiting.clear()
                continue
            timeout = None if stop is None else STOP_POLL_SECONDS
            done, _ = wait(running, timeout=timeout, return_when=FIRST_COMPLETED)
            for future in done:
                results[running.pop(future)] = future.result()
    return [results[a.address] for a in actions if a.address in results]


def _skip_unstarted(
    waiting: dict[str, set[str]],
    running: dict[Future[NodeResult], str],
    results: dict[str, NodeResult],
    by_address: dict[str, Action],
) -> None:
    """Interrupted: skip every node not started yet, those still queued in the pool included."""
    unstarted = list(waiting)
    waiting.clear()
    for future in [f for f in running if f.cancel()]:  # queued, never started
        unstarted.append(running.pop(future))
    for address in unstarted:
        results[address] = NodeResult(address, by_address[address].action, "skipped", INTERRUPTED)


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


def _guarded(
    execute: Callable[[Action], NodeResult], action: Action, stop: threading.Event | None = None
) -> NodeResult:
    """A node that raises is a failed node, never a crashed apply; one whose turn in the pool
    comes after the walk was stopped does not start."""
    if stop is not None and stop.is_set():
        return NodeResult(action.address, action.action, "skipped", INTERRUPTED)
    try:
        return execute(action)
    except Exception as exc:  # every failure of one node is reported, the walk goes on
        return NodeResult(action.address, action.action, "failed", str(exc) or type(exc).__name__)
