"""The full plan/apply cycle on the embedded core with the employees example (real mlrun runs)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from dhmlrun.api import open_platform
from tests.plan.conftest import by_address, copy_example, dhmlrun, plan_json, unique_env

pytestmark = pytest.mark.slow


def test_apply_then_replan_is_clean(applied: tuple[Path, str]) -> None:
    root, env = applied
    result = dhmlrun("plan", root, "--var", f"env={env}", "--detailed-exitcode")
    assert result.exit_code == 0, (result.stdout, result.exception)
    assert "No changes. The platform matches the configuration." in result.stdout


def test_show_lists_entities_versions_and_last_runs(applied: tuple[Path, str]) -> None:
    root, env = applied
    result = dhmlrun("show", "--path", root, "--var", f"env={env}", "--json")
    assert result.exit_code == 0, result.exception
    rows = {r["address"]: r for r in json.loads(result.stdout)["entities"]}
    assert rows["functions.downloader"]["versions"] == 1
    assert rows["runs.download"]["state"] == "COMPLETED"
    assert "dataset" in rows["runs.summary"]["outputs"]


def test_show_one_address_and_logs_of_the_last_run(applied: tuple[Path, str]) -> None:
    root, env = applied
    shown = dhmlrun("show", "runs.download", "--path", root, "--var", f"env={env}")
    assert shown.exit_code == 0, shown.exception
    assert "runs.download" in shown.stdout and "COMPLETED" in shown.stdout
    assert "runs.summary" not in shown.stdout
    logs = dhmlrun("logs", "runs.download", "--path", root, "--var", f"env={env}")
    assert logs.exit_code == 0, logs.exception
    assert logs.stdout.strip()
    missing = dhmlrun("logs", "runs.nope", "--path", root, "--var", f"env={env}")
    assert missing.exit_code == 1 and "never run" in str(missing.exception)


def test_clone_in_another_directory_plans_nothing(applied: tuple[Path, str], tmp_path: Path) -> None:
    root, env = applied
    clone = tmp_path / "ci" / "checkout"
    shutil.copytree(root, clone, ignore=shutil.ignore_patterns(".dhmlrun"))
    result = dhmlrun("plan", clone, "--var", f"env={env}", "--detailed-exitcode")
    assert result.exit_code == 0, (result.stdout, result.exception)


def test_code_change_plans_function_update_and_runs_with_reason(
    applied: tuple[Path, str], tmp_path: Path
) -> None:
    root, env = applied
    clone = tmp_path / "clone"
    shutil.copytree(root, clone, ignore=shutil.ignore_patterns(".dhmlrun"))
    with (clone / "src" / "pipeline.py").open("a") as handle:
        handle.write("\n# a harmless change\n")
    actions = by_address(plan_json(clone, "--var", f"env={env}"))
    assert actions["functions.downloader"]["action"] == "update"
    assert actions["functions.downloader"]["reason"] == "code changed: src/pipeline.py"
    assert actions["runs.download"]["action"] == "run"
    assert actions["runs.download"]["reason"] == "code changed: src/pipeline.py"
    assert "runs.download.outputs.dataset" in actions["runs.summary"]["reason"]


def test_input_dataitem_change_refires_dependent_runs(applied: tuple[Path, str], tmp_path: Path) -> None:
    root, env = applied
    clone = tmp_path / "clone"
    shutil.copytree(root, clone, ignore=shutil.ignore_patterns(".dhmlrun"))
    with (clone / "data" / "employees.csv").open("a") as handle:
        handle.write("999,New,Person,Sales,3,40000\n")
    actions = by_address(plan_json(clone, "--var", f"env={env}"))
    assert actions["dataitems.employees"]["action"] == "update"
    assert actions["runs.download"]["reason"] == "input dataitems.employees has a new version"
    assert actions["runs.summary"]["action"] == "run"
    assert actions["functions.downloader"]["action"] == "no-op"


def test_removed_entity_is_planned_for_deletion(applied: tuple[Path, str], tmp_path: Path) -> None:
    root, env = applied
    clone = tmp_path / "clone"
    shutil.copytree(root, clone, ignore=shutil.ignore_patterns(".dhmlrun"))
    text = (clone / "dhmlrun.yaml").read_text()
    head, _, _ = text.partition("  summary:\n")
    text = head.replace(
        "  summarise:\n    kind: mlrun\n    source: {source: src/pipeline.py}\n"
        "    handler: summarise\n    image: mlrun/mlrun\n",
        "",
    )
    (clone / "dhmlrun.yaml").write_text(text)
    plan = plan_json(clone, "--var", f"env={env}")
    actions = by_address(plan)
    assert actions["functions.summarise"]["action"] == "delete"
    assert actions["functions.summarise"]["reason"] == "removed from the configuration"
    assert plan["summary"] == {"create": 0, "update": 0, "delete": 1, "run": 0}


def test_rerun_forces_the_run_and_its_dependents(applied: tuple[Path, str]) -> None:
    root, env = applied
    actions = by_address(plan_json(root, "--var", f"env={env}", "--rerun", "runs.download"))
    assert actions["runs.download"]["reason"] == "forced by --rerun"
    assert actions["runs.summary"]["reason"] == "input runs.download.outputs.dataset is recomputed"


def test_no_tty_refuses_to_apply_without_auto_approve(applied: tuple[Path, str]) -> None:
    root, env = applied
    result = dhmlrun("apply", root, "--var", f"env={env}", "--rerun", "runs.download")
    assert result.exit_code == 1
    assert "refusing to apply" in str(result.exception)


def test_target_plans_only_the_target_and_its_dependencies(core: Any, tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    plan = plan_json(root, "--var", f"env={unique_env()}", "--target", "runs.download")
    assert set(by_address(plan)) == {
        "project",
        "dataitems.employees",
        "functions.downloader",
        "runs.download",
    }


def test_stale_saved_plan_is_refused_on_first_deploy(core: Any, tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    env = unique_env()
    saved = tmp_path / "first.plan"
    assert dhmlrun("plan", root, "--var", f"env={env}", "--out", saved).exit_code == 0
    other = tmp_path / "someone-else"
    shutil.copytree(root, other, ignore=shutil.ignore_patterns(".dhmlrun"))
    result = dhmlrun(
        "apply", other, "--var", f"env={env}", "--auto-approve", "--target", "dataitems.employees"
    )
    assert result.exit_code == 0, (result.stdout, result.exception)
    result = dhmlrun("apply", saved, "--path", root)
    assert result.exit_code == 1
    assert "stale" in str(result.exception)


def test_saved_plan_applies_exactly_then_goes_stale(core: Any, tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    env = unique_env()
    saved = tmp_path / "data.plan"
    assert (
        dhmlrun(
            "plan", root, "--var", f"env={env}", "--target", "dataitems.employees", "--out", saved
        ).exit_code
        == 0
    )
    assert oct(saved.stat().st_mode & 0o777) == "0o600"
    result = dhmlrun("apply", saved, "--path", root)
    assert result.exit_code == 0, (result.stdout, result.exception)
    assert "Apply complete: 2 done, 0 failed, 0 skipped." in result.stdout
    with open_platform(root) as platform:
        state = platform.read_state(f"employees-{env}")
    assert set(state.managed()) == {"dataitems.employees"}
    again = dhmlrun("apply", saved, "--path", root)
    assert again.exit_code == 1 and "stale" in str(again.exception)


SECRET = "tok-7f3e9a1c5b"
SECRET_CONFIG = """
version: 1
project: {name: "secret-{{ var.env }}"}
variables:
  env: {default: dev}
  token: {default: "", sensitive: true}
