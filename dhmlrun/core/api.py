"""The HTTP surface of docs/dhcore.md §4, free of any web framework: a request in, a reply out.

`CoreApi.handle` parses the path and query, calls `Core`, and renders JSON exactly as DHCore
does (alphabetical keys, the API headers, core's error bodies). The same function serves the
ASGI app (`asgi.py`, behind uvicorn) and the in-process transport (`inprocess.py`), so a plan
against the embedded core sends the same requests whether or not a socket is involved.

No rule of the platform lives here; a reader looking for *what* happens on a request goes to
`service.py`, for *which* URL does it, here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl

from dhmlrun.core.base_api import base_routes
from dhmlrun.core.bodies import check_entity_fields, parse_body, parse_entity_body
from dhmlrun.core.entities import CONTEXT_TYPES, MATERIAL_TYPES, type_from_collection
from dhmlrun.core.errors import ApiError, bad_request, spring_default_body
from dhmlrun.core.listing import Page, Params
from dhmlrun.core.platform_api import platform_routes
from dhmlrun.core.proxy_api import proxy_routes
from dhmlrun.core.service import Core
from dhmlrun.core.validation import check_dto

API_VERSION = "0.15.0"
API_LEVEL = "15"
JSON_TYPE = "application/json"
HEADERS = {"content-type": JSON_TYPE, "x-api-version": API_VERSION, "x-api-level": API_LEVEL}


@dataclass(frozen=True)
class ApiRequest:
    """One request as the API sees it: method, path, raw query and body."""

    method: str
    path: str
    query: str = ""
    body: bytes = b""
    content_type: str = JSON_TYPE
    base_url: str = ""
    """Scheme and host the client used (`http://127.0.0.1:8080`), for the `ref` links of §6."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """The request's headers, names lower-cased (repeated ones joined with `, `)."""
    client: str = ""
    """The client's address (the run proxy's `X-Forwarded-For`)."""

    @property
    def params(self) -> Params:
        return Params(parse_qsl(self.query, keep_blank_values=True))

    def json(self) -> Any:
        """The body as strict JSON (`bodies.py`); malformed input is a 400 or 415, never a 500."""
        return parse_body(self.body, self.content_type)

    def object(self) -> dict[str, Any]:
        """A body that must be an object with DHCore's field types (an entity): JSON, or YAML
        where DHCore's create and update controllers consume `application/x-yaml` too."""
        body = parse_entity_body(self.body, self.content_type)
        if not isinstance(body, dict):
            raise bad_request("JSON parse error: the request body must be an object")
        check_entity_fields(body)
        return body

    def valid(self, entity_type: str) -> dict[str, Any]:
        """An entity body that passes its DTO's `@Valid` rules (`validation.py`)."""
        body = self.object()
        check_dto(entity_type, body)
        return body

    def flag(self, name: str, default: bool) -> bool:
        raw = self.params.get(name)
        if raw is None:
            return default
        if raw.lower() not in ("true", "false"):
            raise bad_request(f"invalid {name}: {raw}")
        return raw.lower() == "true"


@dataclass(frozen=True)
class ApiReply:
    """Status, headers and body bytes."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=lambda: dict(HEADERS))


def json_reply(content: Any, status: int = 200) -> ApiReply:
    """Alphabetical keys, compact separators, strict JSON (no NaN), the API headers always."""
    if isinstance(content, Page):
        body = content.render()
    elif content is None:
        body = b""
    else:
        body = json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    return ApiReply(status, body)


def error_reply(exc: ApiError) -> ApiReply:
    """Core's handled-error body."""
    return json_reply(exc.body(), exc.status)


def spring_reply(request: ApiRequest, status: int = 404, error: str = "Not Found") -> ApiReply:
    """Spring's default body for paths (or methods) no controller handles."""
    return json_reply(spring_default_body(status, error, request.path), status)


Handler = Callable[[ApiRequest, dict[str, str]], ApiReply]


Accepts = Callable[[dict[str, str]], bool]


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern[str]
    methods: frozenset[str]
    handler: Handler
    accepts: Accepts | None = None
    """Whether the path's parameters name something this route maps (a `{collection}` among
    those of its controllers): a path it refuses is routed on, never answered 405."""


def _route(template: str, methods: Sequence[str], handler: Handler, accepts: Accepts | None = None) -> Route:
    """`/api/v1/projects/{name}` → a regex whose groups are the path parameters (one segment
    each; `{name:path}` takes the rest of the path, as Spring's `**`)."""
    regex = re.sub(r"\{(\w+):path\}", r"(?P<\1>.+)", template)
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
    return Route(re.compile(f"^{regex}$"), frozenset(methods), handler, accepts)


SLUG = re.compile(r"^[a-zA-Z0-9._+-]+$")
VALIDATED_PATH_VARIABLES = {
    "project": "project",
    "entity_id": "id",
    "name": "id",
    "action": "action",
    "token_id": "id",
}
"""The path variables DHCore's controllers annotate `@Pattern(regexp = Keys.SLUG_PATTERN)`
(this core's names → DHCore's)."""


