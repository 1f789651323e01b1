"""`dhmlrun apply` and `dhmlrun destroy`: make the platform match (or remove what dhmlrun made).

Thin: parse the options, hand them to the Python API (`dhmlrun.api.Project`, where the lock,
the re-plan under the lock and the staleness check live), show the plan and ask before
anything changes, show progress, print the summary.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from dhmlrun.cli.options import ProjectOptions, project_options
from dhmlrun.cli.output import info, stdin_is_tty
from dhmlrun.errors import DhmlrunError


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


def confirm(auto_approve: bool, verb: str, what: str, plan_flags: str = "") -> None:
    """Ask for `yes` on a TTY; without a TTY refuse unless --auto-approve, naming the reviewed
    alternative (a saved plan, made with `plan PLAN_FLAGS--out FILE`)."""
    if auto_approve:
        return
    if not stdin_is_tty():
        hint = f" (or review a saved plan: `dhmlrun plan {plan_flags}--out FILE`, then `dhmlrun apply FILE`)"
        raise DhmlrunError.single(
            f"refusing to {verb} without confirmation: no terminal to ask on. Pass --auto-approve{hint}."
        )
    answer = click.prompt(
        f"Do you want to {verb} {what}? Only 'yes' will be accepted", default="", show_default=False, err=True
    )
    if answer.strip() != "yes":
        raise DhmlrunError.single(f"{verb.capitalize()} cancelled: nothing was changed.")


class Reviewer:
    """Shows each plan apply is about to execute, asks for `yes` when it changes something,
    then puts it on the progress display."""

    def __init__(
        self,
        project: Any,
        colour: bool,
        display: Any,
        *,
        ask: bool,
        verb: str,
        what: str,
        plan_flags: str = "",
    ) -> None:
        self.project, self.colour, self.display = project, colour, display
        self.ask, self.verb, self.what, self.plan_flags = ask, verb, what, plan_flags

    def __call__(self, plan: Any) -> None:
        from dhmlrun.views.plan import render_plan

        click.echo(render_plan(plan, self.project.secrets, colour=self.colour))
        if plan.has_changes:
            if self.ask:
                confirm(False, self.verb, self.what, self.plan_flags)
            self.display.begin(plan.actions)


def _finish(ctx: click.Context, project: Any, outcome: Any, colour: bool) -> None:
    from dhmlrun.views.apply import render_apply_summary

    if outcome.results or outcome.interrupted:
        click.echo(render_apply_summary(outcome, project.secrets, colour, lambda a: logs_command(project, a)))
    ctx.exit(outcome.exit_code)


def logs_command(project: Any, address: str) -> str:
    """The `dhmlrun logs` command that shows the run at `address` of this project (its config
    directory and environment as this command was given them)."""
    import shlex

    here = Path(project.path).resolve() == Path.cwd().resolve()
    path = "" if here else f" --path {shlex.quote(str(project.path))}"
    env = f" -e {shlex.quote(project.env)}" if project.env else ""
    return f"dhmlrun logs {address}{path}{env}"


@click.command()
@click.argument("path", default=".", type=click.Path(path_type=Path))
@apply_options
@click.option(
    "--target", "targets", multiple=True, metavar="ADDR", help="Apply only ADDR and its dependencies."
)
@click.option("--rerun", "reruns", multiple=True, metavar="ADDR", help="Force the run ADDR (repeatable).")
@click.option(
    "--path",
    "config",
    default=".",
    show_default=True,
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="With a PLANFILE: the config directory it was made for.",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Show everything the runs print as they print it (else the live progress shows each "
    "running run's last line).",
)
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
    config: Path,
    verbose: bool,
    options: ProjectOptions,
) -> None:
    """Make the platform match the declaration at PATH, or apply the saved plan PLANFILE exactly
    (made with `dhmlrun plan --out`) to the configuration in the current directory (or --path)."""
    from dhmlrun.api import ApplyOptions
    from dhmlrun.plan.saved import is_saved_plan, load_saved_plan
    from dhmlrun.views.progress import Display

    display = Display(sys.stderr, info, verbose=verbose)
    plan = None
    if is_saved_plan(path):
        if targets or reruns:
            raise DhmlrunError.single("--target and --rerun cannot change a saved plan; make a new plan")
        saved = load_saved_plan(path)
        # the configuration is the one apply is pointed at, never a directory the file names
        if not (config / "dhmlrun.yaml").is_file():
            raise DhmlrunError.single(
                f"no dhmlrun.yaml in {config}: apply a saved plan to the configuration it was made for, "
                f"from its directory or with --path DIR (this plan names {saved.data.get('root')!s})"
            )
        project = options.project(config, environment=saved.environment, variables=saved.variables)
        plan = saved.restore(project.declaration)
    else:
        project = options.project(path)
    # a saved plan was reviewed when it was made: it is shown, never asked about again
    review = Reviewer(
        project,
        options.colour,
        display,
        ask=not auto_approve and plan is None,
        verb="apply",
        what="these changes",
    )
    how = ApplyOptions(targets, reruns, parallelism, lock_timeout, review, observer=display, say=info)
    try:
        outcome = project.apply(plan, how)
        display.finish(outcome.results)
    finally:
        display.finish()
    _finish(ctx, project, outcome, options.colour)


@click.command()
@click.argument("path", default=".", type=click.Path(path_type=Path))
@apply_options
@click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="ADDR",
    help="Delete only ADDR (repeatable); the rest stays, and the plan says what it left out.",
)
@project_options
@click.pass_context
def destroy(
    ctx: click.Context,
    path: Path,
    auto_approve: bool,
    parallelism: int,
    lock_timeout: float,
    targets: tuple[str, ...],
    options: ProjectOptions,
) -> None:
    """Delete the entities dhmlrun manages in the project (run history is kept), or only the
    --target ones."""
    from dhmlrun.api import ApplyOptions
    from dhmlrun.views.progress import Display

    display = Display(sys.stderr, info)
    project = options.project(path)
    review = Reviewer(
        project,
        options.colour,
        display,
        ask=not auto_approve,
        verb="destroy",
        what="these entities",
        plan_flags="--destroy " + "".join(f"--target {t} " for t in targets),
    )
    how = ApplyOptions(
        targets=targets,
        parallelism=parallelism,
        lock_timeout=lock_timeout,
        review=review,
        observer=display,
        say=info,
    )
    try:
        outcome = project.destroy(how)
        display.finish(outcome.results)
    finally:
        display.finish()
    _finish(ctx, project, outcome, options.colour)
