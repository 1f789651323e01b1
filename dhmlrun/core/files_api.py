"""The URLs of DHCore's files API, answered by `files.FilesService`.

Project level (FilesStoreController): `/api/v1/-/{project}/files/{stores, info, download,
upload, multipart/start, multipart/part, multipart/complete, delete}`. Entity level (the
Artifact, DataItem and Model context controllers, BaseFilesService): `/{collection}/{id}/files/
{download[/SUB], upload, multipart/start, multipart/part, multipart/complete}`; `files/info`
(GET and PUT) stays with the other entity routes in `api.py`. Required parameters missing are
400; the entity must be in the project (400 `invalid project`), and an upload into an existing
entity must stay under its `spec.path` (400 `invalid file path`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dhmlrun.core.entities import type_from_collection
from dhmlrun.core.errors import ApiError, bad_request, not_found
from dhmlrun.core.files import FilesService, check_filename, join_filename

if TYPE_CHECKING:
    from dhmlrun.core.api import ApiReply, ApiRequest, Route
    from dhmlrun.core.service import Core

MATERIAL_COLLECTIONS = ("artifacts", "dataitems", "models")


def files_routes(core: Core) -> list[Route]:
    """The routes, in the order they must be tried (before `/{collection}/{id}`)."""
    from dhmlrun.core.api import _route, collections

    handlers = FilesHandlers(core)
    materials = collections(*MATERIAL_COLLECTIONS)

    ctx = "/api/v1/-/{project}/files"
    item = "/api/v1/-/{project}/{collection}/{entity_id}/files"
    return [
        _route(ctx + "/stores", ["GET"], handlers.stores),
        _route(ctx + "/info", ["GET"], handlers.info),
        _route(ctx + "/download", ["GET", "POST"], handlers.download),
        _route(ctx + "/delete", ["DELETE"], handlers.delete),
        _route(ctx + "/upload", ["POST"], handlers.upload),
        _route(ctx + "/multipart/start", ["POST"], handlers.start),
        _route(ctx + "/multipart/part", ["PUT"], handlers.part),
        _route(ctx + "/multipart/complete", ["POST"], handlers.complete),
        _route(item + "/download", ["GET"], handlers.entity_download, materials),
        _route(item + "/download/{sub:path}", ["GET"], handlers.entity_download, materials),
        _route(item + "/upload", ["POST"], handlers.entity_upload, materials),
        _route(item + "/multipart/start", ["POST"], handlers.entity_start, materials),
        _route(item + "/multipart/part", ["PUT"], handlers.entity_part, materials),
        _route(item + "/multipart/complete", ["POST"], handlers.entity_complete, materials),
    ]


def _required(request: ApiRequest, name: str) -> str:
    value = request.params.get(name)
    if value is None:
        raise bad_request(f"Required request parameter '{name}' is not present")
    return value


def _integer(request: ApiRequest, name: str, *, required: bool) -> int | None:
    raw = request.params.get(name)
    if raw is None:
        if required:
            raise bad_request(f"Required request parameter '{name}' is not present")
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise bad_request(f"{name}: not an integer: {raw!r}") from exc


def _origin(request: ApiRequest, core: Core) -> str:
    """Where presigned URLs point: the host the client used, or for a request from the core's
    own process (no socket, no host) the core served over HTTP (`Core.served_endpoint`)."""
    from dhmlrun.core.inprocess import IN_PROCESS_BASE

    if request.base_url.rstrip("/") == IN_PROCESS_BASE and core.served_endpoint is not None:
        return core.served_endpoint()
    return request.base_url.rstrip("/")


class FilesHandlers:
    """Endpoint functions (see the module docstring)."""

    def __init__(self, core: Core) -> None:
        self.core = core

    @property
    def files(self) -> FilesService:
        if self.core.files is None:
            raise not_found("entity")
        return self.core.files

    # project level ----------------------------------------------------------------------------

    def stores(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        project = args["project"]
        spec = self.core.project_spec(project)
        return _json([f"{self.files.store_default(spec)}/{project}"])

    def info(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        return _json(self.files.file_info(_required(request, "path")))

    def download(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        path = _required(request, "path")
        duration = _integer(request, "duration", required=False) if request.method == "POST" else None
        return _json(self.files.download(path, _origin(request, self.core), duration))

    def delete(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        self.files.delete(_required(request, "path"))
        return _json(None)

    def upload(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        path, filename = _required(request, "path"), _required(request, "filename")
        check_filename(filename)
        return _json(self.files.upload(join_filename(path, filename), _origin(request, self.core)))

    def start(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        path, filename = _required(request, "path"), _required(request, "filename")
        check_filename(filename)
        return _json(self.files.start_multipart(join_filename(path, filename)))

    def part(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        path, filename = _required(request, "path"), _required(request, "filename")
        upload_id = _required(request, "uploadId")
        number = _integer(request, "partNumber", required=True)
        check_filename(filename)
        assert number is not None
        return _json(
            self.files.multipart_part(
                join_filename(path, filename), upload_id, number, _origin(request, self.core)
            )
        )

    def complete(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        path, filename = _required(request, "path"), _required(request, "filename")
        upload_id = _required(request, "uploadId")
        parts = _part_list(request)
        check_filename(filename)
        return _json(self.files.complete_multipart(join_filename(path, filename), upload_id, parts))

    # entity level -----------------------------------------------------------------------------

    def entity_download(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        entity_type = self._material(args)
        entity = self.core.get_entity(args["project"], entity_type, args["entity_id"])
        path = (entity.get("spec") or {}).get("path")
        if not isinstance(path, str) or not path.strip():
            raise not_found("file")
        sub = args.get("sub") or request.params.get("sub")
        if sub is not None:
            path = path if path.endswith(sub) else path + sub
        return _json(self._download(path, request))

    def _download(self, path: str, request: ApiRequest) -> dict[str, Any] | None:
        """A path no store handles downloads as nothing (DHCore: null, an empty body)."""
        try:
            return self.files.download(path, _origin(request, self.core))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def entity_upload(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        return _json(self._entity_start_or_upload(request, args, multipart=False))

    def entity_start(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        return _json(self._entity_start_or_upload(request, args, multipart=True))

    def _entity_start_or_upload(self, request: ApiRequest, args: dict[str, str], *, multipart: bool) -> Any:
        entity_type = self._material(args)
        project, entity_id = args["project"], args["entity_id"]
        name = request.params.get("name")
        filename = _required(request, "filename")
        entity = self.core.find_entity(entity_type, entity_id)
        if entity is not None:
            if entity["project"] != project:
                raise bad_request("invalid project")
            if name is not None and entity["name"] != name:
                raise bad_request("invalid name")
        path = self.files.entity_upload_path(
            project, self.core.project_spec(project), entity_type, name, entity_id, filename
        )
        self._under_spec_path(entity, path)
        if multipart:
            return self.files.start_multipart(path)
        return self.files.upload(path, _origin(request, self.core))

    def entity_part(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        entity = self._entity_in_project(args)
        path, upload_id = _required(request, "path"), _required(request, "uploadId")
        number = _integer(request, "partNumber", required=True)
        assert number is not None
        self._under_spec_path(entity, path)
        return _json(self.files.multipart_part(path, upload_id, number, _origin(request, self.core)))

    def entity_complete(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        entity = self._entity_in_project(args)
        path, upload_id = _required(request, "path"), _required(request, "uploadId")
        parts = _part_list(request)
        self._under_spec_path(entity, path)
        return _json(self.files.complete_multipart(path, upload_id, parts))

    # helpers ----------------------------------------------------------------------------------

    @staticmethod
    def _material(args: dict[str, str]) -> str:
        """The material type of the path's collection (the routes accept only materials)."""
        entity_type = type_from_collection(args["collection"])
        assert entity_type is not None
        return entity_type

    def _entity_in_project(self, args: dict[str, str]) -> dict[str, Any] | None:
        entity = self.core.find_entity(self._material(args), args["entity_id"])
        if entity is not None and entity["project"] != args["project"]:
            raise bad_request("invalid project")
        return entity

    @staticmethod
    def _under_spec_path(entity: dict[str, Any] | None, path: str) -> None:
        """An existing entity's files stay under its `spec.path` (BaseFilesService)."""
        if entity is None:
            return
        spec_path = (entity.get("spec") or {}).get("path")
        if not isinstance(spec_path, str) or not spec_path.strip():
            raise not_found("file")
        if path != spec_path and not path.startswith(spec_path):
            raise bad_request("invalid file path")


def _part_list(request: ApiRequest) -> list[str]:
    parts: list[str] = []
    for value in request.params.get_all("partList"):
        parts.extend(p for p in value.split(",") if p)
    if not parts:
        raise bad_request("Required request parameter 'partList' is not present")
    return parts


def _json(content: Any) -> ApiReply:
    from dhmlrun.core.api import json_reply

    return json_reply(content)
