"""`dhmlrun core serve`: prints its endpoint (never the token), enforces the token, binds loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import requests


def serve_command(port: int, db: Path) -> list[str]:
    return [sys.executable, "-m", "dhmlrun", "core", "serve", "--port", str(port), "--db", str(db)]


def test_serve_prints_endpoint_and_enforces_token(tmp_path: Path):
    env = {**os.environ, "DHMLRUN_CORE_TOKEN": "sup3r-secret"}
    command = serve_command(0, tmp_path / "c.db")
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        assert first.startswith("dhmlrun core serving http://127.0.0.1:")
        endpoint = first.split()[3]
        assert requests.get(endpoint + "/api/v1/projects", timeout=10).status_code == 403
        headers = {"Authorization": "Bearer sup3r-secret"}
        created = requests.post(
            endpoint + "/api/v1/projects", json={"name": "served"}, headers=headers, timeout=10
        )
        assert created.status_code == 200
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    assert "sup3r-secret" not in first + out + err
    assert (tmp_path / "c.db").exists()


def test_serve_reports_a_busy_port_without_traceback(tmp_path: Path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            serve_command(port, tmp_path / "c.db"),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert "cannot listen on 127.0.0.1" in result.stderr
    assert "Traceback" not in result.stderr
