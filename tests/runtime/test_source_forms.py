"""Every source form a declaration accepts runs: validate, plan and apply a declaration holding each
form (https and git over TLS on loopback, with a certificate the runs trust), and run each s3 form
against moto's S3 in a child process (moto patches the process it runs in).

The forms are `dhmlrun.sources`' table; a test below fails when a form is added there without a
run here."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from click.testing import CliRunner

from dhmlrun.cli import cli
from dhmlrun.config import load_declaration
from dhmlrun.sources import ARCHIVE_SUFFIXES, DECLARED_SCHEMES
from tests.conftest import unique_project_name
from tests.runtime.conftest import FileServer, GitRepo, TlsServer, write_tar, write_zip

pytestmark = pytest.mark.slow

CODE = "def report(context):\n    context.log_result('ran', 1)\n"
PACKAGE = {"app/__init__.py": "", "app/main.py": CODE}
IN_PACKAGE = "app.main:report"


def zip_bytes(members: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return buffer.getvalue()


Forms = dict[str, tuple[dict, str]]
"""Function name -> (source, handler)."""


def local_and_web_forms(root: Path, served: Path, https: TlsServer, git: GitRepo) -> Forms:
    """Every form but s3, its files written where it says (`served` is what `https` serves; the
    git repo is there too, so it is cloned over TLS)."""
    (root / "src").mkdir(parents=True)
    (root / "src" / "job.py").write_text(CODE)
    forms: Forms = {"local-py": ({"source": "src/job.py"}, "report")}
    for suffix in ARCHIVE_SUFFIXES:
        name = "code" + suffix
        (write_zip if suffix == ".zip" else write_tar)(root / "src" / name, PACKAGE)
        (write_zip if suffix == ".zip" else write_tar)(served / name, PACKAGE)
        label = suffix.strip(".").replace(".", "-")
        forms[f"local-{label}"] = ({"source": f"src/{name}"}, IN_PACKAGE)
        forms[f"https-{label}"] = ({"source": https.url(name)}, IN_PACKAGE)
    (served / "job.py").write_text(CODE)
    write_zip(served / "zipped-without-suffix", PACKAGE)
    forms["https-py"] = ({"source": https.url("job.py")}, "report")
    forms["zip-https"] = ({"source": "zip+" + https.url("zipped-without-suffix")}, IN_PACKAGE)
    forms["git-https"] = ({"source": f"git+{https.url(git.url.rsplit('/', 1)[1])}#v1"}, "pkg.jobs:say")
    forms["inline-code"] = ({"code": CODE}, "report")
    forms["inline-base64"] = ({"base64": base64.b64encode(CODE.encode()).decode()}, "report")
    forms["base64-archive"] = ({"base64": base64.b64encode(zip_bytes(PACKAGE)).decode()}, IN_PACKAGE)
    return forms


S3_FORMS: Forms = {
    "s3-py": ({"source": "s3://bucket/code/job.py"}, "report"),
    **{
        f"s3-{suffix.strip('.').replace('.', '-')}": (
            {"source": f"s3://bucket/code/code{suffix}"},
            IN_PACKAGE,
        )
        for suffix in ARCHIVE_SUFFIXES
    },
    "zip-s3": ({"source": "zip+s3://bucket/code/zipped-without-suffix"}, IN_PACKAGE),
}


def declaration(project: str, forms: Forms) -> str:
    functions = "".join(
        f"  {name}: {{kind: mlrun, source: {json.dumps(source)}, handler: '{handler}'}}\n"
        for name, (source, handler) in forms.items()
    )
    runs = "".join(f"  r-{name}: {{function: {name}, action: job}}\n" for name in forms)
    return f"version: 1\nproject: {{name: {project}}}\nfunctions:\n{functions}runs:\n{runs}"


def test_the_forms_tested_here_are_every_form_a_declaration_accepts(
    tmp_path: Path, file_server: FileServer, tls_server: TlsServer, git_repo: GitRepo
) -> None:
    forms = {**local_and_web_forms(tmp_path / "repo", file_server.root, tls_server, git_repo), **S3_FORMS}
    written = [source.get("source", "") for source, _ in forms.values()]
    assert {urlparse(s).scheme for s in written if "://" in s} == set(DECLARED_SCHEMES)
    for suffix in ARCHIVE_SUFFIXES:
        for prefix in ("src/", "https://", "s3://"):
            assert any(s.startswith(prefix) and s.endswith(suffix) for s in written), (prefix, suffix)
    assert {"code", "base64"} <= {key for source, _ in forms.values() for key in source}


def test_every_form_validates_plans_and_runs(
    core: Any,
    tmp_path: Path,
    file_server: FileServer,
    tls_server: TlsServer,
    git_repo: GitRepo,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_server.ca_file))
    monkeypatch.setenv("GIT_SSL_CAINFO", str(tls_server.ca_file))
    root = tmp_path / "repo"
    forms = local_and_web_forms(root, file_server.root, tls_server, git_repo)
    (root / "dhmlrun.yaml").write_text(declaration(unique_project_name("forms"), forms))
    applied = CliRunner().invoke(cli, ["apply", str(root), "--auto-approve"])
    assert applied.exit_code == 0, (applied.output, applied.exception)
    shown = CliRunner().invoke(cli, ["show", "--path", str(root), "--json"])
    states = {row["address"]: row.get("state") for row in json.loads(shown.stdout)["entities"]}
    runs = {address: state for address, state in states.items() if address.startswith("runs.")}
    assert runs == {f"runs.r-{name}": "COMPLETED" for name in forms}, applied.output


S3_CHILD = r"""
import io, json, os, sys, tarfile, zipfile

