"""One run, in its own process: `python -m dhmlrun.apply.run_worker REQUEST.json RESULT.json`.

Apply starts one of these per run so that mlrun's process-global state (env vars, temp files,
its run DB) never leaks between runs and the apply process itself never imports mlrun. The run
goes through the SDK exactly as a user's `function.run("job", ..., local_execution=True)` would;
with `execution: remote` the run is created for the platform's executor and polled until it ends.
The result file gets {id, state, message, outputs, results}; the exit code is 0 whenever a
result could be written (a failed run is a result, not a crash).
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

FINAL = {"COMPLETED", "ERROR", "STOPPED", "DELETED"}
POLL_SECONDS = 0.5


def execute(request: dict[str, Any]) -> dict[str, Any]:
    """Create and execute the run the request describes; return its final state and outputs."""
    import digitalhub as dh

    from dhmlrun.platform import http
    from dhmlrun.platform.lease import RunLease

    http.install()  # timeouts, retries, idempotent creates for this process's SDK calls too
    function = dh.get_function(request["function"]["key"])
    remote = request.get("execution") == "remote"
    kwargs = dict(request.get("task") or {})
    # a local run executes in this process: hold its lease from its create on, so that if this
    # process dies the next apply sees "executor lost" (a remote run's executor holds its own)
    lease = None if remote else RunLease(request["project"], request["run_id"]).start()
    try:
        run = _start_or_adopt(function, request, kwargs, remote)
    finally:
        if lease is not None:
            lease.stop()
    while str(run.status.state) not in FINAL:
        time.sleep(POLL_SECONDS)
        run.refresh()
    status = run.status.to_dict() if hasattr(run.status, "to_dict") else dict(vars(run.status))
    return {
        "id": run.id,
        "state": str(run.status.state),
        "message": status.get("message"),
        "outputs": status.get("outputs") or {},
        "results": status.get("results") or {},
    }


def _start_or_adopt(function: Any, request: dict[str, Any], kwargs: dict[str, Any], remote: bool) -> Any:
    """Start the run with the id apply chose; a retry finds it already there and adopts it."""
    import digitalhub as dh
    from digitalhub.utils.exceptions import EntityAlreadyExistsError

    try:
        return function.run(
            request.get("action") or "job",
            uuid=request["run_id"],
            labels=list(request.get("labels") or ()),
            inputs=dict(request.get("inputs") or {}),
            outputs=dict(request.get("outputs") or {}),
            parameters=dict(request.get("parameters") or {}),
            values=list(request.get("values") or ()),
            local_execution=not remote,
            **kwargs,
        )
    except EntityAlreadyExistsError:
        return dh.get_run(request["run_id"], project=request["project"])


def main(argv: list[str]) -> int:
    request_file, result_file = Path(argv[0]), Path(argv[1])
    request = json.loads(request_file.read_text(encoding="utf-8"))
    try:
        result = execute(request)
    except Exception as exc:  # reported as the run's failure, with the traceback in the log
        traceback.print_exc()
        result = {"id": request.get("run_id"), "state": "ERROR", "message": f"{type(exc).__name__}: {exc}"}
    result_file.write_text(json.dumps(result, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
