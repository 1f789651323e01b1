"""DHCore's base entity APIs and the context routes around entities, beside `api.py`'s.

Base (`/api/v1/{type}s`, the `…/controllers/v1/base` controllers): the same entities out of a
project's context: a create names its project in its body, ids are looked up in any project,
lists span every project with each controller's own defaults (`versions=all`, `@SortDefault`),
`/search/reindex` asks a search index to rebuild (there is none here: nothing to do), and
`/runs/{id}/{action}` performs a lifecycle event as the context route does.

Context: `…/{type}s/{id}/relationships` (RelationshipsAwareEntityService), `…/functions|
workflows/{id}/tasks`, `…/tasks/{id}/runs`, `…/labels` (LabelContextController), and
`/projects/{id}/relationships`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dhmlrun.core.entities import type_from_collection

if TYPE_CHECKING:
    from dhmlrun.core.api import ApiReply, ApiRequest, Route
    from dhmlrun.core.service import Core

BASE_LISTS: dict[str, tuple[str, tuple[str, bool]]] = {
    "artifacts": ("all", ("created", False)),
    "dataitems": ("all", ("created", False)),
    "models": ("all", ("created", False)),
    "workflows": ("all", ("created", False)),
    "functions": ("all", ("id", True)),
    "runs": ("latest", ("created", False)),
    "tasks": ("latest", ("kind", True)),
    "logs": ("latest", ("kind", True)),
}
"""Per base controller: the `versions` default (versioned types only) and `@SortDefault`."""
BASE_COLLECTIONS = (*BASE_LISTS, "secrets")
INDEXED = ("artifacts", "dataitems", "functions", "models", "workflows")
"""The base controllers with `POST /search/reindex`."""
WITH_RELATIONSHIPS = ("artifacts", "dataitems", "functions", "models", "runs", "triggers", "workflows")


def base_routes(core: Core) -> list[Route]:
    """The routes, in the order they must be tried (before the context `{collection}` ones)."""
    from dhmlrun.core.api import _route, collections

    handlers = BaseHandlers(core)
    ctx = "/api/v1/-/{project}"
    item = ctx + "/{collection}/{entity_id}"
    executables = collections("functions", "workflows")
    return [
        _route("/api/v1/projects/{name}/relationships", ["GET"], handlers.project_relationships),
        _route(ctx + "/labels", ["GET"], handlers.labels),
        _route(item + "/relationships", ["GET"], handlers.relationships, collections(*WITH_RELATIONSHIPS)),
        _route(item + "/tasks", ["GET"], handlers.tasks, executables),
        _route(item + "/runs", ["GET"], handlers.runs, collections("tasks")),
        _route("/api/v1/{collection}/search/reindex", ["POST"], handlers.reindex, collections(*INDEXED)),
        _route("/api/v1/runs/{entity_id}/{action}", ["POST"], handlers.run_action),
        _route("/api/v1/{collection}", ["GET", "POST"], handlers.collection, collections(*BASE_LISTS)),
        _route("/api/v1/secrets", ["POST"], handlers.collection, lambda args: True),
        _route(
            "/api/v1/{collection}/{entity_id}",
            ["GET", "PUT", "DELETE"],
            handlers.entity,
            collections(*BASE_COLLECTIONS),
        ),
    ]


def _json(content: Any) -> ApiReply:
    from dhmlrun.core.api import json_reply

    return json_reply(content)


class BaseHandlers:
    """Endpoint functions (see the module docstring)."""

    def __init__(self, core: Core) -> None:
        self.core = core

    # context ----------------------------------------------------------------------------------

    def project_relationships(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        return _json(self.core.project_relationships(args["name"]))

    def labels(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        return _json(self.core.labels(args["project"], request.params.get("label"), request.params))

    def relationships(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        entity_type = _type(args["collection"])
        return _json(self.core.relationships(args["project"], entity_type, args["entity_id"]))

    def tasks(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        entity_type = _type(args["collection"])
        return _json(self.core.linked(args["project"], entity_type, args["entity_id"], "task"))

    def runs(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        return _json(self.core.linked(args["project"], "task", args["entity_id"], "run"))

    # base -------------------------------------------------------------------------------------

    def reindex(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        return _json(None)

    def run_action(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        run = self.core.entity_by_id("run", args["entity_id"])
        return _json(self.core.run_action(run["project"], "run", args["entity_id"], args["action"]))

    def collection(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        name = args.get("collection", "secrets")
        entity_type = _type(name)
        if request.method == "GET":
            versions, sort = BASE_LISTS[name]
            return _json(self.core.list_all(entity_type, request.params, versions=versions, sort=sort))
        body = request.valid(entity_type)
        return _json(self.core.create_entity(str(body.get("project")), entity_type, body))

    def entity(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        entity_type, entity_id = _type(args["collection"]), args["entity_id"]
        found = self.core.entity_by_id(entity_type, entity_id)
        if request.method == "GET":
            return _json(found)
        project = found["project"]
        if request.method == "PUT":
            return _json(self.core.update_entity(project, entity_type, entity_id, request.valid(entity_type)))
        cascade = request.flag("cascade", False)
        return _json(self.core.delete_entity(project, entity_type, entity_id, cascade=cascade))


def _type(collection: str) -> str:
    entity_type = type_from_collection(collection)
    assert entity_type is not None  # the route's `accepts` let only known collections through
    return entity_type