functions:
  f: {kind: mlrun, source: {code: "def h(context, token=''):\\n    pass\\n"}, handler: h}
runs:
  r:
    function: functions.f
    action: job
    parameters: {token: "Bearer {{ var.token }}"}
"""


def test_secrets_are_masked_in_plan_json_and_saved_plans(core: Any, tmp_path: Path) -> None:
    (tmp_path / "dhmlrun.yaml").write_text(SECRET_CONFIG)
    env = unique_env()
    saved = tmp_path / "s.plan"
    args = ("--var", f"env={env}", "--var", f"token={SECRET}")
    human = dhmlrun("plan", tmp_path, *args, "--out", saved)
    machine = dhmlrun("plan", tmp_path, *args, "--json")
    assert human.exit_code == 0 and machine.exit_code == 0, (human.exception, machine.exception)
    for text in (human.stdout, human.stderr, machine.stdout, saved.read_text()):
        assert SECRET not in text
    assert "(sensitive)" in saved.read_text()
    refused = dhmlrun("apply", saved, "--path", tmp_path, "--var", f"env={env}")
    assert refused.exit_code == 1 and "'token' is missing" in str(refused.exception)


FAILING_CODE = """
def boom(context):
    raise RuntimeError("deliberate failure")


def ok(context, dataset=None):
    context.log_result("fine", 1)
"""

FAILING_CONFIG = """
version: 1
project: {name: "fail-{{ var.env }}"}
variables:
  env: {default: dev}
