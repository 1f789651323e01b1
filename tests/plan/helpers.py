"""Hand-built Declarations and platform states for the planner's unit tests (no config loader,
no platform): the planner is a pure function of the two."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from dhmlrun.config.model import Declaration, Reference, Resource, Variable
from dhmlrun.errors import Location
from dhmlrun.plan.model import EntityWrite, Plan, RunRequest, RunStart
from dhmlrun.platform.state import PlatformState, RemoteEntity, RemoteRun
from dhmlrun.vocabulary import keys
from dhmlrun.vocabulary.addresses import Address
from dhmlrun.vocabulary.defaults import RUN_DEFAULTS
from dhmlrun.vocabulary.runs import FIELDS_NOT_TAKEN

PIPELINE = "def downloader(context, url):\n    return 1\n\n\ndef summarise(context, dataset):\n    return 2\n"


def write_repo(root: Path) -> Path:
    """A config repo with the two files the example declares."""
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "src" / "pipeline.py").write_text(PIPELINE)
    (root / "data" / "employees.csv").write_text("id,department,salary,years\n1,a,10,3\n")
    return root


def declaration(
    root: Path,
    *,
    project: str = "employees-dev",
    secret: str | None = None,
    extra: dict[str, dict[str, Any]] | None = None,
    drop: tuple[str, ...] = (),
    lifecycle: dict[str, dict[str, Any]] | None = None,
) -> Declaration:
    """The employees example as the config loader would hand it over (absolute local paths)."""
    specs: dict[str, dict[str, Any]] = {
        "dataitems.employees": {"kind": "table", "path": str(root / "data" / "employees.csv")},
        "functions.downloader": {
            "kind": "mlrun",
            "source": {"source": str(root / "src" / "pipeline.py")},
            "handler": "downloader",
            "image": "mlrun/mlrun",
        },
        "functions.summarise": {
            "kind": "mlrun",
            "source": {"source": str(root / "src" / "pipeline.py")},
            "handler": "summarise",
            "image": "mlrun/mlrun",
        },
        "runs.download": {
            "function": "functions.downloader",
            "action": "job",
            "inputs": {"url": "dataitems.employees"},
            "outputs": {"dataset": "employees-clean"},
            "parameters": {},
            "values": ["rows"],
            "trigger": "on_change",
        },
        "runs.summary": {
            "function": "functions.summarise",
            "action": "job",
            "inputs": {"dataset": "runs.download.outputs.dataset"},
            "outputs": {"dataset": "salary-summary"},
            "parameters": {"min_years": 2},
            "values": [],
            "trigger": "on_change",
        },
    }
    if secret is not None:
        specs["runs.download"]["parameters"] = {"token": secret}
    specs.update(copy.deepcopy(extra or {}))
    resources = {}
    for address, spec in specs.items():
        if address in drop:
            continue
        parsed = Address.parse(address)
        if parsed.type == "runs":  # as the normaliser hands them over: every default filled in
            spec = {**RUN_DEFAULTS, "inputs": {}, "outputs": {}, **spec}
        deps = []
        if parsed.type == "runs":
            deps.append(spec["function"])
            deps.extend(
                reference.address
                for ref in spec.get("inputs", {}).values()
                if (reference := Reference.parse(ref))
            )
        resources[address] = Resource(
            parsed.type,
            parsed.name,
            spec,
            Location(str(root / "dhmlrun.yaml"), 1, 1),
            depends_on=tuple(d for d in deps if d not in drop),
            lifecycle=(lifecycle or {}).get(address, {}),
        )
    variables = {"env": Variable("env", "dev")}
    if secret is not None:
        variables["token"] = Variable("token", secret, sensitive=True)
    return Declaration(
        root=root,
        files=[root / "dhmlrun.yaml"],
        project={"name": project, "description": "d"},
        variables=variables,
        resources=resources,
    )


def applied_state(plan: Plan, *, run_state: str = "COMPLETED") -> PlatformState:
    """The state the platform would be in after applying `plan` faithfully (for re-plans)."""
    state = PlatformState(project=plan.project, project_exists=True, project_description="d")
    for action in plan.actions:
        if isinstance(action, EntityWrite):
            state.entities[action.address] = written_entity(plan, action)
        if isinstance(action, RunStart) and action.request is not None:
            request = action.request
            state.runs[action.address] = RemoteRun(
                id=request.run_id,
                address=action.address,
                state=run_state,
                labels=tuple(request.labels),
                created="2026-01-01T00:00:00.000Z",
                outputs={k: output_key(plan.project, v) for k, v in request.outputs.items()},
                spec=run_spec(plan, request),
                kind=f"{request.function.kind}+{request.action}:run",
            )
    return state


def written_entity(plan: Plan, action: EntityWrite) -> RemoteEntity:
    """The entity version a faithful platform holds after `action`'s create."""
    body = action.body
    return RemoteEntity(
        type=action.type,
        name=body["name"],
        id=body["id"],
        kind=body["kind"],
        spec=copy.deepcopy(body["spec"]),
        description=body["metadata"].get("description"),
        labels=tuple(body["metadata"]["labels"]),
        version="v1",
        key=keys.entity_key(
            plan.project, action.type.removesuffix("s"), body["kind"], body["name"], body["id"]
        ),
    )


def output_key(project: str, name: str) -> str:
    return f"store://{project}/dataitem/table/{name}:out1"


def run_spec(plan: Plan, request: RunRequest) -> dict[str, Any]:
    """The spec the run of `request` has on the platform once it ran (as the runtime stores it)."""
    by_address = plan.by_address()
    inputs = {}
    for name, binding in request.inputs.items():
        if binding.key is None and binding.run is not None and binding.output is not None:
            upstream = by_address[binding.run]
            assert isinstance(upstream, RunStart) and upstream.request is not None
            inputs[name] = output_key(plan.project, upstream.request.outputs[binding.output])
        else:
            inputs[name] = binding.key
    function = request.function
    spec = {
        "function": f"{function.kind}://{plan.project}/{function.name}:{function.id}",
        "task": f"{function.kind}+{request.action}://{plan.project}/task1",
        "inputs": inputs,
        "outputs": dict(request.outputs),
        "parameters": dict(request.parameters),
        "values": list(request.values),
        "local_execution": request.execution == "local",
        **request.task,
    }
    return {k: v for k, v in spec.items() if k not in FIELDS_NOT_TAKEN.get(function.kind, ())}


def merged(base: PlatformState, newer: PlatformState) -> PlatformState:
    state = copy.deepcopy(base)
    state.entities.update(newer.entities)
    state.runs.update(newer.runs)
    return state


def counter_ids() -> Any:
    n = iter(range(1, 10_000))
    return lambda: f"{next(n):032x}"
