"""`dhmlrun validate` and `dhmlrun schema` through click, and the import budget of validate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from jsonschema import Draft202012Validator

from dhmlrun.cli import cli

from .conftest import EXAMPLE

REPO = Path(__file__).resolve().parents[2]

SECRET_CONFIG = """\
version: 1
project: {name: demo}
variables:
  token: {default: hunter2-secret, sensitive: true}
  env: {default: dev}
environments: {prod: {profile: p}}
functions:
  f: {kind: mlrun, source: {source: src/main.py}}
runs:
  r:
    function: f
    action: job
    env: [{name: TOKEN, value: "{{ token }}"}]
    parameters: {token: "{{ var.token }}"}
"""


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_validate_example_prints_the_summary():
    result = invoke("validate", str(EXAMPLE))
    assert result.exit_code == 0
    assert result.output.strip() == "Valid: project employees-dev, 1 dataitem, 2 functions, 2 runs."


def test_validate_with_env_and_var():
    result = invoke("validate", str(EXAMPLE), "-e", "prod", "--var", "min_years=9")
    assert result.exit_code == 0 and "employees-prod" in result.output


def test_validate_reports_every_error_and_exits_1(write):
    root = write(
        "version: 1\nproject: {name: demo, colour: x}\ndataitems:\n  d: {kind: tabel, path: data.csv}\n"
    )
    result = invoke("validate", str(root))
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(lines) == 2 and "2 errors." in result.output
    assert all("dhmlrun.yaml:" in line for line in lines)


def test_validate_json_when_valid():
    result = invoke("validate", str(EXAMPLE), "--json")
    data = json.loads(result.output)
    assert result.exit_code == 0 and data["valid"] is True and data["errors"] == []
    assert {r["address"] for r in data["resources"]} == {
        "dataitems.employees",
        "functions.downloader",
        "functions.summarise",
        "runs.download",
        "runs.summary",
    }
    summary = next(r for r in data["resources"] if r["address"] == "runs.summary")
    assert summary["depends_on"] == ["functions.summarise", "runs.download"]


def test_validate_json_when_invalid(write):
    root = write("version: 1\nproject: {name: demo}\nruns: {r: {function: nope, action: job}}\n")
    result = invoke("validate", str(root), "--json")
    data = json.loads(result.output)
    assert result.exit_code == 1 and data["valid"] is False and data["resources"] == []
    assert data["errors"][0]["path"] == "runs.r.function" and data["errors"][0]["line"] == 3


def test_sensitive_values_are_masked_in_json(write):
    result = invoke("validate", str(write(SECRET_CONFIG)), "--json")
    assert result.exit_code == 0
    assert "hunter2-secret" not in result.output and "(sensitive)" in result.output


def test_sensitive_values_given_on_the_command_line_are_masked_in_errors(write):
    root = write(SECRET_CONFIG.replace("function: f", "function: g"))
    result = invoke("validate", str(root), "--var", "token=opensesame", "--json")
    assert result.exit_code == 1 and "opensesame" not in result.output


def test_malformed_var_is_a_usage_error():
    result = CliRunner().invoke(cli, ["validate", str(EXAMPLE), "--var", "novalue"])
    assert result.exit_code == 2 and "NAME=VALUE" in result.output


def test_unknown_env_exits_1():
    result = invoke("validate", str(EXAMPLE), "--env", "staging")
    assert result.exit_code == 1 and "unknown environment 'staging'" in result.output


def test_schema_is_one_self_contained_valid_document():
    result = invoke("schema")
    schema = json.loads(result.output)
    Draft202012Validator.check_schema(schema)
    refs = [line for line in result.output.splitlines() if '"$ref"' in line]
    assert refs and all('"#/' in line for line in refs)
    assert {"project", "run", "function", "dataitem", "task-parameters"} <= set(schema["$defs"])


def test_bundled_schema_accepts_the_example_and_rejects_a_typo():
    import yaml

    schema = json.loads(invoke("schema").output)
    example = yaml.safe_load((EXAMPLE / "dhmlrun.yaml").read_text())
    assert list(Draft202012Validator(schema).iter_errors(example)) == []
    example["runs"]["download"]["trigers"] = "always"
    assert list(Draft202012Validator(schema).iter_errors(example))


def test_validate_as_a_process_imports_neither_mlrun_nor_digitalhub():
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "dhmlrun", "validate", "examples/employees"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "dhmlrun.config.pipeline" in imported  # the measurement is real
    assert not {m for m in imported if m.split(".")[0] in ("mlrun", "digitalhub")}


def test_validate_allows_places_outside_with_allow_outside(write, tmp_path_factory):
    first, second = tmp_path_factory.mktemp("first"), tmp_path_factory.mktemp("second")
    (first / "a.py").write_text("def h(context):\n    return 1\n")
    (second / "b.csv").write_text("x\n1\n")
    root = write(
        f"version: 1\nproject: {{name: demo}}\n"
        f"dataitems:\n  d: {{kind: table, path: {second / 'b.csv'}}}\n"
        f"functions:\n  f: {{kind: mlrun, source: {{source: {first / 'a.py'}}}, handler: h}}\n"
    )
    refused = invoke("validate", str(root))
    assert refused.exit_code == 1 and refused.output.count("pass --allow-outside PATH to allow it") == 2
    allowed = invoke("validate", str(root), "--allow-outside", str(first), "--allow-outside", str(second))
    assert allowed.exit_code == 0, allowed.output


def test_commands_reading_the_platform_take_allow_outside_too(write, tmp_path_factory):
    import click

    from dhmlrun.cli.options import ProjectOptions, project_options

    place = tmp_path_factory.mktemp("place")
    (place / "a.py").write_text("def h(context):\n    return 1\n")
    root = write(
        f"version: 1\nproject: {{name: demo}}\nfunctions:\n  f: {{kind: mlrun, source: {{source: "
        f"{place / 'a.py'}}}, handler: h}}\n"
    )

    @click.command()
    @project_options
    def probe(options: ProjectOptions) -> None:
        click.echo(sorted(options.project(root).declaration.resources))

    result = CliRunner().invoke(probe, ["--allow-outside", str(place)], catch_exceptions=False)
    assert result.exit_code == 0 and "functions.f" in result.output
