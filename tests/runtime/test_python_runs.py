"""`python` functions (digitalhub-runtime-python, unmodified) on the embedded core, through the SDK
as a user drives them: executed by the core's workers to COMPLETED with outputs, or in the
caller's process; the client's saves never fail while the core moves the run; a task's secrets
reach the run as environment variables, as DHCore's pods get them."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest

pytestmark = pytest.mark.slow

FINAL = ("COMPLETED", "ERROR", "STOPPED")
HANDLER = """
import os
from digitalhub_runtime_python import handler


@handler(outputs=["model", "token_length", "doubled"])
def train(project, run, base, factor: int = 2):
    model = project.new_model("trained", kind="model", path=base.spec.path, framework="none")
    return model, len(os.environ.get("PY_TOKEN", "")), factor * 2
"""


def python_function(project: Any, name: str = "trainer") -> Any:
    source = {"base64": base64.b64encode(HANDLER.encode()).decode(), "source": "train.py", "handler": "train"}
    return project.new_function(name, kind="python", python_version="PYTHON3_11", source=source)


def wait_final(run: Any, seconds: float = 120) -> Any:
    deadline = time.monotonic() + seconds
    while run.refresh().status.state not in FINAL:
        assert time.monotonic() < deadline, f"run {run.id} still {run.status.state}"
        time.sleep(0.05)
    return run


def test_a_remote_python_run_completes_with_its_outputs_and_saves_never_fail(project: Any, tmp_path) -> None:
    (tmp_path / "base.bin").write_bytes(b"weights")
    base = project.new_model("base", kind="model", path=str(tmp_path / "base.bin"))
    run = python_function(project).run("job", inputs={"base": base.key}, parameters={"factor": 21})
    assert run.status.state == "READY"  # built inside its create, as DHCore's POST does
    assert run.spec.source["handler"] == "train"  # the function's spec merged in by the build
    saves = 0
    while run.status.state not in FINAL:  # the client saving while the worker moves the run
        run.save(update=True)
        saves += 1
        run.refresh()
    assert saves >= 1
    wait_final(run)
    assert run.status.state == "COMPLETED", run.status.message
    assert run.result("doubled") == 42
    assert run.output("model").name == "trained"
    assert run.output("model").key.startswith(f"store://{project.name}/model/model/trained:")


def test_saving_the_created_state_right_after_the_create_keeps_the_cores_state(project: Any) -> None:
    run = python_function(project, "saver").run("job", parameters={"factor": 1})
    run.status.state = "CREATED"  # what a client that saw the create answer only might carry
    run.save(update=True)
    assert run.status.state != "CREATED"
    assert wait_final(run).status.state in ("COMPLETED", "ERROR")


def test_a_local_python_run_completes_in_the_callers_process(project: Any, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # the runtime writes the source under the working directory
    (tmp_path / "local.bin").write_bytes(b"weights")
    base = project.new_model("local-base", kind="model", path=str(tmp_path / "local.bin"))
    run = python_function(project, "local").run(
        "job", inputs={"base": base.key}, parameters={"factor": 5}, local_execution=True
    )
    assert run.status.state == "COMPLETED", run.status.message
    assert run.refresh().result("doubled") == 10
    assert run.output("model").name == "trained"


def test_a_remote_runs_task_secrets_are_its_environment(project: Any, tmp_path) -> None:
    project.new_secret("PY_TOKEN", secret_value="swordfish-42")
    (tmp_path / "s.bin").write_bytes(b"w")
    base = project.new_model("secret-base", kind="model", path=str(tmp_path / "s.bin"))
    function = python_function(project, "secretive")
    with_secret = function.run("job", inputs={"base": base.key}, secrets=["PY_TOKEN"])
    without = function.run("job", inputs={"base": base.key})
    assert wait_final(with_secret).status.state == "COMPLETED", with_secret.status.message
    assert wait_final(without).status.state == "COMPLETED", without.status.message
    assert with_secret.result("token_length") == len("swordfish-42")
    assert without.result("token_length") == 0


PRINTING_HANDLER = """
import os
from digitalhub_runtime_python import handler


@handler()
def leak():
    print("the token is", os.environ["PY_LEAK"])
    raise RuntimeError("refused with " + os.environ["PY_LEAK"])
"""


def test_a_secret_a_remote_run_prints_is_masked_in_the_log_the_core_keeps(project: Any) -> None:
    """What the worker prints is the run's log (core/jobs.py); a handler printing its task's
    secret, or failing with it in the message, leaves `(sensitive)` there, never the value."""
    project.new_secret("PY_LEAK", secret_value="swordfish-43")
    code = base64.b64encode(PRINTING_HANDLER.encode()).decode()
    source = {"base64": code, "source": "leak.py", "handler": "leak"}
    function = project.new_function("leaky", kind="python", python_version="PYTHON3_11", source=source)
    run = wait_final(function.run("job", secrets=["PY_LEAK"]))
    assert run.status.state == "ERROR"
    printed = "".join(entry.text or "" for entry in run.logs())
    assert "the token is (sensitive)" in printed
    assert "swordfish-43" not in printed and "swordfish-43" not in str(run.status.message)


FRAME_HANDLER = """
import pandas as pd
from digitalhub_runtime_python import handler


@handler(outputs=["table"])
def frame(rows: int = 3):
    return pd.DataFrame({"n": list(range(rows))})
"""


def test_a_remote_python_run_returning_a_dataframe_completes_into_the_cores_files_store(project: Any) -> None:
    """digitalhub-runtime-python logs a returned DataFrame as a table through the SDK's default
    store (`get_default_store`), which the core hands its runs as DHCore hands its pods
    DHCORE_DEFAULT_FILES_STORE: without it the run ended in ERROR "No default store found"."""
    code = base64.b64encode(FRAME_HANDLER.encode()).decode()
    source = {"base64": code, "source": "f.py", "handler": "frame"}
    function = project.new_function("framer", kind="python", python_version="PYTHON3_11", source=source)
    run = wait_final(function.run("job", parameters={"rows": 4}))
    assert run.status.state == "COMPLETED", run.status.message
    table = run.output("table")
    assert table.spec.path.startswith(f"s3://dhcore/{project.name}/dataitem/table/")
    assert table.as_df()["n"].tolist() == [0, 1, 2, 3]


ENVIRONMENT_HANDLER = """
import os


def report(project, run):
    names = ("PROJECT_NAME", "RUN_ID", "GREETING", "DHCORE_NAME", "DHCORE_WORKFLOW_IMAGE")
    return (*(os.environ.get(name, "") for name in names), run.id)
"""


def test_a_remote_run_has_the_environment_dhcores_runners_give_a_pod(project: Any) -> None:
    """PythonBaseRunner.createEnvList: PROJECT_NAME, RUN_ID, the task's envs; the core's
    configuration from the run's secret (CoreConfig)."""
    source = {"base64": base64.b64encode(ENVIRONMENT_HANDLER.encode()).decode(), "handler": "report"}
    function = project.new_function("environment", kind="python", python_version="PYTHON3_11", source=source)
    run = function.run("job", envs=[{"name": "GREETING", "value": "hello"}])
    assert wait_final(run).status.state == "COMPLETED", run.status.message
    values = [run.result(f"output_{i}") for i in range(6)]
    project_name, run_id, greeting, core_name, workflow_image, seen_run = values
    assert (project_name, run_id, greeting) == (project.name, run.id, "hello")
    assert core_name == "dhmlrun-core"
    assert workflow_image == ""  # only a workflow build is told the step image
    assert seen_run == run.id  # the SDK's context found the run it executes in, by RUN_ID
