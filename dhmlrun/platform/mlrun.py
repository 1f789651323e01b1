"""The MLRun side of the platform: where `mlrun` functions, their schedules and runs live when
the DigitalHub platform has no `mlrun` runtime (a stock DHCore 0.15 dropped it in 0.8).

Read through MLRun's REST API with dhmlrun's own transport (retries, timeouts; no `import mlrun`,
so `plan` stays light): one list request per family (functions and runs by the `dhmlrun` label,
schedules), and the few single reads and writes that need no mlrun objects (delete a function
or a schedule, read, fail or annotate a run, read its log). What needs mlrun's own classes to be
faithful (storing a function, submitting a run, creating a schedule) is done by the MLRun worker
(`dhmlrun/worker/on_mlrun.py`), which imports mlrun.

dhmlrun's bookkeeping (`platform/labels.py`: `dhmlrun` and `dhmlrun/KEY=VALUE`, with 64-character
digests) is kept whole in one annotation (`LABELS_ANNOTATION`): MLRun labels become a remote
run's pod labels, whose values Kubernetes limits to 63 characters. The MLRun labels carry only
what the list filters and a person looking at MLRun need: `dhmlrun: "true"` and the address
(`mlrun_labels`).
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
from dhmlrun.platform.lease import lease_expired
from dhmlrun.platform.state import RemoteEntity, RemoteRun
from dhmlrun.platform.transport import HttpTransport, Transport
from dhmlrun.vocabulary import endings, states
from dhmlrun.vocabulary.addresses import Address
from dhmlrun.vocabulary.backends import MLRUN
from dhmlrun.vocabulary.kinds import MLRUN_KIND, MLRUN_RUN_JOB
from dhmlrun.vocabulary.mask import mask_userinfo

API = "/api/v1"
MANAGED_VALUE = "true"
ADDRESS_LABEL = "dhmlrun/address"
LABELS_ANNOTATION = "dhmlrun/labels"
"""dhmlrun's whole label list (JSON), on MLRun functions, runs and schedules."""
SPEC_ANNOTATION = "dhmlrun/spec"
"""The function spec dhmlrun declared, without its code (MLRun keeps the code itself, and the
next plan digests that), kept on the MLRun function: what the next plan compares with the
declaration."""
BOOKKEEPING = "dhmlrun"
"""The key of the run status map where dhmlrun records what it asked for (its run request with
inputs resolved to DigitalHub keys) and what came out (outputs registered on DigitalHub)."""

MLRUN_ERROR = "error"
STATES = {
    "completed": states.COMPLETED,
    MLRUN_ERROR: states.ERROR,
    "aborted": states.STOPPED,
    "aborting": states.STOP,
    "running": states.RUNNING,
    "pending": states.PENDING,
    "created": states.CREATED,
}
"""MLRun run states in DHCore's words (any other state counts as running)."""


def mlrun_labels(labels: list[str]) -> dict[str, str]:
    """The MLRun labels of a managed object: the marker and its address (valid Kubernetes label
    values: addresses are `TYPE.NAME` with slug names)."""
    _, ours, _ = L.decode(labels)
    mapped = {L.MANAGED: MANAGED_VALUE}
    if ours.get(L.ADDRESS):
        mapped[ADDRESS_LABEL] = ours[L.ADDRESS]
    return mapped


def mlrun_annotations(labels: list[str]) -> dict[str, str]:
    """The annotation keeping dhmlrun's whole label list."""
    return {LABELS_ANNOTATION: json.dumps(list(labels), separators=(",", ":"))}


def function_metadata(body: Mapping[str, Any]) -> dict[str, Any]:
    """What dhmlrun puts on the MLRun function of a DHCore-shaped function body, beside its code:
    `labels`, `annotations` (the bookkeeping and the declared spec without its code) and the
    `description`. `remote_function` reads them back."""
    metadata = body.get("metadata") or {}
    labels = list(metadata.get("labels") or ())
    spec = dict(body.get("spec") or {})
    source = {k: v for k, v in dict(spec.get("source") or {}).items() if k not in ("base64", "code")}
    declared = {**spec, "source": source} if "source" in spec else spec
    return {
        "labels": mlrun_labels(labels),
        "annotations": {
            **mlrun_annotations(labels),
            SPEC_ANNOTATION: json.dumps(declared, sort_keys=True, separators=(",", ":")),
        },
        "description": metadata.get("description") or "",
    }


