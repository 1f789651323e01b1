"""Apply's side of the worker boundary: send one typed request to a worker process and wait for
its `Result` (`dhmlrun/worker/protocol.py`).

The process is a child forked by the warm run server when there is one that can take the
request (mlrun and digitalhub already imported: `run_server.py`), else a fresh
`python -m dhmlrun.worker`. Either way it is a process of its own, so mlrun's process-global
state never leaks between runs and apply never imports mlrun or the SDK.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path

from dhmlrun.apply.run_server import RunServer, RunServerUnavailable
from dhmlrun.private import private_dir, private_file
from dhmlrun.worker.protocol import Request, Result, encode

WORKER_MODULE = "dhmlrun.worker"


def run_in_worker(
    request: Request,
    log_dir: Path,
    address: str,
    env: Mapping[str, str],
    server: RunServer | None = None,
) -> Result:
    """Do `request` in a worker process of its own (the module docstring); its result. What the
    worker printed goes to `log_dir/ADDRESS.log`; a worker that died without a result is a
    failure quoting the end of that log."""
    private_dir(log_dir)
    log_file = private_file(log_dir / f"{address}.log")
    with tempfile.TemporaryDirectory(prefix="dhmlrun-run-") as tmp:
        request_file = Path(tmp) / "request.json"
        result_file = Path(tmp) / "result.json"
        request_file.write_text(json.dumps(encode(request)), encoding="utf-8")
        argv = [str(request_file), str(result_file)]
        returncode = _in_server(server, argv, log_file, dict(env), tmp)
        if returncode is None:
            returncode = _in_fresh_worker(argv, log_file, dict(env), tmp)
        if result_file.is_file():
            return Result.from_dict(json.loads(result_file.read_text(encoding="utf-8")))
    tail = log_file.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
    return Result.failure(request.subject, f"run worker exited with code {returncode}: " + " | ".join(tail))


_fresh_workers: set[subprocess.Popen[bytes]] = set()
_fresh_workers_lock = threading.Lock()


def _in_fresh_worker(argv: list[str], log_file: Path, env: dict[str, str], cwd: str) -> int:
    """The exit code of a new `python -m dhmlrun.worker` process doing the request."""
    with log_file.open("w", encoding="utf-8") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", WORKER_MODULE, *argv],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
        )
        with _fresh_workers_lock:
            _fresh_workers.add(worker)
        try:
            return worker.wait()
        finally:
            with _fresh_workers_lock:
                _fresh_workers.discard(worker)


def signal_runs(server: RunServer | None, signum: int) -> None:
    """Send `signum` to every worker executing now (forked by `server` or started fresh)."""
    if server is not None:
        server.signal_children(signum)
    with _fresh_workers_lock:
        workers = list(_fresh_workers)
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signum)


def _in_server(
    server: RunServer | None, argv: list[str], log_file: Path, env: dict[str, str], cwd: str
) -> int | None:
    """The exit code of the worker forked by `server`, or None when it could not take it."""
    if server is None:
        return None
    try:
        return server.execute(argv, log_file, env, cwd)
    except RunServerUnavailable:
        return None
