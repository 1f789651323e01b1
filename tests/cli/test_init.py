"""`dhmlrun init`: the scaffolded repo validates, its CI workflow does what it says, nothing is clobbered."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from dhmlrun.cli import cli
from dhmlrun.errors import DhmlrunError
from dhmlrun.scaffold import planned_files, project_name, scaffold

WORKFLOW = ".github/workflows/dhmlrun.yml"


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    target = tmp_path / "Sales_Forecast 2024"
    result = run_cli("init", str(target))
    assert result.exit_code == 0, result.output
    return target


def test_init_writes_every_file_and_lists_them_with_next_steps(repo: Path) -> None:
    for path in planned_files():
        assert (repo / path).is_file(), path
    result_text = run_cli("init", str(repo), "--force").output
    assert "Created project sales-forecast-2024" in result_text
    assert "dhmlrun.yaml" in result_text and "Next steps" in result_text


def test_the_scaffolded_repo_validates(repo: Path) -> None:
    result = run_cli("validate", str(repo))
    assert result.exit_code == 0, result.output
    assert "Valid: project sales-forecast-2024, 1 dataitem, 2 functions, 2 runs." in result.output


def test_the_scaffolded_repo_validates_in_its_prod_environment(repo: Path) -> None:
    result = run_cli("validate", str(repo), "-e", "prod", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["variables"]["min_score"]["value"] == 60


def test_the_modeline_points_at_the_written_schema_which_is_dhmlrun_schema(repo: Path) -> None:
    first_line = (repo / "dhmlrun.yaml").read_text().splitlines()[0]
    assert first_line == "# yaml-language-server: $schema=.dhmlrun/schema.json"
    printed = run_cli("schema").output
    assert json.loads((repo / ".dhmlrun/schema.json").read_text()) == json.loads(printed)


def test_the_declaration_is_valid_for_the_editor_schema(repo: Path) -> None:
    from jsonschema import Draft202012Validator

    schema = json.loads((repo / ".dhmlrun/schema.json").read_text())
    document = yaml.safe_load((repo / "dhmlrun.yaml").read_text())
    assert list(Draft202012Validator(schema).iter_errors(document)) == []


def test_gitignore_ignores_local_state_but_keeps_the_schema(repo: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    (repo / ".dhmlrun" / "core.db").write_text("")
    (repo / ".dhmlrun" / "plans").mkdir()
    (repo / ".dhmlrun" / "plans" / "p.json").write_text("{}")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    listed = subprocess.run(
        ["git", "-C", str(repo), "ls-files", "--others", "--exclude-standard"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert ".dhmlrun/schema.json" in listed
    assert not [path for path in listed if path.startswith(".dhmlrun/") and path != ".dhmlrun/schema.json"]
    assert WORKFLOW in listed


def test_init_refuses_to_overwrite_and_lists_the_existing_files(tmp_path: Path) -> None:
    (tmp_path / "dhmlrun.yaml").write_text("mine")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "pipeline.py").write_text("mine")
    with pytest.raises(DhmlrunError) as error:
        scaffold(tmp_path, name="demo")
    message = error.value.problems[0].message
    assert "dhmlrun.yaml" in message and "src/pipeline.py" in message and "--force" in message
    assert (tmp_path / "dhmlrun.yaml").read_text() == "mine"
    assert not (tmp_path / "README.md").exists()


def test_init_refusal_exits_1_at_the_cli(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("mine")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dhmlrun"), "init", str(tmp_path)], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "README.md" in result.stderr and "Traceback" not in result.stderr


def test_force_overwrites_and_keeps_other_files(tmp_path: Path) -> None:
    (tmp_path / "dhmlrun.yaml").write_text("mine")
    (tmp_path / "notes.txt").write_text("keep")
    done = scaffold(tmp_path, name="demo", force=True)
    assert done.project == "demo"
    assert "name: demo" in (tmp_path / "dhmlrun.yaml").read_text()
    assert (tmp_path / "notes.txt").read_text() == "keep"


def test_name_option_wins_over_the_directory_name(tmp_path: Path) -> None:
    result = run_cli("init", str(tmp_path / "x"), "--name", "Churn Model")
    assert result.exit_code == 0
    assert "name: churn-model" in (tmp_path / "x" / "dhmlrun.yaml").read_text()


@pytest.mark.parametrize(
    ("raw", "slug"),
    [
        ("My_Project", "my-project"),
        ("--a..b--", "a-b"),
        ("Ünïcode Ok", "unicode-ok"),
        ("x" * 50, "x" * 38),
    ],
)
def test_project_names_are_slugified_to_dhcores_rule(raw: str, slug: str) -> None:
    assert project_name(raw) == slug


@pytest.mark.parametrize("raw", ["a", "___", "日本"])
def test_names_that_cannot_become_a_project_name_are_refused(raw: str) -> None:
    with pytest.raises(DhmlrunError, match="--name"):
        project_name(raw)


# -- the CI workflow ---------------------------------------------------------------------------------


def workflow(repo: Path) -> dict[str, Any]:
    return yaml.safe_load((repo / WORKFLOW).read_text())


def steps_running(doc: dict[str, Any], job: str) -> list[str]:
    return [step["run"] for step in doc["jobs"][job]["steps"] if "run" in step]


def test_workflow_plans_on_pull_requests_and_applies_on_main(repo: Path) -> None:
    doc = workflow(repo)
    triggers = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` key as true
    assert "pull_request_target" in triggers and triggers["push"]["branches"] == ["main"]
    assert "pull_request_target" in doc["jobs"]["plan"]["if"]
    assert "refs/heads/main" in doc["jobs"]["apply"]["if"]
    assert any("dhmlrun plan pr --detailed-exitcode" in run for run in steps_running(doc, "plan"))
    assert any(run.strip() == "dhmlrun apply --auto-approve" for run in steps_running(doc, "apply"))
    for job in ("plan", "apply"):  # never `pip install dhmlrun` from an index: the hash-checked lock
        installs = [run for run in steps_running(doc, job) if "pip install" in run]
        assert installs and all(
            "python -m pip install --require-hashes --no-deps -r requirements.txt" in run for run in installs
        )


def test_workflow_takes_credentials_from_secrets_and_never_echoes_them(repo: Path) -> None:
    doc = workflow(repo)
    assert "env" not in doc  # each job gets only its own
    plan, apply = doc["jobs"]["plan"]["env"], doc["jobs"]["apply"]["env"]
    assert plan["DHCORE_ENDPOINT"] == apply["DHCORE_ENDPOINT"] == "${{ secrets.DHCORE_ENDPOINT }}"
    assert plan["DHCORE_ACCESS_TOKEN"] == "${{ secrets.DHCORE_PLAN_TOKEN }}"
    assert apply["DHCORE_ACCESS_TOKEN"] == "${{ secrets.DHCORE_ACCESS_TOKEN }}"
    for job in ("plan", "apply"):
        for run in steps_running(doc, job):
            assert "secrets." not in run
            assert not re.search(r"(echo|printf|cat)[^\n]*\$\{?DHCORE_ACCESS", run), run


# -- issue 21: the workflow is safe on pull requests ---------------------------------------------


def test_the_plan_runs_the_base_branchs_workflow_and_dhmlrun_never_the_pull_requests(repo: Path) -> None:
    """It installed `requirements.txt` from the pull request's own branch next to the token."""
    plan = workflow(repo)["jobs"]["plan"]
    checkouts = [s for s in plan["steps"] if "actions/checkout@" in s.get("uses", "")]
    base, pull = (s["with"] for s in checkouts)
    assert base == {"path": "base", "persist-credentials": False}
    assert pull == {
        "ref": "${{ github.event.pull_request.head.sha }}",
        "path": "pr",
        "persist-credentials": False,
    }
    install = next(s for s in plan["steps"] if "pip install" in s.get("run", ""))
    assert install["working-directory"] == "base"
    touching = [  # the steps that use the pull request's files: dhmlrun reading them, nothing else
        s["name"]
        for s in plan["steps"]
        if re.search(r"\bpr\b", s.get("run", "")) or s.get("working-directory") == "pr"
    ]
    assert touching == ["Validate", "Plan"]


