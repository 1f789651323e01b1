"""Takes the run the core built (READY) to RUNNING, prints a message and dies with exit code 3
(no final state)."""

from __future__ import annotations

import os
import sys

import requests

project, run_id = sys.argv[1], sys.argv[2]
base = f"{os.environ['DHCORE_ENDPOINT']}/api/v1/-/{project}/runs/{run_id}"
headers = {"Authorization": f"Bearer {os.environ['DHCORE_ACCESS_TOKEN']}"}
run = requests.get(base, headers=headers, timeout=30).json()
requests.put(base, json={**run, "status": {"state": "RUNNING"}}, headers=headers, timeout=30)
print("boom: the handler exploded", file=sys.stderr)
sys.exit(3)
