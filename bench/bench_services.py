"""Benchmark (11) of services: a served model ready after `dhmlrun apply` vs the same server by hand.

Run: `python bench/bench_services.py [--quick]`. Needs the model servers (`pip install
'dhmlrun[serve]'`). A pickled sklearn classifier is declared as `models.iris` and served by
`services.classifier` (sklearnserve) on the config directory's embedded core.

- Readiness: the wall time of a whole `dhmlrun apply` that deploys the service (the model already
  on the platform), from the command's start to its exit, which is when the service answers its
  readiness probe; baseline: `mlserver start` on the same model-settings.json, by hand, from its
  start to `/v2/health/ready` answering 200. Goal: ratio <= 2. Best of N for both.
- One request: a V2 inference request to the deployed service vs the same to the server started
  by hand (best of 50 each).
- Memory: the resident memory of the service's process vs the server started by hand (the
  service is that server: the worker execs MLServer).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PYTHON, Result, embedded_env, run_timed, seconds

from dhmlrun.core.supervisor import free_port
from dhmlrun.serving import mlserver

BODY = json.dumps(
    {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [[5.1, 3.5, 1.4, 0.2]]}]}
).encode()
DECLARATION = """version: 1
project: {name: bench-services}
models:
  iris: {kind: sklearn, path: model/model.pkl}
services:
  classifier: {kind: sklearnserve, model: models.iris}
"""


def _model(root: Path) -> Path:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    features, labels = load_iris(return_X_y=True)
    path = root / "model" / "model.pkl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(LogisticRegression(max_iter=300).fit(features, labels)))
    return path


def _ready(url: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{url}/v2/health/ready", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"no server became ready at {url}")


def _request(url: str, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        request = urllib.request.Request(
            f"http://{url}/v2/models/model/infer", data=BODY, headers={"Content-Type": "application/json"}
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as reply:
            reply.read()
        best = min(best, time.perf_counter() - started)
    return best


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def by_hand(root: Path, model: Path, requests: int) -> tuple[float, float, float]:
    """(seconds to ready, one request, MiB) of `mlserver start` on DHCore's model-settings.json."""
    folder = root / "by-hand"
    folder.mkdir()
    (folder / "model-settings.json").write_text(
        json.dumps(
            {
                "name": "model",
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": str(model)},
            }
        )
    )
    port = free_port()
    (folder / "settings.json").write_text(json.dumps(mlserver.server_settings(port, free_port())))
    started = time.perf_counter()
    with (folder / "server.log").open("wb") as log:
        server = subprocess.Popen(mlserver.command(folder), stdout=log, stderr=subprocess.STDOUT)
    try:
        _ready(f"127.0.0.1:{port}")
        ready = time.perf_counter() - started
        latency = _request(f"127.0.0.1:{port}", requests)
        return ready, latency, _rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)


def by_apply(root: Path, requests: int) -> tuple[float, float, float]:
    """(seconds of the `dhmlrun apply` that deploys the service, one request, MiB)."""
    repo = root / "repo"
    repo.mkdir()
    _model(repo)
    (repo / "dhmlrun.yaml").write_text(DECLARATION)
    env = embedded_env()
    dhmlrun = [PYTHON, "-m", "dhmlrun"]
    run_timed([*dhmlrun, "apply", str(repo), "--auto-approve", "--target", "models.iris"], env=env)
    try:
        elapsed, _ = run_timed([*dhmlrun, "apply", str(repo), "--auto-approve"], env=env)
        with sqlite3.connect(repo / ".dhmlrun" / "core.db") as db:
            pid, port = db.execute("SELECT pid, port FROM services").fetchone()
        latency = _request(f"127.0.0.1:{port}", requests)
        return elapsed, latency, _rss_mib(pid)
    finally:
        run_timed([*dhmlrun, "destroy", str(repo), "--auto-approve"], env=env)


def run(quick: bool = False) -> list[Result]:
    repeat, requests = (1, 20) if quick else (3, 50)
    hand: list[tuple[float, float, float]] = []
    applied: list[tuple[float, float, float]] = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="dhmlrun-bench-services-") as tmp:
            root = Path(tmp)
            hand.append(by_hand(root, _model(root), requests))
            applied.append(by_apply(root, requests))
    ready, ready_hand = min(a[0] for a in applied), min(h[0] for h in hand)
    latency, latency_hand = min(a[1] for a in applied), min(h[1] for h in hand)
    memory, memory_hand = min(a[2] for a in applied), min(h[2] for h in hand)
    ratio = ready / ready_hand
    return [
        Result(
            "11. service ready after apply (sklearnserve)",
            seconds(ready),
            f"{seconds(ready_hand)} (mlserver start by hand)",
            ratio,
            "ratio <= 2",
            ratio <= 2,
            f"best of {repeat}: the whole dhmlrun apply deploying it vs the server alone to /v2/health/ready",
        ),
        Result(
            "11. one inference request to the service",
            seconds(latency),
            f"{seconds(latency_hand)} (by hand)",
            latency / latency_hand,
            "-",
            None,
            f"best of {requests}",
        ),
        Result(
            "11. service memory (RSS)",
            f"{memory:.0f} MiB",
            f"{memory_hand:.0f} MiB (by hand)",
            memory / memory_hand,
            "-",
            None,
            "the service's process (the worker execs MLServer)",
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    for result in run(args.quick):
        ratio = f"{result.ratio:.2f}" if result.ratio is not None else "-"
        print(f"{result.name}: {result.measured} vs {result.baseline} (ratio {ratio}; goal {result.goal})")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
