"""Materialising sources: inline code, local files, git over HTTP at a ref, zips (safely)."""

from __future__ import annotations

import base64
import re
import stat
import zipfile
from pathlib import Path

import pytest

from dhmlrun.runtime.errors import ExecutionError
from dhmlrun.runtime.source import (
    SourceKind,
    check_handler_defined,
    classify_source,
    materialise,
    safe_unzip,
)
from tests.runtime.conftest import FileServer, GitRepo, write_zip

CODE = "def handler(context):\n    return 1\n"


@pytest.mark.parametrize(
    ("uri", "kind"),
    [
        ("src/pipeline.py", SourceKind.LOCAL),
        ("file:///abs/pipeline.py", SourceKind.LOCAL),
        ("git+https://host/repo.git#v1", SourceKind.GIT),
        ("zip+s3://bucket/code.zip", SourceKind.ZIP_S3),
        ("zip+https://host/code.zip", SourceKind.ZIP_HTTP),
        ("https://host/code.zip", SourceKind.ZIP_HTTP),
    ],
)
def test_source_uris_are_classified(uri: str, kind: str) -> None:
    assert classify_source(uri) == kind


def test_an_unsupported_source_scheme_is_a_clear_error() -> None:
    with pytest.raises(ExecutionError, match=re.escape("unsupported source 'ftp://host/x.py'")):
        classify_source("ftp://host/x.py")


def test_code_and_base64_become_a_file_named_after_the_original(tmp_path: Path) -> None:
    encoded = base64.b64encode(CODE.encode()).decode()
    done = materialise({"source": "src/pipeline.py", "base64": encoded}, "handler", tmp_path)
    assert done.file.name == "pipeline.py"
    assert done.file.read_text() == CODE
    assert done.function == "handler"
    assert materialise({"code": CODE}, "mod:handler", tmp_path / "b").function == "handler"


def test_invalid_base64_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ExecutionError, match="not valid base64"):
        materialise({"base64": "%%%"}, "handler", tmp_path)


def test_git_source_is_cloned_at_the_ref(git_repo: GitRepo, tmp_path: Path) -> None:
    at_tag = materialise({"source": f"git+{git_repo.url}#v1"}, "pkg.jobs:say", tmp_path / "tag")
    assert at_tag.file == (tmp_path / "tag" / "src" / "pkg" / "jobs.py").resolve()
    assert (at_tag.root / "pkg" / "helpers.py").read_text() == "WORD = 'one'\n"
    at_commit = materialise(
        {"source": f"git+{git_repo.url}#{git_repo.v1_commit}"}, "pkg.jobs.say", tmp_path / "c"
    )
    assert (at_commit.root / "pkg" / "helpers.py").read_text() == "WORD = 'one'\n"
    at_head = materialise({"source": f"git+{git_repo.url}"}, "pkg/jobs.py:say", tmp_path / "head")
    assert (at_head.root / "pkg" / "helpers.py").read_text() == "WORD = 'two'\n"


def test_a_git_ref_that_does_not_exist_is_a_clear_error(git_repo: GitRepo, tmp_path: Path) -> None:
    with pytest.raises(ExecutionError, match="git ref 'nope' not found in http://"):
        materialise({"source": f"git+{git_repo.url}#nope"}, "pkg.jobs:say", tmp_path)


def test_zip_over_http_is_downloaded_and_unpacked(file_server: FileServer, tmp_path: Path) -> None:
    write_zip(file_server.root / "code.zip", {"app/main.py": CODE})
    done = materialise({"source": "zip+" + file_server.url("code.zip")}, "app.main:handler", tmp_path)
    assert done.file.read_text() == CODE


def test_a_missing_zip_is_a_404_error(file_server: FileServer, tmp_path: Path) -> None:
    with pytest.raises(ExecutionError, match="HTTP 404"):
        materialise({"source": file_server.url("absent.zip")}, "m:h", tmp_path)


@pytest.mark.parametrize("member", ["../evil.py", "a/../../evil.py", "/etc/evil.py"])
def test_zip_members_escaping_the_target_are_refused(tmp_path: Path, member: str) -> None:
    archive = write_zip(tmp_path / "bad.zip", {"ok.py": CODE, member: "x"})
    with pytest.raises(ExecutionError, match="escapes the target directory"):
        safe_unzip(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_zip_symlink_pointing_outside_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "../../etc/passwd")
    with pytest.raises(ExecutionError, match="points outside the target directory"):
        safe_unzip(archive, tmp_path / "out")


def test_a_handler_module_missing_from_an_archive_is_reported(
    file_server: FileServer, tmp_path: Path
) -> None:
    write_zip(file_server.root / "two.zip", {"a.py": CODE, "b.py": CODE})
    with pytest.raises(ExecutionError, match="does not name its module"):
        materialise({"source": file_server.url("two.zip")}, "handler", tmp_path / "x")
    with pytest.raises(ExecutionError, match="handler module 'c' not found"):
        materialise({"source": file_server.url("two.zip")}, "c:handler", tmp_path / "y")


def test_handler_presence_is_checked_before_running(tmp_path: Path) -> None:
    done = materialise({"code": CODE}, "missing", tmp_path)
    with pytest.raises(ExecutionError, match=re.escape("handler 'missing' not found in main.py")):
        check_handler_defined(done)
    broken = materialise({"code": "def (:\n"}, "handler", tmp_path / "b")
    with pytest.raises(ExecutionError, match="syntax error at line 1"):
        check_handler_defined(broken)
