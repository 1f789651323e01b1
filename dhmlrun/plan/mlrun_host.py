"""Planning when the `mlrun` functions, schedules and runs live on an MLRun service (the
DigitalHub platform has no `mlrun` runtime: a stock DHCore 0.15).

What changes compared with a DHCore that has the runtime:
- the project must also exist on MLRun (`MLRunProject`, before any function);
- what MLRun cannot hold is refused when the plan is made, never dropped at apply: a function's
  code must be one Python file or inline code (MLRun keeps it inside the function; archives and
  git sources have no such form), and a remote run may not ask for what mlrun cannot express
  (`runtime/k8s.INEXPRESSIBLE`);
- a run with `schedule` is an MLRun schedule, planned like an entity: created, replaced when its
  run spec, function, inputs or cron change (its fingerprint), deleted when the run is no longer
  scheduled or declared. It executes on MLRun's Kubernetes, so it is remote, and its outputs stay
  on MLRun (no apply is there to register them on DigitalHub): no run may read them;
- every action on those families says so (`backend`: `backend_of` decides it, here only), and
  apply dispatches on that.

Pure, like the rest of the planner: standard library only (no mlrun), so `plan` stays light.
"""

from __future__ import annotations

from dhmlrun.config.model import Declaration, Reference, Resource
from dhmlrun.errors import DhmlrunError, Problem
from dhmlrun.mlrun_names import mlrun_function_name
from dhmlrun.plan.model import (
    ABSENT,
    CREATE,
    DELETE,
    MLRUN_PROJECT_ADDRESS,
    NOOP,
    PROJECT_ADDRESS,
    UPDATE,
    Action,
    AttributeChange,
    MLRunProject,
    NoChange,
    RunRequest,
    ScheduleDelete,
    ScheduleWrite,
)
from dhmlrun.platform import labels as L
from dhmlrun.platform.mlrun import SCHEDULE_LABEL
from dhmlrun.platform.state import PlatformState
from dhmlrun.sources import ARCHIVE_SUFFIXES, Fetch, UnsupportedSource, classify_source
from dhmlrun.vocabulary import defaults
from dhmlrun.vocabulary.backends import DHCORE, MLRUN
from dhmlrun.vocabulary.kinds import MLRUN_KIND

INEXPRESSIBLE = {
    "resources.disk": "MLRun cannot express it: mlrun refuses more than three limits next to a GPU and "
    "MLRun drops ephemeral-storage requests",
    "profile": "a DHCore resource profile has no MLRun counterpart; give resources instead",
}
"""Task parameters a run executed by MLRun's Kubernetes cannot have (mirrors `runtime/k8s.py`,
which must not be imported here: it imports the Kubernetes client)."""


def hosts_mlrun(state: PlatformState) -> bool:
    """Whether this plan's `mlrun` families live on an MLRun service."""
    return state.mlrun is not None


def backend_of(state: PlatformState, kind: object) -> str:
    """Where a function of `kind`, and its runs, live in this plan (`vocabulary/backends.py`)."""
    return MLRUN if hosts_mlrun(state) and kind == MLRUN_KIND else DHCORE


def mlrun_functions(declaration: Declaration) -> list[Resource]:
    return [r for r in declaration.of_type("functions") if r.spec.get("kind") == MLRUN_KIND]


def is_mlrun_run(declaration: Declaration, run: Resource) -> bool:
    function = declaration.resources.get(str(run.spec.get("function")))
    return function is not None and function.spec.get("kind") == MLRUN_KIND


def scheduled(declaration: Declaration, state: PlatformState, run: Resource) -> bool:
    """A run that is an MLRun schedule rather than a run started by apply."""
    return hosts_mlrun(state) and bool(run.spec.get("schedule")) and is_mlrun_run(declaration, run)


# ---------------------------------------------------------------- what MLRun cannot hold


def check(declaration: Declaration, state: PlatformState) -> None:
    """Raise every reason the declaration cannot live on this MLRun service, at once."""
    if not hosts_mlrun(state):
        return
    problems = [p for f in mlrun_functions(declaration) if (p := _source_problem(f)) is not None]
    for run in declaration.of_type("runs"):
        if is_mlrun_run(declaration, run):
            problems.extend(_run_problems(declaration, state, run))
    if problems:
        raise DhmlrunError(problems)


def _source_problem(function: Resource) -> Problem | None:
    source = function.spec.get("source") or {}
    uri = source.get("source") if isinstance(source, dict) else None
    if not isinstance(uri, str) or not uri or source.get("code") or source.get("base64"):
        return None
    try:
        form = classify_source(uri, declared=True)
    except UnsupportedSource:
        return None  # validate reports it
    if form.fetch is Fetch.LOCAL and not uri.lower().endswith(ARCHIVE_SUFFIXES):
        return None
    return Problem(
        f"{uri!r}: MLRun keeps a function's code inside the function, so on an MLRun service it must "
        "be one local Python file or inline `code` (archives and git, https or s3 sources have no "
        "MLRun form here)",
        function.location,
        f"{function.address}.source.source",
    )


