"""`dhmlrun apply` and `dhmlrun destroy`: make the platform match (or remove what dhmlrun made).

Thin: take the project lock, load or build the plan, confirm, hand it to
`dhmlrun.apply.Applier`, print the summary. A saved plan is applied exactly, or refused as stale.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import click

from dhmlrun.cli.options import ProjectOptions, project_options
from dhmlrun.cli.output import info, stdin_is_tty
from dhmlrun.errors import DhmlrunError


@dataclass(frozen=True)
class Settings:
    """How to apply, shared by every path through these commands."""

    parallelism: int
    lock_timeout: float
    options: ProjectOptions
    run_server: Any = None
    """The warm `dhmlrun.apply.run_server.RunServer` runs are forked from (None: fresh workers)."""

    @property
    def colour(self) -> bool:
        return self.options.colour


def apply_options(func: Any) -> Any:
    func = click.option(
        "--lock-timeout",
        default=0.0,
        show_default=True,
        type=click.FloatRange(0),
        metavar="SECONDS",
        help="How long to wait for another apply's lock on the project "
        "(0: fail at once, naming the holder and the `force-unlock` that removes it).",
    )(func)
    func = click.option(
        "--parallelism",
        default=4,
        show_default=True,
        type=click.IntRange(1, 64),
        help="How many independent steps run at once.",
    )(func)
    return click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")(func)


def confirm(auto_approve: bool, verb: str, what: str) -> None:
    """Ask for `yes` on a TTY; without a TTY refuse unless --auto-approve."""
    if auto_approve:
        return
    if not stdin_is_tty():
        raise DhmlrunError.single(
            f"refusing to {verb} without confirmation: no terminal to ask on. "
            "Pass --auto-approve (or apply a saved plan made with `dhmlrun plan --out FILE`)."
        )
    answer = click.prompt(
        f"Do you want to {verb} {what}? Only 'yes' will be accepted", default="", show_default=False, err=True
    )
    if answer.strip() != "yes":
        raise DhmlrunError.single(f"{verb.capitalize()} cancelled: nothing was changed.")


def execute(plan: Any, platform: Any, settings: Settings, secrets: Any) -> int:
    """Apply `plan`, print the summary; the exit code (1 when anything failed)."""
    import sys

    from dhmlrun.apply import Applier
    from dhmlrun.apply.interrupt import EXIT_INTERRUPTED, interruptible
    from dhmlrun.plan.model import RUN
    from dhmlrun.progress import progress_display
    from dhmlrun.render import render_apply_summary

    run_server = settings.run_server
    if run_server is not None and not any(action.action == RUN for action in plan.actions):
        run_server.close()  # this plan runs nothing: give its CPU and memory back now
        run_server = None
    with progress_display(plan.actions, sys.stderr, info) as display:
        applier = Applier(
            plan,
            platform,
            progress=display.lines,
            events=display.events,
            secrets=secrets,
            run_server=run_server,
        )
        with interruptible(applier, display.notice):
            results = applier.apply(settings.parallelism)
        display.finish(results)
    interrupted = applier.stop.is_set()
    click.echo(render_apply_summary(results, secrets, settings.colour, interrupted=interrupted))
    if interrupted:
        return EXIT_INTERRUPTED
    return 1 if any(r.status != "done" for r in results) else 0


@click.command()
@click.argument("path", default=".", type=click.Path(path_type=Path))
@apply_options
@click.option(
    "--target", "targets", multiple=True, metavar="ADDR", help="Apply only ADDR and its dependencies."
)
@click.option("--rerun", "reruns", multiple=True, metavar="ADDR", help="Force the run ADDR (repeatable).")
@project_options
@click.pass_context
def apply(
    ctx: click.Context,
    path: Path,
    auto_approve: bool,
    parallelism: int,
    lock_timeout: float,
    targets: tuple[str, ...],
    reruns: tuple[str, ...],
    options: ProjectOptions,
) -> None:
    """Make the platform match the declaration at PATH, or apply the saved plan PLANFILE exactly."""
    from dhmlrun.apply.run_server import warm_run_server
    from dhmlrun.plan.saved import is_saved_plan

    settings = Settings(parallelism, lock_timeout, options)
    if is_saved_plan(path):
        if targets or reruns:
            raise DhmlrunError.single("--target and --rerun cannot change a saved plan; make a new plan")
        with warm_run_server(_saved_plan_runs(path)) as server:
            code = _apply_saved(path, replace(settings, run_server=server))
        ctx.exit(code)
    # started first, so mlrun's and digitalhub's imports in the server overlap loading and planning
    with warm_run_server(True) as server:
        declaration = options.load(path)
        if server is not None and not declaration.of_type("runs"):
            server.close()  # nothing will run: stop it importing
            server = None
        settings = replace(settings, run_server=server)
        code = _apply_declaration(declaration, settings, auto_approve, targets, reruns)
    ctx.exit(code)


def _saved_plan_runs(path: Path) -> bool:
    """Whether the saved plan runs anything (then a warm run server is worth starting now)."""
    from dhmlrun.plan.model import RUN
    from dhmlrun.plan.saved import load_plan

    return any(action.action == RUN for action in load_plan(path)[0].actions)


def _apply_declaration(
    declaration: Any,
    settings: Settings,
    auto_approve: bool,
    targets: tuple[str, ...],
    reruns: tuple[str, ...],
) -> int:
    from dhmlrun.apply.executor import stale_reasons
    from dhmlrun.plan import build_plan
    from dhmlrun.platform.lock import project_lock
    from dhmlrun.render import render_plan

    secrets = declaration.sensitive_values()
    project = declaration.project_name
    with settings.options.open_platform(declaration) as platform:
        info(f"Reading project {project} from {platform.endpoint}")
        first = None
        if not platform.project_exists(project):
            # a first deploy: the lock lives in the project, so plan and confirm first, then
            # create the project (idempotently), lock it, and re-plan if anything moved meanwhile
            first = build_plan(declaration, platform.read_state(project), targets=targets, reruns=reruns)
            click.echo(render_plan(first, secrets, colour=settings.colour))
            if not first.has_changes:
                return 0
            confirm(auto_approve, "apply", "these changes")
        create = _project_create_body(first) if first is not None else None
        with project_lock(platform, project, settings.lock_timeout, info, create_project=create) as held:
            state = platform.read_state(project)
            if first is not None and not stale_reasons(first, _as_before_lock(state, held)):
                return execute(first, platform, settings, secrets)
            plan = build_plan(declaration, state, targets=targets, reruns=reruns)
            click.echo(render_plan(plan, secrets, colour=settings.colour))
            if not plan.has_changes:
                return 0
            confirm(auto_approve, "apply", "these changes")
            return execute(plan, platform, settings, secrets)


def _project_create_body(plan: Any) -> dict[str, Any] | None:
    """The body of the plan's project create (what a first deploy creates before locking)."""
    return next((a.body for a in plan.actions if a.address == "project" and a.action == "create"), None)


