"""The Plan: a list of typed actions with before/after and a reason, plus what the planner saw.

A Plan is data. It is built by `plan.builder`, shown by `dhmlrun.views`, saved by `plan.saved`
and executed by `dhmlrun.apply`; none of those re-decide anything. Each shape of change has its
own type, carrying exactly what apply sends: the project to create or update, an entity version
to create (the first, or a new one), an entity to adopt, an entity to delete, a run to start.
Each action also says where it executes (`backend`: the DigitalHub platform, or the MLRun
service), and apply dispatches on its type and backend alone. Every id is chosen at plan time,
so a saved plan applies exactly what was shown and a retried apply adopts instead of
duplicating.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

from dhmlrun.vocabulary.addresses import Address
from dhmlrun.vocabulary.backends import DHCORE, MLRUN
from dhmlrun.vocabulary.runs import FunctionVersion, RunSpec

CREATE = "create"
UPDATE = "update"
DELETE = "delete"
RUN = "run"
NOOP = "no-op"
ADOPT = "adopt"

SYMBOLS = {CREATE: "+", UPDATE: "~", DELETE: "-", RUN: ">", ADOPT: "@", NOOP: " "}
FORMAT_VERSION = "1"
ABSENT = "absent"
PROJECT_ADDRESS = "project"
MLRUN_PROJECT_ADDRESS = "mlrun.project"
"""The project on the MLRun service, when the `mlrun` functions and runs live there."""


@dataclass(frozen=True)
class AttributeChange:
    """One field that differs: dotted path, the platform's value, the declared value."""

    path: str
    before: Any = None
    after: Any = None


@dataclass
class Action:
    """One thing apply will do (or, for no-op, knowingly not do) to one address.

    `seen` is the platform's state of that address when planned (an id, or "absent"), used to
    refuse a stale saved plan. `depends_on` lists addresses of other actions of this plan.
    `backend` is where apply does it (`vocabulary/backends.py`).
    """

    SHAPE: ClassVar[str] = "no-op"

    address: str
    action: str = NOOP
    reason: str = ""
    diff: list[AttributeChange] = field(default_factory=list)
    depends_on: list[str] = field(default_factory=list)
    seen: str = ABSENT
    drift: bool = False
    backend: str = DHCORE

    @property
    def type(self) -> str:
        return Address.parse(self.address).type

    @property
    def name(self) -> str:
        return Address.parse(self.address).name

    @property
    def changes(self) -> bool:
        return self.action != NOOP

    def as_dict(self) -> dict[str, Any]:
        return {"shape": self.SHAPE, **asdict(self)}


@dataclass
class NoChange(Action):
    """Nothing to do: the address is up to date (or must wait); `reason` says which."""


@dataclass
class ProjectChange(Action):
    """Create the project, or update its description (`action` says which)."""

    SHAPE: ClassVar[str] = "project"

    body: dict[str, Any] = field(default_factory=dict)


@dataclass
class EntityWrite(Action):
    """POST a version of a dataitem or function: the first one (create) or a new one (update),
    with its id chosen at plan time."""

    SHAPE: ClassVar[str] = "entity"

    body: dict[str, Any] = field(default_factory=dict)


@dataclass
class EntityAdopt(Action):
    """Take over an entity made outside dhmlrun that has a declared name: label its latest
    version as managed, in place when its spec already matches (`in_place`), else with a new
    version."""

    SHAPE: ClassVar[str] = "adopt"

    body: dict[str, Any] = field(default_factory=dict)

    @property
    def in_place(self) -> bool:
        return self.body.get("id") == self.seen


@dataclass
class SecretWrite(Action):
    """Create (POST `body`), adopt or update a project secret and set its value through the
    secrets API. The value is not in the plan: apply reads it from the declared source (an
    environment variable, a file, a sensitive variable) and records a fresh salted digest of it
    on the secret (`plan/secrets.py`). `create`: the secret entity does not exist yet."""

    SHAPE: ClassVar[str] = "secret"

    body: dict[str, Any] = field(default_factory=dict)
    create: bool = False


@dataclass
class EntityDelete(Action):
    """Delete every version of a managed entity (runs' history and user files stay)."""

    SHAPE: ClassVar[str] = "delete"

    entity_kind: str = ""


@dataclass
class InputBinding:
    """One run input: as declared (`ref`), and the store key it resolves to. An input produced
    by a run of the same apply has no key yet: apply fills it from that run's `output`."""

    ref: str
    key: str | None = None
    run: str | None = None
    output: str | None = None


