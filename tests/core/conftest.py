"""Helpers for driving the embedded core over plain HTTP (for what the SDK cannot build here)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from dhmlrun.core.server import EmbeddedCore
from tests.conftest import auth_headers


class Api:
    """A tiny REST client rooted at `/api/v1` of the core under test."""

    def __init__(self, endpoint: str, headers: dict[str, str] | None = None) -> None:
        self.base = endpoint + "/api/v1"
        self.session = requests.Session()
        self.session.headers.update(headers or {})

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """As the SDK does, an entity body sent into a project's context names that project
        (DHCore's `@Valid` refuses one that does not): unless the body says `project` itself."""
        body = kwargs.get("json")
        entity = isinstance(body, dict) and ("kind" in body or "spec" in body) and "project" not in body
        if method in ("POST", "PUT") and path.startswith("/-/") and entity:
            kwargs["json"] = {**body, "project": path.split("/")[2]}
        return self.session.request(method, self.base + path, timeout=30, **kwargs)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        """A request that must succeed; returns the parsed body (None when empty)."""
        response = self.request(method, path, **kwargs)
        assert response.status_code == 200, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def function(self, project: str, name: str = "fn", kind: str = "mlrun") -> dict[str, Any]:
        spec = {"source": {"code": "def handler():\n    return 1\n"}, "handler": "handler"}
        return self.ok("POST", f"/-/{project}/functions", json={"name": name, "kind": kind, "spec": spec})

    def task(self, project: str, function: dict[str, Any], kind: str = "mlrun+job") -> dict[str, Any]:
        executable = f"{function['kind']}://{project}/{function['name']}:{function['id']}"
        return self.ok("POST", f"/-/{project}/tasks", json={"kind": kind, "spec": {"function": executable}})

    def run(self, project: str, task: dict[str, Any], *, local: bool = True, **status: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": f"{task['kind']}:run",
            "spec": {"task": f"{task['kind']}://{project}/{task['id']}", "local_execution": local},
        }
        if status:
            body["status"] = status
        return self.ok("POST", f"/-/{project}/runs", json=body)


@pytest.fixture
def api(core: EmbeddedCore) -> Api:
    return Api(str(core.endpoint), auth_headers(core))


@pytest.fixture
def project(api: Api, project_name: str) -> str:
    """A fresh project (created over HTTP), by name."""
    api.ok("POST", "/projects", json={"name": project_name, "kind": "project"})
    return project_name
