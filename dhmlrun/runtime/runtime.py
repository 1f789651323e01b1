"""The runtime behind `mlrun+job:run`: `build()` merges the specs, `run()` executes one run.

`run()` is the seed's workflow, one module per step: fetch inputs (`inputs`), materialise the
source (`source`), run the handler with mlrun (`execute`), map what it produced (`results`),
then store the captured output as the run's log (`logs`). Every failure, whatever raised it,
comes back as a status with state ERROR and the real message: the SDK then records it and
`function.run(...)` returns the run instead of raising, so callers always get the run to inspect.
"""

from __future__ import annotations

import logging
import os
import traceback
from pathlib import Path
from typing import Any

from digitalhub.entities._commons.enums import State
from digitalhub.runtimes._base import Runtime

from dhmlrun.runtime.errors import ExecutionError

log = logging.getLogger("dhmlrun.runtime")

DEFAULT_RETURN = "return"
"""mlrun key of a handler's return value when no outputs are declared (mlrun's own default name);
declaring it lets mlrun log a returned DataFrame as a dataset instead of failing on it."""


class RuntimeMlrunJob(Runtime):
    """Executes `mlrun+job` runs with mlrun, locally (`local=True`) or on an MLRun service.

    `build()` is the SDK's: function spec, then task spec, then run spec, later keys winning.
    """

    def run(self, run: dict) -> dict:
        """Execute the run and return its new status; never raises."""
        from dhmlrun.runtime import deadline

        transcript: list[str] = [_timeout_note(run.get("spec", {}))]
        try:
            status = self._execute(run, transcript)
        except ExecutionError as exc:
            status = _failed(str(exc))
        except Exception as exc:  # a bug or an unexpected SDK failure: still an ERROR run, never a hang
            log.exception("mlrun runtime failed")
            status = _failed(f"{type(exc).__name__}: {exc}")
            transcript.append(traceback.format_exc())
        timed_out = deadline.handler_finished()  # failed before the handler ran, as the watchdog fired
        if timed_out:
            status = _failed(timed_out)
        if status["state"] == State.ERROR.value:
            transcript.append(f"run failed: {status['message']}")
        self._store_logs(run, transcript)
        return status

    def _execute(self, run: dict, transcript: list[str]) -> dict:
        """The seed's workflow; what mlrun printed is appended to `transcript` as soon as known."""
        from dhmlrun.runtime.execute import run_job
        from dhmlrun.runtime.results import check_declared_outputs, produced_files, register_outputs

        spec = run.get("spec", {})
        run_dir = runs_root(self.project) / run["id"]
        transcript.append(f"run directory: {run_dir}")
        outputs = dict(spec.get("outputs") or {})
        outcome = run_job(self._job(run, spec, run_dir, outputs))
        transcript.append(Printed(outcome.logs))
        _stop_deadline()
        if outcome.failed:
            return _failed(outcome.error or "the handler failed")
        files = produced_files(outcome.artifacts)
        check_declared_outputs(files, outputs)
        return {
            "state": State.COMPLETED.value,
            "outputs": register_outputs(self.project, run["key"], files, outputs),
            "results": _values(outcome.results, spec, outputs),
        }

    def _job(self, run: dict, spec: dict, run_dir: Path, outputs: dict[str, str]) -> Any:
        """Fetch inputs and materialise the source, then describe the mlrun job to run."""
        from dhmlrun.runtime.execute import MlrunJob
        from dhmlrun.runtime.inputs import fetch_inputs
        from dhmlrun.runtime.source import check_handler_defined, materialise

        handler = spec.get("handler") or (spec.get("source") or {}).get("handler")
        if not handler:
            raise ExecutionError("the function has no handler")
        inputs, params = _inputs_and_params(spec)
        local_inputs = fetch_inputs(inputs, run_dir / "inputs")
        code = materialise(spec.get("source") or {}, handler, run_dir / "source")
        check_handler_defined(code)
        return MlrunJob(
            project=self.project,
            name=_function_name(spec.get("function"), run["id"]),
            code_file=code.file,
            handler=code.function,
            source_root=code.root,
            run_dir=run_dir,
            inputs=local_inputs,
            params=params,
            returns=list(outputs) or [DEFAULT_RETURN],
            image=spec.get("image"),
            envs={e["name"]: e["value"] for e in spec.get("envs") or []},
            task_params=spec,
            declared_source=(spec.get("source") or {}).get("source"),
        )

    def _store_logs(self, run: dict, transcript: list[str]) -> None:
        """Store the transcript as the run's log; or, where the executor keeps everything the
        process prints as the run's log (the embedded core's workers), print the notes it does
        not hold yet (what the handler printed is printed already)."""
        from dhmlrun.runtime.logs import store_run_log
        from dhmlrun.vocabulary.settings import OUTPUT_KEPT_ENV

        if os.environ.get(OUTPUT_KEPT_ENV):
            notes = [part for part in transcript if part.strip() and not isinstance(part, Printed)]
            print("".join(f"{part.rstrip()}\n" for part in notes), end="", flush=True)
            return
        text = "".join(f"{part.rstrip()}\n" for part in transcript if part.strip())
        try:
            store_run_log(self.project, run["id"], text)
        except Exception:
            log.exception("could not store the run log")


