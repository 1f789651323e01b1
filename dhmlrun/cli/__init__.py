"""The `dhmlrun` command line: a thin click layer that parses, calls and renders.

Commands are loaded lazily (each lives in its own module here) so `dhmlrun --help` and
`dhmlrun validate` never import the platform, the SDK or mlrun.
"""

from __future__ import annotations

import importlib
import sys

import click

from dhmlrun import __version__

COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("dhmlrun.cli.validate", "validate"),
    "schema": ("dhmlrun.cli.validate", "schema"),
    "plan": ("dhmlrun.cli.plan", "plan"),
    "apply": ("dhmlrun.cli.apply", "apply"),
    "destroy": ("dhmlrun.cli.apply", "destroy"),
    "force-unlock": ("dhmlrun.cli.unlock", "force_unlock"),
    "show": ("dhmlrun.cli.show", "show"),
    "graph": ("dhmlrun.cli.graph", "graph"),
    "logs": ("dhmlrun.cli.show", "logs"),
    "outputs": ("dhmlrun.cli.show", "outputs"),
    "invoke": ("dhmlrun.cli.invoke", "invoke"),
    "import": ("dhmlrun.cli.importer", "import_project"),
    "core": ("dhmlrun.cli.core", "core"),
    "init": ("dhmlrun.cli.init", "init"),
}

HELP = {
    "validate": "Load, render and validate the declaration (no platform access).",
    "schema": "Print the JSON Schema of the declaration (for editors).",
    "plan": "Show what apply would change on the platform.",
    "apply": "Create or update the declared entities and trigger the runs.",
    "destroy": "Delete the managed entities (run history is kept).",
    "force-unlock": "Remove a project's apply lock left by an apply that died (by its LOCK_ID).",
    "show": "Show managed entities, versions, last run states and outputs.",
    "graph": "Draw the dependency graph and lineage (Mermaid, DOT or SVG).",
    "logs": "Print a run's captured output (--follow: until it finishes).",
    "outputs": "Print the outputs and results of a run's last execution.",
    "invoke": "Send one request to a service (services.NAME) and print its answer.",
    "import": "Write dhmlrun.yaml from an existing platform project (to adopt it).",
    "core": "The embedded DHCore-compatible server.",
    "init": "Scaffold a config repo (example declaration and CI workflow).",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when invoked (or when their help is asked)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, attr = COMMANDS[cmd_name]
        return getattr(importlib.import_module(module_name), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List commands from the static table, so `--help` imports none of them."""
        rows = [(name, HELP.get(name, "")) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dhmlrun")
def cli() -> None:
    """dhmlrun: DigitalHub and MLRun projects as code (validate, plan, apply)."""


def main() -> None:
    """Entry point: run the CLI, turning any DhmlrunError into a clean message and exit 1."""
    if _is_apply(sys.argv[1:]):
        from dhmlrun.apply.run_server import start_early

        start_early()
    from dhmlrun.cli.output import run_cli

    sys.exit(run_cli(cli))


def _is_apply(args: list[str]) -> bool:
    """Whether the command line asks for an apply (not its help): its run server starts first."""
    return bool(args) and args[0] == "apply" and not {"-h", "--help"} & set(args)
