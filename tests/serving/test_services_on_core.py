"""Serve runs on the embedded core (`docs/services.md`), driven through the unmodified SDK as a
user or a platform scenario drives them: served for real (MLServer for models, the nuclio-style
host for python functions), reached with the SDK's own `run.invoke()`, stopped, resumed, killed
from outside, deleted, and outliving the core that started them."""

from __future__ import annotations

import base64
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from dhmlrun.core.server import EmbeddedCore
from dhmlrun.platform.rest import RestClient, context_path
from tests.apply.test_upload import BUCKET
from tests.conftest import served_core, unique_project_name, wait_for
from tests.serving.conftest import (
    IRIS_V2_BODY,
    end_services,
    needs_server,
    port_closed,
    port_open,
    wait_serving,
)

pytestmark = pytest.mark.slow

API = """
import os


def init(context, greeting="hello"):
    context.inits = getattr(context, "inits", 0) + 1
    context.greeting = greeting
    print("init called with", greeting, "token", len(os.environ.get("API_TOKEN", "")), flush=True)


def serve(context, event):
    return {
        "greeting": context.greeting,
        "inits": context.inits,
        "fields": event.fields,
        "body": event.body if isinstance(event.body, dict) else None,
        "path": event.path,
        "method": event.method,
        "project": context.project.name,
        "run": context.run.id,
    }
"""

BROKEN = """
def init(context):
    raise ValueError("no data for you")


def serve(context, event):
    return "never"
"""


def python_service(project: Any, name: str, code: str = API, init: str | None = "init") -> Any:
    source = {"base64": base64.b64encode(code.encode()).decode(), "source": "api.py", "handler": "serve"}
    if init:
        source["init_function"] = init
    return project.new_function(name, kind="python", python_version="PYTHON3_11", source=source)


def log_text(run: Any) -> str:
    return "".join(base64.b64decode(log._content or "").decode() for log in run.logs())


def test_a_python_serve_run_answers_its_handler_through_the_sdks_invoke(project: Any) -> None:
    project.new_secret("API_TOKEN", secret_value="s3cr3t-value")
    run = python_service(project, "api").run(
        "serve", init_parameters={"greeting": "ciao"}, secrets=["API_TOKEN"]
    )
    assert wait_serving(run).status.state == "RUNNING", run.status.message
    url = run.status.service["url"]
    assert url.startswith("127.0.0.1:") and "://" not in url  # DHCore's host:port, no scheme

    posted = run.invoke(json={"x": 1})
    assert posted.status_code == 200, posted.text
    assert posted.json() == {
        "greeting": "ciao",
        "inits": 1,
        "fields": {},
        "body": {"x": 1},
        "path": "/",
        "method": "POST",
        "project": project.name,
        "run": run.id,
    }
    got = run.invoke(url=f"http://{url}/items?page=5&size=10")
    assert got.json()["fields"] == {"page": "5", "size": "10"}
    assert got.json()["method"] == "GET" and got.json()["path"] == "/items"
    assert got.json()["inits"] == 1  # init_function ran once, not per request
    assert "init called with ciao token 12" in log_text(run)  # the task's secret was its env


def test_a_sklearn_model_is_served_by_mlserver_with_v2_inference(project: Any, iris_model_file: Path) -> None:
    needs_server("mlserver_sklearn")
    project.new_model("iris", kind="sklearn", path=str(iris_model_file))
    function = project.new_function(
        "classifier", kind="sklearnserve", path=f"store://{project.name}/model/sklearn/iris"
    )
    run = function.run("serve")
    assert wait_serving(run).status.state == "RUNNING", run.status.message
    answer = run.invoke(json=IRIS_V2_BODY)  # digitalhub-runtime-modelserve: /v2/models/model/infer
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][0]["data"] == [0, 2]
    inference = run.status.to_dict()["inference_v2"]
    assert inference["inferenceUrl"] == f"{run.status.service['url']}/v2/models/model/infer"
    assert requests.get(f"http://{inference['readinessUrl']}", timeout=10).status_code == 200