class Printed(str):
    """A part of a run's transcript that this process printed already (what mlrun captured is
    echoed as it comes: `capture.Tee`)."""


def _inputs_and_params(spec: dict) -> tuple[dict[str, str], dict[str, Any]]:
    """mlrun inputs and params: `parameters["inputs"]` joins the inputs (declared inputs win)."""
    params = dict(spec.get("parameters") or {})
    extra = params.pop("inputs", None) or {}
    if not isinstance(extra, dict):
        raise ExecutionError("parameters.inputs must be a mapping of input name to path or entity key")
    return {**{name: str(ref) for name, ref in extra.items()}, **(spec.get("inputs") or {})}, params


def _stop_deadline() -> None:
    """The handler returned: stop the run's watchdog before anything is registered, or give up
    the run when the watchdog already fired (it marks the run timed out and ends the process)."""
    from dhmlrun.runtime import deadline

    timed_out = deadline.handler_finished()
    if timed_out:
        raise ExecutionError(timed_out)


def _timeout_note(spec: dict) -> str:
    """A log line when the run has a timeout that this process does not enforce."""
    from dhmlrun.runtime import deadline

    timeout = spec.get("timeout")
    guard = deadline.active()
    if timeout is None or (guard is not None and guard.seconds is not None):
        return ""
    return (
        f"note: timeout {timeout:g} s is not enforced in the caller's process; "
        "it applies to runs executed by a worker (created without local_execution)"
    )


def _values(results: dict[str, Any], spec: dict, outputs: dict[str, str]) -> dict[str, Any]:
    from dhmlrun.runtime.results import select_results

    return select_results(results, list(spec.get("values") or []), [*outputs, DEFAULT_RETURN])


def runs_root(project: str) -> Path:
    """Where run directories live: `$DHMLRUN_RUNS_DIR` (apply and the embedded core set it),
    else the user's data directory (`settings.default_runs_dir`), never the current directory.

    Outputs registered by local path stay here, so the directory must outlive the run.
    """
    from dhmlrun.vocabulary.settings import RUNS_DIR_ENV, default_runs_dir

    configured = os.environ.get(RUNS_DIR_ENV)
    return (Path(configured).expanduser() if configured else default_runs_dir()).resolve()


def _function_name(function: str | None, run_id: str) -> str:
    """The function's name from its executable string `mlrun://project/name:id`."""
    if function:
        return function.split("://", 1)[-1].split("/", 1)[-1].split(":", 1)[0]
    return f"run-{run_id[:8]}"


def _failed(message: str) -> dict[str, Any]:
    return {"state": State.ERROR.value, "message": message}
