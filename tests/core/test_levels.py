"""The core's API levels (`levels.py`): 15 by default (DHCore 0.15), 16 for the DigitalHub 0.16
line, whose SDK refuses any core below level 16 (its ClientConfig.min_api_level)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import requests

from dhmlrun.core.server import EmbeddedCore
from tests.conftest import auth_headers
from tests.core.conftest import Api


@pytest.fixture
def level16(tmp_path: Path):
    core = EmbeddedCore(tmp_path / "core.db", api_level=16)
    try:
        core.serve()
        yield core
    finally:
        core.close()


def test_level_15_answers_as_dhcore_015_and_has_no_container_images(
    core: EmbeddedCore, api: Api, project: str
) -> None:
    answer = api.request("GET", f"/-/{project}/containerimages")
    assert (answer.status_code, answer.headers["x-api-level"], answer.headers["x-api-version"]) == (
        404,
        "15",
        "0.15.0",
    )
    assert api.request("GET", "/schemas/containerimage").status_code == 404


def test_level_16_serves_container_images_as_dhcores_main_branch(level16: EmbeddedCore) -> None:
    """ContainerImageContextController: versioned, kind `container-image`, `image` required
    (ContainerImageBaseSpec `@NotBlank`)."""
    api = Api(str(level16.endpoint), auth_headers(level16))
    api.ok("POST", "/projects", json={"name": "images"})
    body = {"name": "base", "kind": "container-image", "spec": {"image": "python:3.11-slim"}}
    first = api.ok("POST", "/-/images/containerimages", json=body)
    assert first["key"] == f"store://images/containerimage/container-image/base:{first['id']}"
    api.ok("POST", "/-/images/containerimages", json={**body, "spec": {"image": "python:3.12-slim"}})
    listed = api.request("GET", "/-/images/containerimages")
    assert listed.headers["x-api-level"] == "16" and listed.headers["x-api-version"] == "0.16.0"
    assert [c["spec"]["image"] for c in listed.json()["content"]] == ["python:3.12-slim"]
    assert (
        api.request("POST", "/-/images/containerimages", json={**body, "kind": "docker"}).status_code == 404
    )
    assert [s["id"] for s in api.ok("GET", "/schemas/containerimage")["content"]] == [
        "CONTAINERIMAGE:container-image"
    ]


def test_level_16_configuration_names_no_resource_profiles(level16: EmbeddedCore) -> None:
    """K8sConfig's `k8s_resource_profiles`: the embedded core has no Kubernetes, so none."""
    config = requests.get(
        f"{level16.endpoint}/.well-known/configuration", headers=auth_headers(level16), timeout=10
    )
    assert config.json()["k8s_resource_profiles"] == []
    assert config.json()["dhcore_api_level"] == "16"


def test_the_mlrun_runtime_registers_nothing_under_another_sdk_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """The 0.16 SDK imports every `digitalhub_runtime_*` module and stops at the first that fails:
    ours must load there, with no kind of its own."""
    import digitalhub_runtime_mlrun
    from dhmlrun.compat import digitalhub as compat

    monkeypatch.setattr(compat, "sdk_supported", lambda: False)
    try:
        other = importlib.reload(digitalhub_runtime_mlrun)
        assert (other.entity_builders, other.runtime_builders) == ((), ())
    finally:
        monkeypatch.undo()
        assert importlib.reload(digitalhub_runtime_mlrun).entity_builders


def test_the_helpers_every_worker_imports_import_no_sdk_class() -> None:
    """A python run's worker imports the runtime's helpers (deadline, failure line, captured
    output, stored log) under any SDK line; only `dhmlrun.runtime.builders` holds the 0.15 SDK's
    builder classes. Under the 0.16 pre-releases a package import that pulled them in failed every
    python run apply executes with ModuleNotFoundError."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import dhmlrun.runtime.capture, dhmlrun.runtime.deadline, dhmlrun.runtime.failure\n"
        "import dhmlrun.runtime.logs\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('digitalhub', 'mlrun')))\n"
    )
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert imported.stdout.strip() == "[]"
