"""Takes the run the core built (READY) to RUNNING, then COMPLETED, and writes one log line.

When `DHMLRUN_TEST_TRACE` names a directory, records its start/end (for the concurrency bound) and
its parent process (the core, or the core's warm run server).
"""

from __future__ import annotations

import base64
import os
import sys
import time
from pathlib import Path

import requests


def main(project: str, run_id: str) -> None:
    base = f"{os.environ['DHCORE_ENDPOINT']}/api/v1/-/{project}"
    headers = {}
    if token := os.environ.get("DHCORE_ACCESS_TOKEN"):
        headers["Authorization"] = f"Bearer {token}"
    trace = os.environ.get("DHMLRUN_TEST_TRACE")
    started = time.time()
    run = requests.get(f"{base}/runs/{run_id}", headers=headers, timeout=30).json()
    run = requests.put(
        f"{base}/runs/{run_id}", json={**run, "status": {"state": "RUNNING"}}, headers=headers, timeout=30
    ).json()
    time.sleep(float(os.environ.get("DHMLRUN_TEST_WORK_S", "0")))
    log = {"spec": {"run": run_id}, "content": base64.b64encode(b"worked\n").decode()}
    requests.post(f"{base}/logs", json=log, headers=headers, timeout=30).raise_for_status()
    if trace:  # before the final state: the test reads the traces once every run is COMPLETED
        Path(trace, run_id).write_text(f"{started} {time.time()} {os.getppid()}")
    final = {**run, "status": {"state": "COMPLETED", "results": {"answer": 42}}}
    requests.put(f"{base}/runs/{run_id}", json=final, headers=headers, timeout=30).raise_for_status()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
