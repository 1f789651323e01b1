"""Prints a line, waits until the file `DHMLRUN_TEST_GO` names exists, prints another and
completes the run; it stores no log of its own: what it printed is the core's to keep."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import requests


def main(project: str, run_id: str) -> None:
    base = f"{os.environ['DHCORE_ENDPOINT']}/api/v1/-/{project}"
    headers = {"Authorization": f"Bearer {os.environ['DHCORE_ACCESS_TOKEN']}"}
    run = requests.get(f"{base}/runs/{run_id}", headers=headers, timeout=30).json()
    running = {**run, "status": {"state": "RUNNING"}}
    run = requests.put(f"{base}/runs/{run_id}", json=running, headers=headers, timeout=30).json()
    print("first line", flush=True)
    deadline = time.monotonic() + 60
    while not Path(os.environ["DHMLRUN_TEST_GO"]).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    print("last line", flush=True)
    final = {**run, "status": {"state": "COMPLETED"}}
    requests.put(f"{base}/runs/{run_id}", json=final, headers=headers, timeout=30).raise_for_status()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
