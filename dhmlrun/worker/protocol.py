"""What crosses the process boundary between apply and a worker: one typed request per
operation, one `Result`, and the table of operations (Terraform's provider protocol: a reader
follows a value from the plan into the worker by its type, never by a dict's keys).

A worker process gets a request file and a result file (`python -m dhmlrun.worker REQUEST
RESULT`); the request file holds `{"op": NAME, "request": {...}}`, the result file a `Result`.
Both ends run the same dhmlrun, so the wire form is plain `dataclasses.asdict` JSON.

Adding an operation is one entry in `OPERATIONS`: its name, its request type and the function
that does it in the worker (`"module:function"`, imported there only, so that apply never
imports mlrun or the SDK). The function is called as `handler(request, reply) -> Result`;
`reply(result)` writes the result at once, for a handler that must end its process before it
can return (a run ended by an interrupt).

Standard library only: apply imports this module.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any

from dhmlrun.vocabulary import states
from dhmlrun.vocabulary.runs import RunSpec

# ---------------------------------------------------------------- what a run is, for a worker


@dataclass
class RunOrder(RunSpec):
    """A run to execute, as the plan made it (`plan.model.RunRequest`), with every input resolved
    to what the worker reads (a store key, or a URL)."""

    inputs: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------- requests


@dataclass(frozen=True)
class Request:
    """A request to a worker; `subject` is the id its result names (a run, an entity version)."""

    @property
    def subject(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class ExecuteRun(Request):
    """Create and execute a run on the DigitalHub platform through the SDK (`worker/run.py`):
    in the worker (`execution: local`), or by the platform's executor, polled until it ends."""

    run: RunOrder
    mask: list[str] = field(default_factory=list)
    """Values masked in what the run writes to the platform (its results, message and log): the
    sensitive values apply knows; the worker adds the secrets it reads (`platform/relay.py`)."""

    @property
    def subject(self) -> str:
        return self.run.run_id


@dataclass(frozen=True)
class UploadFile(Request):
    """Copy a declared local file to the project's files store, where the SDK would log it
    (`worker/upload.py`); the result's `path` is the store's copy."""

    project: str
    entity_type: str
    """The SDK's entity type (`dataitem`, `artifact`, `model`)."""
    name: str
    entity_id: str
    source: str

    @property
    def subject(self) -> str:
        return self.entity_id


@dataclass(frozen=True)
class StoreMLRunFunction(Request):
    """Store a declared function version on the MLRun service (`worker/on_mlrun.py`)."""

    body: dict[str, Any]
    """The function version as DHCore would get it (`plan.model.EntityWrite.body`)."""

    @property
    def subject(self) -> str:
        return str(self.body["id"])


@dataclass(frozen=True)
class ExecuteMLRunRun(Request):
    """Execute a run recorded on the MLRun service (`worker/on_mlrun.py`): here with mlrun's
    `local=True`, or submitted to MLRun's Kubernetes and polled."""

    run: RunOrder

    @property
    def subject(self) -> str:
        return self.run.run_id


@dataclass(frozen=True)
class WriteMLRunSchedule(Request):
    """Create (or replace) the MLRun schedule `name` that starts `run` on its cron
    (`task.schedule`) (`worker/on_mlrun.py`)."""

    name: str
    run: RunOrder

    @property
    def subject(self) -> str:
        return self.name


# ---------------------------------------------------------------- the result


@dataclass
class Result:
    """What a worker did: the final state of its subject, and what came out of it."""

    id: str | None
    state: str
    message: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    """A run's outputs by name (store keys, or entity dicts as the SDK records them)."""
    results: dict[str, Any] = field(default_factory=dict)
    path: str | None = None
    """Where an uploaded file is now (`UploadFile`)."""
    took: float | None = None
    """How long a finished run took on its platform (`times.run_duration` of its record): what
    `show --graph` says of it."""

    @property
    def completed(self) -> bool:
        return self.state == states.COMPLETED

    @classmethod
    def failure(cls, subject: str | None, message: str, state: str = states.ERROR) -> Result:
        return cls(id=subject, state=state, message=message)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["outputs"] = dict(values.get("outputs") or {})
        values["results"] = dict(values.get("results") or {})
        values.setdefault("id", None)
        values.setdefault("state", states.ERROR)
        return cls(**values)


Reply = Callable[[Result], None]
"""Writes a result now (see the module docstring)."""
EXIT_RESULT_WRITTEN = 0
"""A worker's exit code whenever it wrote its result, whatever became of the run."""


# ---------------------------------------------------------------- the operations


@dataclass(frozen=True)
class Operation:
    """One thing a worker does: the request it takes and the function doing it."""

    request: type[Request]
    handler: str
    """`module:function`, called in the worker as `function(request, reply) -> Result`."""


OPERATIONS: dict[str, Operation] = {
    "run": Operation(ExecuteRun, "dhmlrun.worker.run:execute"),
    "upload": Operation(UploadFile, "dhmlrun.worker.upload:upload"),
    "mlrun.store_function": Operation(StoreMLRunFunction, "dhmlrun.worker.on_mlrun:store_function"),
    "mlrun.run": Operation(ExecuteMLRunRun, "dhmlrun.worker.on_mlrun:run"),
    "mlrun.schedule": Operation(WriteMLRunSchedule, "dhmlrun.worker.on_mlrun:schedule"),
}


def operation_name(request: Request) -> str:
    """The name `request` travels under."""
    for name, operation in OPERATIONS.items():
        if type(request) is operation.request:
            return name
    raise KeyError(f"no worker operation takes a {type(request).__name__}")


def encode(request: Request) -> dict[str, Any]:
    """The request file's content."""
    return {"op": operation_name(request), "request": asdict(request)}


def decode(data: dict[str, Any]) -> Request:
    """The typed request of a request file (KeyError, TypeError or ValueError when malformed)."""
    operation = OPERATIONS[str(data["op"])]
    return _build(operation.request, dict(data["request"]))


def _build(cls: type[Any], data: dict[str, Any]) -> Any:
    """A dataclass from its `asdict` form, nested dataclasses included."""
    hints = typing.get_type_hints(cls)
    values = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        value, hint = data[f.name], hints[f.name]
        if is_dataclass(hint) and isinstance(value, dict):
            value = _build(typing.cast(type[Any], hint), value)
        values[f.name] = value
    return cls(**values)
