"""`show`, `logs [--follow]` and `outputs` on a project applied once on the embedded core (one
completed run with a dataset and a value, one failed run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dhmlrun.cli.show import follow
from dhmlrun.vocabulary.keys import parse_key
from tests.cli.conftest import dhmlrun, write_config
from tests.conftest import unique_project_name

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


@pytest.fixture(scope="module")
def applied(core: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_config(tmp_path_factory.mktemp("daytwo") / "repo", unique_project_name("show"), runs=RUNS)
    result = dhmlrun("apply", root, "--auto-approve")
    assert result.exit_code == 1, (result.output, result.exception)  # runs.fail fails, on purpose
    assert "failed:  runs.fail" in result.stdout
    return root


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
def test_show_accepts_the_config_dir_as_its_argument_like_plan(applied: Path) -> None:
    assert dhmlrun("show", applied).stdout == dhmlrun("show", "--path", applied).stdout


@pytest.mark.slow
def test_outputs_lists_entity_keys_kinds_paths_and_values(applied: Path) -> None:
    result = dhmlrun("outputs", "runs.make", "--path", applied, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["state"] == "COMPLETED" and data["results"] == {"rows": 4}
    dataset = data["outputs"]["dataset"]
    assert dataset["key"].startswith("store://") and parse_key(dataset["key"]).name == "made"
    assert (dataset["type"], dataset["kind"], dataset["name"]) == ("dataitem", "table", "made")
    assert Path(dataset["path"]).is_file()
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
