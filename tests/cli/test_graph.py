"""`dhmlrun graph`, `plan --format markdown` and `show --graph` at the command line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import dhmlrun, write_config
from tests.conftest import unique_project_name
from tests.views.mermaid_check import check_mermaid

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "employees"
RUNS = """runs:
  make:
    function: functions.maker
    action: job
    inputs: {src: dataitems.remote}
    outputs: {dataset: made}
  use:
    function: functions.maker
    action: job
    inputs: {made: runs.make.outputs.dataset}
"""
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def example(tmp_path: Path) -> Path:
    root = tmp_path / "employees"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".dhmlrun"))
    return root


@pytest.fixture
def fresh(core: Any, tmp_path: Path) -> Path:
    """A config repo whose project the session's core has never seen."""
    return write_config(tmp_path / "repo", unique_project_name("graph"), runs=RUNS)


def needs_dot() -> None:
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed here (CI installs it: apt-get install graphviz)")


def svg_texts(data: bytes) -> set[str]:
    return {t.text or "" for t in ET.fromstring(data).iter(f"{SVG}text")}


def test_graph_prints_the_examples_pipeline_as_mermaid_without_reading_a_platform(example: Path) -> None:
    result = dhmlrun("graph", example)
    assert result.exit_code == 0, result.output
    chart = check_mermaid(result.stdout)
    titles = {label.splitlines()[0] for label in chart.nodes.values()}
    assert titles == {
        "dataitems.employees",
        "functions.downloader",
        "functions.summarise",
        "runs.download",
        "runs.summary",
        "employees-clean",
        "salary-summary",
    }
    assert ("run_download__dataset", "run_summary", "dataset", "-->") in chart.edges
    assert not (example / ".dhmlrun").exists()  # no embedded core was started


def test_graph_draws_the_example_as_svg_into_a_file(example: Path, tmp_path: Path) -> None:
    needs_dot()
    out = tmp_path / "graph.svg"
    result = dhmlrun("graph", example, "--format", "svg", "-o", out)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert {"runs.download", "runs.summary", "employees-clean", "salary-summary"} <= svg_texts(
        out.read_bytes()
    )


def test_graph_as_dot_is_what_graphviz_reads(example: Path) -> None:
    result = dhmlrun("graph", example, "--format", "dot")
    assert result.exit_code == 0 and result.stdout.startswith("digraph dhmlrun {")
    needs_dot()
    drawn = subprocess.run(["dot", "-Tsvg"], input=result.stdout_bytes, capture_output=True, check=True)
    assert "dataitems.employees" in svg_texts(drawn.stdout)


def test_svg_without_graphviz_is_a_clear_error_naming_the_package(example: Path, tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty)}
    done = subprocess.run(
        [sys.executable, "-m", "dhmlrun", "graph", str(example), "--format", "svg"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 1
    assert "Graphviz" in done.stderr and "apt-get install graphviz" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_a_live_graph_colours_each_node_by_what_apply_would_do(fresh: Path) -> None:
    result = dhmlrun("graph", fresh, "--live")
    assert result.exit_code == 0, result.output
    chart = check_mermaid(result.stdout)
    assert chart.with_class("create") == {"dataitem_remote", "function_maker", "function_failer"}
    assert chart.with_class("run") == {"run_make", "run_use"}
    assert chart.with_class("affected") == {"run_make__dataset"}
    assert "+ create: not on the platform" in chart.nodes["dataitem_remote"]
    assert "> run: never run" in chart.nodes["run_make"]


def test_a_saved_plan_colours_the_graph_as_the_live_one(fresh: Path, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    assert dhmlrun("plan", fresh, "--out", saved).exit_code == 0
    live = dhmlrun("graph", fresh, "--live").stdout
    from_file = dhmlrun("graph", fresh, "--plan", saved)
    assert from_file.exit_code == 0, from_file.output
    assert check_mermaid(from_file.stdout).classes == check_mermaid(live).classes


def test_a_saved_plan_of_another_project_is_refused(fresh: Path, example: Path, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    assert dhmlrun("plan", fresh, "--out", saved).exit_code == 0
    result = dhmlrun("graph", example, "--plan", saved)
    assert result.exit_code == 1
    assert "is a plan for project graph-" in str(result.exception)


def test_plan_and_live_together_are_a_usage_error(example: Path, tmp_path: Path) -> None:
    result = dhmlrun("graph", example, "--live", "--plan", tmp_path / "p.json")
    assert result.exit_code != 0 and "give one" in result.output


# ---------------------------------------------------------------- plan --format markdown


def test_plan_as_markdown_keeps_the_detailed_exit_code(fresh: Path) -> None:
    result = dhmlrun("plan", fresh, "--format", "markdown", "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    assert "**Plan: 4 to create, 0 to update, 0 to delete, 2 to run.**" in result.stdout
    assert "| `>` | `runs.make` | run | never run |" in result.stdout
    diagram = result.stdout.split("```mermaid\n", 1)[1].split("\n```", 1)[0]
    assert check_mermaid(diagram + "\n").with_class("run") == {"run_make", "run_use"}


def test_plan_json_flag_and_format_json_are_the_same(fresh: Path) -> None:
    flag = json.loads(dhmlrun("plan", fresh, "--json").stdout)
    option = json.loads(dhmlrun("plan", fresh, "--format", "json").stdout)
    assert flag["summary"] == option["summary"] == {"create": 4, "update": 0, "delete": 0, "run": 2}


def test_plan_json_and_format_markdown_contradict(fresh: Path) -> None:
    result = dhmlrun("plan", fresh, "--json", "--format", "markdown")
    assert result.exit_code != 0 and "give one" in result.output


# ---------------------------------------------------------------- show --graph


def test_show_graph_draws_a_project_never_applied_as_never_run(fresh: Path) -> None:
    result = dhmlrun("show", "--path", fresh, "--graph")
    assert result.exit_code == 0, result.output
    chart = check_mermaid(result.stdout)
    assert chart.with_class("neverrun") == {"run_make", "run_use"}
    assert "never run" in chart.nodes["run_make"]
    assert "dataitem_remote" in chart.with_class("absent")


def test_show_graph_of_an_address_draws_its_lineage_only(fresh: Path) -> None:
    result = dhmlrun("show", "runs.use", "--path", fresh, "--format", "dot")
    assert result.exit_code == 0, result.output
    assert '"run_use"' in result.stdout and '"run_make"' in result.stdout
    assert '"function_failer"' not in result.stdout  # not upstream nor downstream of runs.use


def test_show_graph_and_json_contradict(fresh: Path) -> None:
    result = dhmlrun("show", "--path", fresh, "--graph", "--json")
    assert result.exit_code != 0 and "give one" in result.output
