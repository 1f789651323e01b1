"""`dhmlrun core serve`: prints its endpoint (never the token), always enforces a token (from the
environment or a file; without either and without a terminal it refuses to start), binds
loopback."""

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
            env={**os.environ, "DHMLRUN_CORE_TOKEN": "t"},
        )
    assert result.returncode == 1
    assert "cannot listen on 127.0.0.1" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_reads_the_token_from_a_file_and_keeps_it_off_the_command_line(tmp_path: Path):
    token_file = tmp_path / "token"
    token_file.write_text("from-a-file\n")
    env = {k: v for k, v in os.environ.items() if k != "DHMLRUN_CORE_TOKEN"}
    command = [*serve_command(0, tmp_path / "c.db"), "--token-file", str(token_file)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert server.stdout is not None
        endpoint = server.stdout.readline().split()[3]
        cmdline = Path(f"/proc/{server.pid}/cmdline").read_bytes()
        assert b"from-a-file" not in cmdline
        ok = requests.get(endpoint + "/api/auth", headers={"Authorization": "Bearer from-a-file"}, timeout=10)
        assert ok.status_code == 200
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    assert "from-a-file" not in out + err


def test_serve_without_a_token_and_without_a_terminal_refuses_to_start(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k != "DHMLRUN_CORE_TOKEN"}
    result = subprocess.run(
        serve_command(0, tmp_path / "c.db"),
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1
    assert "no token: set DHMLRUN_CORE_TOKEN or pass --token-file FILE" in result.stderr
    assert not (tmp_path / "c.db").exists()


def test_serve_stock_rehearses_a_stock_dhcore(tmp_path: Path):
    """`--stock`: no mlrun kinds in the schemas, 404 `No such spec.` when creating one."""
    env = {**os.environ, "DHMLRUN_CORE_TOKEN": "stock-token"}
    command = [*serve_command(0, tmp_path / "c.db"), "--stock"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        assert "stock DHCore 0.15 kinds only" in first
        api = first.split()[3] + "/api/v1"
        headers = {"Authorization": "Bearer stock-token"}

        def functions_of(runtime: str) -> requests.Response:
            params = {"runtime": runtime}
            return requests.get(api + "/schemas/function", params=params, headers=headers, timeout=10)

        assert (functions_of("mlrun").status_code, functions_of("mlrun").json()["content"]) == (200, [])
        assert [s["id"] for s in functions_of("python").json()["content"]] == ["FUNCTION:python"]
        project = requests.post(api + "/projects", json={"name": "stock"}, headers=headers, timeout=10)
        project.raise_for_status()
        function = {"name": "f", "kind": "mlrun", "project": "stock", "spec": {"source": {"code": "x"}}}
        refused = requests.post(api + "/-/stock/functions", json=function, headers=headers, timeout=10)
        assert (refused.status_code, refused.json()) == (
            404,
            {"status": 404, "message": "No such spec.", "errorCode": None},
        )
        stored = requests.get(api + "/-/stock/functions", headers=headers, timeout=10).json()["content"]
        assert stored == []
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)


def test_serve_writes_the_client_settings_files_store_included_to_a_private_env_file(tmp_path: Path):
    """What an SDK client of `core serve` needs, as DHCore hands its clients (endpoint, token, and
    the files store: DHCORE_DEFAULT_FILES_STORE and the S3 settings S3StoreConfigurator reads)."""
    import stat

    import boto3

    env_file = tmp_path / "client.env"
    env = {**os.environ, "DHMLRUN_CORE_TOKEN": "sup3r-secret"}
    env.pop("DHCORE_DEFAULT_FILES_STORE", None)
    command = [*serve_command(0, tmp_path / "c.db"), "--env-file", str(env_file)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert server.stdout is not None
        printed = [server.stdout.readline() for _ in range(7)]
        settings = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        assert settings["DHCORE_ACCESS_TOKEN"] == "sup3r-secret"
        assert settings["DHCORE_DEFAULT_FILES_STORE"] == "s3://dhcore"
        s3 = boto3.client(
            "s3",
            endpoint_url=settings["AWS_ENDPOINT_URL"],
            aws_access_key_id=settings["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=settings["AWS_SECRET_ACCESS_KEY"],
            region_name="us-east-1",
        )
        s3.put_object(Bucket="dhcore", Key="k", Body=b"served")
        assert s3.get_object(Bucket="dhcore", Key="k")["Body"].read() == b"served"
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    shown = "".join(printed) + out + err
    assert "export AWS_ENDPOINT_URL=" in shown
    assert "sup3r-secret" not in shown and settings["AWS_SECRET_ACCESS_KEY"] not in shown
