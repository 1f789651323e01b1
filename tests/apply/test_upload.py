"""Local artifact and model files go to the files store when the platform has one.

A DHCore (the embedded core served over HTTP, reached with `DHCORE_ENDPOINT` as a remote one) with
`DHCORE_DEFAULT_FILES_STORE=s3://…` on a loopback S3 (moto's server): apply uploads each new
version's file to the SDK's path before creating it, the entity names the uploaded copy, a
re-plan compares by content and plans nothing, and a changed file is a new version uploaded
anew. Without a files store the entity keeps its local path."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import one_worker, platform_of, served_core, unique_project_name

pytestmark = pytest.mark.slow

BUCKET = "files"


@pytest.fixture(scope="module")
@one_worker
def s3() -> Iterator[str]:
    """A loopback S3 endpoint (moto's server) with the bucket made."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="k",
            aws_secret_access_key="s",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.stop()


def objects(endpoint: str) -> dict[str, bytes]:
    import boto3

    client = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1"
    )
    listed = client.list_objects_v2(Bucket=BUCKET).get("Contents") or []
    return {o["Key"]: client.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}


def write_config(root: Path, project: str) -> Path:
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "data" / "ref.json").write_text('{"min": 1}')
    (root / "data" / "model.bin").write_bytes(b"weights-1")
    (root / "dhmlrun.yaml").write_text(
        f"""version: 1
project: {{name: {project}}}
artifacts:
  ref: {{kind: artifact, path: data/ref.json}}
models:
  base: {{kind: model, path: data/model.bin, framework: none}}
"""
    )
    return root


def dhmlrun(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "dhmlrun", *args, str(root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    return done


def store_environment(core: Any, s3_endpoint: str) -> dict[str, str]:
    """An apply's environment: the served core, and a files store on the S3 API at `s3_endpoint`."""
    return {
        **os.environ,
        "DHCORE_ENDPOINT": str(core.endpoint),
        "DHCORE_ACCESS_TOKEN": str(core.token),
        "DH_CONFIG": os.devnull,
        "DHCORE_DEFAULT_FILES_STORE": f"s3://{BUCKET}/store",
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_REGION": "us-east-1",
    }


def test_local_files_are_uploaded_to_the_files_store(tmp_path: Path, s3: str) -> None:
    project = unique_project_name("upload")
    root = write_config(tmp_path / "repo", project)
    with served_core(tmp_path / "core.db") as core:
        env = store_environment(core, s3)
        done = dhmlrun(root, env, "apply", "--auto-approve")
        assert done.returncode == 0, done.stdout + done.stderr
        state = platform_of(core).read_state(project)
        ref, base = state.entities["artifacts.ref"], state.entities["models.base"]
        assert ref.spec["path"] == f"s3://{BUCKET}/store/{project}/artifact/ref/{ref.id}/ref.json"
        assert base.spec["path"] == f"s3://{BUCKET}/store/{project}/model/base/{base.id}/model.bin"
        stored = objects(s3)
        assert stored[f"store/{project}/artifact/ref/{ref.id}/ref.json"] == b'{"min": 1}'
        assert stored[f"store/{project}/model/base/{base.id}/model.bin"] == b"weights-1"

        assert dhmlrun(root, env, "plan", "--detailed-exitcode").returncode == 0  # compared by content

        (root / "data" / "model.bin").write_bytes(b"weights-2")
        done = dhmlrun(root, env, "apply", "--auto-approve")
        assert done.returncode == 0, done.stdout + done.stderr
        newer = platform_of(core).read_state(project).entities["models.base"]
        assert newer.id != base.id
        assert objects(s3)[f"store/{project}/model/base/{newer.id}/model.bin"] == b"weights-2"


def test_a_failed_upload_creates_nothing(tmp_path: Path) -> None:
    project = unique_project_name("noupload")
    root = write_config(tmp_path / "repo", project)
    with served_core(tmp_path / "core.db") as core:
        env = store_environment(core, "http://127.0.0.1:9")  # nothing listens there
        done = dhmlrun(root, env, "apply", "--auto-approve")
        assert done.returncode == 1
        assert (
            "cannot upload" in done.stdout + done.stderr and "to the files store" in done.stdout + done.stderr
        )
        entities = platform_of(core).read_state(project).entities
        assert "artifacts.ref" not in entities and "models.base" not in entities
