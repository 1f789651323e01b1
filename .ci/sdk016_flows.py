"""The digitalhub SDK 0.16's flows against the embedded core in 0.16 mode (`core serve
--api-level 16`): the second, allowed-to-fail CI target (`.ci/run-sdk016`, README's CI section).

Run with the 0.16 SDK importable and the client settings of the served core in the environment
(`dhmlrun core serve --api-level 16 --env-file F`, then `set -a; . F`). Each flow prints one line
(`ok` or `FAILED` with the error); the exit code is the number of failed flows.
"""

from __future__ import annotations

import base64
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path

import digitalhub as dh

PROJECT = f"sdk016-{uuid.uuid4().hex[:8]}"
CSV = "name,years\nada,3\nbob,7\n"
HANDLER = """
def double(x: int = 1):
    return x * 2
"""
FINAL = ("COMPLETED", "ERROR", "STOPPED")


def wait_final(run, seconds: float = 300):
    deadline = time.monotonic() + seconds
    while run.refresh().status.state not in FINAL:
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run.id} still {run.status.state}")
        time.sleep(0.5)
    return run


def projects(work: Path) -> None:
    project = dh.get_or_create_project(PROJECT, description="the 0.16 flows")
    assert dh.get_project(PROJECT).metadata.description == "the 0.16 flows"
    assert PROJECT in [p.name for p in dh.list_projects()]
    project.metadata.description = "updated"
    dh.update_project(project)
    assert dh.get_project(PROJECT).metadata.description == "updated"


def dataitems(work: Path) -> None:
    import pandas as pd

    source = work / "people.csv"
    source.write_text(CSV)
    table = dh.log_table(PROJECT, source=str(source), name="people")
    assert table.as_df()["years"].tolist() == [3, 7]
    frame = dh.log_table(PROJECT, data=pd.DataFrame({"x": [1, 2]}), name="frame")
    assert frame.as_df()["x"].tolist() == [1, 2]
    dh.new_dataitem(PROJECT, "remote", kind="table", path="s3://dhcore/elsewhere.csv")
    assert {d.name for d in dh.list_dataitems(PROJECT)} >= {"people", "frame", "remote"}


def artifacts_and_models(work: Path) -> None:
    source = work / "weights.bin"
    source.write_bytes(b"weights")
    artifact = dh.log_artifact(PROJECT, source=str(source), name="weights")
    assert Path(artifact.download(str(work / "out"), overwrite=True)).read_bytes() == b"weights"
    model = dh.log_model(PROJECT, source=str(source), name="model")
    assert model.spec.path.startswith(f"s3://dhcore/{PROJECT}/model/model/")


def secrets(work: Path) -> None:
    secret = dh.new_secret(PROJECT, "TOKEN", secret_value="s3cr3t")
    assert dh.get_secret("TOKEN", project=PROJECT).read_secret_value() == "s3cr3t"
    assert secret.name == "TOKEN"


def container_images(work: Path) -> None:
    image = dh.new_containerimage(PROJECT, "base", kind="container-image", image="python:3.11-slim")
    assert dh.get_containerimage("base", project=PROJECT).spec.image == "python:3.11-slim"
    assert image.key.startswith(f"store://{PROJECT}/containerimage/container-image/base:")


def python_runs(work: Path) -> None:
    code = base64.b64encode(HANDLER.encode()).decode()
    source = {"base64": code, "handler": "double", "lang": "python"}
    function = dh.new_function(PROJECT, "double", kind="python", python_version="PYTHON3_11", source=source)
    local = function.run("job", parameters={"x": 2}, local_execution=True)
    assert local.status.state == "COMPLETED", local.status.message
    remote = wait_final(function.run("job", parameters={"x": 21}))
    assert remote.status.state == "COMPLETED", remote.status.message


def configuration(work: Path) -> None:
    from digitalhub.stores.client.factory import get_client

    assert get_client().get_k8s_resource_profiles() == []


FLOWS: list[Callable[[Path], None]] = [
    projects,
    dataitems,
    artifacts_and_models,
    secrets,
    container_images,
    python_runs,
    configuration,
]


def main() -> int:
    failed = 0
    with tempfile.TemporaryDirectory(prefix="sdk016-") as tmp:
        for flow in FLOWS:
            work = Path(tmp) / flow.__name__
            work.mkdir()
            started = time.monotonic()
            try:
                flow(work)
                print(f"ok      {flow.__name__} ({time.monotonic() - started:.1f}s)")
            except Exception as exc:  # a flow's failure is reported, the next one still runs
                failed += 1
                print(f"FAILED  {flow.__name__}: {type(exc).__name__}: {exc}")
                traceback.print_exc(limit=3, file=sys.stdout)
    print(f"{len(FLOWS) - failed} of {len(FLOWS)} flows passed with digitalhub {dh_version()}")
    return failed


def dh_version() -> str:
    from importlib.metadata import version

    return version("digitalhub")


if __name__ == "__main__":
    sys.exit(main())
