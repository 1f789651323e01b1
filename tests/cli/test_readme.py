"""The README stays true: every command and option it names exists, its example validates."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import click
import pytest

from dhmlrun.cli import COMMANDS, cli
from tests.cli.conftest import dhmlrun

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _command(name: str) -> click.Command:
    command = cli.get_command(click.Context(cli), name)
    assert command is not None, f"README names `dhmlrun {name}`, which the CLI lacks"
    return command


def _code_blocks(text: str) -> list[str]:
    """The contents of the fenced code blocks (fences toggle line by line)."""
    blocks: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("```"):
            if current is None:
                current = []
            else:
                blocks.append("\n".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def test_every_command_the_readme_names_exists() -> None:
    code = "\n".join(_code_blocks(README))
    command = r"dhmlrun ([a-z][a-z-]*)"
    named = set(re.findall("`" + command, README)) | set(re.findall(r"\b" + command, code))
    assert {"plan", "apply", "logs", "outputs", "import", "show", "init"} <= named
    for name in named:
        assert name in COMMANDS, name
        _command(name)


def test_every_option_in_the_cli_table_belongs_to_its_command() -> None:
    rows = re.findall(r"^\| `dhmlrun ([a-z][a-z-]*)([^`]*)` \|", README, re.M)
    assert len(rows) >= 10
    for name, usage in rows:
        command = _command(name)
        if name == "core":
            command = command.commands["serve"]  # type: ignore[attr-defined]
        known = {opt for param in command.params for opt in getattr(param, "opts", [])}
        for option in re.findall(r"(--[a-z-]+|-[a-z]\b)", usage):
            assert option in known, f"`dhmlrun {name}` has no {option}"


COMMON_OPTIONS = {
    "--var",
    "--var-file",
    "-e",
    "--env",
    "--allow-outside",
    "--endpoint",
    "--profile",
    "--no-color",
    "-h",
    "--help",
}
"""Options the README lists once, below the table, for every command that takes them."""


def test_the_cli_table_lists_every_option_of_every_command() -> None:
    rows = dict(re.findall(r"^\| `dhmlrun ([a-z][a-z-]*)([^`]*)` \|", README, re.M))
    assert set(rows) == set(COMMANDS), "every command has its row"
    for name, usage in rows.items():
        command = _command(name)
        if name == "core":
            command = command.commands["serve"]  # type: ignore[attr-defined]
        listed = set(re.findall(r"(--[a-z-]+|-[a-z]\b)", usage))
        for param in command.params:
            opts = set(getattr(param, "opts", [])) | set(getattr(param, "secondary_opts", []))
            if isinstance(param, click.Option) and not param.hidden and not opts & COMMON_OPTIONS:
                assert opts & listed, f"the README's row of `dhmlrun {name}` lacks {'/'.join(sorted(opts))}"
    common = re.search(r"Commands that load the declaration take (.*?)\n\n", README, re.S)
    assert common is not None
    for option in COMMON_OPTIONS - {"-h", "--help"}:
        assert f"`{option}" in common.group(1) or f"/{option}`" in common.group(1), option


def test_the_quickstart_names_the_interpreter_dhmlrun_supports() -> None:
    command = next(line for line in _code_blocks(README)[0].splitlines() if line and not line.startswith("#"))
    assert command.startswith("python3.11 -m venv .venv && ")


def test_another_python_is_refused_with_the_supported_versions_and_how_to_get_one() -> None:
    import runpy
    import tomllib

    hook = runpy.run_path(str(ROOT / "hatch_build.py"))
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert hook["refusal"]((3, 11, 7), requires, "/usr/bin/python3.11") is None
    refused = hook["refusal"]((3, 12, 1), requires, "/usr/bin/python3.12")
    assert refused.startswith(f"dhmlrun needs Python 3.11 (requires-python {requires}: mlrun 1.12.1 ")
    assert "this is Python 3.12.1 (/usr/bin/python3.12)" in refused and "python3.11 -m venv .venv" in refused
    assert hook["classifiers"](requires)[-1] == "Programming Language :: Python :: 3.11"


def test_the_guarantees_placeholder_heading_is_kept() -> None:
    assert "\n## Guarantees\n" in README


def test_the_readme_declaration_example_validates(tmp_path: Path) -> None:
    example = re.search(r"## The declaration.*?```yaml\n(.*?)```", README, re.S)
    assert example is not None
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "examples" / "employees", repo, ignore=shutil.ignore_patterns(".dhmlrun"))
    (repo / "dhmlrun.yaml").write_text(example.group(1))
    result = dhmlrun("validate", repo)
    assert result.exit_code == 0, result.output


def test_the_readme_picture_is_the_examples_graph_as_the_command_draws_it() -> None:
    from dhmlrun.config import load_declaration
    from dhmlrun.views.graph import declaration_graph

    assert "](docs/graph.svg)" in README
    drawn = {t.text for t in ET.parse(ROOT / "docs" / "graph.svg").iter("{http://www.w3.org/2000/svg}text")}
    graph = declaration_graph(load_declaration(ROOT / "examples" / "employees", environ={}))
    expected = {line for node in graph.nodes.values() for line in node.lines}
    expected |= {edge.label for edge in graph.edges if edge.label} | {graph.title}
    assert expected <= drawn, (
        "docs/graph.svg is stale: dhmlrun graph examples/employees --format svg -o docs/graph.svg"
    )


@pytest.mark.slow
def test_the_python_api_snippet_runs(tmp_path: Path) -> None:
    """The README's Python API example, run as written on a copy of the example (embedded core)."""
    (snippet,) = [b for b in _code_blocks(README) if b.startswith("from dhmlrun import Project")]
    shutil.copytree(
        ROOT / "examples" / "employees", tmp_path / "employees", ignore=shutil.ignore_patterns(".dhmlrun")
    )
    script = tmp_path / "snippet.py"
    script.write_text(snippet.replace('"examples/employees"', repr(str(tmp_path / "employees"))))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DHCORE_", "DH_", "MLRUN_"))}
    done = subprocess.run(
        [sys.executable, str(script)],
        env={**env, "DH_CONFIG": os.devnull},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].startswith("0 [('project', 'done')")
