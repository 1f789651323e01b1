"""The everyday read-only commands never import the digitalhub SDK, mlrun or pandas: they talk
to the platform with dhmlrun's own client, so they start in a fraction of a second."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE = EXAMPLES / "employees"
HEAVY = ("digitalhub", "digitalhub_runtime_python", "mlrun", "pandas")
PROBE = f"""
import json, sys
from click.testing import CliRunner
from dhmlrun.cli import cli
result = CliRunner().invoke(cli, json.loads(sys.argv[1]))
heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)
print(json.dumps({{"exit": result.exit_code, "heavy": heavy}}))
"""


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("light") / "employees"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".dhmlrun"))
    return root


@pytest.fixture(scope="module")
def training(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("light") / "training"
    shutil.copytree(EXAMPLES / "training", root, ignore=shutil.ignore_patterns(".dhmlrun"))
    return root


def embedded_only_environment() -> dict[str, str]:
    """No endpoint and no profile: the commands use the config's embedded core."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DHCORE_", "DH_"))}
    env["DH_CONFIG"] = os.devnull
    env["TRAINING_REGISTRY_TOKEN"] = "light-token"  # the training example's secret
    return env


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "{root}"],
        ["plan", "{root}"],
        ["plan", "{root}", "--json"],
        ["plan", "{root}", "--format", "markdown"],
        ["graph", "{root}"],
        ["graph", "{root}", "--live", "--format", "dot"],
        ["show", "--path", "{root}"],
        ["show", "--path", "{root}", "--graph"],
        ["logs", "runs.download", "--path", "{root}"],
        ["outputs", "runs.download", "--path", "{root}"],
        ["--help"],
    ],
)
def test_read_only_commands_import_neither_the_sdk_nor_mlrun_nor_pandas(
    config: Path, args: list[str]
) -> None:
    argv = [a.format(root=config) for a in args]
    assert probe(argv)["heavy"] == [], argv


@pytest.mark.parametrize(
    "args",
    [["validate", "{root}"], ["plan", "{root}", "--json"], ["graph", "{root}"], ["show", "--path", "{root}"]],
)
def test_the_native_families_keep_them_light(training: Path, args: list[str]) -> None:
    """Python functions, secrets (a digest is computed), artifacts and models change nothing."""
    argv = [a.format(root=training) for a in args]
    assert probe(argv) == {"exit": 0, "heavy": []}, argv


def probe(argv: list[str]) -> dict:
    """Run the command in a fresh interpreter: its exit code and the heavy modules it imported."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(argv)],
        capture_output=True,
        text=True,
        env=embedded_only_environment(),
        check=True,
        timeout=120,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])
