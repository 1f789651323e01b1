"""The MLRun side of the platform: where `mlrun` functions, their schedules and runs live when
the DigitalHub platform has no `mlrun` runtime (a stock DHCore 0.15 dropped it in 0.8).

Read through MLRun's REST API with dhmlrun's own transport (retries, timeouts; no `import mlrun`,
so `plan` stays light): one list request per family (functions and runs by the `dhmlrun` label,
schedules), and the few single reads and writes that need no mlrun objects (delete a function
or a schedule, read, abort or annotate a run, read its log). What needs mlrun's own classes to be
faithful (storing a function, submitting a run, creating a schedule) is done by the MLRun worker
(`dhmlrun/apply/mlrun_worker.py`), which imports mlrun.

MLRun labels are a map; dhmlrun's bookkeeping labels (`platform/labels.py`) are a list of
`dhmlrun` and `dhmlrun/KEY=VALUE`: `labels_to_list` and `labels_to_map` translate. Values must be
valid Kubernetes label values (a remote run's labels become its pod's), so dhmlrun keeps them to
at most 63 characters (`LABEL_VALUE_MAX`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from dhmlrun.platform import labels as L
from dhmlrun.platform.errors import NotFound, refusal
from dhmlrun.platform.state import RemoteEntity, RemoteRun
from dhmlrun.platform.transport import HttpTransport, Transport
from dhmlrun.vocabulary import states

API = "/api/v1"
LABEL_VALUE_MAX = 63
MANAGED_VALUE = "true"
SPEC_ANNOTATION = "dhmlrun/spec"
"""The function spec dhmlrun declared (without its code), kept on the MLRun function: what the
next plan compares with the declaration."""
BOOKKEEPING = "dhmlrun"
"""The key of the run status map where dhmlrun records what it asked for (its run request with
inputs resolved to DigitalHub keys) and what came out (outputs registered on DigitalHub)."""

STATES = {
    "completed": states.COMPLETED,
    "error": states.ERROR,
    "aborted": states.STOPPED,
    "aborting": states.STOP,
    "running": states.RUNNING,
    "pending": states.PENDING,
    "created": states.CREATED,
}
"""MLRun run states in DHCore's words (any other state counts as running)."""


def labels_to_map(labels: list[str]) -> dict[str, str]:
    """dhmlrun's label list as MLRun's label map (`dhmlrun` -> `dhmlrun: true`)."""
    mapped: dict[str, str] = {}
    for label in labels:
        key, sep, value = label.partition("=")
        mapped[key] = value if sep else MANAGED_VALUE
    return mapped


def labels_to_list(labels: Mapping[str, Any] | None) -> tuple[str, ...]:
    """MLRun's label map as dhmlrun's list (only `dhmlrun` itself loses its value)."""
    out = []
    for key, value in (labels or {}).items():
        out.append(key if key == L.MANAGED else f"{key}={value}")
    return tuple(out)


def short_label(value: str) -> str:
    """A bookkeeping value that fits a Kubernetes label value (digests are cut to 63 hex)."""
    return value[:LABEL_VALUE_MAX]


def remote_function(dto: dict[str, Any]) -> RemoteEntity | None:
    """A managed MLRun function version as the planner sees entities (None for others). Its id
    is its tag, chosen by dhmlrun (stable, unlike the hash, which changes when a run stores it)."""
    metadata = dto.get("metadata") or {}
    labels = labels_to_list(metadata.get("labels"))
    managed, ours, _ = L.decode(labels)
    if not managed or L.ADDRESS not in ours:
        return None
    try:
        spec = json.loads((metadata.get("annotations") or {}).get(SPEC_ANNOTATION) or "{}")
    except ValueError:
        spec = {}
    name = str(metadata.get("name"))
    return RemoteEntity(
        type="functions",
        name=ours[L.ADDRESS].split(".", 1)[-1],
        id=str(metadata.get("tag") or metadata.get("hash")),
        kind="mlrun",
        spec=spec if isinstance(spec, dict) else {},
        labels=labels,
        version=str(metadata.get("hash") or ""),
        key=f"db://{metadata.get('project')}/{name}:{metadata.get('tag')}",
        created=metadata.get("updated"),
        updated=metadata.get("updated"),
    )


def remote_run(dto: dict[str, Any]) -> RemoteRun | None:
    """A managed MLRun run as the planner sees runs (None for others)."""
    metadata, status = dto.get("metadata") or {}, dto.get("status") or {}
    labels = labels_to_list(metadata.get("labels"))
    managed, ours, _ = L.decode(labels)
    if not managed or L.ADDRESS not in ours:
        return None
    bookkeeping = status.get(BOOKKEEPING) if isinstance(status.get(BOOKKEEPING), dict) else {}
    return RemoteRun(
        id=str(metadata.get("uid")),
        address=ours[L.ADDRESS],
        state=STATES.get(str(status.get("state")), states.RUNNING),
        labels=labels,
        created=status.get("start_time"),
        outputs=dict(bookkeeping.get("outputs") or {}),
        results=dict(status.get("results") or {}),
        message=status.get("error"),
        local_execution=(metadata.get("labels") or {}).get("kind") == "local",
        updated=status.get("last_update"),
        spec=dict(bookkeeping.get("spec") or {}),
    )