def labels_of(metadata: Mapping[str, Any]) -> tuple[str, ...]:
    """dhmlrun's label list of an MLRun object (from its annotation; () when it has none)."""
    text = (metadata.get("annotations") or {}).get(LABELS_ANNOTATION)
    try:
        labels = json.loads(text) if isinstance(text, str) else []
    except ValueError:
        labels = []
    return tuple(str(x) for x in labels) if isinstance(labels, list) else ()


def remote_function(dto: dict[str, Any]) -> RemoteEntity | None:
    """A managed MLRun function version as the planner sees entities (None for others). Its id
    is its tag, chosen by dhmlrun (stable, unlike the hash, which changes when a run stores it)."""
    metadata = dto.get("metadata") or {}
    labels = labels_of(metadata)
    managed, ours, _ = L.decode(labels)
    if not managed or L.ADDRESS not in ours:
        return None
    try:
        spec = json.loads((metadata.get("annotations") or {}).get(SPEC_ANNOTATION) or "{}")
    except ValueError:
        spec = {}
    spec = spec if isinstance(spec, dict) else {}
    code = ((dto.get("spec") or {}).get("build") or {}).get("functionSourceCode")
    if code:  # the code MLRun holds is what the next plan digests (code edited there shows)
        spec["source"] = {**(spec.get("source") or {}), "base64": code}
        labels = tuple(x for x in labels if not x.startswith(f"{L.PREFIX}{L.LOCAL_SHA256}:"))
    name = str(metadata.get("name"))
    return RemoteEntity(
        type="functions",
        description=(dto.get("spec") or {}).get("description") or None,
        name=Address.parse(ours[L.ADDRESS]).name,
        id=str(metadata.get("tag") or metadata.get("hash")),
        kind=MLRUN_KIND,
        spec=spec,
        labels=labels,
        version=str(metadata.get("tag") or metadata.get("hash") or ""),
        key=f"db://{metadata.get('project')}/{name}:{metadata.get('tag')}",
        created=metadata.get("updated"),
        updated=metadata.get("updated"),
        backend=MLRUN,
    )


def remote_run(dto: dict[str, Any]) -> RemoteRun | None:
    """A managed MLRun run as the planner sees runs (None for others)."""
    metadata, status = dto.get("metadata") or {}, dto.get("status") or {}
    labels = labels_of(metadata)
    managed, ours, _ = L.decode(labels)
    if not managed or L.ADDRESS not in ours:
        return None
    bookkeeping = status.get(BOOKKEEPING) if isinstance(status.get(BOOKKEEPING), dict) else {}
    state = STATES.get(str(status.get("state")), states.RUNNING)
    local = (metadata.get("labels") or {}).get("kind") in (None, "", "local", "handler")
    return RemoteRun(
        id=str(metadata.get("uid")),
        address=ours[L.ADDRESS],
        state=state,
        labels=labels,
        created=status.get("start_time") or bookkeeping.get("created"),
        outputs=dict(bookkeeping.get("outputs") or {}),
        results=dict(status.get("results") or {}),
        message=status.get("error"),
        local_execution=local,
        updated=status.get("last_update"),
        executor_lost=not states.is_final(state) and lease_expired(bookkeeping),
        spec=dict(bookkeeping.get("spec") or {}),
        backend=MLRUN,
        ended_by=bookkeeping.get(endings.ENDED_BY),
    )


