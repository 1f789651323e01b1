"""The DigitalHub side of the platform: what dhmlrun reads from and writes to a DHCore (or the
embedded core), through its own REST client.

A narrow interface in the spirit of SQLMesh's state sync: read the state of a project (one list
request per entity type, paginated; runs listed by label), create the project and entity
versions (POST with client-generated ids, adopting on "Duplicated entity" so a retried apply is
idempotent), delete by name, read a run and its logs. Nothing here imports the digitalhub SDK.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from dhmlrun.platform import labels as L
from dhmlrun.platform.errors import Duplicate, NotFound, PlatformError
from dhmlrun.platform.labels import LOCK_TYPE, lock_id
from dhmlrun.platform.mlrun import MLRunService, read_mlrun_families
from dhmlrun.platform.rest import API, RestClient, context_path, project_path
from dhmlrun.platform.runs import fail_run
from dhmlrun.platform.secrets import read_secrets
from dhmlrun.platform.state import PlatformState, RemoteEntity, RemoteRun
from dhmlrun.vocabulary.backends import DHCORE, MLRUN
from dhmlrun.vocabulary.kinds import MLRUN_KIND

VERSIONED_TYPES = ("dataitems", "artifacts", "models", "functions", "workflows")
SERVICES_PREFIX = "services."
PROJECT_LISTS = ("functions", "artifacts", "dataitems", "models", "workflows")
"""The entity lists DHCore computes into a project's spec on GET (never stored, never sent)."""


class RunHost(Protocol):
    """Where runs of one backend are read and failed: a DHCore (`Platform`), or the MLRun
    service (`platform.mlrun.MLRunService`). Runs read as DHCore DTOs from both."""

    def read_run(self, project: str, run_id: str) -> dict[str, Any] | None: ...

    def run_logs(self, project: str, run_id: str) -> list[str]: ...

    def fail_run(self, project: str, run_id: str, message: str, reason: str | None = None) -> None: ...


