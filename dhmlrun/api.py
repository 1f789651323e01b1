"""dhmlrun as a Python library: load a config repo, plan, apply, destroy.

    from dhmlrun import Project

    project = Project("examples/employees", env="dev")
    plan = project.plan()            # reads the platform, writes nothing
    result = project.apply(plan)     # lock, staleness check, execute; result.exit_code

The workflow every apply follows lives here (SQLMesh's `Context`), so the CLI only parses and
prints: resolve the platform (connection precedence, else the embedded core), take the
project's lock (creating the project first on a first deploy), plan under the lock (or check a
given plan is not stale), let the caller review it, execute it with the warm run server, and
release the lock. Nothing here imports click, the views, the digitalhub SDK or mlrun.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from dhmlrun.apply.results import ApplyResult, Observer, Silent
from dhmlrun.errors import DhmlrunError
from dhmlrun.plan.model import Plan
from dhmlrun.vocabulary.kinds import MLRUN_KIND

if TYPE_CHECKING:
    from dhmlrun.config.model import Declaration
    from dhmlrun.platform import Platform, PlatformState
    from dhmlrun.platform.lock import HeldLock

Review = Callable[[Plan], None]
"""Called with each plan just before it is applied, under the lock (show it, ask for
confirmation); raising cancels the apply. Not called for a plan without changes."""


def _no_review(plan: Plan) -> None:
    return


def _say_nothing(text: str) -> None:
    return


@dataclass(frozen=True)
class ApplyOptions:
    """How an apply (or destroy) goes, as one value (Terraform's `PlanOpts`): what it plans for
    (`targets`, `reruns`: `--target`, `--rerun`), how many steps run at once, how long it waits
    for another apply's lock, who reviews the plan (`review`; None: it was reviewed already),
    who watches the steps (`observer`) and who hears the notes (`say`)."""

    targets: Sequence[str] = ()
    reruns: Sequence[str] = ()
    parallelism: int = 4
    lock_timeout: float = 0.0
    review: Review | None = _no_review
    observer: Observer | None = None
    say: Callable[[str], None] = _say_nothing


class Project:
    """A config repository and the platform it deploys to (see the module docstring).

    `path` is the config directory (or its `dhmlrun.yaml`); `env`, `variables` and `var_files`
    render the declaration as `-e`, `--var` and `--var-file` do; `endpoint` and `profile` choose
    the platform as `--endpoint` and `--profile` do (else `DHCORE_ENDPOINT`, the SDK's profile,
    or the embedded core in `PATH/.dhmlrun/`).
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = ".",
        *,
        env: str | None = None,
        variables: Mapping[str, str] | None = None,
        var_files: Sequence[Path] = (),
        allow_outside: Sequence[Path] = (),
        endpoint: str | None = None,
        profile: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.env = env
        self.variables = dict(variables or {})
        self.var_files = list(var_files)
        self.allow_outside = list(allow_outside)
        self.endpoint = endpoint
        self.profile = profile
        self.environ = os.environ if environ is None else environ

    @cached_property
    def declaration(self) -> Declaration:
        """The rendered, validated declaration (loaded once)."""
        from dhmlrun.config import load_declaration

        return load_declaration(
            self.path,
            cli_vars=self.variables,
            var_files=self.var_files,
            environment=self.env,
            environ=self.environ,
            allow_outside=self.allow_outside,
        )

    @property
    def root(self) -> Path:
        return self.declaration.root

    @property
    def secrets(self) -> set[str]:
        """Values to mask in anything shown (the sensitive variables')."""
        return self.declaration.sensitive_values()

    # ------------------------------------------------------------------ platform

    @contextmanager
    def connect(
        self, *, embedded_only: bool = False, fallback_endpoint: str | None = None
    ) -> Iterator[Platform]:
        """The platform this project deploys to, for the block."""
        with open_platform(
            self.root,
            self.endpoint,
            self.profile,
            self.declaration.profile,
            embedded_only=embedded_only,
            fallback_endpoint=fallback_endpoint,
            environ=self.environ,
            mlrun=self.declaration.mlrun,
        ) as platform:
            yield platform

    def read_state(self, platform: Platform, earlier: PlatformState | None = None) -> PlatformState:
        """What the platform holds for this project (DHCore, and MLRun when it hosts the `mlrun`
        functions and runs). `earlier`: a state read before in this command, whose answer to
        whether DHCore has the mlrun runtime is taken rather than asked again."""
        needed = any(r.spec.get("kind") == MLRUN_KIND for r in self.declaration.of_type("functions"))
        known = earlier.mlrun_runtime if earlier is not None else None
        return platform.read_state(
            self.declaration.project_name, mlrun_needed=needed, has_mlrun_runtime=known
        )

    # ------------------------------------------------------------------ planning

    def plan(
        self, *, targets: Sequence[str] = (), reruns: Sequence[str] = (), platform: Platform | None = None
    ) -> Plan:
        """What apply would do now (reads the platform, writes nothing)."""
        if platform is None:
            with self.connect() as opened:
                return self.plan(targets=targets, reruns=reruns, platform=opened)
        return self._plan(self.read_state(platform), platform, targets, reruns)

    def _plan(
        self,
        state: PlatformState,
        platform: Platform,
        targets: Sequence[str],
        reruns: Sequence[str],
        seed: str | None = None,
    ) -> Plan:
        """The plan, its ids drawn from `seed` (a new one by default): the same seed, configuration
        and platform make the same plan (`plan/replay.py`)."""
        from dhmlrun.plan import build_plan
        from dhmlrun.plan.model import Replay
        from dhmlrun.plan.replay import new_seed, seeded_ids
        from dhmlrun.platform import recorded_endpoint

        seed = new_seed() if seed is None else seed
        plan = build_plan(
            self.declaration, state, targets=targets, reruns=reruns, id_factory=seeded_ids(seed)
        )
        plan.endpoint = recorded_endpoint(platform)
        plan.replay = Replay(seed, list(targets), list(reruns))
        return plan

    def destroy_plan(self, *, targets: Sequence[str] = (), platform: Platform | None = None) -> Plan:
        """What destroy would delete now (only `targets`, when given: `destroy --target`)."""
        if platform is None:
            with self.connect() as opened:
                return self.destroy_plan(targets=targets, platform=opened)
        return self._destroy_plan(self.read_state(platform), platform, targets)

    def _destroy_plan(self, state: PlatformState, platform: Platform, targets: Sequence[str] = ()) -> Plan:
        from dhmlrun.plan import build_destroy_plan
        from dhmlrun.plan.model import Replay
        from dhmlrun.platform import recorded_endpoint

        plan = build_destroy_plan(state, str(self.root), self.declaration, targets=targets)
        plan.endpoint = recorded_endpoint(platform)
        plan.replay = Replay(seed="", targets=list(targets))  # a destroy plan draws no ids
        return plan

    # ------------------------------------------------------------------ applying

    def apply(self, plan: Plan | None = None, options: ApplyOptions | None = None) -> ApplyResult:
        """Make the platform match: plan under the project's lock and apply that plan, or apply
        the given `plan` exactly (refused when the platform moved since it was made, or when this
        configuration no longer makes that very plan).

        `options.review` sees the plan before anything changes (module docstring);
        `options.observer` watches the steps; `options.say` receives notes (the platform read,
        lock waits).
        """
        from dhmlrun.apply.executor import needs_workers
        from dhmlrun.apply.run_server import warm_run_server

        options = options or ApplyOptions()
        wanted = needs_workers(plan) if plan is not None else self._may_need_workers()
        with warm_run_server(wanted, needs_mlrun=self._declares_mlrun_functions()) as server:
            if plan is not None:
                return self._apply_given(plan, options, server)
            return self._apply_planned(options, server)

    def _may_need_workers(self) -> bool:
        """Before planning: whether the apply may do a step in a worker process, so starting the
        warm run server now pays off (it is stopped once the plan says nothing needs it): the
        configuration declares runs, or files that may go to the files store."""
        return any(self.declaration.of_type(type_) for type_ in ("runs", "dataitems", "artifacts", "models"))

    def _declares_mlrun_functions(self) -> bool:
        """Whether a run of this apply may need mlrun (its run server then preloads it)."""
        return any(f.spec.get("kind") == MLRUN_KIND for f in self.declaration.of_type("functions"))

    def destroy(self, options: ApplyOptions | None = None) -> ApplyResult:
        """Delete every entity dhmlrun manages in the project (run history and produced data stay),
        except those with `lifecycle.prevent_destroy`; only `options.targets` when given
        (`options.reruns` does not apply)."""
        from dhmlrun.platform.lock import project_lock

        options = options or ApplyOptions()
        project = self.declaration.project_name
        with self.connect() as platform:
            options.say(f"Reading project {project} from {platform.shown}")
            with project_lock(platform, project, options.lock_timeout, options.say, operation="destroy"):
                plan = self.destroy_plan(targets=options.targets, platform=platform)
                return self._execute(plan, platform, options, None)

    def _apply_planned(self, options: ApplyOptions, server: object) -> ApplyResult:
        from dhmlrun.plan.staleness import stale_reasons
        from dhmlrun.platform.lock import project_lock

        project = self.declaration.project_name
        targets, reruns = options.targets, options.reruns
        with self.connect() as platform:
            options.say(f"Reading project {project} from {platform.shown}")
            first = seen = None
            if not platform.project_exists(project):
                # a first deploy: the lock lives in the project, so plan and review first, then
                # create the project (idempotently), lock it, and re-plan if anything moved
                seen = self.read_state(platform)
                first = self._plan(seen, platform, targets, reruns)
                options.review(first)
                if not first.has_changes:
                    return ApplyResult()
            create = first.project_create() if first is not None else None
            body = create.body if create is not None else None
            with project_lock(
                platform, project, options.lock_timeout, options.say, create_project=body
            ) as held:
                state = self.read_state(platform, seen)
                if first is not None and not stale_reasons(first, _as_before_lock(state, held)):
                    return self._execute(first, platform, replace(options, review=None), server)
                plan = self._plan(state, platform, targets, reruns)
                return self._execute(plan, platform, options, server)

    def _apply_given(self, plan: Plan, options: ApplyOptions, server: object) -> ApplyResult:
        from dhmlrun.platform import EMBEDDED, check_same_platform
        from dhmlrun.platform.lock import project_lock

        if plan.project != self.declaration.project_name:
            raise DhmlrunError.single(
                f"the plan is for project {plan.project}, but the configuration in {self.root} declares "
                f"project {self.declaration.project_name}; apply it where it was made"
            )
        embedded_only = plan.endpoint == EMBEDDED
        if embedded_only and self.endpoint:
            raise DhmlrunError.single(
                f"the saved plan was made against the embedded core; it cannot be applied to {self.endpoint}"
            )
        fallback = None if embedded_only else plan.endpoint
        with self.connect(embedded_only=embedded_only, fallback_endpoint=fallback) as platform:
            check_same_platform(plan.endpoint, platform)
            options.say(f"Applying the saved plan to project {plan.project} on {platform.shown}")
            seen = self.read_state(platform)
            self._as_reviewed(plan, seen, platform)  # before the lock writes anything
            create = plan.project_create()
            body = create.body if create is not None else None
            operation = "destroy" if plan.destroy else "apply"
            with project_lock(
                platform,
                plan.project,
                options.lock_timeout,
                options.say,
                create_project=body,
                operation=operation,
            ) as held:
                state = _as_before_lock(self.read_state(platform, seen), held)
                again = self._as_reviewed(plan, state, platform)
                return self._execute(again, platform, options, server)

    def _as_reviewed(self, plan: Plan, state: PlatformState, platform: Platform) -> Plan:
        """`plan` made again from this configuration and `state`, refused when the platform moved
        since (stale) or when it is not the same plan (`plan/replay.py`): what is executed is what
        was reviewed, with this checkout's paths."""
        from dhmlrun.plan.replay import differences
        from dhmlrun.plan.staleness import check_not_stale

        check_not_stale(plan, state)

        if plan.replay is None:
            raise DhmlrunError.single(
                "the plan does not say how it was made, so it cannot be checked against the configuration "
                f"in {self.root}; make a new one with `dhmlrun plan --out FILE`"
            )
        if plan.destroy:
            again = self._destroy_plan(state, platform, plan.replay.targets)
        else:
            again = self._plan(state, platform, plan.replay.targets, plan.replay.reruns, plan.replay.seed)
        found = differences(plan, again)
        if found:
            raise DhmlrunError.single(
                f"the saved plan is not what the configuration in {self.root} yields now, so it is not "
                f"what was reviewed: {'; '.join(found)}. Review the change: run `dhmlrun plan` again."
            )
        return again

    def _execute(self, plan: Plan, platform: Platform, options: ApplyOptions, server: object) -> ApplyResult:
        """Review (unless `options.review` is None: already reviewed) and execute `plan`; stop
        the run server at once when the plan runs nothing (its memory and CPU go back now)."""
        from dhmlrun.apply.executor import Applier, needs_workers
        from dhmlrun.apply.interrupt import interruptible
        from dhmlrun.apply.run_server import RunServer, release

        if options.review is not None:
            options.review(plan)
        if not plan.has_changes:
            return ApplyResult(destroy=plan.destroy)
        run_server = server if isinstance(server, RunServer) else None
        if run_server is not None and not needs_workers(plan):
            release(run_server)
            run_server = None
        observer = options.observer or Silent()
        applier = Applier(
            plan,
            platform,
            root=self.root,
            observer=observer,
            secrets=self.secrets,
            run_server=run_server,
            environ=self.environ,
            secret_value=self.declaration.secret_value,
        )
        with interruptible(applier, observer.notice):
            results = applier.apply(options.parallelism)
        return ApplyResult(results, interrupted=applier.stop.is_set(), destroy=plan.destroy)


@contextmanager
def open_platform(
    root: Path,
    endpoint: str | None = None,
    profile: str | None = None,
    environment_profile: str | None = None,
    *,
    embedded_only: bool = False,
    fallback_endpoint: str | None = None,
    environ: Mapping[str, str] = os.environ,
    mlrun: str | None = None,
) -> Iterator[Platform]:
    """The platform of one command, for the block: the connection that resolves (`--endpoint`,
    a profile, `DHCORE_ENDPOINT`, the SDK's ini profile: `platform.connection`), else the
    embedded core of the config repo at `root` (`core/embedded.py`), with the MLRun service
    configured beside it (`platform.mlrun_service`).

    `embedded_only` skips resolution (a saved plan made on the embedded core is applied there);
    `fallback_endpoint` replaces the embedded core when nothing else resolves (a saved plan goes
    back to the platform it was made against).
    """
    from dhmlrun.platform import mlrun_service, remote_platform
    from dhmlrun.platform.connection import resolve_connection
    from dhmlrun.vocabulary.settings import FILES_STORE_ENV

    connection = None
    if not embedded_only:
        connection = resolve_connection(
            endpoint=endpoint or None,
            profile=profile,
            environment_profile=environment_profile,
            environ=environ,
        )
        if connection is None and fallback_endpoint:
            connection = resolve_connection(
                endpoint=fallback_endpoint, profile=None, environment_profile=None, environ=environ
            )
    service = mlrun_service(mlrun, connection, environ)
    if connection is not None:
        yield remote_platform(connection, environ, service)
        return
    from dhmlrun.core.embedded import embedded_platform

    with embedded_platform(root, service, files_store=environ.get(FILES_STORE_ENV)) as platform:
        yield platform


def _as_before_lock(state: PlatformState, held: HeldLock) -> PlatformState:
    """The state as the plan saw it: a project this apply created just to lock it was absent."""
    return replace(state, project_exists=False) if held.created_project else state
