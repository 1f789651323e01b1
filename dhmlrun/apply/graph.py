"""The dependency graph of a plan's changing actions, walked N at a time.

Generic over what a node does: `walk` calls `execute(action)` in a thread pool as soon as every
changing dependency of the action is done (`graphlib.TopologicalSorter` in its parallel mode),
and marks the transitive dependents of a failed node as skipped (its siblings carry on). No-op
actions are already satisfied. Once `stop` is set (apply was interrupted) nothing more starts:
every node not started yet is skipped, and the walk returns when the running ones have ended.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from graphlib import CycleError, TopologicalSorter

from dhmlrun.apply.results import DONE, FAILED, SKIPPED, NodeResult
from dhmlrun.plan.model import Action

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
    graph = TopologicalSorter(dependencies(actions))
    try:
        graph.prepare()
    except CycleError:  # the planner never builds one; refuse rather than guess an order
        return [NodeResult(a, by_address[a].action, SKIPPED, "dependency cycle") for a in by_address]
    results: dict[str, NodeResult] = {}
    running: dict[Future[NodeResult], str] = {}
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        while graph.is_active():
            if stop is not None and stop.is_set():
                _skip_unstarted(by_address, running, results)
                _drain(running, results)
                break
            for address in graph.get_ready():
                action = by_address[address]
                blocked = next(
                    (d for d in sorted(action.depends_on) if d in results and results[d].status != DONE), None
                )
                if blocked is not None:
                    results[address] = NodeResult(
                        address, action.action, SKIPPED, f"{blocked} {results[blocked].status}"
                    )
                    graph.done(address)
                else:
                    running[pool.submit(_guarded, execute, action, stop)] = address
            if not running:
                continue
            timeout = None if stop is None else STOP_POLL_SECONDS
            finished, _ = wait(running, timeout=timeout, return_when=FIRST_COMPLETED)
            for future in finished:
                address = running.pop(future)
                results[address] = future.result()
                graph.done(address)
    return [results[a.address] for a in actions if a.address in results]


def _skip_unstarted(
    by_address: dict[str, Action], running: dict[Future[NodeResult], str], results: dict[str, NodeResult]
) -> None:
    """Interrupted: skip every node not started yet, those still queued in the pool included."""
    for future in [f for f in running if f.cancel()]:  # queued, never started
        address = running.pop(future)
        results[address] = NodeResult(address, by_address[address].action, SKIPPED, INTERRUPTED)
    for address, action in by_address.items():
        if address not in results and address not in running.values():
            results[address] = NodeResult(address, action.action, SKIPPED, INTERRUPTED)


def _drain(running: dict[Future[NodeResult], str], results: dict[str, NodeResult]) -> None:
    """Wait for the nodes already running (each ends its own work)."""
    for future, address in list(running.items()):
        results[address] = future.result()


def _guarded(
    execute: Callable[[Action], NodeResult], action: Action, stop: threading.Event | None = None
) -> NodeResult:
    """A node that raises is a failed node, never a crashed apply; one whose turn in the pool
    comes after the walk was stopped does not start."""
    if stop is not None and stop.is_set():
        return NodeResult(action.address, action.action, SKIPPED, INTERRUPTED)
    try:
        return execute(action)
    except Exception as exc:  # every failure of one node is reported, the walk goes on
        return NodeResult(action.address, action.action, FAILED, str(exc) or type(exc).__name__)