def test_an_mlflow_model_is_served_under_its_model_name(project: Any, tmp_path: Path) -> None:
    needs_server("mlserver_mlflow")
    import mlflow.models
    import mlflow.sklearn
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    features, labels = load_iris(return_X_y=True)
    signature = mlflow.models.infer_signature(features, labels)  # as mlflow's autolog records it
    model = LogisticRegression(max_iter=300).fit(features, labels)
    # requirements named, not inferred: mlflow infers them by loading the model in a process of
    # its own (5 s of CPU), and no server here installs them
    mlflow.sklearn.save_model(
        model, tmp_path / "iris", signature=signature, pip_requirements=["scikit-learn"]
    )
    project.new_model("iris-classifier", kind="mlflow", path=str(tmp_path / "iris"))
    function = project.new_function(
        "flow",
        kind="mlflowserve",
        path=f"store://{project.name}/model/mlflow/iris-classifier",
        model_name="iris-classifier",
    )
    run = function.run("serve")
    assert wait_serving(run).status.state == "RUNNING", run.status.message
    answer = run.invoke(model_name="iris-classifier", json=IRIS_V2_BODY)
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][0]["data"] == [0, 2]


def test_stop_ends_the_server_and_resume_serves_again(project: Any, serving_core: EmbeddedCore) -> None:
    run = python_service(project, "stoppable").run("serve")
    assert wait_serving(run).status.state == "RUNNING", run.status.message
    first = run.status.service["url"]
    run.stop()
    assert run.refresh().status.state == "STOPPED"
    assert run.status.service is None
    assert port_closed(first)
    run.resume()
    assert wait_serving(run).status.state == "RUNNING", run.status.message
    assert run.invoke(json={}).json()["inits"] == 1  # a new process: init ran again, once


