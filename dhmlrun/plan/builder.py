"""`build_plan(declaration, state) -> Plan`: the diff of declaration vs platform. It never talks
to the platform and writes nothing; the only things it reads are the declared local files (their
content's digests) and the declared secrets' values (to compare them with the digest the
platform keeps: `plan/secrets.py`), through the declaration.

Order of work: the project, then dataitems and functions (compared through the rules table),
then deletions of managed entities no longer declared, then runs (fingerprints and triggers,
in dependency order so a run whose upstream changes in this plan fires with that reason).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any

from dhmlrun.config.model import Declaration, Reference, Resource, executable_of
from dhmlrun.config.suggest import did_you_mean, listing
from dhmlrun.errors import DhmlrunError, Problem
from dhmlrun.plan import mlrun_host, pipelines, runview, services
from dhmlrun.plan.context import PlanContext, Planned, last_output
from dhmlrun.plan.fingerprint import RunFingerprint, fingerprint_run
from dhmlrun.plan.model import (
    ABSENT,
    ADOPT,
    CREATE,
    DELETE,
    MLRUN_PROJECT_ADDRESS,
    NOOP,
    PROJECT_ADDRESS,
    RUN,
    UPDATE,
    Action,
    AttributeChange,
    EntityAdopt,
    EntityDelete,
    EntityWrite,
    InputBinding,
    NoChange,
    Plan,
    ProjectChange,
    RunRequest,
    RunStart,
)
from dhmlrun.plan.rules import (
    RULES,
    VERSIONED_TYPES,
    KindRules,
    LocalFile,
    desired_view,
    entity_body,
    function_digest,
    local_file,
    local_source_matches,
    remote_view,
    rules_for,
    store_key,
    task_parameters,
    view_digest,
)
from dhmlrun.plan.secrets import plan_secret
from dhmlrun.platform import labels as L
from dhmlrun.platform.state import PlatformState, RemoteEntity, RemoteRun
from dhmlrun.vocabulary import defaults, endings, states, urls
from dhmlrun.vocabulary.defaults import TASK_PARAMETERS as TASK_FIELDS
from dhmlrun.vocabulary.kinds import PIPELINE_ACTION
from dhmlrun.vocabulary.runs import FunctionVersion

REMOVED = "removed from the configuration"


def new_id() -> str:
    """Client-generated ids (uuid4 hex, as the SDK does) make every create retry-safe."""
    return uuid.uuid4().hex


def build_plan(
    declaration: Declaration,
    state: PlatformState,
    *,
    targets: Iterable[str] = (),
    reruns: Iterable[str] = (),
    id_factory: Callable[[], str] = new_id,
) -> Plan:
    """Compare the declaration with the platform state and return the Plan (see module doc)."""
    targets = [_full_address(declaration, a) for a in targets]
    reruns = {_full_address(declaration, a, "runs") for a in reruns}
    _check_addresses(declaration, state, targets, reruns)
    mlrun_host.check(declaration, state)
    ctx = PlanContext(declaration, state, reruns, id_factory)
    plan = Plan(
        project=declaration.project_name,
        root=str(declaration.root),
        endpoint=state.endpoint,
        mlrun=state.mlrun,
        files_store=state.files_store,
    )
    plan.actions.append(_plan_project(declaration, state))
    mlrun_project = mlrun_host.plan_project(declaration, state)
    if mlrun_project is not None:
        plan.actions.append(mlrun_project)
    for address in declaration.topological_order():
        resource = declaration.resources[address]
        if resource.type in VERSIONED_TYPES:
            plan.actions.append(_plan_entity(ctx, resource))
        elif resource.type == "secrets":
            secret = plan_secret(resource, ctx.state, ctx.declaration.secret_value, ctx.id_factory)
            ctx.planned[address] = Planned(address, secret.action, None, None, "secret")  # runs wait for it
            plan.actions.append(secret)
    plan.actions.extend(_plan_deletions(declaration, state, plan.warnings))
    plan.warnings.extend(_unmoved_renames(ctx, plan.actions))
    for address in declaration.topological_order():
        resource = declaration.resources[address]
        if resource.type == "runs":
            plan.actions.append(_plan_run(ctx, resource))
            if resource.spec.get("replicas") is not None:
                plan.warnings.append(f"{address}: replicas is ignored: an mlrun job runs as one process")
            if resource.spec.get("schedule") and not mlrun_host.scheduled(declaration, state, resource):
                plan.warnings.append(
                    f"{address}: schedule is handed to the platform with the task; this platform runs "
                    "it once now (only an MLRun service beside a DHCore without the mlrun runtime "
                    "schedules it)"
                )
    for address in declaration.topological_order():
        resource = declaration.resources[address]
        if resource.type == "services":
            plan.actions.append(services.plan_service(ctx, resource))
    plan.actions.extend(services.plan_service_removals(set(declaration.resources), state, REMOVED))
    plan.actions.extend(mlrun_host.schedule_deletions(declaration, state))
    plan.notes.extend(_steps_notes(declaration))
    plan.seen_runs = {a: r.id for a, r in state.runs.items()}
    plan.version_names = {e.id: e.version for e in state.entities.values() if e.version}
    if targets:
        kept = _restrict_to_targets(plan.actions, declaration, targets)
        kept_addresses = {a.address for a in kept}
        plan.targets = list(targets)
        plan.left_out = [a.address for a in plan.actions if a.changes and a.address not in kept_addresses]
        plan.actions = kept
    return plan


def build_destroy_plan(
    state: PlatformState, root: str, declaration: Declaration | None = None, *, targets: Iterable[str] = ()
) -> Plan:
    """Delete every managed entity of the project, except those protected by prevent_destroy;
    only `targets` when given (`destroy --target`: the rest is left out, and said to be)."""
    plan = Plan(project=state.project, root=root, endpoint=state.endpoint, destroy=True, mlrun=state.mlrun)
    plan.actions.extend(mlrun_host.destroy_schedules(state))
    plan.actions.extend(services.plan_service_removals(set(), state, "destroy"))
    for address, entity in sorted(state.managed().items(), key=lambda item: _delete_order(item[0])):
        declared = declaration.resources.get(address) if declaration else None
        protected = bool(declared and declared.lifecycle.get("prevent_destroy")) or (
            entity.recorded.get(L.PREVENT_DESTROY) == "true"
        )
        if protected:
            plan.warnings.append(f"{address} is kept: lifecycle.prevent_destroy is set")
            continue
        plan.actions.append(_delete_action(entity, "destroy"))
    plan.seen_runs = {a: r.id for a, r in state.runs.items()}  # runs stay; only their moving is stale
    targets = [_full_address(declaration, t) if declaration else t for t in targets]
    if targets:
        _restrict_destroy(plan, state, targets)
    return plan


def _restrict_destroy(plan: Plan, state: PlatformState, targets: list[str]) -> None:
    """Keep the deletions of `targets` (managed entities: runs are history, never deleted)."""
    managed = sorted(state.managed())
    problems = [
        Problem(
            f"not managed by dhmlrun here{did_you_mean(t, managed)}",
            path=f"--target {t}",
            allowed=listing(managed) or "(nothing is managed)",
        )
        for t in targets
        if t not in managed
    ]
    if problems:
        raise DhmlrunError(problems)
    plan.targets = list(targets)
    plan.left_out = [a.address for a in plan.actions if a.changes and a.address not in targets]
    plan.actions = [a for a in plan.actions if a.address in targets or not a.changes]


def _delete_order(address: str) -> tuple[int, str]:
    return (0 if address.startswith("functions.") else 1, address)


def _full_address(declaration: Declaration, text: str, type_: str | None = None) -> str:
    """`download` as `runs.download`: a bare name stands for the one declared resource so named."""
    if "." in text:
        return text
    matches = [r.address for r in declaration if r.name == text and type_ in (None, r.type)]
    return matches[0] if len(matches) == 1 else text


def _check_addresses(
    declaration: Declaration, state: PlatformState, targets: list[str], reruns: set[str]
) -> None:
    """Every `--target` names a declared or managed address, every `--rerun` a declared run; each
    wrong one is refused with what it may name and the nearest such name."""
    known = sorted(set(declaration.resources) | set(state.managed()))
    runs = sorted(a for a in declaration.resources if a.startswith("runs."))
    problems = [
        Problem(f"no such resource{did_you_mean(t, known)}", path=f"--target {t}", allowed=listing(known))
        for t in targets
        if t not in known
    ]
    for rerun in sorted(r for r in reruns if r not in runs):
        what = "is not a run: --rerun forces runs" if rerun in known else "no such run"
        problems.append(
            Problem(
                f"{what}{did_you_mean(rerun, runs)}",
                path=f"--rerun {rerun}",
                allowed=listing(runs) or "(no runs are declared)",
            )
        )
    if problems:
        raise DhmlrunError(problems)


def _plan_project(declaration: Declaration, state: PlatformState) -> Action:
    description = declaration.project.get("description")
    body = {
        "id": declaration.project_name,
        "name": declaration.project_name,
        "kind": "project",
        "metadata": {"name": declaration.project_name, "description": description, "labels": [L.MANAGED]},
        "spec": {},
    }
    if not state.project_exists:
        return ProjectChange(
            PROJECT_ADDRESS,
            CREATE,
            "not on the platform",
            body=body,
            seen=ABSENT,
            diff=[AttributeChange("name", None, declaration.project_name)],
        )
    if (state.project_description or None) != (description or None):
        return ProjectChange(
            PROJECT_ADDRESS,
            UPDATE,
            "description changed",
            body=body,
            seen=declaration.project_name,
            diff=[AttributeChange("description", state.project_description, description)],
        )
    return NoChange(PROJECT_ADDRESS, NOOP, "up to date", seen=declaration.project_name)


def _plan_entity(ctx: PlanContext, resource: Resource) -> Action:
    rules = rules_for(resource.type, resource.spec.get("kind"))
    project = ctx.declaration.project_name
    local = local_file(resource.spec, rules, ctx.declaration.root, resource.address, resource.location)
    view = desired_view(resource.spec, resource.lifecycle, rules, local)
    remote = ctx.state.entities.get(resource.address)
    kind = str(resource.spec.get("kind"))
    if remote is not None and resource.address in ctx.state.adoptable:
        return _plan_adopt(ctx, resource, rules, local, view, remote)
    action, reason, diff, drift = _compare(view, remote, rules, local)
    if action == NOOP and _to_upload(ctx.state, resource, remote, local):
        action, reason = UPDATE, UPLOAD_REASON
        diff = [AttributeChange("files store", f"(this machine) {local.relpath}", ctx.state.files_store)]
    if remote is None and mlrun_host.on_mlrun(ctx.state, resource):
        reason = "not on the MLRun service"
    moved = _moved_entity(ctx, resource, rules, local, view) if remote is None else None
    if moved is not None:
        reason, diff, _ = moved
    if action == NOOP and remote is not None:
        ctx.planned[resource.address] = Planned(
            resource.address,
            NOOP,
            remote.id,
            remote.key or store_key(project, rules, remote.kind, remote.name, remote.id),
            remote.kind,
            view,
            local,
            spec=resource.spec,
        )
        return NoChange(resource.address, NOOP, reason, seen=remote.id, backend=remote.backend)
    entity_id = ctx.id_factory()
    body = _declared_body(ctx, resource, rules, local, view, entity_id)
    ctx.planned[resource.address] = Planned(
        resource.address,
        action,
        entity_id,
        store_key(project, rules, kind, resource.name, entity_id),
        kind,
        view,
        local,
        spec=resource.spec,
        reason=reason,
        before_move=moved[2] if moved is not None else None,
    )
    return EntityWrite(
        resource.address,
        action,
        reason,
        diff=diff,
        body=body,
        drift=drift,
        seen=remote.id if remote else ABSENT,
        depends_on=mlrun_host.function_dependencies(ctx.state, resource),
        backend=mlrun_host.backend_of(ctx.state, kind),
    )


def _moved_entity(
    ctx: PlanContext, resource: Resource, rules: KindRules, local: LocalFile | None, view: dict[str, Any]
) -> tuple[str, list[AttributeChange], str | None] | None:
    """(reason, diff, the old id when the content is unchanged) of an entity declared under a
    new name by a `moved:` entry whose old one is on the platform; None otherwise. DHCore has no
    rename (an entity's name is its identity): the moved one is created under its new name and
    the old one deleted (`_plan_deletions`), and runs treat it as the same (`before_move`)."""
    old_address = ctx.moved.get(resource.address)
    old = ctx.state.managed().get(old_address or "")
    if old is None:
        return None
    action, changed, diff, _ = _compare(view, old, rules, local)
    rename = [AttributeChange("name", old.name, resource.name)]
    what = f"moved from {old_address}: the same {resource.type[:-1]} under its new name"
    if action == NOOP:
        return f"{what} (the platform has no rename)", rename, old.id
    return f"moved from {old_address}; {changed}", rename + diff, None


def _declared_body(
    ctx: PlanContext,
    resource: Resource,
    rules: KindRules,
    local: LocalFile | None,
    view: dict[str, Any],
    entity_id: str,
) -> dict[str, Any]:
    """The create request for the declared entity under `entity_id` (a create, update or adopt)."""
    return entity_body(
        project=ctx.declaration.project_name,
        name=resource.name,
        entity_id=entity_id,
        spec=resource.spec,
        lifecycle=resource.lifecycle,
        rules=rules,
        local=local,
        address=resource.address,
        view=view,
    )


def _plan_adopt(
    ctx: PlanContext,
    resource: Resource,
    rules: KindRules,
    local: LocalFile | None,
    view: dict[str, Any],
    remote: RemoteEntity,
) -> Action:
    """Adopt an entity never managed by dhmlrun that has a declared name (e.g. after `dhmlrun
    import`): relabel its latest version in place when kind and spec match (metadata is all a
    PUT may change), else create a new version from the declaration. Either happens where the
    entity was found (`remote.backend`)."""
    project = ctx.declaration.project_name
    before = remote_view(remote, rules)
    diff = [AttributeChange(k, before.get(k), v) for k, v in view.items() if before.get(k) != v]
    if local_source_matches(remote, rules, local, before):
        diff = [c for c in diff if c.path not in (f"spec.{rules.local_path}", rules.content_key)]
    in_place = not any(c.path == "kind" or c.path.startswith("spec.") for c in diff)
    entity_id = remote.id if in_place else ctx.id_factory()
    body = _declared_body(ctx, resource, rules, local, view, entity_id)
    if in_place:
        reason = "made outside dhmlrun: adopted as it is, labelled as managed"
        key = remote.key or store_key(project, rules, remote.kind, remote.name, remote.id)
    else:
        changed = ", ".join(c.path for c in diff)
        reason = f"made outside dhmlrun: adopted with a new version; changed: {changed}"
        key = store_key(project, rules, str(resource.spec.get("kind")), resource.name, entity_id)
    ctx.planned[resource.address] = Planned(
        resource.address,
        NOOP if in_place else UPDATE,
        entity_id,
        key,
        remote.kind if in_place else str(resource.spec.get("kind")),
        view,
        local,
        spec=resource.spec,
    )
    return EntityAdopt(
        resource.address,
        ADOPT,
        reason,
        diff=diff,
        body=body,
        seen=remote.id,
        depends_on=mlrun_host.function_dependencies(ctx.state, resource),
        backend=remote.backend,
    )


UPLOAD_REASON = "upload to the files store"
UPLOADED_TYPES = ("dataitems", "artifacts", "models")
"""The declared types whose local file apply uploads to the files store (`apply/uploads.py`)."""


def in_store(path: Any, store: str) -> bool:
    """Whether `path` is a file of the files store `store` (`s3://bucket[/prefix]`)."""
    return isinstance(path, str) and path.startswith(store.rstrip("/") + "/")


def _to_upload(
    state: PlatformState, resource: Resource, remote: RemoteEntity | None, local: LocalFile | None
) -> bool:
    """A declared local file whose current version is not in the configured files store (made
    before a store was configured, or in another one): a new version uploads it."""
    if resource.type not in UPLOADED_TYPES or local is None or remote is None or not state.files_store:
        return False
    return not in_store(remote.spec.get("path"), state.files_store)


def _compare(
    view: dict[str, Any], remote: RemoteEntity | None, rules: KindRules, local: LocalFile | None
) -> tuple[str, str, list[AttributeChange], bool]:
    """(action, reason, attribute diff, drift?) for one dataitem or function."""
    if remote is None:
        diff = [AttributeChange(k, None, v) for k, v in view.items() if v not in (None, [], False)]
        return CREATE, "not on the platform", diff, False
    before = {k: v for k, v in remote_view(remote, rules).items() if k in view}  # what is declared
    diff = [AttributeChange(k, before.get(k), v) for k, v in view.items() if before.get(k) != v]
    if not remote.managed:
        reason = (
            "drift: the latest version on the platform was not created by dhmlrun; "
            "a new version restores the declared one"
        )
        return UPDATE, reason, diff, True
    if not diff:
        return NOOP, "up to date", [], False
    if remote.recorded.get(L.DIGEST) != view_digest(before):
        return UPDATE, "drift: the latest version was changed outside dhmlrun", diff, True
    return UPDATE, _change_reason(diff, rules, local), diff, False


def _change_reason(diff: list[AttributeChange], rules: KindRules, local: LocalFile | None) -> str:
    changed = [c.path for c in diff]
    if rules.content_key in changed and rules.local_path:
        what = "code changed" if rules.inline_content else "content changed"
        where = f": {local.relpath}" if local else " (inline)"
        rest = [p for p in changed if p != rules.content_key]
        return f"{what}{where}" + (f"; changed: {', '.join(rest)}" if rest else "")
    return "changed: " + ", ".join(changed)


def _plan_deletions(declaration: Declaration, state: PlatformState, warnings: list[str]) -> list[Action]:
    actions = []
    for address, entity in sorted(state.managed().items(), key=lambda item: _delete_order(item[0])):
        if address in declaration.resources:
            continue
        if entity.recorded.get(L.PREVENT_DESTROY) == "true":
            warnings.append(
                f"{address} was removed from the configuration but has lifecycle.prevent_destroy: "
                "it is kept. To delete it, declare it again with prevent_destroy: false, apply, "
                "then remove it."
            )
            continue
        moved_to = next((new for new, old in declaration.moved.items() if old == address), None)
        reason = f"moved to {moved_to}" if moved_to else REMOVED
        actions.append(_delete_action(entity, reason))
    return actions


def _unmoved_renames(ctx: PlanContext, actions: list[Action]) -> list[str]:
    """A function created while one with the same content is deleted looks renamed: say how a
    `moved:` entry would keep its runs (they would run again otherwise)."""
    deleted = {a.address: ctx.state.entities[a.address] for a in actions if isinstance(a, EntityDelete)}
    warnings = []
    for address, planned in ctx.planned.items():
        if planned.action != CREATE or address in ctx.moved or not address.startswith("functions."):
            continue
        for old, entity in deleted.items():
            if entity.type == "functions" and function_digest(
                remote_view(entity, rules_for("functions", entity.kind))
            ) == function_digest(planned.view):
                warnings.append(
                    f"{address} looks like {old} renamed (same code, and {old} is deleted): its runs "
                    f"run again; to keep them, declare moved: [{{from: {old}, to: {address}}}]"
                )
                break
    return warnings


def _delete_action(entity: RemoteEntity, reason: str) -> EntityDelete:
    return EntityDelete(
        entity.address,
        DELETE,
        reason,
        seen=entity.id,
        entity_kind=entity.kind,
        diff=[AttributeChange("name", entity.name, None)],
        backend=entity.backend,
    )


# ---------------------------------------------------------------- runs


def run_spec_for_fingerprint(spec: dict[str, Any]) -> dict[str, Any]:
    """The canonical rendered run spec: everything declared except dhmlrun's own switches."""
    return {k: v for k, v in spec.items() if k not in RULES["runs"].planner_only}


def _plan_run(ctx: PlanContext, resource: Resource) -> Action:
    spec = resource.spec
    executable = executable_of(spec)
    function = ctx.planned.get(executable)
    if function is None:
        field = "workflow" if "workflow" in spec else "function"
        raise DhmlrunError.single(
            f"{field} {executable} is not declared", resource.location, f"{resource.address}.{field}"
        )
    inputs, input_versions, upstream, versions_before = _resolve_inputs(ctx, resource)
    _check_remote_inputs(ctx, resource, upstream)
    steps = _step_functions(ctx, resource, function)
    for step in steps:  # a pipeline runs its steps' functions: their versions are its inputs too
        input_versions[f"step:{step.address}"] = str(step.entity_id)
        versions_before[f"step:{step.address}"] = str(step.before_move or step.entity_id)
    fingerprint = fingerprint_run(
        run_spec_for_fingerprint(spec),
        function_digest(function.view),
        function.spec.get("image"),
        input_versions,
    )
    before = _fingerprint_before_moves(ctx, resource, function, input_versions, versions_before)
    last = ctx.last_run(resource.address)
    if mlrun_host.scheduled(ctx.declaration, ctx.state, resource):
        return _plan_scheduled(ctx, resource, function, inputs, fingerprint)
    fire, reason = _decide_run(ctx, resource, fingerprint, last, function, upstream, before, steps)
    run_id = ctx.id_factory() if fire else (last.id if last else None)
    ctx.planned[resource.address] = Planned(
        resource.address,
        RUN if fire else NOOP,
        run_id,
        None,
        None,
        fingerprint=fingerprint.value,
        spec=spec,
        before_move=before.value if before is not None and not fire else None,
    )
    depends = [a for a in resource.depends_on if a in ctx.planned] + [function.address]
    depends = sorted(set(depends) | {PROJECT_ADDRESS})
    backend = mlrun_host.backend_of(ctx.state, function.kind)
    if not fire:
        seen = last.id if last else ABSENT
        return NoChange(resource.address, NOOP, reason, seen=seen, depends_on=depends, backend=backend)
    build = _workflow_build(ctx, resource, function, steps)
    if build is not None:
        reason = f"{reason}; builds {function.address} first: {build}"
    request = _run_request(ctx, resource, run_id or "", function, inputs, fingerprint, build)
    if last is not None and not last.finished:
        request.supersedes = last.id  # executor lost: apply marks it ERROR before starting anew
    after = runview.declared_view(request, _new_version(function))
    if last is None:
        changes = runview.additions(after)
    else:
        changes = runview.diff(runview.recorded_view(last, TASK_FIELDS), after)
    return RunStart(
        resource.address,
        RUN,
        reason,
        diff=changes,
        request=request,
        depends_on=depends,
        seen=last.id if last else ABSENT,
        backend=backend,
    )


def _step_functions(ctx: PlanContext, resource: Resource, executable: Planned) -> list[Planned]:
    """The declared functions a workflow run's steps run (`config/steps.py`: the run depends on
    them), as planned; none for a function's run."""
    if not executable.address.startswith("workflows."):
        return []
    return [
        ctx.planned[a]
        for a in resource.depends_on
        if a.startswith("functions.") and a in ctx.planned and ctx.planned[a].entity_id is not None
    ]


def _workflow_build(
    ctx: PlanContext, resource: Resource, workflow: Planned, steps: list[Planned]
) -> str | None:
    """Why a pipeline run builds its workflow first (`plan/pipelines.py`); None when it runs the
    build its workflow's version holds, or is not a pipeline run."""
    if resource.spec.get("action") != PIPELINE_ACTION or not workflow.address.startswith("workflows."):
        return None
    remote = ctx.state.entities.get(workflow.address)
    return pipelines.build_reason(
        workflow.address,
        workflow.action in (CREATE, UPDATE),
        remote.spec if remote is not None and remote.id == workflow.entity_id else None,
        {step.address: None if step.action in (CREATE, UPDATE) else str(step.entity_id) for step in steps},
    )


def _steps_notes(declaration: Declaration) -> list[str]:
    """The plan's notes on the runs of workflows whose steps cannot be read at plan time."""
    notes = []
    for run in declaration.of_type("runs"):
        workflow = declaration.resources.get(str(run.spec.get("workflow")))
        if workflow is None:
            continue
        counted = [a for a in run.depends_on if a.startswith("functions.")]
        source = workflow.spec.get("source") or {}
        note = pipelines.unread_steps_note(run.address, workflow.address, source, counted)
        if note is not None:
            notes.append(note)
    return notes


def _plan_scheduled(
    ctx: PlanContext,
    resource: Resource,
    function: Planned,
    inputs: dict[str, InputBinding],
    fingerprint: RunFingerprint,
) -> Action:
    """A run that is an MLRun schedule (`mlrun_host`): planned as an entity, never started here."""
    ctx.planned[resource.address] = Planned(
        resource.address, NOOP, None, None, None, fingerprint=fingerprint.value, spec=resource.spec
    )
    name = mlrun_host.schedule_name(resource)
    request = _run_request(ctx, resource, name, function, inputs, fingerprint)
    upstream = (a for a in resource.depends_on if a in ctx.planned)
    depends = sorted({PROJECT_ADDRESS, function.address, *upstream})
    what = runview.additions(runview.declared_view(request, _new_version(function)))
    return mlrun_host.plan_schedule(resource, ctx.state, request, depends, what)


def _resolve_inputs(
    ctx: PlanContext, resource: Resource
) -> tuple[dict[str, InputBinding], dict[str, str], dict[str, str], dict[str, str]]:
    """(input bindings for apply, version ids for the fingerprint, {upstream address: input ref},
    the version ids as they were before the declared moves)."""
    inputs: dict[str, InputBinding] = {}
    versions: dict[str, str] = {}
    upstream: dict[str, str] = {}
    before: dict[str, str] = {}
    for key, ref_text in sorted((resource.spec.get("inputs") or {}).items()):
        ref = Reference.parse(str(ref_text))
        if ref is None:
            inputs[key] = InputBinding(str(ref_text), key=str(ref_text))
            versions[key] = before[key] = str(ref_text)
            continue
        planned = ctx.planned.get(ref.address)
        if planned is None:
            raise DhmlrunError.single(
                f"input {ref} is not declared", resource.location, f"{resource.address}.inputs.{key}"
            )
        upstream[ref.address] = str(ref)
        if ref.output is None:
            inputs[key] = InputBinding(str(ref), key=planned.key)
            versions[key] = str(planned.entity_id)
            before[key] = str(planned.before_move or planned.entity_id)
            continue
        versions[key] = f"run:{planned.fingerprint}:{ref.output}"
        before[key] = f"run:{planned.before_move or planned.fingerprint}:{ref.output}"
        produced = None if planned.action == RUN else last_output(ctx.last_run(ref.address), ref.output)
        inputs[key] = InputBinding(str(ref), key=produced, run=ref.address, output=ref.output)
    return inputs, versions, upstream, before


def _fingerprint_before_moves(
    ctx: PlanContext,
    resource: Resource,
    function: Planned,
    versions: dict[str, str],
    versions_before: dict[str, str],
) -> RunFingerprint | None:
    """The run's fingerprint with every address the `moved:` entries renamed as it was (its
    function, its inputs, upstream runs' fingerprints), or None when no move touches it."""
    named = [resource.address, function.address, *(r.split(".outputs.")[0] for r in _input_refs(resource))]
    if versions == versions_before and not any(address in ctx.moved for address in named):
        return None
    spec = dict(resource.spec)
    spec["function"] = ctx.moved.get(function.address, function.address)
    spec["inputs"] = {key: _as_before_moves(ctx, ref) for key, ref in (spec.get("inputs") or {}).items()}
    digest, image = function_digest(function.view), function.spec.get("image")
    return fingerprint_run(run_spec_for_fingerprint(spec), digest, image, versions_before)


def _input_refs(resource: Resource) -> list[str]:
    return [str(ref) for ref in (resource.spec.get("inputs") or {}).values()]


def _as_before_moves(ctx: PlanContext, text: Any) -> Any:
    """An input reference as it was written before its target moved (`runs.a.outputs.x` for
    `runs.b.outputs.x` when runs.a moved to runs.b)."""
    ref = Reference.parse(str(text))
    if ref is None or ref.address not in ctx.moved:
        return text
    return str(text).replace(ref.address, ctx.moved[ref.address], 1)


def _moves_of(ctx: PlanContext, resource: Resource, function: Planned) -> str:
    """Why a run is kept across the declared moves: `renamed functions.a -> functions.b`, or,
    for a run downstream of one kept, that its inputs are."""
    named = [resource.address, function.address, *(r.split(".outputs.")[0] for r in _input_refs(resource))]
    moves = [f"{ctx.moved[a]} -> {a}" for a in dict.fromkeys(named) if a in ctx.moved]
    if moves:
        return f"renamed {', '.join(moves)} (moved:), kept without a re-run"
    return "its inputs were kept across a rename (moved:)"


def _check_remote_inputs(ctx: PlanContext, resource: Resource, upstream: dict[str, str]) -> None:
    """A run executed on another machine (DHCore's or MLRun's Kubernetes) cannot read a file of
    this one: refuse, when the plan is made, one that would read a declared local file or a
    local run's output while no files store takes them there."""
    state = ctx.state
    if resource.spec.get("execution") != "remote" or state.executes_here or state.files_store:
        return
    for address, ref in sorted(upstream.items()):
        planned = ctx.planned[address]
        remote = state.entities.get(address)
        if planned.local is not None and not (
            planned.action == NOOP and remote and urls.is_url(str(remote.spec.get("path") or ""))
        ):
            what = f"{ref}, a file on this machine ({planned.local.relpath})"
        elif address.startswith("runs.") and planned.spec.get("execution") == "local":
            what = f"{ref}, which a local run registers on this machine"
        else:
            continue
        key = next(k for k, v in (resource.spec.get("inputs") or {}).items() if str(v) == ref)
        raise DhmlrunError.single(
            f"{resource.address} executes remotely but reads {what}, which the platform's executor "
            "cannot read; set DHCORE_DEFAULT_FILES_STORE (s3://…) so apply uploads declared files "
            "to the files store, or declare the input at an s3:// or https:// path",
            resource.location,
            f"{resource.address}.inputs.{key}",
        )


def _decide_run(
    ctx: PlanContext,
    resource: Resource,
    fingerprint: RunFingerprint,
    last: RemoteRun | None,
    function: Planned,
    upstream: dict[str, str],
    before: RunFingerprint | None = None,
    steps: list[Planned] | None = None,
) -> tuple[bool, str]:
    """Whether the run fires in this plan, and the one-line reason either way. `before` is the
    fingerprint with the moved addresses as they were: matching the last run's, the run is kept."""
    trigger = resource.spec["trigger"]
    if last is not None and not last.finished:
        if last.executor_lost:  # its executor stopped renewing its lease (platform/lease.py)
            return True, f"executor lost: last run {last.id} was left {last.state} by a process that died"
        return False, f"a run is already {last.state.lower()} ({last.id}); not duplicated"
    waiting = _upstream_in_progress(ctx, upstream)
    if waiting:
        return False, waiting
    if resource.address in ctx.reruns:
        return True, "forced by --rerun"
    if last is None:
        return True, "never run"
    if trigger == defaults.ONCE:
        return False, "trigger: once, already run"
    if trigger == defaults.ALWAYS:
        return True, "trigger: always"
    if before is not None and last.fingerprint == before.value and not last.failed:
        return False, f"up to date: {_moves_of(ctx, resource, function)}"
    reasons = [
        _upstream_reason(ctx.planned[address], ref)
        for address, ref in upstream.items()
        if ctx.planned[address].action in (CREATE, UPDATE, RUN)
    ]
    if function.action in (CREATE, UPDATE):
        reasons.insert(0, _function_change(function, last, fingerprint))
    reasons.extend(
        f"step function {step.address} changed ({_function_reason(step)})"
        for step in steps or ()
        if step.action in (CREATE, UPDATE)
    )
    if reasons:
        return True, "; ".join(reasons)
    if last.fingerprint != fingerprint.value:
        return True, _fingerprint_reason(last, fingerprint, function)
    if last.failed:
        return True, _failed_reason(last)
    return False, "up to date"


def _failed_reason(last: RemoteRun) -> str:
    """Why a failed last run fires again, in fixed words (its message may quote a secret)."""
    if last.state == states.STOPPED:
        return "last run was stopped"
    if last.ended_by == endings.INTERRUPTED:
        return "last run was interrupted"
    return "last run failed"


def _upstream_in_progress(ctx: PlanContext, upstream: dict[str, str]) -> str | None:
    """Why a run must wait: an input comes from a run still executing elsewhere (its lease alive).

    Firing now would either read the previous output or none at all; apply again once that run
    has finished and this run is planned with the new input.
    """
    for address, ref in upstream.items():
        if ctx.planned[address].action == RUN:
            continue
        run = ctx.last_run(address)
        if run is not None and not run.finished and not run.executor_lost:
            state = run.state.lower()
            return f"waits for input {ref}: run {run.id} is still {state}; apply again when it ends"
    return None


def _upstream_reason(planned: Planned, ref: str) -> str:
    if planned.action == RUN:
        return f"input {ref} is recomputed"
    if planned.action == CREATE:
        return f"input {ref} is created"
    if planned.reason == UPLOAD_REASON:
        return f"input {ref} moves to the files store"
    return f"input {ref} has a new version"


def _new_version(function: Planned) -> str | None:
    """Why the run's function gets a new version in this plan (None when it does not)."""
    if function.action == CREATE:
        return "its first version"
    if function.action == UPDATE:
        return _function_reason(function)
    return None


def _function_change(function: Planned, last: RemoteRun, fingerprint: RunFingerprint) -> str:
    """Why the function's new version fires the run: renamed (a new function with the last
    run's code under another name), or its code changed."""
    if function.action == CREATE:
        old = runview.recorded_view(last, ())["function"]
        if old and f"functions.{old}" != function.address:
            same = last.recorded.get(L.FP_FUNCTION) == fingerprint.function
            return f"function renamed: functions.{old} -> {function.address}" + (
                "" if same else f"; {_function_reason(function)}"
            )
    return _function_reason(function)


def _function_reason(function: Planned) -> str:
    if function.local is not None:
        return f"code changed: {function.local.relpath}"
    return f"{function.address} changed"


def _fingerprint_reason(last: RemoteRun, fingerprint: RunFingerprint, function: Planned) -> str:
    recorded = last.recorded
    reasons = []
    if recorded.get(L.FP_SPEC) != fingerprint.spec:
        reasons.append("run spec changed")
    if recorded.get(L.FP_FUNCTION) != fingerprint.function:
        reasons.append(_function_reason(function))
    if recorded.get(L.FP_INPUTS) != fingerprint.inputs:
        reasons.append("an input has a new version")
    return "; ".join(reasons) or "fingerprint changed"


def _run_request(
    ctx: PlanContext,
    resource: Resource,
    run_id: str,
    function: Planned,
    inputs: dict[str, InputBinding],
    fingerprint: RunFingerprint,
    workflow_build: str | None = None,
) -> RunRequest:
    """What apply hands to a run worker: everything resolved except upstream outputs."""
    spec = resource.spec
    recorded = {
        L.ADDRESS: resource.address,
        L.FINGERPRINT: fingerprint.value,
        L.FP_SPEC: fingerprint.spec,
        L.FP_FUNCTION: fingerprint.function,
        L.FP_INPUTS: fingerprint.inputs,
    }
    return RunRequest(
        project=ctx.declaration.project_name,
        run_id=run_id,
        function=FunctionVersion(
            function.address, str(function.entity_id), str(function.key), str(function.kind)
        ),
        action=str(spec["action"]),
        inputs=inputs,
        outputs=dict(spec["outputs"]),
        parameters=dict(spec["parameters"]),
        values=list(spec["values"]),
        task=task_parameters(spec),
        execution=str(spec["execution"]),
        labels=L.encode(recorded, spec.get("labels") or ()),
        workflow_build=workflow_build,
        fingerprint=fingerprint.value,
    )


def _restrict_to_targets(actions: list[Action], declaration: Declaration, targets: list[str]) -> list[Action]:
    """Keep the targeted addresses, everything they depend on, and the project (on MLRun too)."""
    keep = {PROJECT_ADDRESS, MLRUN_PROJECT_ADDRESS}
    for target in targets:
        keep.add(target)
        if target in declaration.resources:
            keep |= declaration.dependencies(target)
    return [a for a in actions if a.address in keep]