@dataclass
class RunRequest(RunSpec):
    """Everything a run worker needs to start the run, resolved at plan time except the outputs
    of upstream runs of the same apply (`inputs`: bindings, resolved by apply)."""

    inputs: dict[str, InputBinding] = field(default_factory=dict)
    fingerprint: str = ""
    supersedes: str | None = None
    """An unfinished run of the same address whose executor was lost: apply marks it ERROR
    before starting this one."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRequest:
        data = dict(data)
        data["function"] = FunctionVersion(**data["function"])
        data["inputs"] = {k: InputBinding(**v) for k, v in (data.get("inputs") or {}).items()}
        return cls(**data)


@dataclass
class RunStart(Action):
    """Start a run of a function (`request`), in a worker or on the platform's executor."""

    SHAPE: ClassVar[str] = "run"

    request: RunRequest | None = None


@dataclass
class ServiceRequest:
    """Everything apply needs to (re)deploy a service: its serve task and run (ids chosen at plan
    time), what it serves, and the run it replaces once the new one is ready."""

    project: str
    kind: str
    """python, sklearnserve, mlflowserve or huggingfaceserve (the runtime of its serve task)."""
    name: str
    run_id: str
    task_id: str
    function: FunctionVersion | None = None
    """python: the declared function version it serves."""
    function_id: str = ""
    """Model kinds: the id of the service's own function version, when one must be created."""
    model: InputBinding | None = None
    """Model kinds: the model served (a key, or an output of a run of the same apply)."""
    model_name: str | None = None
    image: str | None = None
    init_parameters: dict[str, Any] = field(default_factory=dict)
    init_inputs: dict[str, InputBinding] = field(default_factory=dict)
    """python: init parameters that name entities, passed as their keys."""
    task: dict[str, Any] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    fingerprint: str = ""
    supersedes: str | None = None
    """The serve run now serving: stopped once the new one is ready."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServiceRequest:
        data = dict(data)
        if data.get("function") is not None:
            data["function"] = FunctionVersion(**data["function"])
        if data.get("model") is not None:
            data["model"] = InputBinding(**data["model"])
        data["init_inputs"] = {k: InputBinding(**v) for k, v in (data.get("init_inputs") or {}).items()}
        return cls(**data)


@dataclass
class ServiceDeploy(Action):
    """Deploy a service (create), or deploy it anew (update: its spec, function or model changed,
    or it is not running): a serve run, waited for until ready, the previous one stopped."""

    SHAPE: ClassVar[str] = "service"

    request: ServiceRequest | None = None


@dataclass
class ServiceStop(Action):
    """Stop a service no longer declared (or destroyed): its serve run is stopped, and the
    function a model service owns is deleted (which removes its runs)."""

    SHAPE: ClassVar[str] = "service-stop"

    run_id: str | None = None
    function_name: str | None = None


@dataclass
class MLRunProject(Action):
    """Create the project on the MLRun service (where the `mlrun` functions and runs live)."""

    SHAPE: ClassVar[str] = "mlrun-project"

    backend: str = MLRUN
    description: str | None = None


@dataclass
class ScheduleWrite(Action):
    """Create or replace the MLRun schedule of a scheduled run (`request` with its `schedule`)."""

    SHAPE: ClassVar[str] = "schedule"

    backend: str = MLRUN
    request: RunRequest | None = None


@dataclass
class ScheduleDelete(Action):
    """Delete the MLRun schedule of a run no longer scheduled (or no longer declared)."""

    SHAPE: ClassVar[str] = "schedule-delete"

    backend: str = MLRUN
    schedule: str = ""


SHAPES: dict[str, type[Action]] = {
    c.SHAPE: c
    for c in (
        NoChange,
        ProjectChange,
        EntityWrite,
        EntityAdopt,
        SecretWrite,
        EntityDelete,
        RunStart,
        ServiceDeploy,
        ServiceStop,
        MLRunProject,
        ScheduleWrite,
        ScheduleDelete,
    )
}


def action_from_dict(data: dict[str, Any]) -> Action:
    """The typed action a dict from `Action.as_dict` describes."""
    data = dict(data)
    cls = SHAPES.get(str(data.pop("shape", NoChange.SHAPE)))
    if cls is None:
        raise ValueError(f"unknown action shape {data!r}")
    known = {f.name for f in fields(cls)}
    data = {k: v for k, v in data.items() if k in known}
    data["diff"] = [AttributeChange(**d) for d in data.get("diff") or ()]
    if cls in (RunStart, ScheduleWrite) and data.get("request") is not None:
        data["request"] = RunRequest.from_dict(data["request"])
    if cls is ServiceDeploy and data.get("request") is not None:
        data["request"] = ServiceRequest.from_dict(data["request"])
    return cls(**data)


@dataclass
class Replay:
    """How to make a plan again, so a saved plan can be checked against the configuration it is
    applied with (`plan/replay.py`): the seed its ids were drawn from, and the `--target` and
    `--rerun` it was made with."""

    seed: str
    targets: list[str] = field(default_factory=list)
    reruns: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """Everything apply needs, and everything a reviewer should see."""

    project: str
    root: str
    actions: list[Action] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """What a reviewer should know of how the plan was made, that is no warning (Terraform's
    `Note:`): e.g. a workflow whose steps cannot be read at plan time (`plan/pipelines.py`)."""
    seen_runs: dict[str, str] = field(default_factory=dict)
    endpoint: str | None = None
    destroy: bool = False
    mlrun: str | None = None
    """Which MLRun service this plan's actions on the `mlrun` backend go to (its URL, masked), so
    that a saved plan is applied to the service it was made against; None when it has none."""
    files_store: str | None = None
    """The files store apply uploads declared local files to (None: they stay local)."""
    replay: Replay | None = None
    """How it was made (None: it cannot be made again, and so cannot be applied from a file)."""
    targets: list[str] = field(default_factory=list)
    """The `--target` addresses this plan was restricted to (empty: the whole configuration)."""
    left_out: list[str] = field(default_factory=list)
    """Addresses with a change that `--target` left out: the platform still differs there."""
    version_names: dict[str, str] = field(default_factory=dict)
    """The names the platform gave the entity versions it holds (`metadata.version`, e.g.
    `sunny-ocelot`), by id: views show versions by them, as `show` does."""

    @property
    def partial(self) -> bool:
        """Made with `--target`: it may not hold every change the configuration asks for."""
        return bool(self.targets)

    @property
    def pending(self) -> bool:
        """Whether the platform differs from the configuration: this plan changes something, or
        changes were left out of it (`--detailed-exitcode` exits 2 either way)."""
        return self.has_changes or bool(self.left_out)

    def by_address(self) -> dict[str, Action]:
        return {a.address: a for a in self.actions}

    def changes(self) -> list[Action]:
        return [a for a in self.actions if a.changes]

    @property
    def has_changes(self) -> bool:
        return any(a.changes for a in self.actions)

    def project_create(self) -> ProjectChange | None:
        """The project this plan creates (a first deploy creates it before locking it)."""
        return next((a for a in self.actions if isinstance(a, ProjectChange) and a.action == CREATE), None)

    def counts(self) -> dict[str, int]:
        """Actions per kind; `adopt` only when there is one (as Terraform shows `to import`)."""
        counts = {CREATE: 0, UPDATE: 0, DELETE: 0, RUN: 0, ADOPT: 0}
        for action in self.actions:
            if action.action in counts:
                counts[action.action] += 1
        if not counts[ADOPT]:
            del counts[ADOPT]
        return counts

    def as_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "project": self.project,
            "root": self.root,
            "endpoint": self.endpoint,
            "destroy": self.destroy,
            "mlrun": self.mlrun,
            "files_store": self.files_store,
            "targets": list(self.targets),
            "left_out": list(self.left_out),
            "version_names": dict(self.version_names),
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "seen_runs": dict(self.seen_runs),
            "actions": [a.as_dict() for a in self.actions],
            "replay": asdict(self.replay) if self.replay is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        return cls(
            project=data["project"],
            root=data["root"],
            actions=[action_from_dict(a) for a in data.get("actions") or ()],
            warnings=list(data.get("warnings") or ()),
            notes=list(data.get("notes") or ()),
            seen_runs=dict(data.get("seen_runs") or {}),
            endpoint=data.get("endpoint"),
            destroy=bool(data.get("destroy")),
            mlrun=data.get("mlrun"),
            files_store=data.get("files_store"),
            replay=Replay(**data["replay"]) if data.get("replay") is not None else None,
            targets=list(data.get("targets") or ()),
            left_out=list(data.get("left_out") or ()),
            version_names=dict(data.get("version_names") or {}),
        )
