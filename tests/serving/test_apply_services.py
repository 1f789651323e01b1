"""Declared services through the CLI, in real processes, on the embedded core of the config
directory (and on a core rehearsing a stock DHCore): deployed and waited for, invoked, a no-op
when nothing changed, redeployed after the retrain that changes their model, brought back when
killed outside dhmlrun, stopped when removed, and gone (ports closed) after destroy."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dhmlrun.core.server import EmbeddedCore
from tests.conftest import served_core, unique_project_name
from tests.serving.conftest import IRIS_V2_BODY, end_services, end_services_of, port_closed

pytestmark = pytest.mark.slow

SOURCE = """
import os
import pickle
import uuid
from pathlib import Path

from digitalhub_runtime_python import handler


@handler(outputs=["model"])
def train(project, C: float = 1.0):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    features, labels = load_iris(return_X_y=True)
    model = LogisticRegression(C=C, max_iter=500).fit(features, labels)
    folder = Path(os.environ.get("DHMLRUN_RUNS_DIR", ".")) / "models" / uuid.uuid4().hex
    folder.mkdir(parents=True)
    (folder / "model.pkl").write_bytes(pickle.dumps(model))
    return project.new_model("iris-classifier", kind="sklearn", path=str(folder / "model.pkl"))


def init(context, flowers):
    context.df = context.project.get_dataitem(flowers).as_df()


def serve(context, event):
    return {"rows": len(context.df), "columns": list(context.df.columns)}


def broken_init(context, flowers):
    raise RuntimeError("the flowers are not ready")
"""

SERVICES = """services:
  classifier: {kind: sklearnserve, model: runs.train.outputs.model, model_name: iris}
  api: {kind: python, function: api, init_parameters: {flowers: dataitems.flowers}}
"""


def write_config(root: Path, project: str, services: str = SERVICES) -> Path:
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    (root / "src" / "serving.py").write_text(SOURCE)
    (root / "data" / "flowers.csv").write_text("a,b\n1,2\n3,4\n5,6\n")
    (root / "dhmlrun.yaml").write_text(
        f"""version: 1
project: {{name: {project}}}
variables:
  C: {{default: 1.0}}
dataitems:
  flowers: {{kind: table, path: data/flowers.csv}}
functions:
  api: {{kind: python, python_version: PYTHON3_11, source: {{source: src/serving.py}}, handler: serve,
        init_function: init}}
  train: {{kind: python, python_version: PYTHON3_11, source: {{source: src/serving.py}}, handler: train}}
runs:
  train: {{function: train, action: job, parameters: {{C: "{{{{ var.C }}}}"}}, outputs: [model]}}
{services}"""
    )
    return root


def environment(**extra: str) -> dict[str, str]:
    """This user's environment without any platform: the embedded core of the config directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DHCORE_", "DH_"))}
    env["DH_CONFIG"] = os.devnull
    return {**env, **extra}


