"""Fetching inputs by path: local in place, http(s) streamed to the run directory, clear errors."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from dhmlrun.runtime import download
from dhmlrun.runtime.errors import ExecutionError
from dhmlrun.runtime.inputs import fetch_input, fetch_inputs
from tests.runtime.conftest import FileServer


def test_a_local_path_is_used_in_place(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a\n1\n")
    assert fetch_inputs({"x": str(data)}, tmp_path / "in") == {"x": str(data.resolve())}


def test_a_missing_local_path_names_the_input(tmp_path: Path) -> None:
    with pytest.raises(ExecutionError, match=r"input 'x': .*nowhere.csv does not exist"):
        fetch_input("x", str(tmp_path / "nowhere.csv"), tmp_path / "in")


def test_http_input_is_streamed_in_chunks(file_server: FileServer, tmp_path: Path, monkeypatch) -> None:
    payload = bytes(range(256)) * 40
    (file_server.root / "blob.bin").write_bytes(payload)
    monkeypatch.setattr(download, "CHUNK_BYTES", 1000)  # several chunks for a 10 kB file
    local = Path(fetch_input("blob", file_server.url("blob.bin"), tmp_path / "in"))
    assert local.name == "blob.bin"
    assert local.read_bytes() == payload
    assert not list(local.parent.glob("*.part"))


def test_http_404_is_reported_with_the_url(file_server: FileServer, tmp_path: Path) -> None:
    url = file_server.url("missing.csv")
    with pytest.raises(ExecutionError, match=f"cannot download {url}: HTTP 404"):
        fetch_input("x", url, tmp_path)


def test_an_unreachable_url_is_reported(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ExecutionError, match=f"cannot download http://127.0.0.1:{port}/x.csv: .*refused"):
        fetch_input("x", f"http://127.0.0.1:{port}/x.csv", tmp_path)