os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                   "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": "https://s3.amazonaws.com"})
from moto import mock_aws

CODE, PACKAGE, FORMS = json.loads(sys.argv[2])


def archive(name):
    buffer = io.BytesIO()
    if name.endswith(".zip") or "." not in name:
        with zipfile.ZipFile(buffer, "w") as zf:
            for member, text in PACKAGE.items():
                zf.writestr(member, text)
    else:
        with tarfile.open(fileobj=buffer, mode="w:gz" if name.endswith(("gz", "tgz")) else "w") as tf:
            for member, text in PACKAGE.items():
                info = tarfile.TarInfo(member)
                info.size = len(text.encode())
                tf.addfile(info, io.BytesIO(text.encode()))
    return buffer.getvalue()


with mock_aws():
    import boto3
    import digitalhub as dh

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="bucket")
    s3.put_object(Bucket="bucket", Key="code/job.py", Body=CODE.encode())
    for key in ("code.zip", "code.tar", "code.tar.gz", "code.tgz", "zipped-without-suffix"):
        s3.put_object(Bucket="bucket", Key="code/" + key, Body=archive(key))
    project = dh.get_or_create_project(sys.argv[1])
    states = {}
    for name, (source, handler) in FORMS.items():
        function = project.new_function(name=name, kind="mlrun", source=source, handler=handler)
        run = function.run("job", local_execution=True)
        states[name] = [run.status.state, run.status.message]
    print("REPORT " + json.dumps(states))
"""


def test_every_s3_form_validates_and_runs(core: Any, tmp_path: Path) -> None:
    (tmp_path / "dhmlrun.yaml").write_text(declaration("s3-forms", S3_FORMS))
    assert set(load_declaration(tmp_path, environ={}).resources) >= {f"functions.{name}" for name in S3_FORMS}
    arguments = [unique_project_name("s3forms"), json.dumps([CODE, PACKAGE, S3_FORMS])]
    done = subprocess.run(
        [sys.executable, "-c", S3_CHILD, *arguments], capture_output=True, text=True, timeout=300, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("REPORT ")]
    assert lines, done.stdout[-2000:] + done.stderr[-3000:]
    states = json.loads(lines[-1].removeprefix("REPORT "))
    assert {name: state for name, (state, _) in states.items()} == dict.fromkeys(S3_FORMS, "COMPLETED"), (
        states
    )
