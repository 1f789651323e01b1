"""Projects through the unmodified digitalhub SDK: create, get, list, update, delete, share, export."""

from __future__ import annotations

from pathlib import Path

import digitalhub as dh
import pytest
from digitalhub.utils.exceptions import BackendError, EntityAlreadyExistsError

from tests.conftest import unique_project_name
from tests.core.conftest import Api


def test_new_project_is_readable_with_server_fields(core, project_name):
    dh.new_project(project_name, description="first")
    project = dh.get_project(project_name)
    assert project.name == project_name
    assert project.key == f"store://{project_name}"
    assert project.metadata.description == "first"
    assert project.metadata.created.endswith("Z")
    assert project.user == "anonymous"


def test_duplicate_project_raises_already_exists(core, project_name):
    dh.new_project(project_name)
    with pytest.raises(EntityAlreadyExistsError):
        dh.new_project(project_name)


def test_missing_project_is_a_backend_error_with_core_text(core):
    with pytest.raises(BackendError, match="No such project"):
        dh.get_project(unique_project_name("missing"))


def test_get_or_create_project_creates_then_returns_the_same(core, project_name):
    first = dh.get_or_create_project(project_name)
    second = dh.get_or_create_project(project_name)
    assert first.name == second.name == project_name
    assert second.metadata.created == first.metadata.created


def test_list_projects_includes_new_ones(core, project_name):
    dh.new_project(project_name)
    assert project_name in [p.name for p in dh.list_projects()]


def test_update_project_replaces_metadata(core, project_name):
    project = dh.new_project(project_name, description="before")
    project.metadata.description = "after"
    dh.update_project(project)
    assert dh.get_project(project_name).metadata.description == "after"


def test_delete_project_cascades_to_its_entities(core, api: Api, project_name):
    project = dh.new_project(project_name)
    project.new_dataitem("d1", kind="table", path="s3://bucket/d1.csv")
    function = api.function(project_name)
    run = api.run(project_name, api.task(project_name, function))
    dh.delete_project(project_name)
    assert project_name not in [p.name for p in dh.list_projects()]
    assert api.request("GET", f"/-/{project_name}/runs/{run['id']}").status_code == 404
    # the same name (and the same ids) can be created again at once
    dh.new_project(project_name)
    assert dh.list_dataitems(project_name) == []
    assert api.request("POST", f"/-/{project_name}/functions", json={**function, "spec": function["spec"]}).ok


def test_delete_missing_project_is_not_an_error(core):
    dh.delete_project(unique_project_name("gone"))


def test_project_get_embeds_latest_entities_as_summaries(core, api: Api, project_name):
    project = dh.new_project(project_name)
    project.new_dataitem("d1", kind="table", path="s3://b/v1.csv")
    latest = project.new_dataitem("d1", kind="table", path="s3://b/v2.csv")
    body = api.ok("GET", f"/projects/{project_name}")
    (entry,) = body["spec"]["dataitems"]
    assert entry["id"] == latest.id
    assert "spec" not in entry and "status" not in entry
    assert entry["metadata"]["ref"].endswith(f"/api/v1/-/{project_name}/dataitems/{latest.id}")


def test_project_embeds_full_dto_when_entity_is_embedded(core, api: Api, project_name):
    project = dh.new_project(project_name)
    project.new_dataitem("inline", kind="table", path="s3://b/i.csv", embedded=True)
    (entry,) = api.ok("GET", f"/projects/{project_name}")["spec"]["dataitems"]
    assert entry["spec"]["path"] == "s3://b/i.csv"


def test_share_and_unshare_project(core, api: Api, project_name):
    project = dh.new_project(project_name)
    project.share("alice")
    assert [s["user"] for s in api.ok("GET", f"/projects/{project_name}/share")] == ["alice"]
    project.unshare("alice")
    assert api.ok("GET", f"/projects/{project_name}/share") == []


def test_export_then_import_round_trip(core, tmp_path: Path, project_name):
    project = dh.new_project(project_name, source=str(tmp_path))
    project.new_dataitem("d1", kind="table", path="s3://b/d1.csv")
    project.new_artifact("a1", kind="artifact", path="s3://b/a1.bin")
    exported = project.export()
    dh.delete_project(project_name)
    imported = dh.import_project(exported)
    assert imported.name == project_name
    assert [d.name for d in dh.list_dataitems(project_name)] == ["d1"]
    assert [a.name for a in dh.list_artifacts(project_name)] == ["a1"]