def run_as_dto(dto: dict[str, Any]) -> dict[str, Any]:
    """An MLRun run in the shape dhmlrun reads DHCore runs (`id`, `status.state` in DHCore's
    words, `status.message`)."""
    metadata, status = dto.get("metadata") or {}, dto.get("status") or {}
    return {
        "id": metadata.get("uid"),
        "kind": MLRUN_RUN_JOB,
        "project": metadata.get("project"),
        "metadata": {"labels": list(labels_of(metadata)), "created": status.get("start_time")},
        "spec": dict(((status.get(BOOKKEEPING) or {}).get("spec")) or {}),
        "status": {
            "state": STATES.get(str(status.get("state")), states.RUNNING),
            "message": status.get("error"),
            "results": dict(status.get("results") or {}),
            "outputs": dict(((status.get(BOOKKEEPING) or {}).get("outputs")) or {}),
        },
    }


@dataclass(frozen=True)
class RemoteSchedule:
    """A schedule dhmlrun made on MLRun for a scheduled run: its cron as declared (MLRun keeps a
    trigger, from which a macro such as `@daily` cannot be told back) and dhmlrun's bookkeeping
    of the run each firing starts (fingerprint and its parts)."""

    address: str
    name: str
    cron: str
    recorded: dict[str, str]

    @property
    def fingerprint(self) -> str | None:
        return self.recorded.get(L.FINGERPRINT)


SCHEDULE_LABEL = "schedule"
"""dhmlrun's label with the declared cron of a schedule's runs."""


def remote_schedule(dto: dict[str, Any]) -> RemoteSchedule | None:
    """A managed schedule (its bookkeeping is in the labels of the run it starts)."""
    labels = labels_of(((dto.get("scheduled_object") or {}).get("task") or {}).get("metadata") or {})
    managed, ours, _ = L.decode(labels)
    if not managed or L.ADDRESS not in ours:
        return None
    trigger = dto.get("cron_trigger") or {}
    fields = ("minute", "hour", "day", "month", "day_of_week")
    shown = " ".join("*" if trigger.get(f) is None else str(trigger[f]) for f in fields)
    return RemoteSchedule(ours[L.ADDRESS], str(dto.get("name")), ours.get(SCHEDULE_LABEL, shown), ours)


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

    def run_record(self, project: str, uid: str) -> dict[str, Any] | None:
        """The run as MLRun keeps it (None when it has none)."""
        try:
            return (self._call("GET", self._project(project, "runs", uid)) or {}).get("data")
        except NotFound:
            return None

    def read_run(self, project: str, uid: str) -> dict[str, Any] | None:
        """The run in the shape dhmlrun reads DHCore runs (`run_as_dto`)."""
        found = self.run_record(project, uid)
        return None if found is None else run_as_dto(found)

    def run_logs(self, project: str, uid: str) -> list[str]:
        """The run's log, as one text (MLRun keeps one per run)."""
        try:
            answer = self._call("GET", self._project(project, "logs", uid))
        except NotFound:
            return []
        text = answer if isinstance(answer, str) else json.dumps(answer)
        return [text] if text else []

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

    def fail_run(
        self, project: str, uid: str, message: str, reason: str | None = None, *, force: bool = False
    ) -> None:
        """Mark an unfinished run `error` with `message` (its executor is gone, it was refused or
        interrupted), and why as data (`status.dhmlrun.ended_by`); `force`: a completed one too
        (its outputs could not be kept). MLRun's words for DHCore's: `STATES`."""
        found = self.run_record(project, uid)
        if found is None:
            return
        if not force and STATES.get(str((found.get("status") or {}).get("state"))) in states.FINAL:
            return
        updates = {"status.state": MLRUN_ERROR, "status.error": message}
        if reason is not None:
            updates[f"status.{BOOKKEEPING}.{endings.ENDED_BY}"] = reason
        self.annotate_run(project, uid, updates)


def _pairs(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        for item in value if isinstance(value, list | tuple) else [value]:
            pairs.append((key, str(item)))
    return pairs


def read_mlrun_families(service: MLRunService, project: str, state: Any) -> None:
    """Fill `state` with what MLRun holds for the project: functions (the latest managed
    version per address), the last run per address, schedules. Three list requests."""
    state.mlrun = mask_userinfo(service.endpoint)  # it goes into plans and saved plan files
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
