"""dhmlrun against a real MLRun API server beside a stock DHCore (the embedded core in stock
mode) and S3 from moto: the deployment a team has once it outgrows one machine.

Three ways to run it (tests/README.md says how to start an MLRun API server):
- replayed (the default, in CI): each test's HTTP exchanges with MLRun, recorded against a real
  server, are answered by a loopback server that fails the test on any request the recording
  does not have (`cassette.py`); everything else (the stock core, S3, mlrun) is real;
- live: `DHMLRUN_TEST_MLRUN_API=http://HOST:PORT` runs it against that server (the truth);
- recording: `python -m tests.integration.record http://HOST:PORT` runs it live through a
  recording proxy and rewrites `cassettes/` (after a change to what dhmlrun asks of MLRun).
Each test makes its own project on MLRun (named after the test) and deletes it before and after.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import served_core
from tests.integration.cassette import CASSETTES, Substitutions, recording, replaying

MLRUN_API = os.environ.get("DHMLRUN_TEST_MLRUN_API", "")
RECORD = os.environ.get("DHMLRUN_TEST_MLRUN_RECORD") == "1"
REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "employees"
BUCKET = "dhmlrun-it"

pytestmark = pytest.mark.slow


@dataclass
class Mlrun:
    """The MLRun API server a test talks to (the real one, a recording proxy, or a replay)."""

    url: str
    substitutions: Substitutions

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}/api/v1{path}", timeout=30) as answer:
            return json.loads(answer.read() or b"null")

    def delete_project(self, project: str) -> None:
        request = urllib.request.Request(
            f"{self.url}/api/v1/projects/{project}",
            method="DELETE",
            headers={"x-mlrun-deletion-strategy": "cascading"},
        )
        with contextlib.suppress(OSError):
            urllib.request.urlopen(request, timeout=60).close()


@pytest.fixture
def mlrun(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Mlrun]:
    """The test's MLRun: live, recorded into its cassette, or replayed from it (see the module)."""
    substitutions = Substitutions.session(tmp_path)
    # the example's code, as MLRun stores it: an edit of the example is no change of the exchanges
    code = (EXAMPLE / "src" / "pipeline.py").read_bytes()
    substitutions.add("example_code", base64.b64encode(code).decode("ascii"), whole=True)
    cassette = CASSETTES / f"{request.node.name}.json"
    if MLRUN_API and RECORD:
        with recording(MLRUN_API, cassette, substitutions) as url:
            yield Mlrun(url, substitutions)
    elif MLRUN_API:
        yield Mlrun(MLRUN_API, substitutions)
    else:
        assert cassette.exists(), (
            f"no cassette {cassette}: record it (`python -m tests.integration.record URL`)"
        )
        with replaying(cassette, substitutions) as url:
            yield Mlrun(url, substitutions)


def environ() -> dict[str, str]:
    """This process's environment without what other tests' fixtures set in it for their own
    runs (tests/runtime's runs folder): the example's runs go where a user's would."""
    return {k: v for k, v in os.environ.items() if k != "DHMLRUN_RUNS_DIR"}


def suffix_of(request: pytest.FixtureRequest) -> str:
    """The test's project suffix: the same on every run, so its cassette names the same project."""
    return f"it{zlib.crc32(request.node.name.encode()):08x}"


@pytest.fixture(scope="module")
def s3() -> Iterator[dict[str, str]]:
    """An S3 API (moto) with one bucket: the project's files store."""
    server_module = pytest.importorskip("moto.server", reason="pip install 'moto[server]' for the S3 store")
    import boto3

    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "DHCORE_DEFAULT_FILES_STORE": f"s3://{BUCKET}",
    }
    boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).create_bucket(Bucket=BUCKET)
    yield env
    server.stop()


@pytest.fixture(scope="module")
def stock_core(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with served_core(tmp_path_factory.mktemp("stock") / "core.db", stock=True) as core:
        yield core


@pytest.fixture
def deployment(
    request: pytest.FixtureRequest, tmp_path: Path, stock_core: Any, s3: dict[str, str], mlrun: Mlrun
) -> Iterator[dict[str, Any]]:
    """A copy of the example, an environment reaching the stock core, MLRun and S3, and the
    project's name (deleted from MLRun before and after)."""
    suffix = suffix_of(request)
    mlrun.substitutions.add("s3", s3["AWS_ENDPOINT_URL"])
    mlrun.substitutions.add("core", stock_core.endpoint)
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".dhmlrun"))
    env = {
        **environ(),
        **s3,
        "DHCORE_ENDPOINT": os.environ["DHCORE_ENDPOINT"],
        "DHCORE_ACCESS_TOKEN": stock_core.token,
        "DH_CONFIG": os.devnull,
        "MLRUN_DBPATH": mlrun.url,
        "DHMLRUN_VAR_ENV": suffix,
    }
    project = f"employees-{suffix}"
    mlrun.delete_project(project)
    yield {"repo": repo, "env": env, "project": project, "mlrun": mlrun}
    mlrun.delete_project(project)


def dhmlrun(deployment: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dhmlrun", *args],
        cwd=deployment["repo"],
        env=deployment["env"],
        capture_output=True,
        text=True,
        timeout=600,
    )


