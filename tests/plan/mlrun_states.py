"""Platform states as an MLRun service holds them after an apply: the plan's function and run
writes turned into the records MLRun returns (the shapes a real MLRun 1.7 API answers with), then
read back through `platform.mlrun` as `plan` reads them. No server and no mlrun import: the
worker side of these shapes is tested against real mlrun in tests/apply/test_mlrun_worker.py."""

from __future__ import annotations

import base64
import copy
from typing import Any

from dhmlrun.plan.model import EntityDelete, EntityWrite, Plan, RunStart, ScheduleDelete, ScheduleWrite
from dhmlrun.platform.mlrun import (
    BOOKKEEPING,
    function_metadata,
    mlrun_annotations,
    mlrun_labels,
    read_mlrun_families,
)
from dhmlrun.platform.state import PlatformState
from tests.plan.helpers import written_entity

MLRUN = "http://mlrun.example:8080"


class RecordedService:
    """What `read_mlrun_families` asks of an MLRun service, answered from records in memory."""

    def __init__(self) -> None:
        self.endpoint = MLRUN
        self.project = False
        self.funcs: list[dict[str, Any]] = []
        self.run_records: list[dict[str, Any]] = []
        self.schedule_records: list[dict[str, Any]] = []

    def project_exists(self, project: str) -> bool:
        return self.project

    def functions(self, project: str) -> list[dict[str, Any]]:
        return copy.deepcopy(self.funcs)

    def runs(self, project: str) -> list[dict[str, Any]]:
        return copy.deepcopy(self.run_records)

    def schedules(self, project: str) -> list[dict[str, Any]]:
        return copy.deepcopy(self.schedule_records)


def function_record(body: dict[str, Any], updated: str) -> dict[str, Any]:
    """An MLRun function as `code_to_function` + `store_function` leave it (code embedded)."""
    recorded = function_metadata(body)
    source = body["spec"].get("source") or {}
    code = source.get("base64") or base64.b64encode(str(source.get("code", "")).encode()).decode()
    return {
        "kind": "job",
        "metadata": {
            "name": body["name"],
            "project": body["project"],
            "tag": body["id"],
            "hash": f"h{body['id'][:8]}",
            "updated": updated,
            "labels": {**recorded["labels"], "mlrun/client_version": "1.12.1"},
            "annotations": recorded["annotations"],
        },
        "spec": {"description": recorded["description"], "build": {"functionSourceCode": code}},
    }


def run_record(plan: Plan, action: RunStart, state: str = "completed") -> dict[str, Any]:
    request = action.request
    assert request is not None
    return {
        "metadata": {
            "uid": request.run_id,
            "name": "x",
            "project": plan.project,
            "labels": {**mlrun_labels(request.labels), "kind": "local"},
            "annotations": mlrun_annotations(request.labels),
        },
        "status": {
            "state": state,
            "start_time": "2026-01-01T00:00:00+00:00",
            "results": {},
            BOOKKEEPING: {
                "outputs": {
                    k: f"store://{plan.project}/dataitem/table/{v}:o1" for k, v in request.outputs.items()
                },
                "spec": {},
            },
        },
    }


def schedule_record(plan: Plan, action: ScheduleWrite) -> dict[str, Any]:
    request = action.request
    assert request is not None
    return {
        "name": request.run_id,
        "labels": mlrun_labels(request.labels),
        "cron_trigger": {"minute": 0, "hour": 3, "day": "*", "month": "*", "day_of_week": "*"},
        "scheduled_object": {
            "task": {"metadata": {"name": request.run_id, "annotations": mlrun_annotations(request.labels)}}
        },
    }


def apply_on_mlrun(plan: Plan, service: RecordedService, dhcore: PlatformState) -> PlatformState:
    """Record what applying `plan` leaves on MLRun (and the DHCore entities in `dhcore`), then
    read the state as `plan` would."""
    service.project = True
    for n, action in enumerate(plan.actions):
        if isinstance(action, EntityWrite) and action.body["kind"] == "mlrun":
            service.funcs.append(function_record(action.body, f"2026-01-01T00:00:{n:02d}+00:00"))
        elif isinstance(action, EntityWrite):
            dhcore.entities[action.address] = written_entity(plan, action)
        elif isinstance(action, RunStart):
            service.run_records.append(run_record(plan, action))
        elif isinstance(action, ScheduleDelete):
            service.schedule_records = [s for s in service.schedule_records if s["name"] != action.schedule]
        elif isinstance(action, EntityDelete):
            service.funcs = [f for f in service.funcs if f["metadata"]["name"] != action.name]
            dhcore.entities.pop(action.address, None)
        elif isinstance(action, ScheduleWrite):
            service.schedule_records = [
                s for s in service.schedule_records if s["name"] != action.request.run_id
            ] + [schedule_record(plan, action)]
    return read_state(service, dhcore)


def read_state(service: RecordedService, dhcore: PlatformState) -> PlatformState:
    state = PlatformState(
        project=dhcore.project,
        project_exists=True,
        project_description="d",
        entities=dict(dhcore.entities),
    )
    read_mlrun_families(service, dhcore.project, state)
    return state
