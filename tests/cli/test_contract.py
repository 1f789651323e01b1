"""The CLI contract: exit 0 done, 1 for every error (usage errors included: 2 means "changes"
only with `plan --detailed-exitcode`), and a destroy that can be saved, reviewed and applied."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from dhmlrun.cli import COMMANDS, cli
from dhmlrun.cli.output import run_cli


def run(*args: object) -> int:
    """Exit code of `dhmlrun ARGS` as the entry point computes it."""
    import sys

    saved = sys.argv
    sys.argv = ["dhmlrun", *map(str, args)]
    try:
        return run_cli(cli)
    finally:
        sys.argv = saved


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_usage_error_exits_1_for_every_command(command: str) -> None:
    argv = ["core", "serve"] if command == "core" else [command]
    assert run(*argv, "--no-such-flag") == 1


def test_plan_with_detailed_exitcode_and_a_bad_flag_is_an_error_not_changes() -> None:
    assert run("plan", "--detailed-exitcode", "--no-such-flag") == 1


def test_a_usage_error_reads_like_every_other_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("plan", "--no-such-flag") == 1
    err = capsys.readouterr().err
    assert err.splitlines()[0] == "error: No such option '--no-such-flag'."
    assert "Error:" not in err
    assert "Usage: dhmlrun plan [OPTIONS] [PATH]" in err and "Try 'dhmlrun plan --help' for help." in err


def test_outputs_of_something_that_is_not_a_run_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["outputs", "functions.gen", "--path", str(tmp_path)])
    assert result.exit_code == 1
    assert "functions.gen is not a run" in str(result.exception)


def test_init_quotes_a_directory_with_spaces_in_its_next_steps(tmp_path: Path) -> None:
    directory = tmp_path / "Bad Name Dir"
    result = CliRunner().invoke(cli, ["init", str(directory)])
    assert result.exit_code == 0, result.output
    assert f"cd '{directory}'" in result.stdout


SMALL = """version: 1
project: {name: "%s"}
dataitems:
  d: {kind: table, path: "s3://bucket/d.csv"}
"""


def test_a_destroy_is_saved_reviewed_and_applied(core: object, tmp_path: Path, project_name: str) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "dhmlrun.yaml").write_text(SMALL % project_name)
    invoke = CliRunner().invoke
    assert invoke(cli, ["apply", str(root), "--auto-approve"]).exit_code == 0
    refused = invoke(cli, ["destroy", str(root)])
    assert refused.exit_code == 1 and "dhmlrun plan --destroy --out FILE" in str(refused.exception)
    saved = tmp_path / "destroy.plan"
    planned = invoke(cli, ["plan", str(root), "--destroy", "--out", str(saved)])
    assert planned.exit_code == 0 and "- dataitems.d" in planned.stdout
    applied = invoke(cli, ["apply", str(saved), "--path", str(root)])
    assert applied.exit_code == 0, (applied.stdout, applied.exception)
    assert "Destroy complete: 1 done, 0 failed, 0 skipped." in applied.stdout
    again = invoke(cli, ["plan", str(root), "--destroy"])
    assert "No changes." in again.stdout
    assert os.environ.get("DHCORE_ENDPOINT")  # the session core, not the repo's own


TWO = """version: 1
project: {name: "%s"}
dataitems:
  a: {kind: table, path: "s3://bucket/a.csv"}
  b: {kind: table, path: "%s"}
"""


def test_a_partial_plan_exits_2_with_detailed_exitcode_while_changes_were_left_out(
    core: object, tmp_path: Path, project_name: str
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "dhmlrun.yaml").write_text(TWO % (project_name, "s3://bucket/b.csv"))
    invoke = CliRunner().invoke
    assert invoke(cli, ["apply", str(root), "--auto-approve"]).exit_code == 0
    (root / "dhmlrun.yaml").write_text(TWO % (project_name, "s3://bucket/b2.csv"))
    planned = invoke(cli, ["plan", str(root), "--target", "dataitems.a", "--detailed-exitcode"])
    assert planned.exit_code == 2, (planned.stdout, planned.exception)
    assert "The platform matches" not in planned.stdout
    assert "1 change left out (dataitems.b)" in planned.stdout
    whole = invoke(cli, ["plan", str(root), "--target", "dataitems.b", "--detailed-exitcode"])
    assert whole.exit_code == 2 and "~ dataitems.b" in whole.stdout


def test_destroy_with_a_target_deletes_only_it(core: object, tmp_path: Path, project_name: str) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "dhmlrun.yaml").write_text(TWO % (project_name, "s3://bucket/b.csv"))
    invoke = CliRunner().invoke
    assert invoke(cli, ["apply", str(root), "--auto-approve"]).exit_code == 0
    destroyed = invoke(cli, ["destroy", str(root), "--target", "dataitems.a", "--auto-approve"])
    assert destroyed.exit_code == 0, (destroyed.stdout, destroyed.exception)
    assert "- dataitems.a" in destroyed.stdout and "- dataitems.b" not in destroyed.stdout
    assert "partial destroy: only --target dataitems.a; 1 change left out (dataitems.b)" in destroyed.stdout
    left = invoke(cli, ["plan", str(root), "--destroy", "--json"])
    deletions = [a["address"] for a in json.loads(left.stdout)["actions"] if a["action"] == "delete"]
    assert deletions == ["dataitems.b"]
