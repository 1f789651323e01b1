"""The HTTP surface of the contract §4: parse the request, call `Core`, render JSON.

No rule of the platform lives here; a reader looking for *what* happens on a request goes to
`service.py`, for *which* URL does it, here.

Reads run on the event loop: in WAL mode readers never wait for writers, and skipping the thread
hop measured ~1.5x more GETs per second. Writes may wait on another process's write lock
(`busy_timeout`), so they go to the thread pool and never stall the loop.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import yaml
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dhmlrun.core.entities import type_from_collection
from dhmlrun.core.errors import ApiError, bad_request, spring_default_body
from dhmlrun.core.listing import Page, Params
from dhmlrun.core.service import Core

API_VERSION = "0.15.0"
API_LEVEL = "15"
HEADERS = {"X-Api-Version": API_VERSION, "X-Api-Level": API_LEVEL}
_JSON = "application/json"

Handler = Callable[[Request], Awaitable[Response]]


def json_response(content: Any, status: int = 200) -> Response:
    """Alphabetical keys, compact separators, the API headers on every answer."""
    if isinstance(content, Page):
        body = content.render()
    else:
        body = b"" if content is None else json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type=_JSON, headers=HEADERS)


def error_response(exc: ApiError) -> Response:
    """Core's handled-error body."""
    return json_response(exc.body(), exc.status)


def spring_not_found(request: Request, status: int = 404, error: str = "Not Found") -> Response:
    """Spring's default body for paths (or methods) no controller handles."""
    return json_response(spring_default_body(status, error, request.url.path), status)


async def read_body(request: Request) -> Any:
    """The request body as JSON (or YAML when sent so); malformed input is a 400, not a 500."""
    raw = await request.body()
    if not raw.strip():
        raise bad_request("Required request body is missing")
    content_type = request.headers.get("content-type", _JSON)
    try:
        if "yaml" in content_type:
            return yaml.safe_load(raw)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as exc:
        raise bad_request(f"JSON parse error: {exc}") from exc


async def read_object(request: Request) -> dict[str, Any]:
    """A body that must be a JSON object (an entity)."""
    body = await read_body(request)
    if not isinstance(body, dict):
        raise bad_request("JSON parse error: the request body must be an object")
    return body


