"""Dataitems, artifacts and models through the SDK: versions, latest, filters, ids, deletion."""

from __future__ import annotations

import digitalhub as dh
import pytest
from digitalhub.utils.exceptions import BackendError, EntityAlreadyExistsError

from tests.core.conftest import Api


@pytest.fixture
def sdk_project(core, project_name):
    return dh.new_project(project_name)


def test_each_material_type_round_trips(sdk_project):
    dataitem = sdk_project.new_dataitem("d", kind="table", path="s3://b/d.csv")
    artifact = sdk_project.new_artifact("a", kind="artifact", path="s3://b/a.bin")
    model = sdk_project.new_model("m", kind="model", path="s3://b/m.pkl")
    assert sdk_project.get_dataitem("d").id == dataitem.id
    assert sdk_project.get_artifact("a").spec.path == "s3://b/a.bin"
    assert sdk_project.get_model("m").key == f"store://{sdk_project.name}/model/model/m:{model.id}"
    assert artifact.metadata.version and artifact.metadata.version != artifact.id


def test_get_by_name_returns_latest_version(sdk_project):
    sdk_project.new_dataitem("d", kind="table", path="s3://b/v1.csv")
    second = sdk_project.new_dataitem("d", kind="table", path="s3://b/v2.csv")
    assert sdk_project.get_dataitem("d").id == second.id
    assert len(sdk_project.list_dataitems()) == 1


def test_all_versions_are_listed(sdk_project):
    ids = {sdk_project.new_dataitem("d", kind="table", path=f"s3://b/v{i}.csv").id for i in range(3)}
    assert {d.id for d in sdk_project.get_dataitem_versions("d")} == ids


def test_filters_apply_after_latest(sdk_project):
    sdk_project.new_artifact("x", kind="artifact", path="s3://b/x1")
    sdk_project.new_model("x", kind="model", path="s3://b/x2")  # models are another type
    sdk_project.new_dataitem("one", kind="table", path="s3://b/1")
    sdk_project.new_dataitem("two", kind="table", path="s3://b/2")
    assert [d.name for d in sdk_project.list_dataitems(name="two")] == ["two"]
    assert {d.name for d in sdk_project.list_dataitems(kind="table")} == {"one", "two"}
    assert sdk_project.list_dataitems(kind="croissant") == []
    assert {d.name for d in sdk_project.list_dataitems(q="tw")} == {"two"}
    assert {d.name for d in sdk_project.list_dataitems(state="CREATED")} == {"one", "two"}
    assert sdk_project.list_dataitems(state="READY") == []


def test_kind_filter_sees_only_the_latest_version(api: Api, sdk_project):
    name = sdk_project.name
    api.ok("POST", f"/-/{name}/models", json={"name": "k", "kind": "sklearn", "spec": {"path": "s3://b/k"}})
    api.ok("POST", f"/-/{name}/models", json={"name": "k", "kind": "mlflow", "spec": {"path": "s3://b/k"}})
    assert api.ok("GET", f"/-/{name}/models", params={"kind": "sklearn"})["content"] == []
    assert (
        len(api.ok("GET", f"/-/{name}/models", params={"kind": "sklearn", "versions": "all"})["content"]) == 1
    )


def test_labels_filter_requires_every_label(api: Api, sdk_project):
    sdk_project.new_dataitem("both", kind="table", path="s3://b/1", labels=["a", "b"])
    sdk_project.new_dataitem("only-a", kind="table", path="s3://b/2", labels=["a"])
    page = api.ok("GET", f"/-/{sdk_project.name}/dataitems", params=[("labels", "a"), ("labels", "b")])
    assert [d["name"] for d in page["content"]] == ["both"]


def test_duplicate_id_raises_already_exists(sdk_project):
    first = sdk_project.new_dataitem("d", kind="table", path="s3://b/d.csv")
    with pytest.raises(EntityAlreadyExistsError):
        sdk_project.new_dataitem("d", kind="table", path="s3://b/d.csv", uuid=first.id)


