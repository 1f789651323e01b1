"""What the core does with a request, independent of HTTP: the rules of docs/dhcore.md §5–§9.

Routes parse and render; `Core` decides: which kinds and spec fields are accepted (`kinds.py`),
reference checks on create, the build of a remote run inside its create (as DHCore's POST does),
the per-type update rules, lifecycle transitions, cascades, project embedding. Each public method
is one short transaction (plus, for runs, a hand-off to the executor after commit).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from dhmlrun.core import entities as dto
from dhmlrun.core.completion import on_complete
from dhmlrun.core.errors import ApiError, bad_request, duplicated, invalid_transition, not_found
from dhmlrun.core.files import FilesService
from dhmlrun.core.kinds import KindRegistry
from dhmlrun.core.lifecycle import can_move, next_state
from dhmlrun.core.listing import Page, Params, build_query, page_envelope, spring_pageable, whole_list_page
from dhmlrun.core.relationships import detail as relationship_detail
from dhmlrun.core.relationships import relationship_of
from dhmlrun.core.run_events import event_target
from dhmlrun.core.sealing import Sealer, SealingError
from dhmlrun.core.store import DuplicateError, Row, Store, Tx
from dhmlrun.vocabulary import keys, states

RunHook = Callable[[str, str, dict[str, Any]], None]
StopHook = Callable[[str, str], None]
DeletedHook = Callable[[list[str]], None]
ReadHook = Callable[[str], None]
LogHook = Callable[[str], "dict[str, Any] | None"]


def _public(row: Row) -> dict[str, Any]:
    """The DTO as served (the store keeps `status.state` equal to its state column)."""
    return row.body


def _labels(log: dict[str, Any]) -> set[str]:
    """A Log's labels (`executor`: a job worker's output; `service`: a serve run's)."""
    return set((log.get("metadata") or {}).get("labels") or ())