def _as_before_lock(state: Any, held: Any) -> Any:
    """The state as the plan saw it: a project this apply created just to lock it was absent."""
    import dataclasses

    return dataclasses.replace(state, project_exists=False) if held.created_project else state


def _apply_saved(path: Path, settings: Settings) -> int:
    """A saved plan was reviewed when it was made: apply exactly it, unless the platform moved."""
    from dhmlrun.apply import check_not_stale
    from dhmlrun.plan.saved import load_plan, load_plan_with_secrets
    from dhmlrun.platform import EMBEDDED, check_same_platform, open_platform
    from dhmlrun.platform.lock import project_lock
    from dhmlrun.render import render_plan

    masked, needed = load_plan(path)
    embedded_only = masked.endpoint == EMBEDDED
    values: dict[str, str] = {}
    if needed:
        declaration = settings.options.load(Path(masked.root))
        values = {n: str(declaration.variables[n].value) for n in needed if n in declaration.variables}
    plan = load_plan_with_secrets(path, values)
    secrets = set(values.values())
    endpoint = settings.options.endpoint
    if embedded_only and endpoint:
        raise DhmlrunError.single(
            f"the saved plan was made against the embedded core; it cannot be applied to {endpoint}"
        )
    with open_platform(
        Path(plan.root),
        endpoint,
        settings.options.profile,
        embedded_only=embedded_only,
        fallback_endpoint=None if embedded_only else masked.endpoint,
    ) as platform:
        check_same_platform(masked.endpoint, platform)
        info(f"Applying saved plan {path} to project {plan.project} on {platform.endpoint}")
        create = _project_create_body(plan)
        with project_lock(platform, plan.project, settings.lock_timeout, info, create_project=create) as held:
            check_not_stale(plan, _as_before_lock(platform.read_state(plan.project), held))
            click.echo(render_plan(plan, secrets, colour=settings.colour))
            if not plan.has_changes:
                return 0
            return execute(plan, platform, settings, secrets)


@click.command()
@click.argument("path", default=".", type=click.Path(path_type=Path))
@apply_options
@project_options
@click.pass_context
def destroy(
    ctx: click.Context,
    path: Path,
    auto_approve: bool,
    parallelism: int,
    lock_timeout: float,
    options: ProjectOptions,
) -> None:
    """Delete the entities dhmlrun manages in the project (run history is kept)."""
    from dhmlrun.plan import build_destroy_plan
    from dhmlrun.platform.lock import project_lock
    from dhmlrun.render import render_plan

    settings = Settings(parallelism, lock_timeout, options)
    declaration = options.load(path)
    secrets = declaration.sensitive_values()
    project = declaration.project_name
    with (
        options.open_platform(declaration) as platform,
        project_lock(platform, project, settings.lock_timeout, info, operation="destroy"),
    ):
        plan = build_destroy_plan(platform.read_state(project), str(declaration.root), declaration)
        click.echo(render_plan(plan, secrets, colour=settings.colour))
        if not plan.has_changes:
            ctx.exit(0)
        confirm(auto_approve, "destroy", "these entities")
        code = execute(plan, platform, settings, secrets)
    ctx.exit(code)
