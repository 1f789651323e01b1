"""What the platform holds for one project, as plain data: the input of the planner.

`platform.Platform.read_state` fills this from one list request per entity type; the planner
reads it and never talks to the platform itself, so plans are pure functions of
(declaration, state) and can be unit-tested with hand-built states.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from dhmlrun.platform import labels as L
from dhmlrun.platform.lease import lease_expired
from dhmlrun.vocabulary import endings, states
from dhmlrun.vocabulary.backends import DHCORE


@dataclass(frozen=True)
class RemoteEntity:
    """The latest version of one named dataitem or function on the platform."""

    type: str
    name: str
    id: str
    kind: str
    spec: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    labels: tuple[str, ...] = ()
    version: str | None = None
    key: str | None = None
    created: str | None = None
    updated: str | None = None
    state: str | None = None
    produced_by: str | None = None
    """The key of the run that produced this version (a run output), from its relationships."""
    backend: str = DHCORE
    """Where it was read (`vocabulary/backends.py`): where it is changed and deleted."""

    @property
    def address(self) -> str:
        return f"{self.type}.{self.name}"

    @cached_property
    def _decoded(self) -> tuple[bool, dict[str, str], list[str]]:
        return L.decode(self.labels)

    @property
    def managed(self) -> bool:
        return self._decoded[0]

    @property
    def recorded(self) -> dict[str, str]:
        """dhmlrun's own bookkeeping labels (`dhmlrun/KEY=VALUE`) as a map."""
        return self._decoded[1]

    @property
    def user_labels(self) -> list[str]:
        return self._decoded[2]

    @classmethod
    def from_dto(cls, type_: str, dto: dict[str, Any]) -> RemoteEntity:
        """Build from the JSON the platform returns (the DTO of docs/dhcore.md §2)."""
        metadata = dto.get("metadata") or {}
        return cls(
            type=type_,
            name=str(dto.get("name")),
            id=str(dto.get("id")),
            kind=str(dto.get("kind")),
            spec=dict(dto.get("spec") or {}),
            description=metadata.get("description"),
            labels=tuple(metadata.get("labels") or ()),
            version=metadata.get("version"),
            key=dto.get("key"),
            created=metadata.get("created"),
            updated=metadata.get("updated"),
            state=(dto.get("status") or {}).get("state"),
            produced_by=next(
                (
                    str(r.get("dest"))
                    for r in metadata.get("relationships") or ()
                    if isinstance(r, dict) and r.get("type") == "produced_by"
                ),
                None,
            ),
        )


@dataclass(frozen=True)
class RemoteRun:
    """The most recent run dhmlrun started for one declared run address."""

    id: str
    address: str
    state: str
    labels: tuple[str, ...] = ()
    created: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    message: str | None = None
    key: str | None = None
    local_execution: bool = True
    updated: str | None = None
    executor_lost: bool = False
    """Unfinished, and the lease its executing process kept renewing ran out (`platform/lease.py`):
    that process is gone, so the run will never finish by itself."""
    spec: dict[str, Any] = field(default_factory=dict)
    """The run's spec on the platform (without the function's code), what a rerun is diffed with."""
    kind: str | None = None
    """The run's kind (`python+job:run`, `sklearnserve+serve:run`)."""
    service_url: str | None = None
    """A serve run's endpoint once the platform serves it (`status.service.url`, `host:port`)."""
    backend: str = DHCORE
    """Where it was read (`vocabulary/backends.py`): where its state and logs are read."""
    ended_by: str | None = None
    """Why dhmlrun ended it, when it did (`vocabulary/endings.py`)."""

    @cached_property
    def recorded(self) -> dict[str, str]:
        return L.decode(self.labels)[1]

    @property
    def fingerprint(self) -> str | None:
        return self.recorded.get(L.FINGERPRINT)

    @property
    def finished(self) -> bool:
        return self.state in states.FINAL

    @property
    def failed(self) -> bool:
        return self.state in states.FAILED

    @classmethod
    def from_dto(cls, dto: dict[str, Any]) -> RemoteRun | None:
        """A managed run from its DTO, or None when it is not one of dhmlrun's runs."""
        metadata = dto.get("metadata") or {}
        labels = tuple(metadata.get("labels") or ())
        managed, ours, _ = L.decode(labels)
        if not managed or L.ADDRESS not in ours:
            return None
        status = dto.get("status") or {}
        return cls(
            id=str(dto.get("id")),
            address=ours[L.ADDRESS],
            state=str(status.get("state") or states.CREATED),
            labels=labels,
            created=metadata.get("created"),
            outputs=dict(status.get("outputs") or {}),
            results=dict(status.get("results") or {}),
            message=status.get("message"),
            key=dto.get("key"),
            local_execution=bool((dto.get("spec") or {}).get("local_execution", True)),
            updated=metadata.get("updated"),
            executor_lost=not states.is_final(status.get("state")) and lease_expired(status),
            spec={k: v for k, v in (dto.get("spec") or {}).items() if k != "source"},
            kind=dto.get("kind"),
            service_url=_service_url(status),
            ended_by=status.get(endings.ENDED_BY),
        )


def _service_url(status: dict[str, Any]) -> str | None:
    service = status.get("service")
    url = service.get("url") if isinstance(service, dict) else None
    return str(url) if url else None


@dataclass
class PlatformState:
    """Everything the planner may know about the platform for one project."""

    project: str
    project_exists: bool = False
    project_description: str | None = None
    entities: dict[str, RemoteEntity] = field(default_factory=dict)
    runs: dict[str, RemoteRun] = field(default_factory=dict)
    endpoint: str | None = None
    adoptable: set[str] = field(default_factory=set)
    """Addresses whose every version was made outside dhmlrun (never managed): the planner
    adopts these by name instead of treating the latest version as drift."""
    mlrun: str | None = None
    """The MLRun service holding the `mlrun` functions, schedules and runs, when the DigitalHub
    platform has no `mlrun` runtime (None: they live on DigitalHub)."""
    mlrun_project_exists: bool = False
    mlrun_runtime: bool | None = None
    """Whether the DigitalHub platform has the `mlrun` runtime, as this read found it; None when
    it was not asked (nothing mlrun declared, no MLRun service configured). A later read in the
    same command is given it (`Platform.read_state`), so the platform is asked once."""
    files_store: str | None = None
    """The platform's default files store (`DHCORE_DEFAULT_FILES_STORE`, or the embedded core's
    own): where apply uploads declared local files. None: declared local files stay local."""
    executes_here: bool = False
    """The platform's executor runs on this machine (the embedded core's workers): its remote
    runs can read files of this machine."""
    schedules: dict[str, Any] = field(default_factory=dict)
    """Schedules on MLRun by run address (`platform.mlrun.RemoteSchedule`)."""
    service_functions: dict[str, RemoteEntity] = field(default_factory=dict)
    """The functions model services own (named after the service, labelled with its address),
    by service address (`services.NAME`): part of the service, never a declared function."""
    service_refusals: dict[str, str] = field(default_factory=dict)
    """Service kinds this platform cannot serve, with the reason (the embedded core: a server
    not installed here, or none that installs)."""

    def managed(self) -> dict[str, RemoteEntity]:
        """Entities dhmlrun created (their latest version carries the marker, or they are ours)."""
        return {a: e for a, e in self.entities.items() if e.managed}
