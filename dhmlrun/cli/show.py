"""`dhmlrun show`, `dhmlrun logs RUN_ADDR [--follow]` and `dhmlrun outputs RUN_ADDR`: day-two
reading of what dhmlrun manages. Read-only; results to stdout, notes to stderr.

All three find the configuration the same way: `--path DIR` (default `.`), because their
positional argument is an address, not a directory. `show DIR` is accepted too, since users
type it by analogy with `plan DIR`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from dhmlrun.cli.graph import FORMATS as GRAPH_FORMATS
from dhmlrun.cli.options import ProjectOptions, project_options
from dhmlrun.cli.output import info
from dhmlrun.config.model import ENTITY_TYPES
from dhmlrun.errors import DhmlrunError
from dhmlrun.views.show import entities_table, entity_rows, outputs_text
from dhmlrun.views.terminal import safe_text, safe_value
from dhmlrun.vocabulary import keys, states
from dhmlrun.vocabulary.mask import mask_text, mask_value
from dhmlrun.vocabulary.settings import run_logs_dir

F = TypeVar("F", bound=Callable[..., Any])


def path_option(func: F) -> F:
    """`--path DIR`: the config directory, shared by show, logs and outputs (or its root file,
    as plan and apply take one: `examples/serving/pipeline.yaml`)."""
    return click.option(
        "--path",
        "path",
        default=".",
        show_default=True,
        metavar="DIR",
        type=click.Path(path_type=Path),
        help="The config directory (where dhmlrun.yaml is), or the declaration's root file.",
    )(func)


def run_address(address: str) -> str:
    """`download` and `runs.download` both name the run declared as runs.download; a service
    (`services.api`) names its serve run; another address (`functions.gen`) is not a run."""
    if address.startswith(("runs.", "services.")):
        return address
    if "." in address:
        raise DhmlrunError.single(f"{address} is not a run: logs and outputs are those of runs (runs.NAME)")
    return f"runs.{address}"


# ---------------------------------------------------------------- show


def _show_target(address: str | None, path: Path) -> tuple[str | None, Path]:
    """`show DIR` means `show --path DIR` (addresses never name a directory)."""
    if address and str(path) == "." and Path(address).is_dir():
        return None, Path(address)
    return address, path


@click.command()
@click.argument("address", required=False)
@path_option
@click.option("--json", "as_json", is_flag=True, help="Print as JSON (every field, ids included).")
@click.option(
    "--graph",
    "as_graph",
    is_flag=True,
    help="Draw the pipeline as the platform holds it: each run's last state and duration "
    "(with ADDRESS: its lineage only).",
)
@click.option(
    "--format",
    "graph_format",
    type=click.Choice(GRAPH_FORMATS),
    default=None,
    help="With --graph: mermaid (default), dot or svg (implies --graph).",
)
@project_options
def show(
    address: str | None,
    path: Path,
    as_json: bool,
    as_graph: bool,
    graph_format: str | None,
    options: ProjectOptions,
) -> None:
    """Show the managed entities (or ADDRESS only): versions, states, last runs and outputs."""
    address, path = _show_target(address, path)
    as_graph = as_graph or graph_format is not None
    if as_graph and as_json:
        raise click.UsageError("--json and --graph ask for two outputs: give one")
    from dhmlrun.platform.dhcore import VERSIONED_TYPES

    project = options.project(path)
    declaration = project.declaration
    with project.connect() as platform:
        state = project.read_state(platform)
        counts = (
            {t: platform.version_counts(declaration.project_name, t) for t in VERSIONED_TYPES}
            if state.project_exists and not as_graph
            else {}
        )
    if as_graph:
        _draw_state(declaration, state, address, graph_format or "mermaid")
        return
    if address:
        _show_one(project, state, address, as_json)
        return
    rows = entity_rows(state, counts)
    rows = safe_value(mask_value(rows, declaration.sensitive_values()))
    if as_json:
        click.echo(json.dumps({"project": declaration.project_name, "entities": rows}, indent=2, default=str))
    elif not rows:
        click.echo(f"Nothing managed by dhmlrun in project {declaration.project_name}.")
    else:
        click.echo(entities_table(rows))


def _show_one(project: Any, state: Any, address: str, as_json: bool) -> None:
    """`show ADDR`: the entity or run in full (`views/entity.py`), as Terraform's state show."""
    from dhmlrun.views.entity import details, render_details

    declaration = project.declaration
    name, secrets = declaration.project_name, declaration.sensitive_values()
    with project.connect() as platform:
        if address in state.runs or address.startswith("runs."):  # a service is a serve run
            run = _last_run(platform, declaration, address)
            host = platform.runs_on(run.backend)
            dto = host.read_run(name, run.id) or {}
            history = platform.runs_of(name, run.address) if host is platform else [dto]
            data = details(address, dto, runs=history, secrets=secrets)
        else:
            entity = state.managed().get(address)
            if entity is None:
                raise DhmlrunError.single(
                    f"{address} is not managed by dhmlrun in project {name}",
                    allowed=", ".join(sorted(state.managed())) or None,
                )
            dto = platform.read_entity(name, entity.type, entity.id) or {}
            versions = sorted(
                platform.list_versions(name, entity.type, entity.name), key=_created, reverse=True
            )
            used_by = [
                (run_address, platform.runs_on(run.backend).read_run(name, run.id) or {})
                for run_address, run in sorted(state.runs.items())
                if address in _reads(declaration, run_address)
            ]
            data = details(address, dto, versions, used_by=used_by, secrets=secrets)
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        click.echo(render_details(data))