def _flag(request: Request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() not in ("true", "false"):
        raise bad_request(f"invalid {name}: {raw}")
    return raw.lower() == "true"


def _params(request: Request) -> Params:
    return Params(request.query_params.multi_items())


def _context_type(request: Request) -> str | None:
    return type_from_collection(request.path_params["collection"])


class Routes:
    """The endpoint functions, bound to one `Core`."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def table(self) -> list[Route]:
        """Every route of the API (order matters: `secrets/data` before `{collection}/{id}`)."""
        ctx = "/api/v1/-/{project}"
        item = ctx + "/{collection}/{entity_id}"
        return [
            Route("/api/auth", self.auth, methods=["GET", "POST"]),
            Route("/api/v1/projects", self.projects, methods=["GET", "POST"]),
            Route("/api/v1/projects/{name}", self.project, methods=["GET", "PUT", "DELETE"]),
            Route("/api/v1/projects/{name}/share", self.share, methods=["GET", "POST", "DELETE"]),
            Route(ctx + "/secrets/data", self.secret_data, methods=["GET", "PUT"]),
            Route(ctx + "/{collection}", self.collection, methods=["GET", "POST", "DELETE"]),
            Route(item, self.entity, methods=["GET", "PUT", "DELETE"]),
            Route(item + "/logs", self.logs, methods=["GET"]),
            Route(item + "/metrics", self.metrics, methods=["GET"]),
            Route(item + "/metrics/{metric}", self.metric, methods=["GET", "PUT"]),
            Route(item + "/files/info", self.files_info, methods=["GET", "PUT"]),
            Route(item + "/{action}", self.action, methods=["GET", "POST"]),
        ]

    async def auth(self, request: Request) -> Response:
        """`/api/auth`: who the caller is (the SDK only checks the status)."""
        return json_response({"username": self.core.user, "permissions": ["ROLE_USER", "ROLE_ADMIN"]})

    async def projects(self, request: Request) -> Response:
        if request.method == "POST":
            body = await read_object(request)
            return json_response(await run_in_threadpool(self.core.create_project, body))
        return json_response(self.core.list_projects(_params(request)))

    async def project(self, request: Request) -> Response:
        name = request.path_params["name"]
        if request.method == "GET":
            endpoint = str(request.base_url).rstrip("/")
            return json_response(self.core.get_project(name, endpoint))
        if request.method == "PUT":
            body = await read_object(request)
            return json_response(await run_in_threadpool(self.core.update_project, name, body))
        cascade = _flag(request, "cascade", True)
        await run_in_threadpool(self.core.delete_project, name, cascade=cascade)
        return json_response(None)

    async def share(self, request: Request) -> Response:
        name = request.path_params["name"]
        if request.method == "GET":
            return json_response(self.core.list_shares(name))
        if request.method == "POST":
            user = request.query_params.get("user")
            if not user:
                raise bad_request("Required request parameter 'user' is not present")
            return json_response(await run_in_threadpool(self.core.share_project, name, user))
        share_id = request.query_params.get("id")
        if not share_id:
            raise bad_request("Required request parameter 'id' is not present")
        await run_in_threadpool(self.core.unshare_project, name, share_id)
        return json_response(None)

    async def secret_data(self, request: Request) -> Response:
        project = request.path_params["project"]
        if request.method == "GET":
            names = _params(request).get_all("keys")
            return json_response(self.core.secret_data(project, names))
        data = await read_body(request)
        await run_in_threadpool(self.core.put_secret_data, project, data)
        return json_response(None)

    async def collection(self, request: Request) -> Response:
        entity_type = _context_type(request)
        if entity_type is None:
            return spring_not_found(request)
        project = request.path_params["project"]
        if request.method == "POST":
            body = await read_object(request)
            return json_response(await run_in_threadpool(self.core.create_entity, project, entity_type, body))
        if request.method == "GET":
            return json_response(self.core.list_entities(project, entity_type, _params(request)))
        name = request.query_params.get("name")
        if not name:
            raise bad_request("Required request parameter 'name' is not present")
        cascade = _flag(request, "cascade", False)
        await run_in_threadpool(self.core.delete_by_name, project, entity_type, name, cascade=cascade)
        return json_response(None)

    async def entity(self, request: Request) -> Response:
        entity_type = _context_type(request)
        if entity_type is None:
            return spring_not_found(request)
        project, entity_id = request.path_params["project"], request.path_params["entity_id"]
        if request.method == "GET":
            return json_response(self.core.get_entity(project, entity_type, entity_id))
        if request.method == "PUT":
            body = await read_object(request)
            return json_response(
                await run_in_threadpool(self.core.update_entity, project, entity_type, entity_id, body)
            )
        cascade = _flag(request, "cascade", False)
        deleted = await run_in_threadpool(
            self.core.delete_entity, project, entity_type, entity_id, cascade=cascade
        )
        return json_response(deleted)

    async def logs(self, request: Request) -> Response:
        if _context_type(request) != "run":
            return spring_not_found(request)
        project, run_id = request.path_params["project"], request.path_params["entity_id"]
        return json_response(self.core.run_logs(project, run_id))

    async def metrics(self, request: Request) -> Response:
        entity_type = _context_type(request)
        if entity_type not in ("run", "model"):
            return spring_not_found(request)
        project, entity_id = request.path_params["project"], request.path_params["entity_id"]
        return json_response(self.core.metrics(project, entity_type, entity_id))

    async def metric(self, request: Request) -> Response:
        entity_type = _context_type(request)
        if entity_type not in ("run", "model"):
            return spring_not_found(request)
        project, entity_id = request.path_params["project"], request.path_params["entity_id"]
        name = request.path_params["metric"]
        if request.method == "PUT":
            value = await read_body(request)
            await run_in_threadpool(self.core.put_metric, project, entity_type, entity_id, name, value)
            return json_response(None)
        values = self.core.metrics(project, entity_type, entity_id)
        return json_response(values.get(name))

    async def files_info(self, request: Request) -> Response:
        entity_type = _context_type(request)
        if entity_type not in ("artifact", "dataitem", "model"):
            return spring_not_found(request)
        project, entity_id = request.path_params["project"], request.path_params["entity_id"]
        if request.method == "PUT":
            files = await read_body(request)
            return json_response(
                await run_in_threadpool(self.core.put_files_info, project, entity_type, entity_id, files)
            )
        return json_response(self.core.files_info(project, entity_type, entity_id))

    async def action(self, request: Request) -> Response:
        entity_type = _context_type(request)
        action = request.path_params["action"]
        if (entity_type, action) not in (
            ("run", "stop"),
            ("run", "resume"),
            ("trigger", "run"),
            ("trigger", "stop"),
        ):
            return spring_not_found(request)
        project, entity_id = request.path_params["project"], request.path_params["entity_id"]
        return json_response(
            await run_in_threadpool(self.core.run_action, project, entity_type, entity_id, action)
        )