class Platform:
    """A DHCore, through `RestClient`. Stateless, so apply may call it from a pool: what it
    learns of the platform (whether it has the mlrun runtime) is returned in the state it reads,
    and handed back by whoever reads again (`read_state`)."""

    def __init__(
        self,
        client: RestClient,
        *,
        embedded: bool = False,
        shown: str | None = None,
        sdk_environment: Callable[[], dict[str, str]] | None = None,
        mlrun: MLRunService | None = None,
        files_store: str | None = None,
        service_refusals: Mapping[str, str] | None = None,
    ) -> None:
        self.client = client
        self.embedded = embedded
        self.files_store = files_store or None
        """Where apply uploads declared local files (the run workers' `DHCORE_DEFAULT_FILES_STORE`)."""
        self.shown = shown or client.endpoint
        """How to name this platform to a user (the embedded core has no URL of its own)."""
        self._sdk_environment = sdk_environment
        self.mlrun_service = mlrun
        """The MLRun service configured beside it (`MLRUN_DBPATH`, a profile's or an
        environment's `mlrun:`), used for the `mlrun` families when DHCore has no mlrun runtime."""
        self.service_refusals: Mapping[str, str] = dict(service_refusals or {})
        """The service kinds this platform cannot serve, with the reason (the embedded core's
        host lacks their server: `serving.endpoints.refusals`); the plan refuses them."""

    def sdk_environment(self) -> dict[str, str]:
        """The digitalhub SDK settings (endpoint, credentials) with which a run worker reaches
        this platform; for the embedded core this starts serving it over HTTP."""
        if self._sdk_environment is None:  # never half a connection (an endpoint without its credentials)
            raise PlatformError(f"run workers were not told how to reach the platform at {self.shown}")
        return self._sdk_environment()

    @property
    def endpoint(self) -> str:
        return self.client.endpoint

    # ------------------------------------------------------------------ where mlrun lives

    def has_mlrun_runtime(self) -> bool:
        """Whether this DHCore has the `mlrun` runtime (one request: `GET /schemas/function?
        runtime=mlrun` lists its function kind). A server without the schemas API predates 0.15
        and is taken to have it."""
        try:
            answer = self.client.get(f"{API}/schemas/function", {"runtime": MLRUN_KIND})
        except NotFound:
            return True
        return bool((answer or {}).get("content"))

    def mlrun_host(self, has_mlrun_runtime: bool | None) -> MLRunService | None:
        """Where the `mlrun` functions, schedules and runs live: None when on this DHCore (or
        not asked about: nothing mlrun is declared or configured), the MLRun service otherwise."""
        if has_mlrun_runtime is None or has_mlrun_runtime:
            return None
        if self.mlrun_service is None:
            raise PlatformError(
                f"{self.shown} has no mlrun runtime (a stock DHCore 0.15 has none: it was dropped in "
                "0.8) and no MLRun service is configured. Either set MLRUN_DBPATH (or `mlrun:` in the "
                "environment, or mlrun_dbpath in the ~/.dhcore.ini profile) to an MLRun API, or deploy "
                "to a DHCore that has the mlrun runtime (the embedded core has it)"
            )
        return self.mlrun_service

    def runs_on(self, backend: str) -> RunHost:
        """Where the runs of `backend` are read and failed (`RemoteRun.backend`, an action's)."""
        host: RunHost | None = {DHCORE: self, MLRUN: self.mlrun_service}.get(backend)
        if host is None:
            raise PlatformError(f"no {backend} service is configured beside {self.shown}")
        return host

    # ------------------------------------------------------------------ reading

    def _find_project(self, project: str) -> dict[str, Any] | None:
        listed = self.client.list(project_path(), {"name": project})
        return next((p for p in listed if p.get("name") == project), None)

    def project_exists(self, project: str) -> bool:
        return self._find_project(project) is not None

    def project_description(self, project: str) -> str | None:
        found = self._find_project(project)
        return None if found is None else (found.get("metadata") or {}).get("description")

    def read_state(
        self, project: str, *, mlrun_needed: bool = False, has_mlrun_runtime: bool | None = None
    ) -> PlatformState:
        """The project's latest entity versions and the last managed run per run address, from
        DHCore and, when the `mlrun` families live there, from the MLRun service.

        Whether DHCore has the mlrun runtime is asked only when it matters (`mlrun_needed`: the
        declaration has `mlrun` functions; or an MLRun service is configured, to delete what was
        removed), and not again when a state read earlier in the same command says
        (`has_mlrun_runtime`, that state's `mlrun_runtime`)."""
        state = PlatformState(
            project=project, endpoint=self.endpoint, files_store=self.files_store, executes_here=self.embedded
        )
        state.service_refusals = dict(self.service_refusals)
        if mlrun_needed or self.mlrun_service is not None:
            known = has_mlrun_runtime
            state.mlrun_runtime = self.has_mlrun_runtime() if known is None else known
        mlrun = self.mlrun_host(state.mlrun_runtime)
        if mlrun is not None:
            read_mlrun_families(mlrun, project, state)
        found = self._find_project(project)
        if found is None:
            return state
        state.project_exists = True
        state.project_description = (found.get("metadata") or {}).get("description")
        for type_ in VERSIONED_TYPES:
            for dto in self.list_latest(project, type_):
                if type_ == LOCK_TYPE and dto.get("id") == lock_id(project):
                    continue  # the apply lock, not a declared entity
                entity = RemoteEntity.from_dto(type_, dto)
                owner = entity.recorded.get(L.ADDRESS, "")
                if owner.startswith(SERVICES_PREFIX):  # a model service's own function
                    state.service_functions[owner] = entity
                    continue
                state.entities[entity.address] = entity
            state.adoptable |= self._never_managed(project, type_, state)
        state.entities.update(read_secrets(self.client, project))
        state.runs = {**self._last_runs(project), **state.runs}
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
        listed = self.client.list(
            context_path(project, "runs"), {"labels": L.MANAGED, "sort": "created,DESC"}
        )
        for dto in listed:
            run = RemoteRun.from_dto(dto)
            if run is None:
                continue
            current = runs.get(run.address)
            if current is None or (run.created or "") > (current.created or ""):
                runs[run.address] = run
        return runs

    def run_logs(self, project: str, run_id: str) -> list[str]:
        """The run's captured log lines (DHCore stores them base64-encoded)."""
        logs = self.client.get(context_path(project, "runs", run_id, "logs"))
        texts = []
        for entry in logs if isinstance(logs, list) else []:
            content = entry.get("content") or ""
            try:
                texts.append(base64.b64decode(content).decode("utf-8", "replace"))
            except ValueError:
                texts.append(str(content))
        return texts

    def version_counts(self, project: str, type_: str) -> dict[str, int]:
        """How many managed versions each name has (one list request with versions=all)."""
        counts: dict[str, int] = {}
        for dto in self.client.list(context_path(project, type_), {"versions": "all", "labels": L.MANAGED}):
            counts[str(dto.get("name"))] = counts.get(str(dto.get("name")), 0) + 1
        return counts

    def list_latest(self, project: str, type_: str) -> list[dict[str, Any]]:
        """The latest version of every entity of `type_`, as the platform returns them."""
        return self.client.list(context_path(project, type_), {"versions": "latest"})

    def list_versions(self, project: str, type_: str, name: str) -> list[dict[str, Any]]:
        return self.client.list(context_path(project, type_), {"name": name, "versions": "all"})

    def read_run(self, project: str, run_id: str) -> dict[str, Any] | None:
        return self.read_entity(project, "runs", run_id)

    def runs_of(self, project: str, address: str, limit: int = 10) -> list[dict[str, Any]]:
        """The last `limit` runs dhmlrun started for `address`, newest first (`show ADDR`)."""
        label = L.encode({L.ADDRESS: address})[-1]
        listed = self.client.list(context_path(project, "runs"), {"labels": label, "sort": "created,DESC"})
        # the label filter is DHCore's own (it may match more): keep the exact label's runs
        exact = [dto for dto in listed if label in ((dto.get("metadata") or {}).get("labels") or ())]
        return sorted(exact, key=_created, reverse=True)[:limit]

    def read_entity(self, project: str, type_: str, entity_id: str) -> dict[str, Any] | None:
        try:
            return self.client.get(context_path(project, type_, entity_id))
        except NotFound:
            return None

    def read_file(self, project: str, path: str, limit: int) -> bytes:
        """The bytes of a file in the platform's files store (at most `limit`), through DHCore's
        files API: a presigned download URL (FilesStoreController.downloadAsUrl), then a GET."""
        import urllib3

        answer = self.client.get(context_path(project, "files", "download"), {"path": path})
        url = (answer or {}).get("url") if isinstance(answer, dict) else None
        if not isinstance(url, str) or "://" not in url:
            raise PlatformError(f"{self.shown} gives no download URL for {path}")
        try:
            response = urllib3.PoolManager().request(
                "GET", url, preload_content=False, timeout=urllib3.Timeout(connect=10, read=60), retries=False
            )
            data = response.read(limit + 1, decode_content=True)
            response.release_conn()
        except urllib3.exceptions.HTTPError as exc:
            raise PlatformError(f"cannot download {path} from {self.shown}: {exc}") from exc
        if response.status != 200:
            raise PlatformError(f"cannot download {path} from {self.shown}: HTTP {response.status}")
        if len(data) > limit:
            raise PlatformError(f"{path} is larger than {limit} bytes")
        return data

    # ------------------------------------------------------------------ writing

    def ensure_project(self, body: dict[str, Any], *, update: bool = False) -> None:
        """Create the project, or adopt it when it already exists (then PUT its description)."""
        name = body["name"]
        if not update:
            try:
                self.client.post(project_path(), body)
                return
            except Duplicate:
                pass
        current = self.client.get(project_path(name))
        metadata = dict(current.get("metadata") or {})
        metadata["description"] = body.get("metadata", {}).get("description")
        current["metadata"] = metadata
        for listed in PROJECT_LISTS:
            (current.get("spec") or {}).pop(listed, None)
        self.client.put(project_path(name), current)

    def create_entity(self, type_: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a new entity version; on "Duplicated entity" (an apply that was interrupted after
        the create) adopt the existing one."""
        project = body["project"]
        try:
            return self.client.post(context_path(project, type_), body)
        except Duplicate:
            return self.client.get(context_path(project, type_, body["id"]))

    def adopt_in_place(self, type_: str, body: dict[str, Any]) -> dict[str, Any]:
        """Mark an existing version as managed by replacing its metadata (labels, description).

        DHCore ignores `spec` on PUT for versioned types but replaces `metadata`, so adopting a
        version whose spec already matches needs no new version."""
        path = context_path(body["project"], type_, body["id"])
        current = self.client.get(path)
        current["metadata"] = {**(current.get("metadata") or {}), **(body.get("metadata") or {})}
        return self.client.put(path, current)

    def create_only(self, type_: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """POST an entity that must not exist yet; None when it already does (a held lock)."""
        try:
            return self.client.post(context_path(body["project"], type_), body)
        except Duplicate:
            return None

    def replace_entity(
        self, project: str, type_: str, entity_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """PUT a whole entity back (DHCore replaces `metadata` and `status`); the lock's lease."""
        return self.client.put(context_path(project, type_, entity_id), body)

    def delete_version(self, project: str, type_: str, entity_id: str) -> None:
        """Delete one version by id (no cascade: never the files or runs behind it); a version
        already gone is deleted."""
        with contextlib.suppress(NotFound):
            self.client.delete(context_path(project, type_, entity_id), {"cascade": False})

    def delete_entity(self, project: str, type_: str, name: str) -> None:
        """Delete every version of a managed entity, keeping run history and user files.

        Deleting by name cascades for functions (down to their runs) and may remove a
        dataitem's files, so each version is deleted by id with cascade=false instead.
        """
        for dto in self.list_versions(project, type_, name):
            self.delete_version(project, type_, str(dto["id"]))

    def fail_run(self, project: str, run_id: str, message: str, reason: str | None = None) -> None:
        """Mark a run ERROR when its worker died before finishing it, so it is not left RUNNING
        forever (`platform/runs.py`)."""
        fail_run(self.client, project, run_id, message, reason=reason)


def _created(dto: dict[str, Any]) -> str:
    """A DTO's creation time as DHCore writes it (ISO 8601, so it sorts as text)."""
    return str((dto.get("metadata") or {}).get("created") or "")