def _created(dto: dict[str, Any]) -> str:
    return str((dto.get("metadata") or {}).get("created") or "")


def _reads(declaration: Any, run_address: str) -> set[str]:
    """The addresses a declared run depends on (its function, its inputs, its secrets)."""
    resource = declaration.resources.get(run_address)
    return set(resource.depends_on) if resource is not None else set()


def _draw_state(declaration: Any, state: Any, address: str | None, graph_format: str) -> None:
    """`show --graph`: the declared pipeline coloured by the platform's state (ADDRESS: only
    what it comes from and what comes from it)."""
    from dhmlrun.cli.graph import emit_graph
    from dhmlrun.views.graph import state_graph

    drawn = state_graph(declaration, state)
    if address:
        if address not in drawn.nodes:
            known = ", ".join(sorted(a for a, n in drawn.nodes.items() if n.type in ENTITY_TYPES))
            raise DhmlrunError.single(
                f"{address} is not declared nor managed in project {declaration.project_name}",
                allowed=known or None,
            )
        drawn = drawn.restricted({address, *drawn.upstream([address]), *drawn.downstream([address])})
    emit_graph(drawn, graph_format, None)


# ---------------------------------------------------------------- logs


def _last_run(platform: Any, declaration: Any, address: str) -> Any:
    """The last run of `address`, or of the address a `moved:` entry says it had."""
    runs = platform.read_state(declaration.project_name).runs
    run = runs.get(address) or runs.get(declaration.moved.get(address, ""))
    if run is None:
        ran = sorted(a for a in declaration.resources if a.startswith(("runs.", "services.")))
        known = ", ".join(ran) or None
        raise DhmlrunError.single(
            f"{address} has never run in project {declaration.project_name}", allowed=known
        )
    return run


def _log_text(platform: Any, project: str, run: Any, local: Path) -> str:
    """The run's log: the platform's copy (where the run lives), else the local file apply is
    writing."""
    texts = platform.runs_on(run.backend).run_logs(project, run.id)
    if texts:
        return "".join(t if t.endswith("\n") else t + "\n" for t in texts)
    return local.read_text(encoding="utf-8", errors="replace") if local.is_file() else ""


def _run_state(platform: Any, project: str, run: Any) -> tuple[str, str | None]:
    dto = platform.runs_on(run.backend).read_run(project, run.id) or {}
    status = dto.get("status") or {}
    return str(status.get("state") or states.DELETED), status.get("message")


def follow(
    read_text: Callable[[], str],
    read_state: Callable[[], tuple[str, str | None]],
    echo: Callable[[str], None],
    *,
    interval: float,
    timeout: float,
) -> tuple[str, str | None]:
    """Print new log text until the run reaches a final state (or `timeout` passes).

    Polls; prints only what was not printed yet (the whole text again if it was rewritten).
    Returns the run's last (state, message)."""
    printed = ""
    deadline = time.monotonic() + timeout
    while True:
        state, message = read_state()
        text = read_text()  # after the state: a final state's logs are complete
        if text != printed:
            echo(text[len(printed) :] if text.startswith(printed) else text)
            printed = text
        if states.is_final(state) or time.monotonic() >= deadline:
            return state, message
        time.sleep(interval)