def test_pull_requests_from_forks_are_not_planned(repo: Path) -> None:
    condition = workflow(repo)["jobs"]["plan"]["if"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in condition


def test_the_plan_job_holds_no_variable_values_and_no_apply_token(repo: Path) -> None:
    """A pull request redeclaring a variable without `sensitive` printed the DHMLRUN_VAR_* the job held."""
    text = (repo / WORKFLOW).read_text()
    plan = workflow(repo)["jobs"]["plan"]
    assert not [k for k in plan["env"] if k.startswith("DHMLRUN_VAR_")]
    assert "secrets.DHCORE_ACCESS_TOKEN" not in yaml.safe_dump(plan)
    assert "secrets.DHCORE_ACCESS_TOKEN" in text  # the apply job's, in its environment
    assert workflow(repo)["jobs"]["apply"]["environment"] == "dhmlrun"


def test_every_action_is_pinned_by_a_full_commit_id(repo: Path) -> None:
    doc = workflow(repo)
    uses = [s["uses"] for job in doc["jobs"].values() for s in job["steps"] if "uses" in s]
    assert len(uses) == 6
    for used in uses:
        assert re.fullmatch(r"actions/[a-z-]+@[0-9a-f]{40}", used), used


def test_pip_downloads_are_cached_on_the_lock(repo: Path) -> None:
    doc = workflow(repo)
    for job, lock in (("plan", "base/requirements.txt"), ("apply", "requirements.txt")):
        setup = next(s for s in doc["jobs"][job]["steps"] if "setup-python" in s.get("uses", ""))
        assert setup["with"]["cache"] == "pip" and setup["with"]["cache-dependency-path"] == lock


def plan_step(repo: Path) -> str:
    return next(run for run in steps_running(workflow(repo), "plan") if "--detailed-exitcode" in run)


@pytest.mark.parametrize(("plan_exit", "step_exit"), [(0, 0), (2, 0), (1, 1)])
def test_plan_step_treats_changes_as_success_and_posts_the_summary(
    repo: Path, tmp_path: Path, plan_exit: int, step_exit: int
) -> None:
    """Runs the step's script as GitHub does (bash -e), with `dhmlrun` standing in as a script that
    prints a Markdown plan and exits like `plan --detailed-exitcode --format markdown` would."""
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "dhmlrun"
    fake.write_text(
        '#!/bin/sh\necho "$@" > args.txt\n'
        f"echo '**Plan: 1 to create, 0 to update, 0 to delete, 0 to run.**'\nexit {plan_exit}\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    summary = tmp_path / "summary.md"
    script = tmp_path / "step.sh"
    script.write_text(plan_step(repo))
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "GITHUB_STEP_SUMMARY": str(summary)}
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == step_exit, result.stdout + result.stderr
    called = (tmp_path / "args.txt").read_text().split()
    assert called == ["plan", "pr", "--detailed-exitcode", "--format", "markdown"]
    posted = summary.read_text()
    commented = (tmp_path / "plan.md").read_text()  # what the next step posts on the pull request
    assert posted == commented
    if plan_exit == 1:
        assert posted.startswith("## dhmlrun plan failed") and "exited with code 1" in posted
    else:
        assert "**Plan: 1 to create" in posted


def test_plan_job_may_comment_and_the_apply_job_may_not(repo: Path) -> None:
    doc = workflow(repo)
    assert doc["permissions"] == {}
    assert doc["jobs"]["plan"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert doc["jobs"]["apply"]["permissions"] == {"contents": "read"}
    comment = next(s for s in doc["jobs"]["plan"]["steps"] if "github-script" in s.get("uses", ""))
    assert "!cancelled()" in comment["if"]


COMMENT_HARNESS = """
const fs = require('fs');
const script = fs.readFileSync(process.argv[2], 'utf8');
const state = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
const calls = [];
const rest = { issues: {
  listComments: 'listComments',
  createComment: async (args) => { calls.push(['create', args]); },
  updateComment: async (args) => { calls.push(['update', args]); },
} };
const paginate = async (method, args) => { calls.push(['list', args]); return state.comments; };
const github = { rest, paginate };
const context = {
  repo: { owner: 'org', repo: 'cfg' }, issue: { number: 7 }, runId: 99, serverUrl: 'https://github.com',
  payload: { pull_request: { head: { sha: '0123456789abcdef' } } },
};
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction('require', 'github', 'context', script)(require, github, context)
  .then(() => console.log(JSON.stringify(calls)))
  .catch((error) => { console.error(error); process.exit(1); });
"""


def run_comment_step(repo: Path, tmp_path: Path, comments: list[dict[str, Any]]) -> list[Any]:
    """The github-script step's own JavaScript, run by node against a stand-in GitHub API."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the comment step's script cannot be run here")
    step = next(s for s in workflow(repo)["jobs"]["plan"]["steps"] if "github-script" in s.get("uses", ""))
    (tmp_path / "script.js").write_text(step["with"]["script"])
    (tmp_path / "harness.js").write_text(COMMENT_HARNESS)
    (tmp_path / "state.json").write_text(json.dumps({"comments": comments}))
    done = subprocess.run(
        ["node", "harness.js", "script.js", "state.json"], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


MARKER = "<!-- dhmlrun-plan -->"


def test_the_comment_step_posts_the_plan_once_then_updates_that_comment(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "plan.md").write_text("## dhmlrun plan: project `p`\n\n**Plan: 1 to run.**\n")
    first = run_comment_step(repo, tmp_path, [{"id": 1, "user": {"type": "User"}, "body": f"{MARKER} mine"}])
    (kind, args) = first[-1]
    assert kind == "create" and args["issue_number"] == 7
    assert args["body"].startswith(MARKER + "\n## dhmlrun plan") and "0123456" in args["body"]
    ours = {"id": 42, "user": {"type": "Bot"}, "body": args["body"]}
    again = run_comment_step(repo, tmp_path, [{"id": 1, "user": {"type": "User"}, "body": "lgtm"}, ours])
    assert [c[0] for c in again] == ["list", "update"] and again[-1][1]["comment_id"] == 42


def test_the_comment_says_when_no_plan_was_made_and_cuts_a_huge_one(repo: Path, tmp_path: Path) -> None:
    [_, (_, missing)] = run_comment_step(repo, tmp_path, [])
    assert "did not run" in missing["body"]
    (tmp_path / "plan.md").write_text("x" * 200_000)
    [_, (_, huge)] = run_comment_step(repo, tmp_path, [])
    assert len(huge["body"]) < 65_536 and "(cut: the whole plan is in the job summary)" in huge["body"]


def test_workflow_commands_exist_with_those_options() -> None:
    plan_help = run_cli("plan", "--help").output
    apply_help = run_cli("apply", "--help").output
    assert "--detailed-exitcode" in plan_help
    assert "--auto-approve" in apply_help


def test_init_and_the_connection_module_import_neither_the_sdk_nor_mlrun(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from dhmlrun.cli import cli\n"
        "import dhmlrun.platform.connection, dhmlrun.reference\n"
        f"assert CliRunner().invoke(cli, ['init', {str(tmp_path / 'proj')!r}]).exit_code == 0\n"
        "print(sorted(m for m in ('digitalhub', 'mlrun') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_init_pins_the_ci_dhmlrun_to_a_verifiable_source() -> None:
    from dhmlrun.scaffold.pin import LOCK_COMMAND, pin_from_direct_url, requirements_input_text

    commit = "0123456789abcdef0123456789abcdef01234567"
    git = pin_from_direct_url(
        {"url": "https://github.com/org/dhmlrun.git", "vcs_info": {"vcs": "git", "commit_id": commit}}
    )
    assert git.requirement == f"dhmlrun @ https://github.com/org/dhmlrun/archive/{commit}.tar.gz"
    elsewhere = pin_from_direct_url(
        {"url": "https://git.example.org/dhmlrun.git", "vcs_info": {"vcs": "git", "commit_id": commit}}
    )
    assert elsewhere.requirement == f"dhmlrun @ git+https://git.example.org/dhmlrun.git@{commit}"
    assert "cannot hash-check" in elsewhere.note
    archive = pin_from_direct_url(
        {"url": "https://example.org/dhmlrun-0.1.0.tar.gz", "archive_info": {"hashes": {"sha256": "ab" * 32}}}
    )
    assert archive.requirement == f"dhmlrun @ https://example.org/dhmlrun-0.1.0.tar.gz#sha256={'ab' * 32}"
    assert LOCK_COMMAND in archive.note
    for unverifiable in (
        None,
        {"url": Path(__file__).resolve().parents[2].as_uri(), "dir_info": {"editable": True}},
        {"url": "https://github.com/org/dhmlrun.git", "vcs_info": {"vcs": "git", "commit_id": "main"}},
    ):
        pin = pin_from_direct_url(unverifiable)
        assert pin.requirement is None and "pin" in pin.note
        assert "TODO: pin dhmlrun" in requirements_input_text(pin)


def test_the_workflow_refuses_to_run_without_a_hash_checked_lock(tmp_path: Path) -> None:
    """The install step's own check, run by bash on the requirements file init wrote here (not a
    lock yet), on a pin without hashes (what the workflow installed before issue 21), and on a lock."""
    directory = tmp_path / "repo"
    assert CliRunner().invoke(cli, ["init", str(directory)]).exit_code == 0
    workflow = (directory / ".github" / "workflows" / "dhmlrun.yml").read_text()
    check = re.search(r"if (! grep -qE .*? requirements\.txt); then", workflow).group(1)
    refused = f"if {check}; then exit 1; fi"
    assert subprocess.run(["bash", "-c", refused], cwd=directory, check=False).returncode != 0
    (directory / "requirements.txt").write_text("dhmlrun @ git+https://h/o/dhmlrun@" + "a" * 40 + "\n")
    assert subprocess.run(["bash", "-c", refused], cwd=directory, check=False).returncode != 0
    (directory / "requirements.txt").write_text(
        "dhmlrun @ https://h/o/dhmlrun.whl \\\n    --hash=sha256:" + "a" * 64 + "\n"
    )
    assert subprocess.run(["bash", "-c", refused], cwd=directory, check=False).returncode == 0
