"""Fixtures of the runtime tests: a loopback HTTP file server (and the same files over HTTPS, with a
certificate the test trusts), git repos served over it, a raw HTTP server for misbehaving
responses, an SDK project on the session's embedded core, and a private runs directory."""

from __future__ import annotations

import contextlib
import functools
import http.server
import io
import socket
import subprocess
import tarfile
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


@dataclass
class TlsServer:
    """The file server's directory over HTTPS on 127.0.0.1; `ca_file` is the certificate to trust
    (`SSL_CERT_FILE` for Python, `GIT_SSL_CAINFO` for git)."""

    base: str
    ca_file: Path

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own authority: (certificate, key) PEM files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


@pytest.fixture(scope="session")
def tls_server(file_server: FileServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    import ssl

    cert_file, key_file = self_signed_certificate(tmp_path_factory.mktemp("tls"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    handler = functools.partial(QuietHandler, directory=str(file_server.root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield TlsServer(f"https://127.0.0.1:{server.server_address[1]}", cert_file)
    finally:
        server.shutdown()
        server.server_close()


Responder = Callable[[socket.socket], None]


@dataclass
class RawServer:
    """An HTTP server on 127.0.0.1 that answers each path by writing raw bytes to the socket, then
    closes the connection: for responses a well-behaved server never sends (truncated bodies)."""

    base: str
    routes: dict[str, Responder]

    def serve(self, path: str, respond: Responder | bytes) -> str:
        """Answer `path` with these raw bytes (or by calling `respond(socket)`); return its URL."""
        if isinstance(respond, bytes):
            payload = respond
            self.routes[path] = lambda conn: conn.sendall(payload)
        else:
            self.routes[path] = respond
        return f"{self.base}{path}"


def _answer(conn: socket.socket, routes: dict[str, Responder]) -> None:
    with conn:
        request = b""
        while b"\r\n\r\n" not in request:
            data = conn.recv(65536)
            if not data:
                return
            request += data
        path = request.split(b" ", 2)[1].decode()
        respond = routes.get(path)
        try:
            if respond is None:
                conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            else:
                respond(conn)
            conn.shutdown(socket.SHUT_WR)
        except OSError:  # the client went away: nothing to answer
            return


@pytest.fixture(scope="session")
def raw_server() -> Iterator[RawServer]:
    listener = socket.create_server(("127.0.0.1", 0))
    routes: dict[str, Responder] = {}

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:  # closed at teardown
                return
            threading.Thread(target=_answer, args=(conn, routes), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield RawServer(f"http://127.0.0.1:{listener.getsockname()[1]}", routes)
    finally:
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        listener.close()


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


def write_tar(path: Path, members: dict[str, str]) -> Path:
    """A tar archive (gzipped when the name says .gz or .tgz) with the given members."""
    mode = "w:gz" if path.name.endswith((".gz", ".tgz")) else "w"
    with tarfile.open(path, mode) as tf:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
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


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "employees"


def seed_downloader(project: Any, dataitem_name: str) -> tuple[Any, Any]:
    """The seed snippet's dataitem (the example's CSV) and mlrun function: (dataitem, function)."""
    dataitem = project.new_dataitem(
        name=dataitem_name, kind="table", path=str(EXAMPLE / "data" / "employees.csv")
    )
    function = project.new_function(
        name="mlrun-downloader",
        kind="mlrun",
        source={"source": str(EXAMPLE / "src" / "pipeline.py")},
        handler="downloader",
        image="mlrun/mlrun",
    )
    return dataitem, function
