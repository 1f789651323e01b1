"""Materialising sources: inline code, local files and archives, git over HTTP at a ref, remote
files and archives (unpacked safely, within limits)."""

from __future__ import annotations

import base64
import io
import re
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from dhmlrun.runtime.errors import ExecutionError
from dhmlrun.runtime.source import check_handler_defined, materialise, safe_unpack, source_form
from dhmlrun.sources import Fetch, SourceForm
from tests.runtime.conftest import FileServer, GitRepo, write_tar, write_zip

CODE = "def handler(context):\n    return 1\n"


@pytest.mark.parametrize(
    ("uri", "form"),
    [
        ("src/pipeline.py", SourceForm(Fetch.LOCAL, "src/pipeline.py", None)),
        ("file:///abs/pipeline.py", SourceForm(Fetch.LOCAL, "/abs/pipeline.py", None)),
        ("git+https://host/repo.git#v1", SourceForm(Fetch.GIT, "git+https://host/repo.git#v1", None)),
        ("zip+s3://bucket/code", SourceForm(Fetch.S3, "s3://bucket/code", True)),
        ("s3://bucket/code.tar.gz", SourceForm(Fetch.S3, "s3://bucket/code.tar.gz", True)),
        ("s3://bucket/job.py", SourceForm(Fetch.S3, "s3://bucket/job.py", False)),
        ("zip+https://host/code.zip", SourceForm(Fetch.HTTP, "https://host/code.zip", True)),
        ("https://host/code.tgz", SourceForm(Fetch.HTTP, "https://host/code.tgz", True)),
        ("https://host/job.py", SourceForm(Fetch.HTTP, "https://host/job.py", False)),
    ],
)
def test_source_uris_are_classified(uri: str, form: SourceForm) -> None:
    assert source_form(uri) == form


def test_an_unsupported_source_scheme_is_a_clear_error() -> None:
    with pytest.raises(ExecutionError, match=re.escape("unsupported source 'ftp://host/x.py'")):
        source_form("ftp://host/x.py")


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


def test_base64_of_binary_that_is_no_archive_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ExecutionError, match="neither UTF-8 text nor a zip or tar archive"):
        materialise({"base64": base64.b64encode(b"\xff\xfe\x00").decode()}, "handler", tmp_path)


@pytest.mark.parametrize("name", ["code.zip", "code.tar.gz", "code.tar"])
def test_an_archive_embedded_as_base64_is_unpacked(tmp_path: Path, name: str) -> None:
    """What plan ships for a local archive: its bytes as `source.base64`, its path beside."""
    archive = (write_zip if name.endswith(".zip") else write_tar)(tmp_path / name, {"app/main.py": CODE})
    source = {"source": f"src/{name}", "base64": base64.b64encode(archive.read_bytes()).decode()}
    done = materialise(source, "app.main:handler", tmp_path / "out")
    assert done.file == (tmp_path / "out" / "src" / "app" / "main.py").resolve()
    assert done.file.read_text() == CODE and done.function == "handler"


@pytest.mark.parametrize("name", ["code.zip", "code.tgz"])
def test_a_local_archive_is_unpacked(tmp_path: Path, name: str) -> None:
    archive = (write_zip if name.endswith(".zip") else write_tar)(tmp_path / name, {"app/main.py": CODE})
    done = materialise({"source": str(archive)}, "app.main:handler", tmp_path / "out")
    assert done.file.read_text() == CODE


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


def test_a_single_python_file_over_http_is_downloaded(file_server: FileServer, tmp_path: Path) -> None:
    (file_server.root / "job.py").write_text(CODE)
    done = materialise({"source": file_server.url("job.py")}, "handler", tmp_path)
    assert done.file == tmp_path / "src" / "job.py" and done.file.read_text() == CODE


def test_a_tar_gz_over_http_is_downloaded_and_unpacked(file_server: FileServer, tmp_path: Path) -> None:
    write_tar(file_server.root / "code.tar.gz", {"app/main.py": CODE})
    done = materialise({"source": file_server.url("code.tar.gz")}, "app.main:handler", tmp_path)
    assert done.file.read_text() == CODE