def check_path_variables(args: dict[str, str]) -> None:
    """A path variable that is no slug is a ConstraintViolationException (400), whatever the
    route (`bad%C2%84name` included: paths arrive percent-decoded)."""
    for name, value in args.items():
        shown = VALIDATED_PATH_VARIABLES.get(name)
        if shown is not None and not SLUG.match(value):
            raise bad_request(f'{shown}: must match "^[a-zA-Z0-9._+-]+$"')


def collections(*names: str) -> Accepts:
    """A route's `accepts` for paths whose `{collection}` is one of `names`."""
    allowed = frozenset(names)
    return lambda args: args.get("collection") in allowed


CONTEXT = collections(*(f"{t}s" for t in CONTEXT_TYPES))
"""The `{collection}`s of the context controllers (`/api/v1/-/{project}/…`)."""


MATERIALS = tuple(f"{t}s" for t in sorted(MATERIAL_TYPES))
DELETE_BY_NAME = ("artifacts", "dataitems", "functions", "models", "workflows")
"""The context controllers that map `DELETE ?name=` (every version of a name): runs, tasks,
secrets, logs and triggers do not (405)."""


def _trigger_action(args: dict[str, str]) -> bool:
    """TriggerContextController maps `/{id}/run` and `/{id}/stop` only."""
    return args.get("collection") == "triggers" and args.get("action") in ("run", "stop")


WRITES = frozenset({"POST", "PUT", "DELETE"})
"""Methods that may wait on another process's write lock (the ASGI app runs them off the loop)."""


