"""Secrets through the SDK: entity plus value, read back, unknown names, delete."""

from __future__ import annotations

import json

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


def test_secret_values_are_sealed_at_rest(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The value is nowhere in the database files; another key cannot open it; the key file is
    the user's only."""
    import stat

    from dhmlrun.core.routing import ApiRequest
    from dhmlrun.core.server import EmbeddedCore

    value = "plain-text-that-must-not-be-stored-1f3a"
    key = tmp_path / "keys" / "core.key"
    monkeypatch.setenv("DHMLRUN_CORE_KEY_FILE", str(key))
    db = tmp_path / "db" / "core.db"
    core = EmbeddedCore(db)
    try:
        for method, path, body in [
            ("POST", "/api/v1/projects", {"name": "sealed"}),
            (
                "POST",
                "/api/v1/-/sealed/secrets",
                {
                    "name": "tok",
                    "kind": "secret",
                    "project": "sealed",
                    "spec": {"path": "secret://tok", "provider": "kubernetes"},
                },
            ),
            ("PUT", "/api/v1/-/sealed/secrets/data", {"tok": value}),
            ("PUT", "/api/v1/-/sealed/secrets/data", {"tok": value + "-2"}),
        ]:
            assert core.api.handle(ApiRequest(method, path, body=json.dumps(body).encode())).status == 200
        read = core.api.handle(ApiRequest("GET", "/api/v1/-/sealed/secrets/data", "keys=tok"))
        assert json.loads(read.body) == {"tok": value + "-2"}
    finally:
        core.close()
    for stored in db.parent.iterdir():
        assert value.encode() not in stored.read_bytes(), stored
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    monkeypatch.setenv("DHMLRUN_CORE_KEY_FILE", str(tmp_path / "other.key"))
    other = EmbeddedCore(db)
    try:
        refused = other.api.handle(ApiRequest("GET", "/api/v1/-/sealed/secrets/data", "keys=tok"))
        assert refused.status == 500 and "does not open" in json.loads(refused.body)["message"]
    finally:
        other.close()
