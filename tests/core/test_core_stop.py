"""`HttpServer.stop()` (its prompt shutdown, `dhmlrun.core.http_server`) still ends cleanly:
keep-alive connections that are open do not keep it serving, a reply in progress is delivered,
and afterwards nothing answers on the port."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import requests

from dhmlrun.core.http_server import HttpServer
from dhmlrun.core.server import EmbeddedCore

TOKEN = "t"


def started(tmp_path: Path) -> HttpServer:
    server = EmbeddedCore(tmp_path / "core.db", token=TOKEN).bind("127.0.0.1", 0)
    server.start()
    return server


def session() -> requests.Session:
    client = requests.Session()
    client.headers["Authorization"] = f"Bearer {TOKEN}"
    return client


def projects_url(server: HttpServer) -> str:
    return f"{server.endpoint}/api/v1/projects"


def test_stop_ends_the_server_with_keep_alive_connections_open(tmp_path: Path) -> None:
    server = started(tmp_path)
    sessions = [session() for _ in range(3)]
    for client in sessions:  # each leaves an idle keep-alive connection behind
        assert client.get(projects_url(server), timeout=10).status_code == 200
    server.stop()
    assert not server.serving
    with pytest.raises(requests.ConnectionError):
        requests.get(projects_url(server), timeout=10)
    for client in sessions:
        with pytest.raises(requests.ConnectionError):
            client.get(projects_url(server), timeout=10)


def test_stop_right_after_start_is_honoured(tmp_path: Path) -> None:
    server = started(tmp_path)
    server.stop()
    assert not server.serving


def test_requests_racing_stop_get_a_whole_reply_or_a_refused_connection(tmp_path: Path) -> None:
    server = started(tmp_path)
    outcomes: list[str] = []

    def client() -> None:
        with session() as client_session:
            for _ in range(200):
                try:
                    response = client_session.get(projects_url(server), timeout=10)
                except requests.ConnectionError:
                    outcomes.append("refused")
                    return
                try:
                    response.json()  # a reply that arrived is complete and well-formed
                except ValueError:
                    outcomes.append("truncated")
                    return
                outcomes.append("ok" if response.status_code == 200 else str(response.status_code))

    clients = [threading.Thread(target=client) for _ in range(3)]
    for thread in clients:
        thread.start()
    server.stop()
    for thread in clients:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in clients)
    assert set(outcomes) <= {"ok", "refused"}