def test_a_read_while_a_resumed_service_starts_never_takes_the_old_process_for_the_new(
    project: Any, serving_core: EmbeddedCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forked server serves, and reads its run, at once: before its row is written, the
    stored row is still the stopped process's. A read then (which reconciles the services)
    must not take that dead process for the resumed run's, nor may a late watcher of it."""
    run = python_service(project, "resumed").run("serve")
    assert wait_serving(run).status.state == "RUNNING", run.status.message
    run.stop()
    assert run.refresh().status.state == "STOPPED"
    supervisor = serving_core.services
    start = supervisor._start

    def start_then_read(*args: Any) -> Any:
        process = start(*args)
        supervisor.reconcile(project.name)  # the new server's first read, in the worst moment
        return process

    monkeypatch.setattr(supervisor, "_start", start_then_read)
    stopped = supervisor.record(run.id)
    run.resume()
    assert wait_serving(run).status.state == "RUNNING", run.status.message
    assert stopped is not None
    supervisor._ended(stopped, "exited")  # a watcher of the stopped process, late
    assert run.refresh().status.state == "RUNNING"


def test_a_service_that_never_becomes_ready_fails_with_its_own_last_line(project: Any) -> None:
    run = python_service(project, "broken", BROKEN).run("serve")
    assert wait_serving(run).status.state == "ERROR"
    assert "exited before it was ready" in run.status.message
    assert "no data for you" in run.status.message
    assert "ValueError: no data for you" in log_text(run)


def test_a_service_killed_outside_the_platform_is_error_when_next_read(
    project: Any, serving_core: EmbeddedCore
) -> None:
    run = python_service(project, "killed").run("serve")
    assert wait_serving(run).status.state == "RUNNING", run.status.message
    record = serving_core.services.record(run.id)
    assert record is not None
    os.kill(record.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while run.refresh().status.state == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert run.status.state == "ERROR"
    assert run.status.message.startswith(f"service process {record.pid} exited")


def test_deleting_a_serve_run_ends_its_server_and_its_folder(
    project: Any, serving_core: EmbeddedCore
) -> None:
    import digitalhub as dh

    run = python_service(project, "deleted").run("serve")
    assert wait_serving(run).status.state == "RUNNING", run.status.message
    url = run.status.service["url"]
    record = serving_core.services.record(run.id)
    assert record is not None and Path(record.directory).is_dir()
    dh.delete_run(run.key)
    assert port_closed(url)
    assert serving_core.services.record(run.id) is None
    assert not Path(record.directory).exists()


def test_a_service_outlives_the_core_that_started_it(tmp_path: Path) -> None:
    import digitalhub as dh

    db = tmp_path / "core.db"
    with served_core(db) as first:
        project = dh.get_or_create_project(unique_project_name("outlive"))
        # a remote job first: the core's warm run server is then there and ready for the service
        code = base64.b64encode(b"def handler():\n    return 1\n").decode()
        source = {"base64": code, "handler": "handler"}
        job = project.new_function("warm", kind="python", python_version="PYTHON3_11", source=source)
        warmed = job.run("job")
        wait_for(lambda: warmed.refresh().status.state == "COMPLETED", "the remote job to complete")
        run = python_service(project, "lasting").run("serve", init_parameters={"greeting": "still here"})
        assert wait_serving(run).status.state == "RUNNING", run.status.message
        url, run_id, name = run.status.service["url"], run.id, project.name
        record = first.services.record(run_id)
        assert record is not None
        # a fork of the core's warm run server (no imports of its own), leading its own session
        assert b"dhmlrun.worker.fork_server" in Path(f"/proc/{record.pid}/cmdline").read_bytes()
        assert os.getsid(record.pid) == record.pid
    try:
        assert port_open(url)  # the core is closed; its service serves on
        with served_core(db) as second:  # another core on the same database: it finds the service
            client = RestClient(second.transport())
            path = context_path(name, "runs", run_id)
            assert client.get(path)["status"]["state"] == "RUNNING"
            assert requests.post(f"http://{url}/", json={}, timeout=10).json()["greeting"] == "still here"
            client.post(f"{path}/stop", None)
            assert client.get(path)["status"]["state"] == "STOPPED"
            assert port_closed(url)
            end_services(second)
    finally:
        if record is not None and port_open(url):
            os.killpg(record.pid, signal.SIGKILL)


def test_huggingfaceserve_is_refused_with_the_reason(project: Any) -> None:
    function = project.new_function(
        "hf", kind="huggingfaceserve", path="huggingface://distilbert-base-uncased", model_name="bert"
    )
    run = function.run("serve")
    assert wait_serving(run).status.state == "ERROR"
    assert "huggingfaceserver" in run.status.message and "not published on PyPI" in run.status.message


def test_a_model_in_the_files_store_is_downloaded_and_served(
    iris_model_file: Path, tmp_path: Path, s3: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model logged to an S3 files store (`log_model(source=FOLDER)`, as a training job logs
    it): its path is a folder, and the server gets the `.pkl` file of `status.files`. The core
    is given that store when it starts, as DHCore is (DHCORE_DEFAULT_FILES_STORE), so the
    services it runs read the store the client wrote to."""
    needs_server("mlserver_sklearn")
    import digitalhub as dh

    settings = {
        "AWS_ENDPOINT_URL": s3,
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_REGION": "us-east-1",
    }
    for key, value in settings.items():  # this process logs to the store; the services inherit AWS_*
        monkeypatch.setenv(key, value)
    store = f"s3://{BUCKET}/store"
    with served_core(tmp_path / "core.db", files_store=store) as core:
        try:
            project = dh.get_or_create_project(unique_project_name("svc-s3"))
            folder = tmp_path / "model"
            folder.mkdir()
            (folder / "iris.pkl").write_bytes(iris_model_file.read_bytes())
            (folder / "README.txt").write_text("a classifier of iris flowers")
            logged = project.log_model("stored-iris", kind="sklearn", source=str(folder))
            assert logged.spec.path.startswith(f"{store}/")
            function = project.new_function(
                "stored", kind="sklearnserve", path=f"store://{project.name}/model/sklearn/stored-iris"
            )
            run = function.run("serve")
            assert wait_serving(run).status.state == "RUNNING", run.status.message
            assert run.invoke(json=IRIS_V2_BODY).json()["outputs"][0]["data"] == [0, 2]
        finally:
            end_services(core)


FETCH_WITHOUT_THE_SDK = """
import os, sys
from pathlib import Path
from dhmlrun.platform.auth import Credentials
from dhmlrun.platform.rest import RestClient
from dhmlrun.platform.transport import HttpTransport
from dhmlrun.serving.mlserver import fetch_model

client = RestClient(HttpTransport(os.environ["DHCORE_ENDPOINT"]), Credentials(os.environ))
found = fetch_model("sklearnserve", sys.argv[1], sys.argv[2], Path(sys.argv[3]), client)
print(found)
print("digitalhub" in sys.modules)
"""


def test_a_one_file_model_is_fetched_through_the_files_api_without_the_sdk(
    project: Any, iris_model_file: Path, tmp_path: Path
) -> None:
    """A model service's start asks the platform's files API for a one-file model version (a
    presigned URL, as DHCore answers) instead of importing the SDK and its S3 client for it: about
    a second of every sklearn service's readiness (bench 11)."""
    import subprocess
    import sys

    model = project.log_model("one-file", kind="sklearn", source=str(iris_model_file))
    key = f"store://{project.name}/model/sklearn/one-file:{model.id}"
    fetched = subprocess.run(
        [sys.executable, "-c", FETCH_WITHOUT_THE_SDK, project.name, key, str(tmp_path / "got")],
        capture_output=True,
        text=True,
        check=True,
    )
    found, imported = fetched.stdout.split()
    assert Path(found).read_bytes() == iris_model_file.read_bytes()
    assert imported == "False"