def test_same_id_is_allowed_across_types(sdk_project):
    dataitem = sdk_project.new_dataitem("d", kind="table", path="s3://b/d.csv")
    artifact = sdk_project.new_artifact("a", kind="artifact", path="s3://b/a", uuid=dataitem.id)
    assert artifact.id == dataitem.id


def test_hard_delete_frees_the_id(sdk_project):
    dataitem = sdk_project.new_dataitem("d", kind="table", path="s3://b/d.csv")
    sdk_project.delete_dataitem(dataitem.key)
    with pytest.raises(BackendError):
        sdk_project.get_dataitem("d")
    again = sdk_project.new_dataitem("d", kind="table", path="s3://b/d.csv", uuid=dataitem.id)
    assert again.id == dataitem.id


def test_delete_by_name_removes_every_version(api: Api, sdk_project):
    for i in range(3):
        sdk_project.new_model("m", kind="model", path=f"s3://b/m{i}")
    sdk_project.new_model("keep", kind="model", path="s3://b/k")
    api.ok("DELETE", f"/-/{sdk_project.name}/models", params={"name": "m"})
    assert [m.name for m in sdk_project.list_models()] == ["keep"]
    assert sdk_project.get_model_versions("keep")


def test_update_keeps_spec_and_replaces_metadata(sdk_project):
    dataitem = sdk_project.new_dataitem("d", kind="table", path="s3://b/d.csv")
    dataitem.spec.path = "s3://b/changed.csv"
    dataitem.metadata.description = "described"
    dataitem.save(update=True)
    stored = sdk_project.get_dataitem("d")
    assert stored.spec.path == "s3://b/d.csv"
    assert stored.metadata.description == "described"
    assert stored.metadata.version == dataitem.metadata.version


def test_material_lifecycle_allows_upload_then_ready(api: Api, sdk_project):
    item = api.ok(
        "POST",
        f"/-/{sdk_project.name}/artifacts",
        json={"name": "f", "kind": "artifact", "spec": {"path": "s3://b/f"}},
    )
    path = f"/-/{sdk_project.name}/artifacts/{item['id']}"
    for state in ("UPLOADING", "READY", "READY"):
        assert api.ok("PUT", path, json={**item, "status": {"state": state}})["status"]["state"] == state
    kept = api.request("PUT", path, json={**item, "status": {"state": "UPLOADING"}})  # no such edge
    assert (kept.status_code, kept.json()["status"]["state"]) == (200, "READY")


def test_created_with_a_requested_state_applies_the_transition(api: Api, sdk_project):
    body = {"name": "r", "kind": "table", "spec": {"path": "s3://b/r"}, "status": {"state": "READY"}}
    assert api.ok("POST", f"/-/{sdk_project.name}/dataitems", json=body)["status"]["state"] == "READY"


def test_material_needs_a_path(api: Api, sdk_project):
    response = api.request(
        "POST", f"/-/{sdk_project.name}/dataitems", json={"name": "p", "kind": "table", "spec": {}}
    )
    assert response.status_code == 400


def test_files_info_is_a_list(api: Api, sdk_project):
    model = sdk_project.new_model("m", kind="model", path="s3://b/m")
    path = f"/-/{sdk_project.name}/models/{model.id}/files/info"
    assert api.ok("GET", path) == []
    files = [{"path": "m/weights.bin", "size": 10}]
    api.ok("PUT", path, json=files)
    assert api.ok("GET", path) == files


def test_model_metrics_are_stored(api: Api, sdk_project):
    model = sdk_project.new_model("m", kind="model", path="s3://b/m")
    model.log_metric("accuracy", 0.9, single_value=True)
    model.log_metric("loss", 0.5)
    model.log_metric("loss", 0.3)
    expected = {"accuracy": 0.9, "loss": [0.5, 0.3]}
    assert sdk_project.get_model("m").metrics == expected
    assert api.ok("GET", f"/-/{sdk_project.name}/models/{model.id}/metrics/loss") == [0.5, 0.3]
    assert api.request("GET", f"/-/{sdk_project.name}/models/{model.id}/metrics/absent").content == b""