class Core:
    """The operations of the DHCore API over one store."""

    def __init__(
        self,
        store: Store,
        *,
        user: str = "anonymous",
        sealer: Sealer | None = None,
        kinds: KindRegistry | None = None,
    ) -> None:
        self.store = store
        self.user = user
        self.sealer = sealer or Sealer()
        """Secret values are stored sealed (`sealing.py`), never in plain text."""
        self.kinds = kinds or KindRegistry()
        """The kinds this core accepts and how it stores their specs (stock DHCore 0.15 or wider)."""
        # Set by the executor: remote runs start after their create commits, stop ends a worker.
        self.on_run_created: RunHook | None = None
        self.on_run_stop: StopHook | None = None
        self.on_runs_deleted: DeletedHook | None = None
        self.files: FilesService | None = None
        """The files store's API (`files.py`), set by whoever gives the core a files store."""
        self.configuration: Callable[[str], dict[str, Any]] | None = None
        """The platform's configuration for a client at an endpoint (`/.well-known/configuration`:
        no credentials), set by whoever serves the core."""
        self.served_endpoint: Callable[[], str] | None = None
        """Serves the core over HTTP (once) and returns its endpoint: presigned URLs asked for
        in-process must point somewhere a client can reach."""
        # Set by the service supervisor: a resumed serve run is served again, runs are checked
        # against their service processes before they are read, a service's output is its log.
        self.on_run_resume: RunHook | None = None
        self.on_runs_read: ReadHook | None = None
        self.run_service_log: LogHook | None = None

    # projects ---------------------------------------------------------------------------------

    def create_project(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /projects: 400 `Duplicated entity project:<name>.` when the name exists."""
        project = dto.new_project(body, user=self.user, now=dto.now_ms())
        project["spec"] = self.kinds.admit("project", project["kind"], project["spec"])
        try:
            with self.store.write() as tx:
                _register_metadata(tx, "project", project)
                tx.insert(
                    "project",
                    project,
                    state=project["status"]["state"],
                    created=dto.parse_iso_ms(project["metadata"]["created"]),
                    ref=None,
                )
        except DuplicateError as exc:
            raise duplicated("project", project["id"]) from exc
        return project

    def get_project(self, name: str, endpoint: str) -> dict[str, Any]:
        """GET /projects/{name}, with the latest entities embedded in its spec (docs/dhcore.md §6)."""
        with self.store.read() as tx:
            row = tx.get("project", name)
            if row is None:
                raise not_found("project")
            project = _public(row)
            spec = dict(project.get("spec", {}))
            for entity_type in dto.EMBEDDED_IN_PROJECT:
                spec[f"{entity_type}s"] = [
                    self._embedded_entry(entity_type, r, endpoint) for r in tx.latest(entity_type, name)
                ]
        project["spec"] = spec
        return project

    @staticmethod
    def _embedded_entry(entity_type: str, row: Row, endpoint: str) -> dict[str, Any]:
        ref = f"{endpoint}/api/v1/-/{row.project}/{entity_type}s/{row.id}"
        body = _public(row)
        if body.get("metadata", {}).get("embedded") is True:
            return {**body, "metadata": {**body["metadata"], "ref": ref}}
        return dto.project_summary(body, ref)

    def project_spec(self, name: str) -> dict[str, Any]:
        """A project's own spec (no embedded entities); 404 `No such project.`."""
        with self.store.read() as tx:
            row = tx.get("project", name)
        if row is None:
            raise not_found("project")
        return dict(row.body.get("spec") or {})

    def list_projects(self, params: Params) -> Page:
        """GET /projects: a page of projects without embedded entities."""
        return self._page("project", None, params)

    def update_project(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """PUT /projects/{name}: spec, metadata and status replaced."""
        with self.store.write() as tx:
            row = tx.get("project", name)
            if row is None:
                raise not_found("project")
            updated = dto.updated_project(row.body, body, user=self.user, now=dto.now_ms())
            updated["spec"] = self.kinds.admit("project", row.kind, updated["spec"])
            _register_metadata(tx, "project", updated)
            tx.replace(
                "project",
                name,
                updated,
                state=updated["status"]["state"],
                updated=dto.parse_iso_ms(updated["metadata"]["updated"]),
            )
        return updated

    def delete_project(self, name: str, *, cascade: bool) -> None:
        """DELETE /projects/{name}: 200 even when missing; cascade removes everything in it."""
        with self.store.write() as tx:
            runs = [row.id for row in tx.find("run", name)] if cascade else []
            if cascade:
                tx.delete_project_contents(name)
            else:
                tx.delete("project", name)
        self._runs_deleted(runs)

    def share_project(self, name: str, user: str) -> dict[str, Any]:
        """POST /projects/{name}/share?user=u: a share record (single-user server: bookkeeping only)."""
        share_id, issued = uuid.uuid4().hex, dto.now_ms()
        with self.store.write() as tx:
            if tx.get("project", name) is None:
                raise not_found("project")
            tx.add_share(share_id, name, user, self.user, issued)
        return _share_record(share_id, name, user, self.user, issued)

    def list_shares(self, name: str) -> list[dict[str, Any]]:
        """GET /projects/{name}/share."""
        with self.store.read() as tx:
            return [
                _share_record(sid, name, user, owner, issued) for sid, user, owner, issued in tx.shares(name)
            ]

    def unshare_project(self, name: str, share_id: str) -> None:
        """DELETE /projects/{name}/share?id=…; 404 when no such share."""
        with self.store.write() as tx:
            if not tx.delete_share(name, share_id):
                raise not_found("share")

    # context entities: create -----------------------------------------------------------------

    def create_entity(self, project: str, entity_type: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST /-/{p}/{type}s: admit the kind and spec, check references, store CREATED, apply
        the requested state; a run not executed by its client is built right here (READY)."""
        now = dto.now_ms()
        entity = dto.new_context_entity(entity_type, project, body, user=self.user, now=now)
        entity["spec"] = self.kinds.admit(entity_type, _kind(entity_type, entity), entity["spec"])
        target = dto.requested_state(body)
        try:
            with self.store.write() as tx:
                if tx.get("project", project) is None:
                    raise not_found("project")
                ref = self._check_references(tx, entity_type, project, entity)
                state = next_state(entity_type, states.CREATED, target)
                if entity_type == "run" and state == states.CREATED and not _local(entity):
                    entity, state = self._build_run(tx, project, entity)
                tx.insert(entity_type, entity, state=state, ref=ref, created=now)
                _register_metadata(tx, entity_type, entity)
        except DuplicateError as exc:
            raise duplicated(entity_type, entity["id"]) from exc
        created = dto.with_state(entity, state)
        if entity_type == "run" and state == states.READY and self.on_run_created:
            self.on_run_created(project, entity["id"], created)
        return created

    def _build_run(self, tx: Tx, project: str, run: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """DHCore's POST for a remote run: BUILD (the spec merge), then RUN (ready for an executor).

        The executable comes from the run's own `function`/`workflow` (the SDK sends it), else
        from its task's. If it cannot be found the run is ERROR with a message, as DHCore leaves
        a run whose build failed; the POST still succeeds.
        """
        spec = run["spec"]
        _, _, task_id = dto.parse_reference(spec["task"]) or ("", "", "")
        task = tx.get("task", task_id)
        if task is None:  # never: the reference check found it in this transaction
            raise bad_request("invalid task")
        reference = _executable_reference(spec) or _executable_reference(task.body.get("spec", {}))
        executable = self._executable_row(tx, project, *reference) if reference else None
        if executable is None:
            named = reference[1] if reference else "(none named)"
            message = f"cannot build the run: no such executable {named}"
            failed = {**run, "status": {**run.get("status", {}), "message": message}}
            return failed, next_state("run", states.CREATED, states.ERROR)
        built = self.kinds.built_run_spec(
            run["kind"], executable.body.get("spec", {}), task.body.get("spec", {}), spec
        )
        state = next_state("run", next_state("run", states.CREATED, states.BUILT), states.READY)
        return {**run, "spec": built}, state

    def _check_references(self, tx: Tx, entity_type: str, project: str, entity: dict[str, Any]) -> str | None:
        """Reference checks of §5; returns the link string stored in the `ref` column."""
        spec = entity["spec"]
        if entity_type == "run":
            return self._check_task_reference(tx, project, spec)
        if entity_type == "task":
            return self._check_executable_reference(tx, project, spec)
        if entity_type == "trigger":
            if not isinstance(spec.get("task"), str):
                raise bad_request("spec: missing task")
            if not isinstance(spec.get("function") or spec.get("workflow"), str):
                raise bad_request("spec: missing function or workflow")
            return spec["task"]
        if entity_type == "secret":
            if tx.find("secret", project, name=entity["name"]):
                raise duplicated("secret", entity["id"])
            return None
        if entity_type == "log":
            run = spec.get("run")
            if not isinstance(run, str) or not run:
                raise bad_request("spec: missing run")
            return run
        if entity_type in dto.MATERIAL_TYPES:
            path = spec.get("path")
            if not isinstance(path, str) or not path.strip():
                raise bad_request("spec.path: must not be blank")
        return None

    @staticmethod
    def _check_task_reference(tx: Tx, project: str, spec: dict[str, Any]) -> str:
        task = spec.get("task")
        if not isinstance(task, str) or not task:
            raise bad_request("spec: missing task")
        parsed = dto.parse_reference(task)
        if parsed is None:
            raise bad_request("invalid task")
        _, task_project, task_id = parsed
        if task_project != project:
            raise bad_request("project mismatch")
        row = tx.get("task", task_id)
        if row is None:
            raise bad_request("invalid task")
        if row.project != project:
            raise bad_request("project mismatch")
        return task

    def _check_executable_reference(self, tx: Tx, project: str, spec: dict[str, Any]) -> str:
        reference = _executable_reference(spec)
        if reference is None:
            raise bad_request("spec: missing function")
        if self._executable_row(tx, project, *reference) is None:
            raise bad_request("invalid executable entity")
        return reference[1]

    @staticmethod
    def _executable_row(tx: Tx, project: str, executable_type: str, reference: Any) -> Row | None:
        """The function or workflow a `kind://project/name:id` string names, if in this project."""
        parsed = dto.parse_reference(reference) if isinstance(reference, str) else None
        if parsed is None or ":" not in parsed[2]:
            return None
        row = tx.get(executable_type, parsed[2].rsplit(":", 1)[1])
        return row if row is not None and row.project == project else None

    # context entities: read, list, update -----------------------------------------------------

    def get_entity(self, project: str, entity_type: str, entity_id: str) -> dict[str, Any]:
        """GET /-/{p}/{type}s/{id}: 404 `No such <type>.`, 400 `invalid project` across projects."""
        self._runs_read(entity_type, project)
        with self.store.read() as tx:
            return _public(self._owned(tx, project, entity_type, entity_id))

    def find_entity(self, entity_type: str, entity_id: str) -> dict[str, Any] | None:
        """An entity by id in any project, or None (DHCore's `find*`, where `get*` raises)."""
        with self.store.read() as tx:
            row = tx.get(entity_type, entity_id)
        return _public(row) if row is not None else None

    @staticmethod
    def _owned(tx: Tx, project: str, entity_type: str, entity_id: str) -> Row:
        row = tx.get(entity_type, entity_id)
        if row is None:
            raise not_found(entity_type)
        if row.project != project:
            raise bad_request("invalid project")
        return row

    def list_entities(self, project: str, entity_type: str, params: Params) -> Page:
        """GET /-/{p}/{type}s: filters after latest, sort, page."""
        self._runs_read(entity_type, project)
        return self._page(entity_type, project, params)

    def _runs_read(self, entity_type: str, project: str) -> None:
        """Before runs are read: serve runs say what their processes do now (as DHCore's monitor
        keeps them), so a reader never sees RUNNING for a service that is gone."""
        if entity_type == "run" and self.on_runs_read is not None:
            self.on_runs_read(project)

    def list_all(self, entity_type: str, params: Params, *, versions: str, sort: tuple[str, bool]) -> Page:
        """GET /api/v1/{type}s (the base controllers): every project, with their defaults."""
        return self._page(entity_type, None, params, versions=versions, sort=sort)

    def entity_by_id(self, entity_type: str, entity_id: str) -> dict[str, Any]:
        """GET /api/v1/{type}s/{id}: in whatever project; 404 `No such <type>.`."""
        found = self.find_entity(entity_type, entity_id)
        if found is None:
            raise not_found(entity_type)
        return found

    def linked(self, project: str, entity_type: str, entity_id: str, child_type: str) -> list[dict[str, Any]]:
        """GET …/functions|workflows/{id}/tasks, …/tasks/{id}/runs: what names this entity
        (FunctionManager.getTasksByFunctionId, RunManager.getRunsByTaskId)."""
        with self.store.read() as tx:
            row = self._owned(tx, project, entity_type, entity_id)
            links = [link for child, link in self._children(row) if child == child_type]
            return [_public(r) for link in links for r in tx.find(child_type, project, ref=link)]

    def relationships(self, project: str, entity_type: str, entity_id: str) -> list[dict[str, str]]:
        """GET …/{type}s/{id}/relationships: every relationship with the entity at either end."""
        with self.store.read() as tx:
            self._owned(tx, project, entity_type, entity_id)
            return [relationship_detail(r) for r in tx.relationships_of(project, entity_type, entity_id)]

    def project_relationships(self, name: str) -> list[dict[str, str]]:
        """GET /projects/{id}/relationships: every relationship registered in the project."""
        with self.store.read() as tx:
            if tx.get("project", name) is None:
                raise not_found("project")
            return [relationship_detail(r) for r in tx.project_relationships(name)]

    def labels(self, project: str, prefix: str | None, params: Params) -> Page:
        """GET /-/{p}/labels[?label=PREFIX]: the labels used in a project (LabelService), as a
        page Spring builds from an unsorted Pageable."""
        page, size = spring_pageable(params)
        with self.store.read() as tx:
            rows, total = tx.labels(project, prefix, size, page * size)
        items = [{"id": i, "label": label, "project": project} for i, label in rows]
        return Page(
            [json.dumps(item, sort_keys=True, separators=(",", ":")) for item in items],
            page_envelope(len(items), total=total, page=page, size=size, order=[]),
        )

    def _page(
        self,
        entity_type: str,
        project: str | None,
        params: Params,
        *,
        versions: str = "latest",
        sort: tuple[str, bool] | None = None,
    ) -> Page:
        query = build_query(entity_type, project, params, versions=versions, sort=sort)
        with self.store.read() as tx:
            rows = tx.select(query)
            total = tx.count(query)
        size = query.limit
        envelope = page_envelope(
            len(rows), total=total, page=query.offset // size, size=size, order=query.order
        )
        return Page([r.raw for r in rows], envelope)

    def update_entity(
        self, project: str, entity_type: str, entity_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """PUT /-/{p}/{type}s/{id}: per-type spec rule, one lifecycle edge at most."""
        with self.store.write() as tx:
            row = self._owned(tx, project, entity_type, entity_id)
            spec_mutable = entity_type in ("task", "secret") or (
                entity_type == "run" and row.state == states.CREATED
            )
            updated = dto.updated_context_entity(
                entity_type, row.body, body, spec_mutable=spec_mutable, user=self.user, now=dto.now_ms()
            )
            if spec_mutable:
                updated["spec"] = self.kinds.admit(entity_type, row.kind, updated["spec"])
            state = (
                next_state(entity_type, row.state, dto.requested_state(body), lenient=True)
                if "status" in updated
                else row.state
            )
            if entity_type == "run" and row.state in states.FINAL and dto.requested_state(body) != row.state:
                # a stale copy saved after the run ended (the SDK PUTs the whole run): the
                # executor's final record (results, outputs, message) is kept, not erased
                updated["status"] = dict(row.body.get("status") or {})
            if entity_type == "run":
                self._completed(tx, row.state, dto.with_state(updated, state))
            tx.replace(entity_type, entity_id, updated, state=state, updated=dto.now_ms())
            _register_metadata(tx, entity_type, updated)
        return dto.with_state(updated, state)

    @staticmethod
    def _completed(tx: Tx, before: str, run: dict[str, Any]) -> None:
        """A run the core executes reached COMPLETED: what its runtime's `onComplete` does
        (`completion.py`), in the same transaction."""
        now = run["status"].get("state")
        if now == states.COMPLETED and before != states.COMPLETED and not _local(run):
            on_complete(tx, run)

    def set_run_state(
        self,
        project: str,
        run_id: str,
        target: str,
        *,
        message: str | None = None,
        status: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Move a run along one edge from the server side (executor, stop, service supervisor),
        with more status fields when given (a None value removes that field); None when it is gone."""
        with self.store.write() as tx:
            row = tx.get("run", run_id)
            if row is None or row.project != project:
                return None
            state = next_state("run", row.state, target)
            body = dict(row.body)
            merged = {**body.get("status", {}), **(status or {}), "state": state}
            status = {key: value for key, value in merged.items() if value is not None}
            if message is not None:
                status["message"] = message
            body["status"] = status
            self._completed(tx, row.state, body)
            tx.replace("run", run_id, body, state=state, updated=dto.now_ms())
        return dto.with_state(body, state)

    def run_state(self, run_id: str) -> str | None:
        """The stored state of a run (None when deleted)."""
        with self.store.read() as tx:
            row = tx.get("run", run_id)
        return row.state if row else None

    # deletion ---------------------------------------------------------------------------------

    def delete_entity(
        self, project: str, entity_type: str, entity_id: str, *, cascade: bool
    ) -> dict[str, Any] | None:
        """DELETE /-/{p}/{type}s/{id}: hard delete; runs answer with themselves in DELETING."""
        runs: list[str] = []
        with self.store.write() as tx:
            row = self._owned(tx, project, entity_type, entity_id)
            self._delete_row(tx, row, cascade=cascade or entity_type == "run", runs=runs)
        self._runs_deleted(runs)
        if entity_type == "run":
            return dto.with_state(row.body, states.DELETING)
        return None

    def delete_by_name(self, project: str, entity_type: str, name: str, *, cascade: bool) -> None:
        """DELETE /-/{p}/{type}s?name=…: every version; executables always cascade."""
        cascade = cascade or entity_type in dto.EXECUTABLE_TYPES
        runs: list[str] = []
        with self.store.write() as tx:
            for row in tx.find(entity_type, project, name=name):
                self._delete_row(tx, row, cascade=cascade, runs=runs)
        self._runs_deleted(runs)

    def _runs_deleted(self, run_ids: list[str]) -> None:
        """After commit: let the executor end the workers of runs that no longer exist."""
        if run_ids and self.on_runs_deleted is not None:
            self.on_runs_deleted(run_ids)

    def _delete_row(self, tx: Tx, row: Row, *, cascade: bool, runs: list[str]) -> None:
        """Delete one row and, when cascading, what hangs off it (§8 chains); collects run ids."""
        if cascade:
            for child_type, link in self._children(row):
                for child in tx.find(child_type, row.project, ref=link):
                    self._delete_row(tx, child, cascade=True, runs=runs)
        if row.type == "run":
            runs.append(row.id)
        if row.type == "secret":
            tx.delete_secret_value(row.project, row.name)
        tx.clear_relationships(row.project, row.type, row.id)
        tx.delete(row.type, row.id)

    @staticmethod
    def _children(row: Row) -> list[tuple[str, str]]:
        """(child type, link string) pairs: function → tasks → runs → logs."""
        if row.type in dto.EXECUTABLE_TYPES:
            return [("task", keys.executable_ref(row.kind, row.project, row.name, row.id))]
        if row.type == "task":
            link = keys.task_ref(row.kind, row.project, row.id)
            return [("run", link), ("trigger", link)]
        if row.type == "run":
            return [("log", row.id)]
        return []

    # schemas --------------------------------------------------------------------------------

    def list_schemas(self, entity: str, runtime: str | None, params: Params) -> Page | None:
        """GET /schemas/{entity}[?runtime=X]: every matching kind in one page; None: no such entity."""
        documents = self.kinds.schemas(entity, runtime)
        return None if documents is None else whole_list_page(documents, params)

    def get_schema(self, entity: str, kind: str) -> dict[str, Any] | None:
        """GET /schemas/{entity}/{kind}: 400 `missing spec` for an unknown kind; None: no such entity."""
        return self.kinds.schema(entity, kind)

    # run actions, logs, metrics, files, secrets -----------------------------------------------

    def run_action(self, project: str, entity_type: str, entity_id: str, action: str) -> dict[str, Any]:
        """POST …/runs/{id}/{event} (`run_events.py`: any run lifecycle event, 400 when the run's
        state has no such transition) and …/triggers/{id}/run|stop."""
        trigger_targets = {"run": states.RUNNING, "stop": states.STOPPED}
        if entity_type == "trigger" and action not in trigger_targets:
            raise ApiError(404, f"No such action {action}.")
        with self.store.write() as tx:
            row = self._owned(tx, project, entity_type, entity_id)
            if entity_type == "run":
                target = event_target(action, row.state)
                if target is None or (target != row.state and not can_move("run", row.state, target)):
                    raise invalid_transition(row.state, "null")
                state = target
            else:
                state = next_state(entity_type, row.state, trigger_targets[action])
            tx.replace(entity_type, entity_id, row.body, state=state, updated=dto.now_ms())
        event = action.upper()
        if entity_type == "run" and event == "STOP" and self.on_run_stop is not None:
            self.on_run_stop(project, entity_id)
            return self.get_entity(project, entity_type, entity_id)
        if entity_type == "run" and event == "RESUME" and self.on_run_resume is not None:
            self.on_run_resume(project, entity_id, dto.with_state(row.body, state))
            return self.get_entity(project, entity_type, entity_id)
        if entity_type == "run" and event == "RUN" and self.on_run_created is not None:
            self.on_run_created(project, entity_id, dto.with_state(row.body, state))
        return dto.with_state(row.body, state)

    def run_logs(self, project: str, run_id: str) -> list[dict[str, Any]]:
        """GET …/runs/{id}/logs: the run's Log entities, oldest first, `content` base64; what a
        run still executing printed so far comes last (its service's or its worker's).

        The live output is read first: a job's worker output is served live until it is stored
        as a Log (`core/jobs.py`), so a reader between the two gets the stored one, never none,
        and never both."""
        served = self.run_service_log(run_id) if self.run_service_log is not None else None
        with self.store.read() as tx:
            self._owned(tx, project, "run", run_id)
            logs = [_public(r) for r in tx.find("log", project, ref=run_id)]
        if served is not None and not any(_labels(log) & _labels(served) for log in logs):
            body = {**served, "id": f"{run_id}-service", "name": f"{run_id}-service"}
            logs.append(dto.new_context_entity("log", project, body, user=self.user, now=dto.now_ms()))
        return logs

    def metrics(self, project: str, entity_type: str, entity_id: str) -> dict[str, Any]:
        """GET …/{runs|models}/{id}/metrics."""
        with self.store.read() as tx:
            self._owned(tx, project, entity_type, entity_id)
            return tx.metrics(entity_type, entity_id)

    def put_metric(self, project: str, entity_type: str, entity_id: str, name: str, value: Any) -> None:
        """PUT …/metrics/{name}: replaces the stored value."""
        if not _is_metric_value(value):
            raise bad_request("metric value must be a number or a list of numbers")
        with self.store.write() as tx:
            self._owned(tx, project, entity_type, entity_id)
            tx.put_metric(project, entity_type, entity_id, name, value)

    def files_info(self, project: str, entity_type: str, entity_id: str) -> list[Any]:
        """GET …/files/info, as BaseFilesService.getFileInfo: the entity's `status.files`, else
        the list stored with PUT, else what the files store says of its `spec.path` ([] when no
        store handles that path)."""
        with self.store.read() as tx:
            row = self._owned(tx, project, entity_type, entity_id)
            stored = tx.files_info(entity_type, entity_id)
        files = (row.body.get("status") or {}).get("files")
        if isinstance(files, list) and files:
            return files
        if stored:
            return stored
        path = (row.body.get("spec") or {}).get("path")
        if not isinstance(path, str) or not path.strip():
            raise not_found("file")
        if self.files is None:
            return []
        try:
            return self.files.file_info(path)
        except ApiError as exc:
            if exc.status == 404:  # no store for that path (a local path, say): no info
                return []
            raise

    def put_files_info(self, project: str, entity_type: str, entity_id: str, files: Any) -> list[Any]:
        """PUT …/files/info with a list of FileInfo objects."""
        if not isinstance(files, list):
            raise bad_request("files info must be a list")
        with self.store.write() as tx:
            self._owned(tx, project, entity_type, entity_id)
            tx.put_files_info(project, entity_type, entity_id, files)
        return files

    def secret_data(self, project: str, names: list[str]) -> dict[str, str]:
        """GET /-/{p}/secrets/data?keys=…: values of existing secrets (unknown names omitted)."""
        if not names:
            return {}
        with self.store.read() as tx:
            stored = tx.secret_values(project, names)
        try:
            return {name: self.sealer.open(project, name, value) for name, value in stored.items()}
        except SealingError as exc:
            raise ApiError(500, str(exc)) from exc

    def put_secret_data(self, project: str, data: Any) -> None:
        """PUT /-/{p}/secrets/data: every name needs a Secret entity first."""
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise bad_request("secret data must be an object of strings")
        with self.store.write() as tx:
            missing = [name for name in data if not tx.find("secret", project, name=name)]
            if missing:
                raise bad_request(f"missing secrets for {', '.join(sorted(missing))}")
            for name, value in data.items():
                tx.put_secret_value(project, name, self.sealer.seal(project, name, value))


def _register_metadata(tx: Tx, entity_type: str, entity: dict[str, Any]) -> None:
    """What DHCore keeps beside an entity it saves: its labels in the project's label registry
    (LabelComponent: never removed), and the relationships its metadata declares
    (BaseEntityRelationshipsManager.register: replacing those it declared before)."""
    metadata = entity.get("metadata") or {}
    labels = [label for label in metadata.get("labels") or () if isinstance(label, str) and label.strip()]
    if labels:
        tx.add_labels(entity["project"], labels)
    if entity_type == "project":
        return
    declared = []
    for item in metadata.get("relationships") or ():
        parsed = relationship_of(item)
        if parsed is not None:
            declared.append(parsed)
    source = (entity_type, entity["id"], str(entity.get("key") or ""))
    if declared or metadata.get("relationships") is not None:
        tx.replace_relationships(entity["project"], source, declared)


def _kind(entity_type: str, entity: dict[str, Any]) -> str:
    """The kind a create names (logs carry none in their DTO: their one kind is `log`)."""
    return "log" if entity_type == "log" else str(entity.get("kind", ""))


def _local(run: dict[str, Any]) -> bool:
    """True when the run's client executes it (`spec.local_execution`): the core only stores it."""
    return bool(run["spec"].get("local_execution"))


def _executable_reference(spec: dict[str, Any]) -> tuple[str, Any] | None:
    """(`function`, ref) or (`workflow`, ref): the executable a task or run spec names."""
    for executable_type in ("function", "workflow"):
        if spec.get(executable_type) is not None:
            return executable_type, spec[executable_type]
    return None


def _is_metric_value(value: Any) -> bool:
    def number(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    return number(value) or (isinstance(value, list) and all(number(v) for v in value))


def _share_record(share_id: str, project: str, user: str, owner: str, issued: int) -> dict[str, Any]:
    return {
        "id": share_id,
        "project": project,
        "entity": "project",
        "entityId": project,
        "user": user,
        "owner": owner,
        "issuedTime": dto.iso_ms(issued),
    }