def edit(deployment: dict[str, Any], old: str, new: str) -> None:
    path = deployment["repo"] / "dhmlrun.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_the_example_applies_with_functions_and_runs_on_mlrun(
    deployment: dict[str, Any], stock_core: Any
) -> None:
    applied = dhmlrun(deployment, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    project, mlrun_get = deployment["project"], deployment["mlrun"].get
    assert mlrun_get(f"/projects/{project}")["metadata"]["name"] == project
    functions = mlrun_get(f"/projects/{project}/functions?label=dhmlrun&tag=*")["funcs"]
    assert {f["metadata"]["name"] for f in functions} == {"downloader", "summarise"}
    assert all(f["kind"] == "job" for f in functions)  # never overwritten by a local run's copy
    runs = mlrun_get(f"/projects/{project}/runs?label=dhmlrun")["runs"]
    assert sorted(r["status"]["state"] for r in runs) == ["completed", "completed"]
    dataitems = {d["name"]: d for d in stock_core_list(stock_core, project, "dataitems")}
    assert dataitems["employees"]["spec"]["path"].startswith(f"s3://{BUCKET}/")  # uploaded
    assert "salary-summary" in dataitems and "employees-clean" in dataitems
    replan = dhmlrun(deployment, "plan", "--detailed-exitcode")
    assert replan.returncode == 0, replan.stdout + replan.stderr
    outputs = dhmlrun(deployment, "outputs", "runs.summary")
    assert "salary-summary" in outputs.stdout and "top_department" in outputs.stdout
    logs = dhmlrun(deployment, "logs", "runs.download")
    assert logs.returncode == 0 and "completed" in logs.stdout


def stock_core_list(core: Any, project: str, type_: str) -> list[dict[str, Any]]:
    from tests.conftest import platform_of

    return platform_of(core).list_latest(project, type_)


def test_a_remote_run_carries_its_resources_and_mlruns_refusal_is_its_failure(
    deployment: dict[str, Any],
) -> None:
    edit(
        deployment,
        "    values: [rows]\n",
        '    values: [rows]\n    execution: remote\n    resources: {cpu: "1", mem: 2Gi}\n'
        "    envs: [{name: MODE, value: prod}]\n",
    )
    applied = dhmlrun(deployment, "apply", "--auto-approve")
    assert applied.returncode == 1
    output = applied.stdout + applied.stderr
    failure = [line for line in output.splitlines() if "failed:  runs.download" in line]
    assert len(failure) == 1 and "MLRun refused the run" in failure[0], output
    project, mlrun_get = deployment["project"], deployment["mlrun"].get
    (run,) = [r for r in mlrun_get(f"/projects/{project}/runs?label=dhmlrun")["runs"]]
    assert run["status"]["state"] == "error"
    assert run["spec"]["inputs"]["url"].startswith(f"s3://{BUCKET}/")
    name, _, function_hash = run["spec"]["function"].split("/", 1)[1].partition("@")
    (function,) = [
        f
        for f in mlrun_get(f"/projects/{project}/functions?name={name}&tag=*")["funcs"]
        if f["metadata"].get("hash") == function_hash
    ]
    assert function["spec"]["resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}
    assert {"name": "MODE", "value": "prod"} in function["spec"]["env"]
    again = dhmlrun(deployment, "plan")
    assert "last run failed" in again.stdout


def test_a_schedule_is_created_replaced_and_deleted(deployment: dict[str, Any]) -> None:
    edit(
        deployment,
        "runs:\n",
        "runs:\n  nightly:\n    function: functions.downloader\n    action: job\n"
        '    inputs: {url: dataitems.employees}\n    schedule: "@daily"\n',
    )
    applied = dhmlrun(deployment, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    project, mlrun_get = deployment["project"], deployment["mlrun"].get
    (schedule,) = mlrun_get(f"/projects/{project}/schedules")["schedules"]
    assert (schedule["name"], schedule["cron_trigger"]["hour"]) == ("nightly", 0)
    assert dhmlrun(deployment, "plan", "--detailed-exitcode").returncode == 0
    edit(deployment, 'schedule: "@daily"', 'schedule: "30 4 * * *"')
    assert dhmlrun(deployment, "apply", "--auto-approve").returncode == 0
    (schedule,) = mlrun_get(f"/projects/{project}/schedules")["schedules"]
    assert (schedule["cron_trigger"]["hour"], schedule["cron_trigger"]["minute"]) == (4, 30)
    destroyed = dhmlrun(deployment, "destroy", "--auto-approve")
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    assert mlrun_get(f"/projects/{project}/schedules")["schedules"] == []
    assert mlrun_get(f"/projects/{project}/functions?label=dhmlrun&tag=*")["funcs"] == []


def test_runs_on_a_dhcore_with_the_mlrun_runtime_are_recorded_on_mlrun(
    request: pytest.FixtureRequest, tmp_path: Path, mlrun: Mlrun
) -> None:
    """The embedded core holds the runs; the runtime inside them records on the MLRun service of
    `MLRUN_DBPATH` (project saved there), as DigitalHub's mlrun runtime always did."""
    suffix = suffix_of(request)
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".dhmlrun"))
    env = {k: v for k, v in environ().items() if not k.startswith(("DHCORE_", "DH_"))}
    env.update(MLRUN_DBPATH=mlrun.url, DHMLRUN_VAR_ENV=suffix, DH_CONFIG=os.devnull)
    project = f"employees-{suffix}"
    mlrun.delete_project(project)
    try:
        applied = subprocess.run(
            [sys.executable, "-m", "dhmlrun", "apply", "--auto-approve"],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert "MLRun service" not in applied.stdout  # the functions and runs stay on the core
        runs = mlrun.get(f"/projects/{project}/runs")["runs"]
        assert sorted(r["status"]["state"] for r in runs) == ["completed", "completed"]
    finally:
        mlrun.delete_project(project)
