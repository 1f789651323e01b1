"""The MLRun side of the platform: where the `mlrun` families live, how dhmlrun's bookkeeping
is kept on MLRun records and read back, and which MLRun service is used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dhmlrun.core.server import EmbeddedCore
from dhmlrun.platform import labels as L
from dhmlrun.platform import mlrun_service
from dhmlrun.platform.connection import Connection
from dhmlrun.platform.dhcore import Platform
from dhmlrun.platform.errors import PlatformError
from dhmlrun.platform.mlrun import (
    LABELS_ANNOTATION,
    SPEC_ANNOTATION,
    MLRunService,
    function_metadata,
    labels_of,
    mlrun_labels,
    remote_function,
    remote_run,
    remote_schedule,
    run_as_dto,
)
from dhmlrun.platform.rest import RestClient

DIGEST = "a" * 64
LABELS = ["team=ml", L.MANAGED, "dhmlrun/address=runs.fit", f"dhmlrun/fingerprint={DIGEST}"]


def test_mlrun_labels_are_valid_kubernetes_labels_and_the_annotation_keeps_everything() -> None:
    """A remote run's labels become its pod's, whose values Kubernetes caps at 63 characters."""
    assert mlrun_labels(LABELS) == {"dhmlrun": "true", "dhmlrun/address": "runs.fit"}
    metadata = {"labels": mlrun_labels(LABELS), "annotations": {LABELS_ANNOTATION: json.dumps(LABELS)}}
    assert labels_of(metadata) == tuple(LABELS)
    assert labels_of({"annotations": {LABELS_ANNOTATION: "not json"}}) == ()


def test_function_metadata_keeps_the_declared_spec_without_its_code() -> None:
    body = {
        "metadata": {"labels": LABELS, "description": "trains"},
        "spec": {"source": {"source": "src/train.py", "base64": "ZGVm", "lang": "python"}, "handler": "fit"},
    }
    recorded = function_metadata(body)
    assert json.loads(recorded["annotations"][SPEC_ANNOTATION]) == {
        "handler": "fit",
        "source": {"lang": "python", "source": "src/train.py"},
    }
    assert recorded["description"] == "trains"


def test_a_managed_function_reads_back_with_its_tag_as_id_and_mlruns_code() -> None:
    body = {
        "metadata": {
            "labels": [L.MANAGED, "dhmlrun/address=functions.train", f"dhmlrun/sha256:source.source={DIGEST}"]
        },
        "spec": {"source": {"source": "src/train.py", "base64": "ZGVm"}, "handler": "fit"},
    }
    recorded = function_metadata(body)
    dto = {
        "kind": "job",
        "metadata": {
            "name": "train",
            "project": "p",
            "tag": "v1",
            "hash": "abc",
            "updated": "2026-01-01",
            "labels": recorded["labels"],
            "annotations": recorded["annotations"],
        },
        "spec": {"description": "", "build": {"functionSourceCode": "ZGVmIHg="}},
    }
    entity = remote_function(dto)
    assert entity is not None
    assert (entity.address, entity.id, entity.kind, entity.key) == (
        "functions.train",
        "v1",
        "mlrun",
        "db://p/train:v1",
    )
    assert entity.spec["source"]["base64"] == "ZGVmIHg="  # what MLRun holds, not what was recorded
    assert f"{L.LOCAL_SHA256}:source.source" not in entity.recorded
    assert remote_function({"metadata": {"name": "x", "labels": {"team": "ml"}}}) is None


def test_runs_read_back_with_states_in_dhcore_words_and_a_dead_executor_noticed() -> None:
    def record(state: str, lease: dict | None = None) -> dict:
        return {
            "metadata": {
                "uid": "u1",
                "labels": {"kind": "local"},
                "annotations": {LABELS_ANNOTATION: json.dumps(LABELS)},
            },
            "status": {
                "state": state,
                "start_time": "2026-01-01T00:00:00+00:00",
                "error": "boom",
                "dhmlrun": {
                    "outputs": {"model": "store://p/model/model/m:1"},
                    **({"lease": lease} if lease else {}),
                },
            },
        }

    run = remote_run(record("completed"))
    assert run is not None
    assert (run.id, run.address, run.state, run.fingerprint) == ("u1", "runs.fit", "COMPLETED", DIGEST)
    assert run.outputs == {"model": "store://p/model/model/m:1"} and run.local_execution
    assert remote_run(record("aborted")).state == "STOPPED"
    expired = {"holder": "h:1", "renewed": "2020-01-01T00:00:00Z", "expires": "2020-01-01T00:01:00Z"}
    assert remote_run(record("running", expired)).executor_lost
    assert not remote_run(record("running")).executor_lost
    assert not remote_run(record("error", expired)).executor_lost
    dto = run_as_dto(record("error"))
    assert dto["status"]["state"] == "ERROR" and dto["status"]["message"] == "boom"


def test_schedules_read_back_with_their_declared_cron() -> None:
    labels = [*LABELS, "dhmlrun/schedule=@daily"]
    dto = {
        "name": "fit",
        "cron_trigger": {"minute": 0, "hour": 0, "day": "*", "month": "*", "day_of_week": "*", "year": None},
        "scheduled_object": {"task": {"metadata": {"annotations": {LABELS_ANNOTATION: json.dumps(labels)}}}},
    }
    schedule = remote_schedule(dto)
    assert schedule is not None
    assert (schedule.address, schedule.name, schedule.cron, schedule.fingerprint) == (
        "runs.fit",
        "fit",
        "@daily",
        DIGEST,
    )
    dto["scheduled_object"]["task"]["metadata"]["annotations"][LABELS_ANNOTATION] = json.dumps(LABELS)
    assert remote_schedule(dto).cron == "0 0 * * *"  # MLRun's trigger, when none was recorded


def test_the_mlrun_service_is_the_environments_then_the_profiles_then_mlrun_dbpath() -> None:
    profile = Connection(
        endpoint="http://core", source="a profile", variables={"MLRUN_DBPATH": "http://from-profile"}
    )
    env = {"MLRUN_DBPATH": "http://from-env"}
    assert mlrun_service("http://declared", profile, env).endpoint == "http://declared"
    assert mlrun_service(None, profile, env).endpoint == "http://from-profile"
    assert mlrun_service(None, None, env).endpoint == "http://from-env"
    assert mlrun_service(None, None, {"MLRUN_DBPATH": "/local/path"}) is None
    assert mlrun_service(None, None, {}) is None


@pytest.fixture
def stock_core(tmp_path: Path):
    core = EmbeddedCore(tmp_path / "core.db", stock=True)
    yield core
    core.close()


def test_a_stock_dhcore_without_an_mlrun_service_fails_naming_both_ways_out(stock_core) -> None:
    platform = Platform(RestClient(stock_core.transport()), shown="the stock core")
    assert not platform.has_mlrun_runtime()
    with pytest.raises(PlatformError) as raised:
        platform.read_state("p", mlrun_needed=True)
    message = str(raised.value)
    assert "MLRUN_DBPATH" in message and "has the mlrun runtime" in message
    unasked = platform.read_state("p")  # nothing mlrun declared: nothing asked
    assert unasked.mlrun is None and unasked.mlrun_runtime is None


def test_a_stock_dhcore_hands_the_mlrun_families_to_the_service(stock_core) -> None:
    service = MLRunService("http://mlrun.example:8080")
    platform = Platform(RestClient(stock_core.transport()), mlrun=service)
    assert platform.mlrun_host(platform.has_mlrun_runtime()) is service


def test_a_dhcore_with_the_mlrun_runtime_keeps_them(tmp_path: Path) -> None:
    core = EmbeddedCore(tmp_path / "core.db")
    try:
        platform = Platform(RestClient(core.transport()), mlrun=MLRunService("http://mlrun.example:8080"))
        assert platform.has_mlrun_runtime() and platform.mlrun_host(True) is None
        assert platform.read_state("p", mlrun_needed=True).mlrun_runtime is True
    finally:
        core.close()