@pytest.mark.parametrize("member", ["../evil.py", "a/../../evil.py", "/etc/evil.py"])
@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_members_escaping_the_target_are_refused(tmp_path: Path, member: str, kind: str) -> None:
    write = write_zip if kind == "zip" else write_tar
    archive = write(tmp_path / f"bad.{kind}", {"ok.py": CODE, member: "x"})
    with pytest.raises(ExecutionError, match="escapes the target directory"):
        safe_unpack(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("kind", "link"),
    [(tarfile.SYMTYPE, "../../etc/passwd"), (tarfile.SYMTYPE, "/etc"), (tarfile.LNKTYPE, "../outside")],
)
def test_tar_links_pointing_outside_are_refused(tmp_path: Path, kind: bytes, link: str) -> None:
    archive = tmp_path / "links.tar"
    with tarfile.open(archive, "w") as tf:
        info = tarfile.TarInfo("link")
        info.type, info.linkname = kind, link
        tf.addfile(info)
    with pytest.raises(ExecutionError, match="points outside the target directory"):
        safe_unpack(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def zeros_zip(path: Path, megabytes: int) -> Path:
    """A zip bomb of the issue's kind: about 1 KB per MB of zeros, written without holding them."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("zeros", "w") as member:
        for _ in range(megabytes):
            member.write(bytes(1024 * 1024))
    return path


def zeros_tar_gz(path: Path, megabytes: int) -> Path:
    """A gzipped tar of one member of zeros, written without holding them."""
    with tarfile.open(path, "w:gz") as tf:
        info = tarfile.TarInfo("zeros")
        info.size = megabytes * 1024 * 1024
        tf.addfile(info, _Zeros(info.size))
    return path


class _Zeros(io.RawIOBase):
    """`size` zero bytes, as a stream."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        count = min(len(buffer), self.left)
        buffer[:count] = bytes(count)
        self.left -= count
        return count


@pytest.mark.parametrize("make", [zeros_zip, zeros_tar_gz])
def test_an_archive_unpacking_beyond_the_limit_is_refused_before_writing(tmp_path: Path, make) -> None:
    archive = make(tmp_path / "bomb", 512)
    assert archive.stat().st_size < 1024 * 1024  # the 522 KB for 512 MB
    with pytest.raises(ExecutionError, match="it unpacks to more than 104,857,600 bytes"):
        safe_unpack(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_archive_with_too_many_members_is_refused(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "many.zip", {f"m{i}.py": "" for i in range(10_001)})
    with pytest.raises(ExecutionError, match="more than 10,000 members"):
        safe_unpack(archive, tmp_path / "out")


def test_an_archive_far_larger_unpacked_than_packed_is_refused(tmp_path: Path) -> None:
    archive = zeros_zip(tmp_path / "dense.zip", 20)  # 20 MB of zeros in ~20 KB: a ratio near 1000
    with pytest.raises(ExecutionError, match="more than 100 times its own"):
        safe_unpack(archive, tmp_path / "out")


def test_a_download_larger_than_any_archive_may_unpack_to_is_cut_off(
    file_server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dhmlrun.runtime import source

    monkeypatch.setattr(source, "MAX_DOWNLOAD_BYTES", 1000)
    (file_server.root / "big.py").write_text("#" * 5000)
    with pytest.raises(ExecutionError, match="larger than 1,000 bytes"):
        materialise({"source": file_server.url("big.py")}, "handler", tmp_path)
    assert not (tmp_path / "src" / "big.py").exists()


def test_zip_symlink_pointing_outside_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "../../etc/passwd")
    with pytest.raises(ExecutionError, match="points outside the target directory"):
        safe_unpack(archive, tmp_path / "out")


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


def test_git_credentials_never_reach_the_command_line_nor_the_clone(
    git_repo: GitRepo, file_server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 21: the token of `git+https://user:token@host/...` was in `git clone`'s argv, which
    `ps` shows every user of the machine. The server here refuses requests without it."""
    import functools
    import http.server
    import os
    import shutil
    import threading

    token = "ghp_n0t-in-argv"
    expected = "Basic " + base64.b64encode(f"bot:{token}".encode()).decode()

    class Guarded(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.end_headers()
                return
            super().do_GET()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Guarded, directory=str(file_server.root))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    wrappers, argv_log = tmp_path / "bin", tmp_path / "argv.log"
    wrappers.mkdir()
    recording = f'#!/bin/sh\nprintf "%s\\n" "$@" >> {argv_log}\nexec {shutil.which("git")} "$@"\n'
    (wrappers / "git").write_text(recording)
    (wrappers / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrappers}:{os.environ['PATH']}")
    try:
        url = f"git+http://bot:{token}@127.0.0.1:{server.server_address[1]}/repo.git#v1"
        done = materialise({"source": url}, "pkg.jobs:say", tmp_path / "clone")
    finally:
        server.shutdown()
        server.server_close()
    assert (done.root / "pkg" / "helpers.py").read_text() == "WORD = 'one'\n"
    assert "clone" in argv_log.read_text() and token not in argv_log.read_text()
    assert token not in (done.root / ".git" / "config").read_text()