@dataclass(frozen=True)
class RemoteSchedule:
    """A schedule dhmlrun made on MLRun for a scheduled run."""

    address: str
    name: str
    cron: str
    fingerprint: str | None


def remote_schedule(dto: dict[str, Any]) -> RemoteSchedule | None:
    labels = labels_to_list(dto.get("labels"))
    managed, ours, _ = L.decode(labels)
    if not managed or L.ADDRESS not in ours:
        return None
    trigger = dto.get("cron_trigger") or {}
    cron = " ".join(str(trigger.get(f, "*")) for f in ("minute", "hour", "day", "month", "day_of_week"))
    return RemoteSchedule(ours[L.ADDRESS], str(dto.get("name")), cron, ours.get(L.FINGERPRINT))


class MLRunService:
    """An MLRun API server, through its REST API."""

    def __init__(self, endpoint: str, transport: Transport | None = None) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.transport = transport or HttpTransport(self.endpoint)

    def _call(self, method: str, path: str, params: Mapping[str, Any] | None = None, body: Any = None) -> Any:
        target = path + (f"?{urlencode(list(_pairs(params)))}" if params else "")
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json", **({"Content-Type": "application/json"} if data else {})}
        reply = self.transport.send(method, target, headers, data)
        if not reply.ok:
            raise refusal(method, path, reply.status, reply.body)
        try:
            return json.loads(reply.body) if reply.body.strip() else None
        except ValueError:
            return reply.body.decode("utf-8", "replace")

    @staticmethod
    def _project(project: str, *parts: str) -> str:
        return f"{API}/projects/{quote(project, safe='')}" + "".join(f"/{quote(p, safe='')}" for p in parts)

    # ------------------------------------------------------------------ reading

    def project_exists(self, project: str) -> bool:
        try:
            self._call("GET", self._project(project))
        except NotFound:
            return False
        return True

    def functions(self, project: str) -> list[dict[str, Any]]:
        """Every tagged version of the functions dhmlrun manages (one request)."""
        answer = self._call("GET", self._project(project, "functions"), {"label": L.MANAGED, "tag": "*"})
        return list((answer or {}).get("funcs") or [])

    def runs(self, project: str) -> list[dict[str, Any]]:
        """The runs dhmlrun started (one request; the label filter avoids MLRun's default of the
        newest run per name of the last week)."""
        answer = self._call("GET", self._project(project, "runs"), {"label": L.MANAGED})
        return list((answer or {}).get("runs") or [])

    def schedules(self, project: str) -> list[dict[str, Any]]:
        answer = self._call("GET", self._project(project, "schedules"), {"labels": L.MANAGED})
        return list((answer or {}).get("schedules") or [])

    def read_run(self, project: str, uid: str) -> dict[str, Any] | None:
        try:
            return (self._call("GET", self._project(project, "runs", uid)) or {}).get("data")
        except NotFound:
            return None

    def run_log(self, project: str, uid: str) -> str:
        try:
            answer = self._call("GET", self._project(project, "logs", uid))
        except NotFound:
            return ""
        return answer if isinstance(answer, str) else json.dumps(answer)

    # ------------------------------------------------------------------ writing

    def ensure_project(self, project: str, description: str | None) -> None:
        """Create the project on MLRun unless it exists (a concurrent create is fine)."""
        if self.project_exists(project):
            return
        body = {"kind": "project", "metadata": {"name": project}, "spec": {"description": description}}
        try:
            self._call("POST", f"{API}/projects", body=body)
        except Exception:
            if not self.project_exists(project):
                raise

    def delete_function(self, project: str, name: str) -> None:
        with contextlib.suppress(NotFound):
            self._call("DELETE", self._project(project, "functions", name))

    def delete_schedule(self, project: str, name: str) -> None:
        with contextlib.suppress(NotFound):
            self._call("DELETE", self._project(project, "schedules", name))

    def annotate_run(self, project: str, uid: str, updates: dict[str, Any]) -> None:
        """Set fields of a run (`status.dhmlrun`, or its state and error when it failed)."""
        self._call("PATCH", self._project(project, "runs", uid), body=updates)

    def abort_run(self, project: str, uid: str) -> None:
        self._call("POST", self._project(project, "runs", uid, "abort"), body={})


def _pairs(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        for item in value if isinstance(value, list | tuple) else [value]:
            pairs.append((key, str(item)))
    return pairs


def read_mlrun_families(service: MLRunService, project: str, state: Any) -> None:
    """Fill `state` with what MLRun holds for the project: functions (the latest managed
    version per address), the last run per address, schedules. Three list requests."""
    state.mlrun = service.endpoint
    state.mlrun_project_exists = service.project_exists(project)
    if not state.mlrun_project_exists:
        return
    for dto in service.functions(project):
        entity = remote_function(dto)
        current = state.entities.get(f"functions.{entity.name}") if entity else None
        if entity is not None and (current is None or (entity.created or "") > (current.created or "")):
            state.entities[entity.address] = entity
    for dto in service.runs(project):
        run = remote_run(dto)
        current = state.runs.get(run.address) if run else None
        if run is not None and (current is None or (run.created or "") > (current.created or "")):
            state.runs[run.address] = run
    for dto in service.schedules(project):
        schedule = remote_schedule(dto)
        if schedule is not None:
            state.schedules[schedule.address] = schedule