class CoreApi:
    """The endpoint functions, bound to one `Core`."""

    def __init__(self, core: Core, files: Sequence[Route] = ()) -> None:
        """`files`: the files API's routes (`files_api.files_routes`), mounted by whoever gave
        the core its files store (`server.py`); it imports this module, so not the reverse."""
        self.core = core
        ctx = "/api/v1/-/{project}"
        item = ctx + "/{collection}/{entity_id}"
        # order matters: `secrets/data` and `schemas/…` before `{collection}/{entity_id}`
        self.routes = [
            _route("/api/auth", ["GET", "POST"], self.auth),
            _route("/api/v1/schemas/{entity}", ["GET"], self.schemas),
            _route("/api/v1/schemas/{entity}/{kind}", ["GET"], self.schema),
            _route(ctx + "/schemas/{entity}", ["GET"], self.schemas),
            _route(ctx + "/schemas/{entity}/{kind}", ["GET"], self.schema),
            _route("/api/v1/projects", ["GET", "POST"], self.projects),
            _route("/api/v1/projects/{name}", ["GET", "PUT", "DELETE"], self.project),
            _route("/api/v1/projects/{name}/share", ["GET", "POST", "DELETE"], self.share),
            _route(ctx + "/secrets/data", ["GET", "PUT"], self.secret_data),
            *files,
            *proxy_routes(core),
            *base_routes(core),
            *platform_routes(core),
            _route(ctx + "/{collection}", ["GET", "POST"], self.collection, CONTEXT),
            _route(ctx + "/{collection}", ["DELETE"], self.collection, collections(*DELETE_BY_NAME)),
            _route(item, ["GET", "PUT", "DELETE"], self.entity, CONTEXT),
            _route(item + "/logs", ["GET"], self.logs, collections("runs")),
            _route(item + "/metrics", ["GET"], self.metrics, collections("runs", "models")),
            _route(item + "/metrics/{metric}", ["GET", "PUT"], self.metric, collections("runs", "models")),
            _route(item + "/files/info", ["GET", "PUT"], self.files_info, collections(*MATERIALS)),
            _route(item + "/{action}", ["POST"], self.action, collections("runs")),
            _route(item + "/{action}", ["POST"], self.action, _trigger_action),
        ]

    def handle(self, request: ApiRequest) -> ApiReply:
        """Route and answer one request; every refusal is core's error body, never an exception.

        As Spring MVC: a GET mapping answers HEAD too (no body), OPTIONS on a mapped path lists
        its methods in `Allow`, and a mapped path asked with another method is 405 with `Allow`.
        """
        allowed: set[str] = set()
        method = "GET" if request.method == "HEAD" else request.method
        for route in self.routes:
            match = route.pattern.match(request.path)
            if match is None:
                continue
            args = match.groupdict()
            if route.accepts is not None and not route.accepts(args):
                continue  # a `{collection}` no controller maps: not this route at all
            if method not in route.methods:
                allowed |= route.methods  # a later route may still take this method
                continue
            try:
                check_path_variables(args)
                reply = route.handler(replace(request, method=method), args)
            except ApiError as exc:
                reply = error_reply(exc)
            return ApiReply(reply.status, b"", reply.headers) if request.method == "HEAD" else reply
        if allowed:
            methods = sorted(allowed | ({"HEAD"} if "GET" in allowed else set()) | {"OPTIONS"})
            if request.method == "OPTIONS":
                return ApiReply(200, b"", {**HEADERS, "allow": ",".join(methods)})
            reply = spring_reply(request, 405, "Method Not Allowed")
            return ApiReply(reply.status, reply.body, {**reply.headers, "allow": ",".join(methods)})
        return spring_reply(request)

    # -------------------------------------------------------------------------------- handlers

    def auth(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        """`/api/auth`: who the caller is (the SDK only checks the status)."""
        return json_reply({"username": self.core.user, "permissions": ["ROLE_USER", "ROLE_ADMIN"]})

    def schemas(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        """`/schemas/{entity}` (the project of the context variant is ignored, as in DHCore):
        an unknown entity is 404 with an empty body."""
        page = self.core.list_schemas(args["entity"], request.params.get("runtime"), request.params)
        return json_reply(None, 404) if page is None else json_reply(page)

    def schema(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        document = self.core.get_schema(args["entity"], args["kind"])
        return json_reply(None, 404) if document is None else json_reply(document)

    def projects(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        if request.method == "POST":
            return json_reply(self.core.create_project(request.object()))
        return json_reply(self.core.list_projects(request.params))

    def project(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        name = args["name"]
        if request.method == "GET":
            return json_reply(self.core.get_project(name, request.base_url.rstrip("/")))
        if request.method == "PUT":
            return json_reply(self.core.update_project(name, request.object()))
        self.core.delete_project(name, cascade=request.flag("cascade", True))
        return json_reply(None)

    def share(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        name = args["name"]
        if request.method == "GET":
            return json_reply(self.core.list_shares(name))
        if request.method == "POST":
            user = request.params.get("user")
            if not user:
                raise bad_request("Required request parameter 'user' is not present")
            return json_reply(self.core.share_project(name, user))
        share_id = request.params.get("id")
        if not share_id:
            raise bad_request("Required request parameter 'id' is not present")
        self.core.unshare_project(name, share_id)
        return json_reply(None)

    def secret_data(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        project = args["project"]
        if request.method == "GET":
            return json_reply(self.core.secret_data(project, request.params.get_all("keys")))
        self.core.put_secret_data(project, request.json())
        return json_reply(None)

    def collection(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        entity_type = type_from_collection(args["collection"])
        if entity_type is None:
            return spring_reply(request)
        project = args["project"]
        if request.method == "POST":
            return json_reply(self.core.create_entity(project, entity_type, request.valid(entity_type)))
        if request.method == "GET":
            return json_reply(self.core.list_entities(project, entity_type, request.params))
        name = request.params.get("name")
        if not name:
            raise bad_request("Required request parameter 'name' is not present")
        self.core.delete_by_name(project, entity_type, name, cascade=request.flag("cascade", False))
        return json_reply(None)

    def entity(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        entity_type = type_from_collection(args["collection"])
        if entity_type is None:
            return spring_reply(request)
        project, entity_id = args["project"], args["entity_id"]
        if request.method == "GET":
            return json_reply(self.core.get_entity(project, entity_type, entity_id))
        if request.method == "PUT":
            return json_reply(
                self.core.update_entity(project, entity_type, entity_id, request.valid(entity_type))
            )
        cascade = request.flag("cascade", False)
        return json_reply(self.core.delete_entity(project, entity_type, entity_id, cascade=cascade))

    def logs(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        if type_from_collection(args["collection"]) != "run":
            return spring_reply(request)
        return json_reply(self.core.run_logs(args["project"], args["entity_id"]))

    def metrics(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        entity_type = type_from_collection(args["collection"])
        if entity_type not in ("run", "model"):
            return spring_reply(request)
        return json_reply(self.core.metrics(args["project"], entity_type, args["entity_id"]))

    def metric(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        entity_type = type_from_collection(args["collection"])
        if entity_type not in ("run", "model"):
            return spring_reply(request)
        project, entity_id, name = args["project"], args["entity_id"], args["metric"]
        if request.method == "PUT":
            self.core.put_metric(project, entity_type, entity_id, name, request.json())
            return json_reply(None)
        return json_reply(self.core.metrics(project, entity_type, entity_id).get(name))

    def files_info(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        entity_type = type_from_collection(args["collection"])
        if entity_type not in ("artifact", "dataitem", "model"):
            return spring_reply(request)
        project, entity_id = args["project"], args["entity_id"]
        if request.method == "PUT":
            return json_reply(self.core.put_files_info(project, entity_type, entity_id, request.json()))
        return json_reply(self.core.files_info(project, entity_type, entity_id))

    def action(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        entity_type = type_from_collection(args["collection"])
        assert entity_type is not None
        return json_reply(
            self.core.run_action(args["project"], entity_type, args["entity_id"], args["action"])
        )