def _run_problems(declaration: Declaration, state: PlatformState, run: Resource) -> list[Problem]:
    spec, problems = run.spec, []
    remote = spec.get("execution") == defaults.REMOTE or bool(spec.get("schedule"))
    if remote:
        for field, why in INEXPRESSIBLE.items():
            head, _, tail = field.partition(".")
            value = (spec.get(head) or {}).get(tail) if tail else spec.get(head)
            if value not in (None, "", {}):
                problems.append(
                    Problem(
                        f"a run executed by MLRun cannot have {field}: {why}",
                        run.location,
                        f"{run.address}.{field}",
                    )
                )
    if spec.get("schedule") and spec.get("execution") == defaults.LOCAL:
        problems.append(
            Problem(
                "a scheduled run executes on MLRun's Kubernetes, so it cannot be `execution: local` "
                "(remove execution, or set it to remote)",
                run.location,
                f"{run.address}.execution",
            )
        )
    for key, text in sorted((spec.get("inputs") or {}).items()):
        ref = Reference.parse(str(text))
        upstream = declaration.resources.get(ref.address) if ref and ref.output else None
        if upstream is not None and scheduled(declaration, state, upstream):
            problems.append(
                Problem(
                    f"{ref} is an output of a scheduled run, which stays on MLRun (no apply is there to "
                    "register it on DigitalHub); read a declared dataitem instead",
                    run.location,
                    f"{run.address}.inputs.{key}",
                )
            )
    return problems


# ---------------------------------------------------------------- the project on MLRun


def plan_project(declaration: Declaration, state: PlatformState) -> Action | None:
    """The MLRun project, when MLRun holds the functions and does not have it yet."""
    if not hosts_mlrun(state) or not mlrun_functions(declaration):
        return None
    name = declaration.project_name
    if state.mlrun_project_exists:
        return NoChange(MLRUN_PROJECT_ADDRESS, NOOP, f"up to date on {state.mlrun}", seen=name, backend=MLRUN)
    return MLRunProject(
        MLRUN_PROJECT_ADDRESS,
        CREATE,
        f"not on the MLRun service {state.mlrun}",
        seen=ABSENT,
        diff=[AttributeChange("name", None, name)],
        depends_on=[PROJECT_ADDRESS],
        description=declaration.project.get("description"),
    )


def on_mlrun(state: PlatformState, function: Resource) -> bool:
    """Whether this declared function lives on the MLRun service."""
    return backend_of(state, function.spec.get("kind")) == MLRUN


def function_dependencies(state: PlatformState, function: Resource) -> list[str]:
    """What a function's write waits for: the project, on MLRun too when it lives there."""
    return [PROJECT_ADDRESS, MLRUN_PROJECT_ADDRESS] if on_mlrun(state, function) else [PROJECT_ADDRESS]


# ---------------------------------------------------------------- schedules


def schedule_name(run: Resource) -> str:
    """The MLRun schedule of a declared run: its name made an mlrun name (unique per project,
    as run names are)."""
    return mlrun_function_name(run.name)


def plan_schedule(
    run: Resource,
    state: PlatformState,
    request: RunRequest,
    depends_on: list[str],
    what: list[AttributeChange],
) -> Action:
    """Create, replace or keep the MLRun schedule of a scheduled run (`request` is the run each
    firing starts: its fingerprint says what it computes; `what`: that run, as a new run's
    attributes)."""
    cron = str(run.spec["schedule"])
    request.labels = [*request.labels, f"{L.PREFIX}{SCHEDULE_LABEL}={cron}"]
    current = state.schedules.get(run.address)
    if current is None:
        diff = [AttributeChange("schedule", None, cron), *what]
        return ScheduleWrite(
            run.address,
            CREATE,
            f"schedule {cron} not on MLRun",
            diff=diff,
            request=request,
            seen=ABSENT,
            depends_on=depends_on,
        )
    reasons, diff = [], []
    if current.cron.split() != cron.split():
        reasons.append("schedule changed")
        diff.append(AttributeChange("schedule", current.cron, cron))
    if current.fingerprint != request.fingerprint:
        reasons.extend(_run_changes(current.recorded, dict(L.decode(request.labels)[1])))
    if not reasons:  # seen like any run's: its last run (a firing since makes a saved plan stale)
        last = state.runs.get(run.address)
        return NoChange(
            run.address,
            NOOP,
            f"scheduled {cron} on MLRun, up to date",
            seen=last.id if last else ABSENT,
            depends_on=depends_on,
            backend=MLRUN,
        )
    return ScheduleWrite(
        run.address,
        UPDATE,
        "; ".join(reasons),
        diff=diff,
        request=request,
        seen=current.name,
        depends_on=depends_on,
    )


def _run_changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """What changed in the run a schedule starts, by the parts of its fingerprint."""
    parts = {
        L.FP_SPEC: "run spec changed",
        L.FP_FUNCTION: "its function changed",
        L.FP_INPUTS: "an input has a new version",
    }
    return [why for part, why in parts.items() if before.get(part) != after.get(part)] or ["run changed"]


def schedule_deletions(declaration: Declaration, state: PlatformState) -> list[Action]:
    """Delete the schedules of runs no longer declared, or declared without a schedule."""
    actions: list[Action] = []
    for address, schedule in sorted(state.schedules.items()):
        declared = declaration.resources.get(address)
        if declared is not None and scheduled(declaration, state, declared):
            continue
        reason = "removed from the configuration" if declared is None else "no longer scheduled"
        actions.append(
            ScheduleDelete(
                address,
                DELETE,
                reason,
                seen=schedule.name,
                schedule=schedule.name,
                diff=[AttributeChange("schedule", schedule.cron, None)],
            )
        )
    return actions


def destroy_schedules(state: PlatformState) -> list[Action]:
    """Every managed schedule, for `destroy`."""
    return [
        ScheduleDelete(
            address,
            DELETE,
            "destroy",
            seen=s.name,
            schedule=s.name,
            diff=[AttributeChange("schedule", s.cron, None)],
        )
        for address, s in sorted(state.schedules.items())
    ]