def dhmlrun(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dhmlrun", *args],
        capture_output=True,
        text=True,
        env=env or environment(),
        timeout=600,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def urls(text: str) -> dict[str, str]:
    """`services.NAME -> host:port` from apply's progress lines (`serving at http://...`)."""
    return dict(re.findall(r"(services\.\w+): done \([\d.]+s\): serving at http://(\S+)", text))


def apply_serving(root: Path, *args: str) -> dict[str, str]:
    """`dhmlrun apply ROOT --auto-approve ARGS`, which must succeed; the services it deployed,
    `services.NAME -> host:port` (`urls`)."""
    applied = dhmlrun("apply", str(root), *args, "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    return urls(applied.stdout + applied.stderr)


@pytest.fixture
def config(tmp_path: Path) -> Iterator[Path]:
    """A config directory whose services are ended after the test, whatever it did."""
    root = write_config(tmp_path / "repo", unique_project_name("serving"))
    try:
        yield root
    finally:
        end_services_of(root)


def test_declared_services_serve_as_declared_and_one_killed_outside_is_brought_back(config: Path) -> None:
    """(The serving example's test covers the retrain that redeploys and destroy.)"""
    first = apply_serving(config)
    assert set(first) == {"services.classifier", "services.api"}
    answer = dhmlrun(
        "invoke", "services.classifier", "--path", str(config), "--json", json.dumps(IRIS_V2_BODY)
    )
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout)["model_name"] == "iris"
    api = dhmlrun("invoke", "api", "--path", str(config))
    assert json.loads(api.stdout) == {"rows": 3, "columns": ["a", "b"]}
    assert dhmlrun("plan", str(config), "--detailed-exitcode").returncode == 0  # serving as declared
    shown = dhmlrun("show", "--path", str(config))
    assert f"http://{first['services.classifier']}" in shown.stdout
    assert "Context initialized." in dhmlrun("logs", "services.api", "--path", str(config)).stdout

    core = EmbeddedCore(config / ".dhmlrun" / "core.db")
    try:
        with core.store.read() as tx:
            api_pid = next(r.pid for r in tx.services() if r.kind.startswith("python"))
    finally:
        core.close()
    os.kill(api_pid, signal.SIGKILL)  # the service dies outside dhmlrun
    drift = dhmlrun("plan", str(config))
    assert f"~ services.api  (not running: service process {api_pid} exited" in drift.stdout
    assert "[drift]" in drift.stdout and "services.classifier" not in drift.stdout.split("Plan:")[0]
    back = dhmlrun("apply", str(config), "--auto-approve")
    assert back.returncode == 0, back.stdout + back.stderr
    assert json.loads(dhmlrun("invoke", "api", "--path", str(config)).stdout)["rows"] == 3
    assert dhmlrun("plan", str(config), "--detailed-exitcode").returncode == 0


def test_a_service_removed_from_the_configuration_is_stopped(config: Path) -> None:
    assert dhmlrun("apply", str(config), "--auto-approve").returncode == 0
    write_config(config, _project(config), services="")
    planned = dhmlrun("plan", str(config))
    assert "- services.api  (removed from the configuration)" in planned.stdout
    assert "- services.classifier  (removed from the configuration)" in planned.stdout
    shown_before = dhmlrun("show", "--path", str(config)).stdout
    removed = dhmlrun("apply", str(config), "--auto-approve")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    for url in re.findall(r"http://(\S+)", shown_before):
        assert port_closed(url)
    assert dhmlrun("plan", str(config), "--detailed-exitcode").returncode == 0


def test_a_service_that_never_becomes_ready_fails_apply_with_its_own_line(config: Path) -> None:
    declaration = config / "dhmlrun.yaml"
    declaration.write_text(
        declaration.read_text().replace("init_function: init", "init_function: broken_init")
    )
    applied = dhmlrun("apply", str(config), "--auto-approve")
    assert applied.returncode == 1
    output = applied.stdout + applied.stderr
    assert "services.api: failed" in output
    assert "the service never became ready: service process" in output
    assert "RuntimeError: the flowers are not ready" in output
    assert "services.classifier: done" in output  # its sibling is not held back


def test_services_deploy_the_same_on_a_core_rehearsing_a_stock_dhcore(tmp_path: Path) -> None:
    root = write_config(tmp_path / "repo", unique_project_name("stock"))
    with served_core(tmp_path / "stock.db", stock=True) as core:
        env = environment(DHCORE_ENDPOINT=str(core.endpoint), DHCORE_ACCESS_TOKEN=str(core.token))
        try:
            applied = dhmlrun("apply", str(root), "--auto-approve", env=env)
            assert applied.returncode == 0, applied.stdout + applied.stderr
            answer = dhmlrun(
                "invoke", "classifier", "--path", str(root), "--json", json.dumps(IRIS_V2_BODY), env=env
            )
            assert json.loads(answer.stdout)["outputs"][0]["data"] == [0, 2]
            assert dhmlrun("plan", str(root), "--detailed-exitcode", env=env).returncode == 0
            served = urls(applied.stdout + applied.stderr)
            assert dhmlrun("destroy", str(root), "--auto-approve", env=env).returncode == 0
            assert all(port_closed(url) for url in served.values())
        finally:
            end_services(core)


def _project(config: Path) -> str:
    return re.search(r"project: \{name: ([\w-]+)\}", (config / "dhmlrun.yaml").read_text()).group(1)  # type: ignore[union-attr]
