"""`show`, `logs [--follow]` and `outputs` on a project applied once on the embedded core (one
completed run with a dataset and a value, one failed run)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from dhmlrun.cli.show import follow
from dhmlrun.vocabulary.keys import parse_key
from tests.cli.conftest import dhmlrun, write_config
from tests.conftest import one_worker, unique_project_name
from tests.views.mermaid_check import check_mermaid

RUNS = """runs:
  make:
    function: functions.maker
    action: job
    outputs: {dataset: made}
    values: [rows]
    parameters: {rows: 4}
  fail:
    function: functions.failer
    action: job
"""


APPLY_OUTPUT: dict[Path, str] = {}
"""What the module's apply printed, by config directory."""
APPLY_PROGRESS: dict[Path, str] = {}
"""Its progress lines (stderr)."""


@pytest.fixture(scope="module")
@one_worker
def applied(core: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_config(tmp_path_factory.mktemp("daytwo") / "repo", unique_project_name("show"), runs=RUNS)
    result = dhmlrun("apply", root, "--auto-approve")
    assert result.exit_code == 1, (result.output, result.exception)  # runs.fail fails, on purpose
    APPLY_OUTPUT[root] = result.stdout
    APPLY_PROGRESS[root] = result.stderr
    return root


@pytest.mark.slow
def test_a_failed_run_is_typed_placed_and_points_at_its_logs(applied: Path) -> None:
    assert (
        "  failed:  runs.fail (run): RuntimeError: boom on purpose (src/handlers.py:12); "
        f"see: dhmlrun logs runs.fail --path {applied}"
    ) in APPLY_OUTPUT[applied].splitlines()


@pytest.mark.slow
def test_show_is_a_table_of_name_kind_version_state_updated(applied: Path) -> None:
    result = dhmlrun("show", "--path", applied)
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["ADDRESS", "KIND", "VERSION", "STATE", "UPDATED", "OUTPUTS"]
    by_address = {row.split()[0]: row for row in rows}
    assert set(by_address) == {
        "dataitems.remote",
        "functions.maker",
        "functions.failer",
        "runs.make",
        "runs.fail",
    }
    assert "COMPLETED" in by_address["runs.make"] and "dataset=made, rows=4" in by_address["runs.make"]
    assert "ERROR" in by_address["runs.fail"]
    assert all(len(row.split()) >= 6 and row.split()[4].count("-") == 2 for row in rows)  # a date


@pytest.mark.slow
def test_show_of_one_address_shows_the_entity_in_full_as_terraform_state_show(applied: Path) -> None:
    function = dhmlrun("show", "functions.maker", "--path", applied)
    assert function.exit_code == 0, (function.output, function.exception)
    lines = function.stdout.splitlines()
    assert lines[0] == "# functions.maker"
    assert any(re.fullmatch(r'kind +\= "mlrun"', line) for line in lines)
    assert '  handler = "make"' in lines and "spec {" in lines
    assert "versions (1, newest first):" in lines
    assert "read by (the last run of each):" in lines
    assert any(line.startswith("  runs.make  ") and "COMPLETED" in line for line in lines)
    run = json.loads(dhmlrun("show", "runs.make", "--path", applied, "--json").stdout)
    assert run["address"] == "runs.make" and run["state"] == "COMPLETED"
    assert run["status"]["results"] == {"rows": 4} and run["spec"]["parameters"] == {"rows": 4}
    assert [r["state"] for r in run["runs"]] == ["COMPLETED"]
    assert "dhmlrun/address=runs.make" in run["labels"]


@pytest.mark.slow
def test_apply_and_the_graph_say_the_same_duration_of_a_run(applied: Path) -> None:
    said = re.search(r"runs\.make: done \(\S+; the run (\S+)\)", APPLY_PROGRESS[applied])
    assert said is not None, APPLY_PROGRESS[applied]
    chart = check_mermaid(dhmlrun("show", "--path", applied, "--graph").stdout)
    assert f"COMPLETED in {said.group(1)}" in chart.nodes["run_make"]


@pytest.mark.slow
def test_show_accepts_the_config_dir_as_its_argument_like_plan(applied: Path) -> None:
    assert dhmlrun("show", applied).stdout == dhmlrun("show", "--path", applied).stdout


@pytest.mark.slow
def test_show_graph_colours_each_run_by_its_last_state_with_its_duration(applied: Path) -> None:
    result = dhmlrun("show", "--path", applied, "--graph")
    assert result.exit_code == 0, result.output
    chart = check_mermaid(result.stdout)
    assert chart.with_class("completed") == {"run_make"}
    assert chart.with_class("failed") == {"run_fail"}
    assert re.search(r"^COMPLETED in \d+\.\ds$", chart.nodes["run_make"], re.M)
    assert re.search(r"^ERROR in \d+\.\ds: .*boom on purpose", chart.nodes["run_fail"], re.M)
    assert chart.classes["run_make__dataset"] == "present"


@pytest.mark.slow
def test_a_live_graph_after_editing_one_run_highlights_it_and_what_it_writes(
    applied: Path, tmp_path: Path
) -> None:
    edited = tmp_path / "edited"
    shutil.copytree(applied, edited, ignore=shutil.ignore_patterns(".dhmlrun"))
    config = edited / "dhmlrun.yaml"
    config.write_text(config.read_text().replace("parameters: {rows: 4}", "parameters: {rows: 5}"))
    result = dhmlrun("graph", edited, "--live")
    assert result.exit_code == 0, result.output
    chart = check_mermaid(result.stdout)
    assert chart.with_class("run") == {"run_make", "run_fail"}  # runs.fail: its last run failed
    assert chart.with_class("affected") == {"run_make__dataset"}
    assert chart.with_class("noop") == {"dataitem_remote", "function_maker", "function_failer"}


@pytest.mark.slow
def test_outputs_lists_entity_keys_kinds_paths_and_values(applied: Path) -> None:
    result = dhmlrun("outputs", "runs.make", "--path", applied, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["state"] == "COMPLETED" and data["results"] == {"rows": 4}
    dataset = data["outputs"]["dataset"]
    assert dataset["key"].startswith("store://") and parse_key(dataset["key"]).name == "made"
    assert (dataset["type"], dataset["kind"], dataset["name"]) == ("dataitem", "table", "made")
    assert dataset["path"].startswith("s3://dhcore/")  # the embedded core's files store
    human = dhmlrun("outputs", "make", "--path", applied)  # a bare run name works too
    assert human.exit_code == 0
    assert human.stdout.splitlines()[0].split() == ["OUTPUT", "KIND", "NAME", "PATH", "KEY"]
    assert "rows    4" in human.stdout
    assert "last run" in human.stderr and "last run" not in human.stdout


@pytest.mark.slow
def test_logs_print_the_run_output_and_follow_ends_with_the_run_state(applied: Path) -> None:
    logs = dhmlrun("logs", "runs.fail", "--path", applied)
    assert logs.exit_code == 0 and "about to fail" in logs.stdout
    followed = dhmlrun("logs", "runs.fail", "--path", applied, "--follow")
    assert followed.exit_code == 1  # the run ended in ERROR
    assert "about to fail" in followed.stdout
    assert "runs.fail: ERROR" in followed.stderr
    completed = dhmlrun("logs", "runs.make", "--path", applied, "-f")
    assert completed.exit_code == 0 and "runs.make: COMPLETED" in completed.stderr


@pytest.mark.slow
def test_logs_and_outputs_of_an_unknown_run_name_the_declared_ones(applied: Path) -> None:
    for command in ("logs", "outputs"):
        result = dhmlrun(command, "runs.nope", "--path", applied)
        assert result.exit_code == 1
        assert "runs.nope has never run" in str(result.exception)
        assert "runs.make" in str(result.exception.problems[0].allowed)  # type: ignore[union-attr]


def test_follow_prints_only_new_text_until_a_final_state() -> None:
    texts = iter(["a\n", "a\nb\n", "a\nb\nc\n"])
    states = iter([("RUNNING", None), ("RUNNING", None), ("COMPLETED", None)])
    printed: list[str] = []
    state = follow(lambda: next(texts), lambda: next(states), printed.append, interval=0.0, timeout=60)
    assert state == ("COMPLETED", None)
    assert printed == ["a\n", "b\n", "c\n"]


def test_follow_gives_up_after_its_timeout() -> None:
    polls = []

    def state() -> tuple[str, None]:
        polls.append(1)
        return "RUNNING", None

    assert follow(lambda: "", state, print, interval=0.01, timeout=0.05)[0] == "RUNNING"
    assert 1 <= len(polls) < 1000


@pytest.mark.slow
def test_logs_of_a_run_that_recorded_no_output_say_so_and_succeed(core: Any, tmp_path: Path) -> None:
    from dhmlrun.platform.rest import context_path
    from tests.conftest import platform_of

    project = unique_project_name("quiet")
    root = write_config(tmp_path / "repo", project, runs=RUNS.split("  fail:")[0])
    assert dhmlrun("apply", root, "--auto-approve").exit_code == 0
    run_id = json.loads(dhmlrun("show", "runs.make", "--path", root, "--json").stdout)["id"]
    client = platform_of(core).client
    for entry in client.get(context_path(project, "runs", run_id, "logs")):
        client.delete(context_path(project, "logs", entry["id"]))
    for kept in (root / ".dhmlrun" / "logs").rglob("*.log"):
        kept.unlink()
    result = dhmlrun("logs", "runs.make", "--path", root)
    assert result.exit_code == 0, (result.output, result.exception)
    assert result.stdout == ""
    assert f"runs.make: run {run_id} (COMPLETED) has no output recorded" in result.stderr


ENVIRONMENTS = """version: 1
project: {name: "%s-{{ var.env }}"}
variables:
  env: {default: dev}
  execution: {default: local}
environments:
  other: {variables: {env: other}}
  remote: {variables: {env: remote, execution: remote}}
functions:
  greet: {kind: python, python_version: PYTHON3_11, source: {source: src/greet.py}, handler: greet}
runs:
  greet:
    function: functions.greet
    action: job
    parameters: {who: "{{ var.env }}"}
    execution: "{{ var.execution }}"
"""


@pytest.mark.slow
def test_each_environment_keeps_its_own_run_logs_remote_runs_too(core: Any, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    (root / "src" / "greet.py").write_text("def greet(who):\n    print(f'hello from {who}')\n")
    (root / "dhmlrun.yaml").write_text(ENVIRONMENTS % unique_project_name("envs"))
    environments = (((), "dev"), (("-e", "other"), "other"), (("-e", "remote"), "remote"))
    for env, who in environments:
        applied = dhmlrun("apply", root, "--auto-approve", "--verbose", *env)
        assert applied.exit_code == 0, (applied.output, applied.exception)
        assert f"runs.greet | hello from {who}" in applied.stderr  # as it printed it, remote too
    for env, who in environments:
        logs = dhmlrun("logs", "runs.greet", "--path", root, *env)
        assert logs.exit_code == 0, (logs.output, logs.exception)
        assert f"hello from {who}" in logs.stdout and "hello from" not in logs.stdout.replace(
            f"hello from {who}", ""
        )
