"""`CoreServer.stop()` (its prompt shutdown, `dhmlrun.core.server.PromptServer`) still ends
cleanly: keep-alive connections that are open do not keep it serving, a reply in progress is
delivered, and afterwards nothing answers on the port."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import requests

from dhmlrun.core.server import CoreServer


def projects_url(server: CoreServer) -> str:
    return f"{server.endpoint}/api/v1/projects"


def test_stop_ends_the_server_with_keep_alive_connections_open(tmp_path: Path) -> None:
    server = CoreServer(tmp_path / "core.db")
    server.start()
    sessions = [requests.Session() for _ in range(3)]
    for session in sessions:  # each leaves an idle keep-alive connection behind
        assert session.get(projects_url(server), timeout=10).status_code == 200
    server.stop()
    assert server._thread is not None and not server._thread.is_alive()
    with pytest.raises(requests.ConnectionError):
        requests.get(projects_url(server), timeout=10)
    for session in sessions:
        with pytest.raises(requests.ConnectionError):
            session.get(projects_url(server), timeout=10)


def test_stop_right_after_start_is_honoured(tmp_path: Path) -> None:
    server = CoreServer(tmp_path / "core.db")
    server.start()
    server.stop()
    assert server._thread is not None and not server._thread.is_alive()


def test_requests_racing_stop_get_a_whole_reply_or_a_refused_connection(tmp_path: Path) -> None:
    server = CoreServer(tmp_path / "core.db")
    server.start()
    outcomes: list[str] = []

    def client() -> None:
        with requests.Session() as session:
            for _ in range(200):
                try:
                    response = session.get(projects_url(server), timeout=10)
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
