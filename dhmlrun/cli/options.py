"""Click options shared by the commands: the declaration's, the platform's, and both at once.

Every command that reads the platform finds the declaration and the endpoint the same way, so
they take `@project_options` and receive one `ProjectOptions` value, which makes the Python
API's `Project`::

    @click.command()
    @click.argument("path", default=".")
    @project_options
    def plan(path, options: ProjectOptions):
        project = options.project(path)
        plan = project.plan()

`validate` takes only `@declaration_options` (it never reaches a platform), `import` only
`@platform_options` (it has no declaration yet).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from dhmlrun.cli.output import use_color

if TYPE_CHECKING:
    from dhmlrun.api import Project
    from dhmlrun.plan.saved import SavedPlan

F = TypeVar("F", bound=Callable[..., Any])


def _parse_vars(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    """`--var k=v` pairs into a dict (a later pair wins); a pair without `=` is a usage error."""
    parsed: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", ctx=ctx, param=param)
        parsed[name.strip()] = value
    return parsed


ALLOW_OUTSIDE_KEY = "dhmlrun.allow_outside"


def _keep_allow_outside(ctx: click.Context, param: click.Parameter, values: tuple[Path, ...]) -> None:
    ctx.meta[ALLOW_OUTSIDE_KEY] = tuple(values)


def declaration_options(func: F) -> F:
    """Add `--var NAME=VALUE`, `--var-file FILE` and `-e/--env NAME` (as `variables`, `var_files`,
    `environment` keyword arguments), and `--allow-outside PATH`, which is not a keyword argument:
    it is kept in the click context, where `declaration_kwargs` finds it, so the commands'
    signatures stay as they are."""
    func = click.option(
        "--allow-outside",
        metavar="PATH",
        multiple=True,
        expose_value=False,
        type=click.Path(path_type=Path),
        callback=_keep_allow_outside,
        help="Let the declaration read files under PATH, outside its directory (repeatable).",
    )(func)
    func = click.option(
        "-e",
        "--env",
        "environment",
        metavar="NAME",
        default=None,
        help="Declaration environment (environments.NAME) to use.",
    )(func)
    func = click.option(
        "--var-file",
        "var_files",
        multiple=True,
        metavar="FILE",
        type=click.Path(dir_okay=False, path_type=Path),
        help="YAML file of variable values (repeatable; later files win).",
    )(func)
    func = click.option(
        "--var",
        "variables",
        multiple=True,
        metavar="NAME=VALUE",
        callback=_parse_vars,
        help="Set a variable (repeatable); overrides every other source.",
    )(func)
    return func


def allowed_outside() -> tuple[Path, ...]:
    """The `--allow-outside` paths of the command being run (kept in its click context)."""
    ctx = click.get_current_context(silent=True)
    return tuple(ctx.meta.get(ALLOW_OUTSIDE_KEY, ())) if ctx is not None else ()


def declaration_kwargs(
    variables: dict[str, str], var_files: tuple[Path, ...], environment: str | None
) -> dict[str, Any]:
    """The keyword arguments of `load_declaration` from the shared options' values (and
    `--allow-outside`, from the current click context)."""
    return {
        "cli_vars": dict(variables),
        "var_files": list(var_files),
        "environment": environment,
        "allow_outside": list(allowed_outside()),
    }


def platform_options(func: F) -> F:
    """`--endpoint`, `--profile` and `--no-color`, shared by every command that reads the platform."""
    func = click.option("--no-color", is_flag=True, help="Never colour the output.")(func)
    func = click.option(
        "--profile", default=None, metavar="NAME", help="The ~/.dhcore.ini profile to deploy to."
    )(func)
    func = click.option(
        "--endpoint",
        default=None,
        metavar="URL",
        envvar=None,
        help="DHCore endpoint (default: DHCORE_ENDPOINT, the ~/.dhcore.ini profile, "
        "else the embedded core in PATH/.dhmlrun/core.db).",
    )(func)
    return func


@dataclass(frozen=True)
class ProjectOptions:
    """What `@project_options` parsed: how to load the declaration and reach its platform."""

    variables: dict[str, str]
    var_files: tuple[Path, ...]
    environment: str | None
    endpoint: str | None
    profile: str | None
    no_color: bool

    @property
    def colour(self) -> bool:
        return use_color(self.no_color)

    def project(
        self, path: Path, *, environment: str | None = None, variables: dict[str, str] | None = None
    ) -> Project:
        """The config repo at `path`, rendered with these variables and environment, deploying
        to the platform these options choose. `environment` and `variables` are those a saved
        plan was made with, for reading it (`graph --plan`): the options may repeat them, never
        contradict them. Applying a saved plan takes neither from it (`applying`)."""
        from dhmlrun.api import Project
        from dhmlrun.errors import DhmlrunError

        if environment is not None and self.environment not in (None, environment):
            raise DhmlrunError.single(
                f"the saved plan was made with -e {environment}; "
                f"it cannot be applied with -e {self.environment}"
            )
        recorded = dict(variables or {})
        clashes = sorted(n for n, v in self.variables.items() if n in recorded and recorded[n] != v)
        if clashes:
            raise DhmlrunError.single(
                f"the saved plan was made with other values of {', '.join(clashes)}; make a new plan"
            )
        return Project(
            path,
            allow_outside=allowed_outside(),
            env=self.environment or environment,
            variables={**recorded, **self.variables},
            var_files=self.var_files,
            endpoint=self.endpoint,
            profile=self.profile,
        )

    def applying(self, path: Path, saved: SavedPlan) -> Project:
        """The config repo at `path` rendered as this apply is told (its `-e`, `--var`,
        `--var-file`, `DHMLRUN_VAR_*`, defaults), to apply `saved` to: refused unless the plan was
        made with that very environment and those variable values.

        Why not take them from the file: whoever can write a plan file could then choose them.
        A variable can name a function's source, a git ref, an image or the environment (with
        its profile, the platform): a file whose variables and actions were changed together
        would make that very plan again, and be applied as if it had been reviewed."""
        from dhmlrun.errors import DhmlrunError

        if self.environment != saved.environment:
            given = f"-e {self.environment}" if self.environment else "no -e"
            made = f"-e {saved.environment}" if saved.environment else "no -e"
            raise DhmlrunError.single(
                f"the saved plan was made with {made}, this apply is given {given}: apply it with the "
                "environment it was reviewed for (a plan file's environment is not taken on its word)"
            )
        project = self.project(path)
        saved.check_variables(project.declaration)
        return project


_PROJECT_OPTION_NAMES = tuple(f.name for f in fields(ProjectOptions))


def project_options(func: F) -> F:
    """The declaration's and the platform's options, handed to the command as `options`."""

    @functools.wraps(func)
    def command(*args: Any, **kwargs: Any) -> Any:
        options = ProjectOptions(**{name: kwargs.pop(name) for name in _PROJECT_OPTION_NAMES})
        return func(*args, options=options, **kwargs)

    return declaration_options(platform_options(command))  # type: ignore[return-value]
