"""Secrets through the SDK: entity plus value, read back, unknown names, delete."""

from __future__ import annotations

import digitalhub as dh
import pytest

from tests.core.conftest import Api


@pytest.fixture
def sdk_project(core, project_name):
    return dh.new_project(project_name)


def test_new_secret_value_reads_back(sdk_project):
    secret = sdk_project.new_secret("api-token", secret_value="s3cr3t")
    assert secret.read_secret_value() == "s3cr3t"
    assert dh.get_secret("api-token", project=sdk_project.name).read_secret_value() == "s3cr3t"


def test_secret_value_can_be_replaced(sdk_project):
    secret = sdk_project.new_secret("pw", secret_value="one")
    secret.set_secret_value("two")
    assert secret.read_secret_value() == "two"


def test_secret_key_and_path_follow_core(api: Api, sdk_project):
    sdk_project.new_secret("k", secret_value="v")
    (stored,) = api.ok("GET", f"/-/{sdk_project.name}/secrets")["content"]
    assert stored["key"] == f"store://{sdk_project.name}/secret/secret/k"
    assert stored["spec"]["path"] == "secret://k"


def test_secret_names_are_unique_per_project(api: Api, sdk_project):
    sdk_project.new_secret("dup", secret_value="v")
    body = {"name": "dup", "kind": "secret", "spec": {"path": "secret://dup"}}
    response = api.request("POST", f"/-/{sdk_project.name}/secrets", json=body)
    assert response.status_code == 400
    assert "Duplicated entity" in response.json()["message"]


def test_unknown_secret_names_are_omitted(api: Api, sdk_project):
    sdk_project.new_secret("known", secret_value="v")
    data = api.ok("GET", f"/-/{sdk_project.name}/secrets/data", params=[("keys", "known"), ("keys", "other")])
    assert data == {"known": "v"}


def test_value_without_secret_entity_is_refused(api: Api, sdk_project):
    response = api.request("PUT", f"/-/{sdk_project.name}/secrets/data", json={"nobody": "x"})
    assert response.status_code == 400
    assert response.json()["message"] == "missing secrets for nobody"


def test_deleting_a_secret_forgets_its_value(api: Api, sdk_project):
    secret = sdk_project.new_secret("gone", secret_value="v")
    dh.delete_secret(secret.key, project=sdk_project.name)
    assert api.ok("GET", f"/-/{sdk_project.name}/secrets/data", params={"keys": "gone"}) == {}
