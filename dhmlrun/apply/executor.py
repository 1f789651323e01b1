"""Apply: execute the Plan it is given, exactly; never re-plan, never re-decide.

Platform writes go through `dhmlrun.platform.Platform` from a thread pool; each run executes
in its own worker process (running `dhmlrun.apply.run_worker`: forked by the warm run server
when apply started one, else a fresh interpreter), so mlrun's process-global state cannot leak
between runs and this process never imports mlrun. Outputs of a run feed
the inputs of later runs (`runs.X.outputs.Y`) once it completes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from dhmlrun.apply.graph import walk
from dhmlrun.apply.run_server import RunServer, RunServerUnavailable
from dhmlrun.errors import DhmlrunError
from dhmlrun.plan.model import ABSENT, ADOPT, CREATE, DELETE, RUN, UPDATE, Action, Plan
from dhmlrun.platform import RUNS_DIR_ENV
from dhmlrun.platform.client import Platform
from dhmlrun.platform.state import PlatformState
from dhmlrun.render import NodeResult, mask_value

Progress = Callable[[str], None]
Events = Callable[[str, str, str, float, str], None]
"""A structured progress hook: (address, action, status, elapsed seconds, message), status one of
started | done | failed (the live display of `dhmlrun.progress` draws from these)."""


def stale_reasons(plan: Plan, state: PlatformState) -> list[str]:
    """What moved on the platform since `plan` was made (empty when it still applies)."""
    reasons = []
    for action in plan.actions:
        now = _seen_now(action, state)
        if now != action.seen:
            was = "absent" if action.seen == ABSENT else f"at {action.seen}"
            is_ = "absent" if now == ABSENT else f"at {now}"
            reasons.append(f"{action.address} was {was} when planned, is now {is_}")
    for address, run_id in sorted(plan.seen_runs.items()):
        now_run = state.runs.get(address)
        if now_run is None or now_run.id != run_id:
            reasons.append(f"{address} has run since the plan was made")
    for address, run in sorted(state.runs.items()):
        if address not in plan.seen_runs:
            reasons.append(f"{address} has run since the plan was made ({run.id})")
    return reasons


def _seen_now(action: Action, state: PlatformState) -> str:
    if action.address == "project":
        return state.project if state.project_exists else ABSENT
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


class Applier:
    """Executes one plan against one platform; holds the outputs of runs done so far."""

    def __init__(
        self,
        plan: Plan,
        platform: Platform,
        *,
        progress: Progress,
        secrets: Iterable[str] = (),
        log_dir: Path | None = None,
        events: Events | None = None,
        run_server: RunServer | None = None,
    ) -> None:
        self.plan = plan
        self.run_server = run_server
        self.events = events
        self.platform = platform
        self.progress = progress
        self.secrets = list(secrets)
        self.log_dir = log_dir or Path(plan.root) / ".dhmlrun" / "logs"
        self._outputs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.stop = threading.Event()
        """Set when apply was interrupted: nothing more starts (`graph.walk`)."""

    def apply(self, parallelism: int = 4) -> list[NodeResult]:
        return walk(self.plan.actions, self._execute, parallelism, self.stop)

    def signal_runs(self, signum: int) -> None:
        """Forward a signal to the runs executing now (their workers end them: `run_worker.py`)."""
        signal_runs(self.run_server, signum)

    def _say(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self.progress(str(mask_value(f"[{stamp}] {text}", self.secrets)))

    def _event(self, action: Action, status: str, elapsed: float = 0.0, message: str = "") -> None:
        if self.events is not None:
            masked = str(mask_value(message, self.secrets))
            self.events(action.address, action.action, status, elapsed, masked)

    def _execute(self, action: Action) -> NodeResult:
        verb = {
            CREATE: "creating", UPDATE: "updating", DELETE: "deleting", RUN: "running", ADOPT: "adopting"
        }[action.action]
        self._say(f"{action.address}: {verb}…")
        self._event(action, "started")
        started = time.monotonic()
        try:
            result = self._dispatch(action)
        except Exception as exc:
            elapsed = time.monotonic() - started
            message = str(exc) or type(exc).__name__
            self._say(f"{action.address}: failed ({elapsed:.1f}s): {message}")
            self._event(action, "failed", elapsed, message)
            return NodeResult(action.address, action.action, "failed", message, elapsed)
        result.elapsed = time.monotonic() - started
        self._event(action, result.status, result.elapsed, result.message)
        self._say(
            f"{action.address}: {result.status} ({result.elapsed:.1f}s)"
            + (f": {result.message}" if result.status != "done" and result.message else "")
        )
        return result

    def _dispatch(self, action: Action) -> NodeResult:
        if action.address == "project":
            self.platform.ensure_project(action.body, update=action.action == UPDATE)
            return NodeResult(action.address, action.action, "done", entity_id=self.plan.project)
        if action.action == DELETE:
            self.platform.delete_entity(self.plan.project, action.type, action.name)
            return NodeResult(action.address, action.action, "done")
        if action.action == RUN:
            return self._run(action)
        if action.in_place:
            self.platform.adopt_in_place(action.type, action.body)
            return NodeResult(action.address, action.action, "done", entity_id=action.seen)
        created = self.platform.create_entity(action.type, action.body)
        return NodeResult(action.address, action.action, "done", entity_id=str(created.get("id")))

    # ---------------------------------------------------------------- runs

    def _run(self, action: Action) -> NodeResult:
        if action.body.get("supersedes"):
            self.platform.fail_run(
                self.plan.project,
                str(action.body["supersedes"]),
                f"executor lost: the process executing it stopped renewing its lease; "
                f"superseded by run {action.body['run_id']}",
            )
        request = dict(action.body)
        request["inputs"] = self._resolve_inputs(action)
        result = run_in_worker(request, self.log_dir, action.address, self.run_server)
        outputs = dict(result.get("outputs") or {})
        with self._lock:
            self._outputs[action.address] = outputs
        state = str(result.get("state") or "ERROR")
        if state != "COMPLETED":
            message = result.get("message") or f"run ended in state {state}"
            try:
                self.platform.fail_run(self.plan.project, str(action.body["run_id"]), str(message))
            except DhmlrunError as exc:  # the run's own failure is the one to report
                message = f"{message} (and it could not be marked ERROR: {exc})"
            return NodeResult(action.address, RUN, "failed", str(message), entity_id=result.get("id"))
        return NodeResult(action.address, RUN, "done", entity_id=result.get("id"), outputs=outputs)

    def _resolve_inputs(self, action: Action) -> dict[str, str]:
        """Input keys for the worker; outputs of upstream runs of this apply are filled in now."""
        resolved = {}
        for key, binding in (action.body.get("inputs") or {}).items():
            value = binding.get("key")
            if binding.get("run"):
                with self._lock:
                    upstream = self._outputs.get(binding["run"])
                if upstream is not None:
                    value = output_key(upstream.get(binding["output"]))
            if not value:
                raise DhmlrunError.single(
                    f"input {key}: {binding.get('ref')} has no value "
                    "(the upstream run produced no such output)"
                )
            resolved[key] = str(value)
        return resolved


def output_key(value: Any) -> str | None:
    """A run output as the store key of the entity it produced (status.outputs form varies)."""
    if isinstance(value, dict):
        return value.get("key") or value.get("id")
    return None if value is None else str(value)


def run_in_worker(
    request: dict[str, Any], log_dir: Path, address: str, server: RunServer | None = None
) -> dict[str, Any]:
    """Execute one run in its own process, running `dhmlrun.apply.run_worker`; its result dict.

    The process is a child forked by the warm `server` when there is one that can take the run
    (mlrun and digitalhub already imported: see `run_server.py`), else a fresh
    `python -m dhmlrun.apply.run_worker`.

    The worker's output files (datasets registered by local path) must outlive it, so unless
    the user chose `DHMLRUN_RUNS_DIR` they go next to the logs, in the config's `.dhmlrun/runs`.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / f"{address}.log"
    env = dict(os.environ)
    env.setdefault(RUNS_DIR_ENV, str((log_dir.parent / "runs").resolve()))
    with tempfile.TemporaryDirectory(prefix="dhmlrun-run-") as tmp:
        request_file = Path(tmp) / "request.json"
        result_file = Path(tmp) / "result.json"
        request_file.write_text(json.dumps(request), encoding="utf-8")
        argv = [str(request_file), str(result_file)]
        returncode = _in_server(server, argv, log_file, env, tmp)
        if returncode is None:
            returncode = _in_fresh_worker(argv, log_file, env, tmp)
        if result_file.is_file():
            return json.loads(result_file.read_text(encoding="utf-8"))
    tail = log_file.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
    return {
        "id": request.get("run_id"),
        "state": "ERROR",
        "message": f"run worker exited with code {returncode}: " + " | ".join(tail),
    }


_fresh_workers: set[subprocess.Popen[bytes]] = set()
_fresh_workers_lock = threading.Lock()


def _in_fresh_worker(argv: list[str], log_file: Path, env: dict[str, str], cwd: str) -> int:
    """The exit code of a new `python -m dhmlrun.apply.run_worker` process running the run."""
    with log_file.open("w", encoding="utf-8") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "dhmlrun.apply.run_worker", *argv],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
        )
        with _fresh_workers_lock:
            _fresh_workers.add(worker)
        try:
            return worker.wait()
        finally:
            with _fresh_workers_lock:
                _fresh_workers.discard(worker)


def signal_runs(server: RunServer | None, signum: int) -> None:
    """Send `signum` to every run worker executing now (forked by `server` or started fresh)."""
    if server is not None:
        server.signal_children(signum)
    with _fresh_workers_lock:
        workers = list(_fresh_workers)
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signum)


def _in_server(
    server: RunServer | None, argv: list[str], log_file: Path, env: dict[str, str], cwd: str
) -> int | None:
    """The exit code of the run forked by `server`, or None when it could not take the run."""
    if server is None:
        return None
    try:
        return server.execute(argv, log_file, env, cwd)
    except RunServerUnavailable:
        return None