@click.command()
@click.argument("run_addr", metavar="RUN_ADDR")
@path_option
@click.option("-f", "--follow", "follow_", is_flag=True, help="Keep printing until the run finishes.")
@click.option(
    "--timeout",
    default=3600.0,
    show_default=True,
    type=click.FloatRange(0),
    metavar="SECONDS",
    help="With --follow: stop waiting after this long.",
)
@click.option("--interval", default=1.0, type=click.FloatRange(0.05), hidden=True)
@project_options
@click.pass_context
def logs(
    ctx: click.Context,
    run_addr: str,
    path: Path,
    follow_: bool,
    timeout: float,
    interval: float,
    options: ProjectOptions,
) -> None:
    """Print the captured output of the last run of RUN_ADDR (e.g. runs.download).

    With --follow, keep printing until the run reaches a final state; the exit code is then 1
    when it ended in ERROR (or the wait timed out), so CI can wait on a run.
    """
    address = run_address(run_addr)
    configured = options.project(path)
    declaration = configured.declaration
    project = declaration.project_name
    secrets = declaration.sensitive_values()

    ended = [True]  # whether what was printed so far ends a line

    def echo(text: str) -> None:
        shown = safe_text(mask_text(text, secrets))
        click.echo(shown, nl=False)
        if shown:
            ended[0] = shown.endswith("\n")

    with configured.connect() as platform:
        run = _last_run(platform, declaration, address)
        local = run_logs_dir(declaration.root, project) / f"{run.id}.log"
        if follow_:
            state, message = follow(
                lambda: _log_text(platform, project, run, local),
                lambda: _run_state(platform, project, run),
                echo,
                interval=interval,
                timeout=timeout,
            )
            if not ended[0]:
                echo("\n")  # the state line that follows starts a line of its own
            ctx.exit(_followed(address, run.id, state, message, timeout))
        text = _log_text(platform, project, run, local)
    if not text:  # a run may print nothing: not an error of `logs`
        info(f"{address}: run {run.id} ({run.state}) has no output recorded")
        return
    echo(text if text.endswith("\n") else text + "\n")


def _followed(address: str, run_id: str, state: str, message: str | None, timeout: float) -> int:
    if not states.is_final(state):
        info(f"{address}: still {state} after {timeout:g}s (run {run_id}); stopped following")
        return 1
    info(f"{address}: {state}" + (f": {message}" if message and state != states.COMPLETED else ""))
    return 0 if state == states.COMPLETED else 1


# ---------------------------------------------------------------- outputs


def describe_outputs(platform: Any, project: str, run: Any) -> dict[str, Any]:
    """The run's outputs (entity key, type, kind, name, path) and results, as plain data."""
    outputs: dict[str, Any] = {}
    for name, value in sorted(run.outputs.items()):
        key = keys.output_key(value)
        parsed = keys.parse_key(key)
        entry: dict[str, Any] = {"key": key, "type": None, "kind": None, "name": None, "path": None}
        if parsed:
            entry.update(type=parsed.type, kind=parsed.kind, name=parsed.name)
            dto = platform.read_entity(parsed.project, parsed.collection, parsed.id) or {}
            entry["path"] = (dto.get("spec") or {}).get("path")
        outputs[name] = entry
    return {
        "address": run.address,
        "run": run.id,
        "state": run.state,
        "message": run.message,
        "outputs": outputs,
        "results": dict(run.results),
    }


@click.command()
@click.argument("run_addr", metavar="RUN_ADDR")
@path_option
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@project_options
def outputs(
    run_addr: str,
    path: Path,
    as_json: bool,
    options: ProjectOptions,
) -> None:
    """Print the outputs (entity keys, kinds, paths) and results of RUN_ADDR's last run."""
    address = run_address(run_addr)
    project = options.project(path)
    declaration = project.declaration
    with project.connect() as platform:
        run = _last_run(platform, declaration, address)
        data = describe_outputs(platform, declaration.project_name, run)
    data = safe_value(mask_value(data, declaration.sensitive_values()))
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    message = f": {data['message']}" if data["message"] else ""
    info(f"{address}: last run {data['run']}, {data['state']}{message}")
    text = outputs_text(data)
    if text:
        click.echo(text)
    else:
        info("(no outputs or results)")
