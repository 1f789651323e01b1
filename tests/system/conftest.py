"""Fixtures of the reliability tests: a tiny declaration, the real CLI in real processes, and
reads of the core's truth straight over HTTP (never through the code under test)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

from dhmlrun.platform.lock import LOCK_NAME
from dhmlrun.worker.fork_server import SHARED_ENV
from tests.conftest import auth_headers, unique_project_name

DECLARATION = """\
version: 1
project:
  name: "{{ var.project }}"
  description: reliability test
variables:
  project: {description: project name}
  token: {default: "", sensitive: true}
dataitems:
  numbers: {kind: table, path: data/numbers.csv}
functions:
  load: {kind: mlrun, source: {source: src/jobs.py}, handler: load, image: mlrun/mlrun}
  total: {kind: mlrun, source: {source: src/jobs.py}, handler: total, image: mlrun/mlrun}
runs:
  load:
    function: functions.load
    action: job
    inputs: {url: dataitems.numbers}
    outputs: {dataset: numbers-clean}
    values: [rows]
  total:
    function: functions.total
    action: job
    inputs: {dataset: runs.load.outputs.dataset}
    parameters: {token: "{{ var.token }}"}
    values: [total]
"""

JOBS = '''\
"""Tiny handlers; DHMLRUN_TEST_SLEEP makes `load` slow, DHMLRUN_TEST_GATE makes it wait until
that file exists (the test makes it once it saw what it needs) and DHMLRUN_TEST_FAIL makes
`total` fail (read from the environment, so they do not change the runs' fingerprints)."""

import os
import time


def load(context, url):
    df = url.as_df()
    seconds = float(os.environ.get("DHMLRUN_TEST_SLEEP") or 0)
    if seconds:
        print("load: sleeping", seconds, flush=True)
        time.sleep(seconds)
    gate = os.environ.get("DHMLRUN_TEST_GATE")
    if gate:
        print("load: waiting for", gate, flush=True)
        deadline = time.monotonic() + 300
        while not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.05)
    context.log_result("rows", len(df))
    return df


def total(context, dataset, token=""):
    df = dataset.as_df()
    print("total: got token", token, flush=True)  # a handler may print what it is given
    if os.environ.get("DHMLRUN_TEST_FAIL"):
        raise RuntimeError(f"refusing token {token}")
    context.log_result("total", int(df["n"].sum()))
    return None
'''


def write_config(tmp: Path) -> tuple[Path, str]:
    """A config dir with two functions, a dataitem and two chained runs: (root, project)."""
    root = tmp / "config"
    (root / "src").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "dhmlrun.yaml").write_text(DECLARATION, encoding="utf-8")
    (root / "src" / "jobs.py").write_text(JOBS, encoding="utf-8")
    (root / "data" / "numbers.csv").write_text("n\n1\n2\n3\n", encoding="utf-8")
    return root, unique_project_name("rel")


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DHCORE_ENDPOINT", None)  # always explicit: --endpoint
    env.update(extra)
    return env


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """`dhmlrun ARGS` in a real process."""
    return subprocess.run(
        [sys.executable, "-m", "dhmlrun", *map(str, args)],
        capture_output=True,
        text=True,
        env=env or cli_env(),
        timeout=timeout,
        check=False,
    )


def start_cli(
    *args: str, env: dict[str, str] | None = None, log: Path, signalled: bool = True
) -> subprocess.Popen[bytes]:
    """`dhmlrun ARGS` in the background, in its own process group (so -9 can end all of it).

    `signalled`: the test signals it or kills its group, so it gets a run server of its own, as
    outside the tests, and its runs are in its group too (not forks of the session's shared
    server: `tests/conftest.py`)."""
    out = log.open("wb")
    env = dict(env or cli_env())
    if signalled:
        env.pop(SHARED_ENV, None)
    return subprocess.Popen(
        [sys.executable, "-m", "dhmlrun", *map(str, args)],
        stdout=out,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )


class Truth:
    """The core's own records, read over plain HTTP."""

    def __init__(self, core: Any, project: str) -> None:
        self.base = f"{core.endpoint}/api/v1"
        self.headers = auth_headers(core)
        self.project = project

    def list(self, type_: str, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page = 0
        while True:
            reply = requests.get(
                f"{self.base}/-/{self.project}/{type_}",
                params={"size": 500, "page": page, **params},
                headers=self.headers,
                timeout=30,
            )
            reply.raise_for_status()
            body = reply.json()
            items.extend(body["content"])
            page += 1
            if page >= body.get("totalPages", 1):
                return items

    def versions(self, type_: str) -> Counter[str]:
        """Versions per name (the apply lock's marker left aside)."""
        names = (str(dto["name"]) for dto in self.list(type_, versions="all"))
        return Counter(name for name in names if name != LOCK_NAME)

    def runs(self) -> list[dict[str, Any]]:
        return self.list("runs")

    def runs_of(self, address: str) -> list[dict[str, Any]]:
        label = f"dhmlrun/address={address}"
        return [r for r in self.runs() if label in ((r.get("metadata") or {}).get("labels") or [])]

    def states(self, address: str) -> Counter[str]:
        return Counter(str(r["status"]["state"]) for r in self.runs_of(address))

    def wait_for_state(self, address: str, state: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for run in self.runs_of(address):
                if run["status"]["state"] == state:
                    return run
            time.sleep(0.3)
        raise AssertionError(f"{address} never reached {state}: {self.states(address)}")