functions:
  boom: {kind: mlrun, source: {source: steps.py}, handler: boom}
  ok: {kind: mlrun, source: {source: steps.py}, handler: ok}
runs:
  bad: {function: functions.boom, action: job, outputs: {dataset: bad-out}}
  after_bad: {function: functions.ok, action: job, inputs: {dataset: runs.bad.outputs.dataset}}
  sibling: {function: functions.ok, action: job, values: [fine], execution: remote}
"""


def test_failed_run_stops_its_dependents_not_its_siblings_then_destroy(
    core: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`bad` fails, so `after_bad` (its dependent) is skipped; `sibling` (executed remotely) is done."""
    monkeypatch.setenv("DHMLRUN_RUNS_DIR", str(tmp_path / "runs"))  # the core's workers inherit it
    (tmp_path / "dhmlrun.yaml").write_text(FAILING_CONFIG)
    (tmp_path / "steps.py").write_text(FAILING_CODE)
    env = unique_env()
    result = dhmlrun("apply", tmp_path, "--var", f"env={env}", "--auto-approve")
    assert result.exit_code == 1
    assert "failed:  runs.bad (run)" in result.stdout
    assert "skipped: runs.after_bad (run): runs.bad failed" in result.stdout
    assert "Apply failed: 4 done, 1 failed, 1 skipped." in result.stdout
    actions = by_address(plan_json(tmp_path, "--var", f"env={env}"))
    assert actions["runs.bad"]["reason"] == "last run failed"
    assert actions["runs.after_bad"]["reason"] == "never run"
    assert actions["runs.sibling"]["action"] == "no-op"

    destroyed = dhmlrun("destroy", tmp_path, "--var", f"env={env}", "--auto-approve")
    assert destroyed.exit_code == 0, (destroyed.stdout, destroyed.exception)
    with open_platform(tmp_path) as platform:
        state = platform.read_state(f"fail-{env}")
    assert state.managed() == {}
    assert {"runs.bad", "runs.sibling"} <= set(state.runs)


def test_new_version_made_outside_dhmlrun_is_shown_as_drift(core: Any, tmp_path: Path) -> None:
    import digitalhub as dh

    root = copy_example(tmp_path)
    env = unique_env()
    args = ("--var", f"env={env}", "--target", "functions.downloader")
    assert dhmlrun("apply", root, *args, "--auto-approve").exit_code == 0
    dh.new_function(
        project=f"employees-{env}",
        name="downloader",
        kind="mlrun",
        source={"code": "def downloader(context, url):\n    pass\n"},
        handler="downloader",
    )
    action = by_address(plan_json(root, *args))["functions.downloader"]
    assert action["action"] == "update"
    assert action["drift"] is True
    assert "drift" in action["reason"]


PLAN_WITHOUT_MLRUN = """
import sys
from click.testing import CliRunner
from dhmlrun.cli import cli
result = CliRunner().invoke(cli, ["plan", sys.argv[1], "--var", "env=" + sys.argv[2]])
assert result.exit_code == 0, result.exception
loaded = sorted(m for m in sys.modules if m == "mlrun" or m.startswith("mlrun."))
print("mlrun modules:", loaded)
sys.exit(1 if loaded else 0)
"""


def test_plan_never_imports_mlrun(core: Any, tmp_path: Path) -> None:
    import subprocess
    import sys

    root = copy_example(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-c", PLAN_WITHOUT_MLRUN, str(root), unique_env()],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_saved_plan_is_applied_to_the_config_apply_is_pointed_at_not_the_one_it_names(
    core: Any, tmp_path: Path
) -> None:
    """A plan file's `root` is never trusted: set to /etc, apply still works in the directory it
    is given (and writes nothing under /etc)."""
    root = copy_example(tmp_path)
    env = unique_env()
    saved = tmp_path / "forged.plan"
    made = dhmlrun("plan", root, "--var", f"env={env}", "--target", "dataitems.employees", "--out", saved)
    assert made.exit_code == 0
    data = json.loads(saved.read_text())
    data["root"] = "/etc"
    saved.write_text(json.dumps(data))
    elsewhere = tmp_path / "empty"
    elsewhere.mkdir()
    refused = dhmlrun("apply", saved, "--path", elsewhere)
    assert refused.exit_code == 1 and "no dhmlrun.yaml in" in str(refused.exception)
    applied = dhmlrun("apply", saved, "--path", root)
    assert applied.exit_code == 0, (applied.stdout, applied.exception)
    assert not Path("/etc/.dhmlrun").exists()
