"""The one place dhmlrun talks to DHCore (or the embedded core): through the digitalhub SDK.

A narrow interface in the spirit of SQLMesh's state sync: read the state of a project (one
list request per entity type, paginated; runs listed by label), create the project and entity
versions (POST with client-generated ids, adopting on "Duplicated entity" so retries are
idempotent), delete by name, read a run and its logs. The SDK is imported lazily, inside the
methods, so importing this module (or planning) never pulls in mlrun.
"""

from __future__ import annotations

import base64
from typing import Any

from dhmlrun.errors import PlatformError, Problem
from dhmlrun.platform import labels as L
from dhmlrun.platform.lock import LOCK_TYPE, lock_id
from dhmlrun.platform.state import PlatformState, RemoteEntity, RemoteRun

API = "/api/v1"
PAGE_SIZE = 1000
VERSIONED_TYPES = ("dataitems", "functions")


def _sdk_client() -> Any:
    from digitalhub.stores.client.base.factory import get_client

    from dhmlrun.platform import http

    http.install()  # timeouts, retries with backoff, idempotent creates (platform/http.py)
    return get_client()


def _duplicate(exc: Exception) -> bool:
    return "Duplicated entity" in str(exc) or type(exc).__name__ == "EntityAlreadyExistsError"


def _not_found(exc: Exception) -> bool:
    text = str(exc)
    return "No such" in text or "404" in text or type(exc).__name__ == "EntityNotExistsError"


