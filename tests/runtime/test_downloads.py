"""Downloads of http(s) inputs: streamed to disk complete or not at all, short reads detected,
and `.parquet` inputs checked before the handler runs."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from dhmlrun.runtime.download import download_url
from dhmlrun.runtime.errors import ExecutionError
from dhmlrun.runtime.inputs import check_parquet, fetch_input
from tests.runtime.conftest import RawServer

BLOCK = 1024 * 1024
BLOCKS = 50


def generated_blocks() -> Iterator[bytes]:
    """50 MiB that differ block by block (a repeated block would hide reordered or lost chunks)."""
    for index in range(BLOCKS):
        yield hashlib.sha256(str(index).encode()).digest() * (BLOCK // 32)


def send_generated(conn: socket.socket) -> None:
    conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {BLOCK * BLOCKS}\r\nConnection: close\r\n\r\n".encode())
    for block in generated_blocks():
        conn.sendall(block)


def truncated_by_length(body: bytes, announced: int) -> bytes:
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {announced}\r\nConnection: close\r\n\r\n"
    return head.encode() + body


def truncated_chunked(body: bytes) -> bytes:
    """A chunked response whose second chunk is cut off (and no terminating zero chunk)."""
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    return head + f"{len(body):x}\r\n".encode() + body + b"\r\n" + b"400\r\n" + b"only part of it"


def test_a_50_mib_body_arrives_complete(raw_server: RawServer, tmp_path: Path) -> None:
    url = raw_server.serve("/big.bin", send_generated)
    local = Path(fetch_input("big", url, tmp_path / "in"))
    expected = hashlib.sha256()
    for block in generated_blocks():
        expected.update(block)
    actual = hashlib.sha256()
    with local.open("rb") as data:
        while chunk := data.read(BLOCK):
            actual.update(chunk)
    assert local.stat().st_size == BLOCK * BLOCKS
    assert actual.hexdigest() == expected.hexdigest()


def test_a_body_shorter_than_its_content_length_is_refused(raw_server: RawServer, tmp_path: Path) -> None:
    url = raw_server.serve("/short.csv", truncated_by_length(b"a\n1\n", 1000))
    with pytest.raises(
        ExecutionError, match=rf"input 'x': cannot download {url}: truncated: received 4 of the 1000 bytes"
    ):
        fetch_input("x", url, tmp_path / "in")
    assert not list((tmp_path / "in").iterdir())  # neither the file nor its .part


def test_a_cut_off_chunked_body_is_refused(raw_server: RawServer, tmp_path: Path) -> None:
    url = raw_server.serve("/cut.csv", truncated_chunked(b"a\n1\n2\n"))
    with pytest.raises(ExecutionError, match=rf"cannot download {url}: truncated: the connection closed"):
        download_url(url, tmp_path / "cut.csv")
    assert not list(tmp_path.iterdir())


def test_a_complete_chunked_body_is_accepted(raw_server: RawServer, tmp_path: Path) -> None:
    body = b"a\n1\n2\n"
    response = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        + f"{len(body):x}\r\n".encode()
        + body
        + b"\r\n0\r\n\r\n"
    )
    url = raw_server.serve("/whole.csv", response)
    assert download_url(url, tmp_path / "whole.csv").read_bytes() == body


def test_an_unreadable_parquet_input_is_refused_with_the_readers_error(tmp_path: Path) -> None:
    good = tmp_path / "good.parquet"
    pd.DataFrame({"a": range(100)}).to_parquet(good)
    check_parquet("table", str(good), good)  # a valid file passes
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(good.read_bytes()[:-20])
    refused = r"input 'table': .*truncated.parquet is not a readable parquet file: .*magic bytes"
    with pytest.raises(ExecutionError, match=refused):
        check_parquet("table", str(truncated), truncated)
    text = tmp_path / "notes.txt"
    text.write_text("not parquet, and not claiming to be")
    check_parquet("notes", str(text), text)  # only .parquet files are checked
