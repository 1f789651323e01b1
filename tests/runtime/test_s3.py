"""S3 paths, against moto's in-process S3 (in a child process, so its patching and the files-store
settings stay out of this one): an s3 input, a `zip+s3://` source, and outputs uploaded to
`DHCORE_DEFAULT_FILES_STORE` instead of being registered by local path, all or nothing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import unique_project_name

pytestmark = pytest.mark.slow

SCRIPT = r"""
import io, json, os, sys, zipfile

os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_ENDPOINT_URL": "https://s3.amazonaws.com",
    "DHCORE_DEFAULT_FILES_STORE": "s3://bucket/files",
})
from moto import mock_aws

CODE = '''
import mlrun

def double(context, table: mlrun.DataItem):
    df = table.as_df()
    df["b"] = df["a"] * 2
    context.log_model("model", body=b"weights", model_file="model.bin")
    context.log_artifact("notes", body=b"notes", local_path="notes.txt")
    return df
'''

with mock_aws():
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="bucket")
    s3.put_object(Bucket="bucket", Key="data/in.csv", Body=b"a\n1\n2\n")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("app/main.py", CODE)
    s3.put_object(Bucket="bucket", Key="code/app.zip", Body=archive.getvalue())

    import digitalhub as dh

    project = dh.get_or_create_project(sys.argv[1])
    table = project.new_dataitem(name="in", kind="table", path="s3://bucket/data/in.csv")
    source = {"source": "zip+s3://bucket/code/app.zip"}
    function = project.new_function(name="s3fn", kind="mlrun", source=source, handler="app.main:double")
    run = function.run(
        "job", inputs={"table": table.key}, outputs={"dataset": "doubled"}, local_execution=True
    )
    report = {"state": run.status.state, "message": run.status.message}
    if run.status.state == "COMPLETED":
        report["paths"] = {name: entity.spec.path for name, entity in run.outputs().items()}
        dataset = run.output("dataset")
        report["b"] = dataset.as_df()["b"].tolist()
        report["schema"] = [field["name"] for field in dataset.spec.schema["fields"]]
        report["preview"] = bool(dataset.status.preview)
        report["state_of_outputs"] = sorted({entity.status.state for entity in run.outputs().values()})

    def names():
        return sorted(e.name for e in dh.list_dataitems(project.name) + dh.list_models(project.name)
                      + dh.list_artifacts(project.name))

    before = names()
    refused = function.run(  # 'notes@' is refused by the platform after other outputs were uploaded
        "job",
        inputs={"table": table.key},
        outputs={"dataset": "doubled-again", "model": "model-again", "notes": "notes@"},
        local_execution=True,
    )
    report["refused"] = [refused.status.state, refused.status.message, names() == before]
    print("REPORT " + json.dumps(report))
"""


def test_s3_input_zip_source_and_uploaded_outputs(core: object) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, unique_project_name("s3")],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("REPORT ")]
    assert lines, done.stdout[-2000:] + done.stderr[-3000:]
    report = json.loads(lines[-1].removeprefix("REPORT "))
    assert report["state"] == "COMPLETED", report["message"]
    assert report["b"] == [2, 4]
    assert set(report["paths"]) == {"dataset", "model", "notes"}
    assert all(path.startswith("s3://bucket/files/") for path in report["paths"].values()), report["paths"]
    assert report["schema"] == ["a", "b"]
    assert report["preview"]
    assert report["state_of_outputs"] == ["READY"]
    state, message, nothing_left = report["refused"]
    assert state == "ERROR"
    assert "cannot register output 'notes' as 'notes@'" in message
    assert nothing_left  # the outputs uploaded before the refused one were deleted again
