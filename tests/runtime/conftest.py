"""Fixtures of the runtime tests: a loopback HTTP file server, git repos served over it, an SDK
project on the session's embedded core, and a private runs directory."""

from __future__ import annotations

import functools
import http.server
import subprocess
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import unique_project_name


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files without logging every request to stderr."""

    def log_message(self, format: str, *args: object) -> None:
        return


@dataclass
class FileServer:
    """A directory served over HTTP on 127.0.0.1; `url(name)` is the URL of a file in it."""

    root: Path
    base: str

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"


@pytest.fixture(scope="session")
def file_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FileServer]:
    root = tmp_path_factory.mktemp("served")
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FileServer(root, f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()


def git(*args: str, cwd: Path | None = None) -> str:
    """Run git with a throwaway identity; return stdout."""
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"]
    done = subprocess.run([*command, *args], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout.strip()


@dataclass
class GitRepo:
    """A bare repo served over dumb HTTP: tag `v1` says 'one', branch `main` says 'two'."""

    url: str
    v1_commit: str


@pytest.fixture(scope="session")
def git_repo(file_server: FileServer, tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    bare = file_server.root / "repo.git"
    work = tmp_path_factory.mktemp("gitwork")
    git("init", "--bare", "-q", str(bare))
    git("init", "-q", str(work))
    (work / "pkg").mkdir()
    (work / "pkg" / "__init__.py").write_text("")
    (work / "pkg" / "helpers.py").write_text("WORD = 'one'\n")
    (work / "pkg" / "jobs.py").write_text(
        "from pkg.helpers import WORD\n\n\ndef say(context):\n    context.log_result('word', WORD)\n"
    )
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "one", cwd=work)
    git("tag", "v1", cwd=work)
    v1 = git("rev-parse", "HEAD", cwd=work)
    (work / "pkg" / "helpers.py").write_text("WORD = 'two'\n")
    git("commit", "-q", "-am", "two", cwd=work)
    git("push", "-q", str(bare), "main", "v1", cwd=work)
    git("update-server-info", cwd=bare)
    return GitRepo(file_server.url("repo.git"), v1)


def write_zip(path: Path, members: dict[str, str]) -> Path:
    """A zip archive with the given member names and text contents."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return path


@pytest.fixture(scope="session", autouse=True)
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Run directories of this session (also seen by the core's worker processes)."""
    import os

    path = tmp_path_factory.mktemp("runs")
    saved = os.environ.get("DHMLRUN_RUNS_DIR")
    os.environ["DHMLRUN_RUNS_DIR"] = str(path)
    yield path
    if saved is None:
        os.environ.pop("DHMLRUN_RUNS_DIR", None)
    else:
        os.environ["DHMLRUN_RUNS_DIR"] = saved


@pytest.fixture(scope="module")
def project(core: object) -> object:
    """One SDK project per test module on the session's embedded core."""
    import digitalhub as dh

    return dh.get_or_create_project(unique_project_name("rt"))
