"""Services as desired state: a declared service is running, at its declared spec, serving the
declared function or model version. The planner compares that with the service's last serve run
(`state.runs["services.NAME"]`, found by its address label, like a run's):

- no serve run: `+ services.NAME (not running)`, deployed;
- serving, but its fingerprint (spec, function digest, model version) differs, or what it serves
  changes in this plan (a retrain: the run producing its model fires, and the service is
  redeployed after it in the same apply): `~ services.NAME (model changed: ...)`;
- its serve run is not running (stopped, or ended in error outside dhmlrun): drift,
  `~ services.NAME (not running: its message)`, deployed anew;
- starting (its run not yet ready): left to finish;
- no longer declared: `- services.NAME`, stopped (a model service's own function deleted).

The fingerprint reuses the run fingerprint (`fingerprint.py`), its inputs being the model and
the entities init parameters name, so a reason says which part changed.
"""

from __future__ import annotations

from typing import Any

from dhmlrun.config.model import Reference, Resource
from dhmlrun.errors import DhmlrunError
from dhmlrun.plan.context import PlanContext, Planned, last_output
from dhmlrun.plan.fingerprint import RunFingerprint, fingerprint_run
from dhmlrun.plan.model import (
    CREATE,
    DELETE,
    NOOP,
    PROJECT_ADDRESS,
    RUN,
    UPDATE,
    Action,
    AttributeChange,
    InputBinding,
    NoChange,
    ServiceDeploy,
    ServiceRequest,
    ServiceStop,
)
from dhmlrun.plan.rules import function_digest
from dhmlrun.platform import labels as L
from dhmlrun.platform.state import PlatformState, RemoteRun
from dhmlrun.vocabulary import keys, states
from dhmlrun.vocabulary.runs import FunctionVersion

PYTHON = "python"
TASK_FIELDS = ("replicas", "service_type", "service_name", "resources", "volumes", "envs", "secrets")
STARTING = frozenset({states.CREATED, states.BUILT, states.READY, states.PENDING, states.RESUME})
SERVING = STARTING | {states.RUNNING}


def plan_service(ctx: PlanContext, resource: Resource) -> Action:
    """The action that makes the platform serve `resource` as declared (see the module doc)."""
    spec = resource.spec
    kind = str(spec["kind"])
    refusal = ctx.state.service_refusals.get(kind)
    if refusal is not None:
        raise DhmlrunError.single(refusal, resource.location, f"{resource.address}.kind")
    function = _function(ctx, resource)
    model = _binding(ctx, resource, "model", spec.get("model")) if spec.get("model") else None
    init_inputs = {
        key: binding
        for key, value in sorted((spec.get("init_parameters") or {}).items())
        if (binding := _binding(ctx, resource, f"init_parameters.{key}", value)) is not None
    }
    versions = served_versions(
        {"model": _version(ctx, model)} if model else {},
        {k: _version(ctx, b) for k, b in init_inputs.items()},
    )
    fingerprint = fingerprint_run(
        {k: v for k, v in spec.items() if k != "labels"},
        function_digest(function.view) if function else kind,
        spec.get("image"),
        versions,
    )
    last = ctx.state.runs.get(resource.address)
    depends = sorted({PROJECT_ADDRESS, *(d for d in resource.depends_on if d in ctx.planned)})
    seen = last.id if last else "absent"
    action, reason, drift = _decide(ctx, resource, last, fingerprint, function, model, init_inputs)
    if action == NOOP:
        return NoChange(resource.address, NOOP, reason, seen=seen, depends_on=depends)
    request = ServiceRequest(
        project=ctx.declaration.project_name,
        kind=kind,
        name=resource.name,
        run_id=ctx.id_factory(),
        task_id=ctx.id_factory(),
        function=FunctionVersion(function.address, str(function.entity_id), str(function.key), PYTHON)
        if function
        else None,
        function_id=ctx.id_factory() if function is None else "",
        model=model,
        model_name=spec.get("model_name"),
        image=spec.get("image"),
        init_parameters={
            k: v for k, v in (spec.get("init_parameters") or {}).items() if k not in init_inputs
        },
        init_inputs=init_inputs,
        task={k: spec[k] for k in TASK_FIELDS if k in spec},
        labels=L.encode(
            {
                L.ADDRESS: resource.address,
                L.FINGERPRINT: fingerprint.value,
                L.FP_SPEC: fingerprint.spec,
                L.FP_FUNCTION: fingerprint.function,
                L.FP_INPUTS: fingerprint.inputs,
            }
        ),
        fingerprint=fingerprint.value,
        supersedes=last.id if last is not None and last.state in SERVING else None,
    )
    diff = [AttributeChange("kind", None, kind)] if last is None else []
    return ServiceDeploy(
        resource.address,
        action,
        reason,
        diff=diff,
        depends_on=depends,
        seen=seen,
        drift=drift,
        request=request,
    )


def served_versions(model: dict[str, str], init: dict[str, str]) -> dict[str, str]:
    """The fingerprint's inputs of a service: the model's key and each init parameter entity's."""
    return {**model, **{f"init.{key}": value for key, value in init.items()}}


