"""S3 paths, against moto's in-process S3 (in a child process, so its patching and the files-store
settings stay out of this one): an s3 input, a `zip+s3://` source, and outputs uploaded to
`DHCORE_DEFAULT_FILES_STORE` instead of being registered by local path."""

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
        report["b"] = run.output("dataset").as_df()["b"].tolist()
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