class Platform:
    """DHCore through the SDK's HTTP client. Stateless per call (the SDK sends each request on
    its own), so apply may call it from a thread pool."""

    def __init__(self, endpoint: str, *, embedded: bool = False) -> None:
        self.endpoint = endpoint
        self.embedded = embedded

    # ------------------------------------------------------------------ low level

    def _call(self, method: str, api: str, **kwargs: Any) -> Any:
        """One request through the SDK client; SDK errors become PlatformError."""
        from digitalhub.utils.exceptions import BackendError, ClientError

        client = _sdk_client()
        try:
            if method == "LIST":
                params = {"size": PAGE_SIZE, **kwargs.pop("params", {})}
                return client.list_objects(api, params=params, **kwargs)
            if method == "POST":
                return client.create_object(api, kwargs.pop("body"), **kwargs)
            if method == "PUT":
                return client.update_object(api, kwargs.pop("body"), **kwargs)
            if method == "DELETE":
                return client.delete_object(api, **kwargs)
            return client.read_object(api, **kwargs)
        except (BackendError, ClientError) as exc:
            raise _PlatformCallError(method, api, exc) from exc
        except OSError as exc:
            raise PlatformError.single(f"cannot reach the platform at {self.endpoint}: {exc}") from exc

    # ------------------------------------------------------------------ reading

    def _find_project(self, project: str) -> dict[str, Any] | None:
        listed = self._call("LIST", f"{API}/projects", params={"name": project})
        return next((p for p in listed if p.get("name") == project), None)

    def project_exists(self, project: str) -> bool:
        return self._find_project(project) is not None

    def read_state(self, project: str) -> PlatformState:
        """The project's latest entity versions and the last managed run per run address."""
        state = PlatformState(project=project, endpoint=self.endpoint)
        found = self._find_project(project)
        if found is None:
            return state
        state.project_exists = True
        state.project_description = (found.get("metadata") or {}).get("description")
        for type_ in VERSIONED_TYPES:
            for dto in self._call("LIST", f"{API}/-/{project}/{type_}", params={"versions": "latest"}):
                if dto.get("id") == lock_id(project) and type_ == LOCK_TYPE:
                    continue  # the apply lock, not a declared entity
                entity = RemoteEntity.from_dto(type_, dto)
                state.entities[entity.address] = entity
            state.adoptable |= self._never_managed(project, type_, state)
        state.runs = self._last_runs(project)
        return state

    def _never_managed(self, project: str, type_: str, state: PlatformState) -> set[str]:
        """Addresses of `type_` whose latest version is unmanaged and no version ever was managed
        (one more list request, only when such a latest version exists; run outputs never count)."""
        unmanaged = {
            a for a, e in state.entities.items() if e.type == type_ and not e.managed and not e.produced_by
        }
        if not unmanaged:
            return set()
        managed_names = set(self.version_counts(project, type_))
        return {a for a in unmanaged if state.entities[a].name not in managed_names}

    def _last_runs(self, project: str) -> dict[str, RemoteRun]:
        runs: dict[str, RemoteRun] = {}
        dtos = self._call(
            "LIST", f"{API}/-/{project}/runs", params={"labels": L.MANAGED, "sort": "created,DESC"}
        )
        for dto in dtos:
            run = RemoteRun.from_dto(dto)
            if run is None:
                continue
            current = runs.get(run.address)
            if current is None or (run.created or "") > (current.created or ""):
                runs[run.address] = run
        return runs

    def run_logs(self, project: str, run_id: str) -> list[str]:
        """The run's captured log lines (DHCore stores them base64-encoded)."""
        logs = self._call("GET", f"{API}/-/{project}/runs/{run_id}/logs")
        texts = []
        for entry in logs if isinstance(logs, list) else []:
            content = entry.get("content") or ""
            try:
                texts.append(base64.b64decode(content).decode("utf-8", "replace"))
            except ValueError:
                texts.append(str(content))
        return texts

    def version_counts(self, project: str, type_: str) -> dict[str, int]:
        """How many versions each name has (one list request with versions=all, paginated)."""
        counts: dict[str, int] = {}
        for dto in self._call(
            "LIST", f"{API}/-/{project}/{type_}", params={"versions": "all", "labels": L.MANAGED}
        ):
            counts[str(dto.get("name"))] = counts.get(str(dto.get("name")), 0) + 1
        return counts

    def list_latest(self, project: str, type_: str) -> list[dict[str, Any]]:
        """The latest version of every entity of `type_`, as the platform returns them (one
        list request, paginated); `dhmlrun import` reads projects through this."""
        return self._call("LIST", f"{API}/-/{project}/{type_}", params={"versions": "latest"})

    def project_description(self, project: str) -> str | None:
        found = self._find_project(project)
        return None if found is None else (found.get("metadata") or {}).get("description")

    def list_versions(self, project: str, type_: str, name: str) -> list[dict[str, Any]]:
        return self._call("LIST", f"{API}/-/{project}/{type_}", params={"name": name, "versions": "all"})

    # ------------------------------------------------------------------ writing

    def ensure_project(self, body: dict[str, Any], *, update: bool = False) -> None:
        """Create the project, or adopt it when it already exists (then PUT when updating)."""
        name = body["name"]
        if not update:
            try:
                self._call("POST", f"{API}/projects", body=body)
                return
            except _PlatformCallError as exc:
                if not _duplicate(exc.cause) and "exist" not in str(exc.cause).lower():
                    raise
        current = self._call("GET", f"{API}/projects/{name}")
        metadata = dict(current.get("metadata") or {})
        metadata["description"] = body.get("metadata", {}).get("description")
        current["metadata"] = metadata
        for listed in ("functions", "artifacts", "dataitems", "models", "workflows"):
            (current.get("spec") or {}).pop(listed, None)
        self._call("PUT", f"{API}/projects/{name}", body=current)

    def create_entity(self, type_: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a new entity version; on "Duplicated entity" (a retried apply) adopt it."""
        project = body["project"]
        try:
            return self._call("POST", f"{API}/-/{project}/{type_}", body=body)
        except _PlatformCallError as exc:
            if not _duplicate(exc.cause):
                raise
            return self._call("GET", f"{API}/-/{project}/{type_}/{body['id']}")

    def adopt_in_place(self, type_: str, body: dict[str, Any]) -> dict[str, Any]:
        """Mark an existing version as managed by replacing its metadata (labels, description).

        DHCore ignores `spec` on PUT for versioned types but replaces `metadata`, so adopting a
        version whose spec already matches needs no new version."""
        project, entity_id = body["project"], body["id"]
        current = self._call("GET", f"{API}/-/{project}/{type_}/{entity_id}")
        metadata = dict(current.get("metadata") or {})
        metadata.update(body.get("metadata") or {})
        current["metadata"] = metadata
        return self._call("PUT", f"{API}/-/{project}/{type_}/{entity_id}", body=current)

    def create_only(self, type_: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """POST an entity that must not exist yet; None when it already does (a held lock)."""
        try:
            return self._call("POST", f"{API}/-/{body['project']}/{type_}", body=body)
        except _PlatformCallError as exc:
            if _duplicate(exc.cause):
                return None
            raise

    def replace_entity(
        self, project: str, type_: str, entity_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """PUT a whole entity back (DHCore replaces `metadata` and `status`); the lock's lease."""
        return self._call("PUT", f"{API}/-/{project}/{type_}/{entity_id}", body=body)

    def read_entity(self, project: str, type_: str, entity_id: str) -> dict[str, Any] | None:
        try:
            return self._call("GET", f"{API}/-/{project}/{type_}/{entity_id}")
        except _PlatformCallError as exc:
            if _not_found(exc.cause):
                return None
            raise

    def delete_version(self, project: str, type_: str, entity_id: str) -> None:
        """Delete one version by id (no cascade: never the files or runs behind it)."""
        try:
            self._call("DELETE", f"{API}/-/{project}/{type_}/{entity_id}", params={"cascade": "false"})
        except _PlatformCallError as exc:
            if not _not_found(exc.cause):
                raise

    def delete_entity(self, project: str, type_: str, name: str) -> None:
        """Delete every version of a managed entity, keeping run history and user files.

        Deleting by name cascades for functions (down to their runs) and may remove a
        dataitem's files, so each version is deleted by id with cascade=false instead.
        """
        for dto in self.list_versions(project, type_, name):
            self.delete_version(project, type_, str(dto["id"]))

    def fail_run(self, project: str, run_id: str, message: str) -> None:
        """Mark a run ERROR when its worker died before finishing it, so it is not left RUNNING
        forever (a running run is never duplicated, so a stuck one would block its address)."""
        try:
            dto = self._call("GET", f"{API}/-/{project}/runs/{run_id}")
        except _PlatformCallError as exc:
            if _not_found(exc.cause):
                return
            raise
        status = dict(dto.get("status") or {})
        if str(status.get("state")) in ("COMPLETED", "ERROR", "STOPPED", "DELETED"):
            return
        status.update({"state": "ERROR", "message": message})
        dto["status"] = status
        self._call("PUT", f"{API}/-/{project}/runs/{run_id}", body=dto)


class _PlatformCallError(PlatformError):
    """A refused request, keeping the SDK's exception so callers can recognise duplicates."""

    def __init__(self, method: str, api: str, cause: Exception) -> None:
        super().__init__()
        self.cause = cause
        verb = "GET" if method == "LIST" else method
        self.problems.append(Problem(f"the platform refused {verb} {api}: {cause}"))