def _decide(
    ctx: PlanContext,
    resource: Resource,
    last: RemoteRun | None,
    fingerprint: RunFingerprint,
    function: Planned | None,
    model: InputBinding | None,
    init_inputs: dict[str, InputBinding],
) -> tuple[str, str, bool]:
    """(action, reason, drift?) for one declared service."""
    if last is None or last.state in states.REMOVED:
        return CREATE, "not running", False
    if last.state in (states.STOPPED, states.ERROR, states.COMPLETED):
        return UPDATE, f"not running: {_why_not_running(last)}", True
    changes = _upstream_changes(ctx, function, model, init_inputs)
    if changes:
        return UPDATE, "; ".join(changes), False
    if last.fingerprint != fingerprint.value:
        return UPDATE, _fingerprint_reason(last, fingerprint), False
    if last.state in STARTING:
        return NOOP, f"starting (run {last.id} is {last.state.lower()})", False
    return NOOP, f"serving at http://{last.service_url}" if last.service_url else "serving", False


def _why_not_running(last: RemoteRun) -> str:
    if last.state == states.STOPPED:
        return f"run {last.id} was stopped"
    message = " ".join((last.message or "").split())
    return message or f"run {last.id} is {last.state.lower()}"


def _upstream_changes(
    ctx: PlanContext,
    function: Planned | None,
    model: InputBinding | None,
    init_inputs: dict[str, InputBinding],
) -> list[str]:
    """What changes in this plan that the service serves: its function, its model, an entity its
    init parameters name (a run producing one fires, or a declared one gets a new version)."""
    changes = []
    if function is not None and function.action in (CREATE, UPDATE):
        changes.append(f"function changed: {function.address} gets a new version")
    bindings = ([("model", model)] if model else []) + [(f"init {k}", b) for k, b in init_inputs.items()]
    for what, binding in bindings:
        planned = ctx.planned.get(binding.run or binding.ref)
        if planned is None:
            continue
        if planned.action == RUN:
            changes.append(f"{what} changed: a new version from {binding.run} (it runs first)")
        elif planned.action in (CREATE, UPDATE):
            changes.append(f"{what} changed: new version {planned.entity_id} of {binding.ref}")
    return changes


def _fingerprint_reason(last: RemoteRun, fingerprint: RunFingerprint) -> str:
    recorded = last.recorded
    reasons = []
    if recorded.get(L.FP_SPEC) != fingerprint.spec:
        reasons.append("spec changed")
    if recorded.get(L.FP_FUNCTION) != fingerprint.function:
        reasons.append("function changed")
    if recorded.get(L.FP_INPUTS) != fingerprint.inputs:
        reasons.append("model changed: another version")
    return "; ".join(reasons) or "fingerprint changed"


def _function(ctx: PlanContext, resource: Resource) -> Planned | None:
    address = resource.spec.get("function")
    if not address:
        return None
    planned = ctx.planned.get(str(address))
    if planned is None:
        raise DhmlrunError.single(
            f"function {address} is not declared", resource.location, f"{resource.address}.function"
        )
    return planned


def _binding(ctx: PlanContext, resource: Resource, field: str, value: Any) -> InputBinding | None:
    """What a model or an init parameter names: a declared entity's key, a run output of this
    plan (filled in by apply after that run), or a store key; None for a plain value."""
    if not isinstance(value, str):
        return None
    if value.startswith(keys.PREFIX):
        return InputBinding(value, key=value)
    reference = Reference.parse(value)
    if reference is None:
        if field == "model":
            raise DhmlrunError.single(
                f"{value!r} is not a model reference", resource.location, f"{resource.address}.model"
            )
        return None
    planned = ctx.planned.get(reference.address)
    if planned is None:
        raise DhmlrunError.single(
            f"{reference} is not declared", resource.location, f"{resource.address}.{field}"
        )
    if reference.output is None:
        return InputBinding(str(reference), key=planned.key)
    produced = (
        None
        if planned.action == RUN
        else last_output(ctx.state.runs.get(reference.address), reference.output)
    )
    return InputBinding(str(reference), key=produced, run=reference.address, output=reference.output)


def _version(ctx: PlanContext, binding: InputBinding) -> str:
    """The version a binding names, for the fingerprint: the key of the entity version served
    (apply records the key a run of the same apply produced: `served_labels`)."""
    return binding.key or f"{PENDING}{binding.run}"


PENDING = "produced-by:"


def served_labels(labels: list[str], served: dict[str, str]) -> list[str]:
    """A serve run's labels once apply knows the keys it serves (`served`: model and init
    parameters by fingerprint name): the inputs part of its fingerprint is theirs, so the next
    plan, which reads the keys a run produced, finds the service up to date."""
    from dhmlrun.plan.fingerprint import RunFingerprint, digest

    _, ours, user = L.decode(labels)
    inputs = digest(dict(served))
    if ours.get(L.FP_INPUTS) == inputs:
        return list(labels)
    ours[L.FP_INPUTS] = inputs
    ours[L.FINGERPRINT] = RunFingerprint(ours.get(L.FP_SPEC, ""), ours.get(L.FP_FUNCTION, ""), inputs).value
    return L.encode(ours, user)


def plan_service_removals(declared: set[str], state: PlatformState, reason: str) -> list[Action]:
    """Stop every service the platform runs (or a model service's function) not in `declared`."""
    actions: list[Action] = []
    addresses = {a for a in state.runs if a.startswith("services.")} | set(state.service_functions)
    for address in sorted(addresses - declared):
        run = state.runs.get(address)
        serving = run is not None and run.state in SERVING
        owned = state.service_functions.get(address)
        if not serving and owned is None:
            continue
        actions.append(
            ServiceStop(
                address,
                DELETE,
                reason,
                seen=run.id if run else (owned.id if owned else "absent"),
                diff=[AttributeChange("url", run.service_url if run else None, None)],
                run_id=run.id if serving and run else None,
                function_name=owned.name if owned else None,
            )
        )
    return actions
