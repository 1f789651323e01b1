"""The DigitalHub platform's own end-to-end scenarios, unmodified, against the embedded core.

Opt-in: set `DHMLRUN_SCENARIOS` to a copy of scc-digitalhub/digitalhub-tests (its git directory,
or a checkout of branch 0.15). Nothing of that repository is kept here: each test extracts branch
0.15 to a temporary folder (`git -C REPO archive 0.15 | tar -x`), starts `dhmlrun core serve` on
a fresh database, and runs the scenario's `main.py` as the platform's `execute.sh` does (from the
scenario's folder, `PROJECT_NAME` set) with the SDK configured as the core tells its clients (the
settings `core serve --env-file` writes: its endpoint, token and files store, which a platform's
own environment gives its users too). The one change: s1-etl's download URL (an open-data export
on the internet) is pointed at a local CSV of the same shape.

    DHMLRUN_SCENARIOS=/path/to/digitalhub-tests pytest -q tests/scenarios -rA
    python tests/scenarios/test_platform_scenarios.py /path/to/digitalhub-tests [s3-scikit-learn ...]

The second form prints one line per scenario (passed or failed, seconds, the last lines of its
output). The scenarios need what their functions and services use: `pip install -e
'.[dev,serve]'` (digitalhub-runtime-hera, digitalhub-runtime-modelserve, MLServer); the functions'
own `requirements` (scikit-learn, mlflow) are installed by the core into their environments, from
the package index pip is configured with.
"""

from __future__ import annotations

import csv
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SCENARIOS_ENV = "DHMLRUN_SCENARIOS"
BRANCH = "0.15"
SCENARIOS = ("s1-etl", "s3-scikit-learn", "s4-mlflow")
SCENARIO_TIMEOUT = 1800
CORE_START_TIMEOUT = 60
S1_URL = re.compile(r'url = "https://[^"]*"')
TAIL_LINES = 60


@dataclass
class Outcome:
    scenario: str
    passed: bool
    seconds: float
    output: str

    def tail(self, lines: int = TAIL_LINES) -> str:
        return "\n".join(self.output.rstrip().splitlines()[-lines:])


def extract(source: Path, into: Path) -> Path:
    """Branch 0.15 of the scenarios repository `source` (a git directory or a checkout) in
    `into`; a folder without git is copied as it is."""
    into.mkdir(parents=True, exist_ok=True)
    is_git = (source / "HEAD").is_file() or (source / ".git").exists()
    if not is_git:
        shutil.copytree(source, into, dirs_exist_ok=True)
        return into
    archive = subprocess.run(["git", "-C", str(source), "archive", BRANCH], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def point_s1_at_local_data(tests_root: Path) -> Path:
    """s1-etl downloads a CSV export of Bologna's traffic loops from the internet: write a local
    CSV of the same columns (`;`-separated) and point the scenario's URL at it."""
    data = tests_root / "s1-etl" / "traffic.csv"
    hours = [f"{h:02d}:00-{h + 1:02d}:00" for h in range(24)]
    columns = [
        "data",
        "codice spira",
        "longitudine",
        "latitudine",
        "Livello",
        "tipologia",
        "codice",
        "codice arco",
        "codice via",
        "Nome via",
        "stato",
        "direzione",
        "angolo",
        "geopoint",
        *hours,
    ]
    with data.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(columns)
        for day in range(1, 11):
            for loop in range(12):
                place = [11.3 + loop / 100, 44.49 + loop / 100, 1, "Induttiva", loop, 100 + loop, 200 + loop]
                row = [
                    f"2023-01-{day:02d}",
                    f"spira-{loop}",
                    *place,
                    f"via {loop}",
                    "A",
                    "NS",
                    90,
                    "44.5,11.3",
                ]
                writer.writerow([*row, *((day * loop + h) % 97 for h in range(24))])
    main = tests_root / "s1-etl" / "main.py"
    text = main.read_text(encoding="utf-8")
    assert S1_URL.search(text), "s1-etl's download URL is not where it was"
    main.write_text(S1_URL.sub(f"url = {str(data)!r}".replace("'", '"'), text), encoding="utf-8")
    return data


class ServedCore:
    """`dhmlrun core serve` on a fresh database, for the block; its output kept in a file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.token = secrets.token_urlsafe(32)
        self.log = root / "core.log"
        self.client_settings = root / "client.env"
        self.endpoint = ""
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServedCore:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DHCORE_", "DH_"))}
        env.update({"DHMLRUN_CORE_TOKEN": self.token, "DHMLRUN_CORE_KEY_FILE": str(self.root / "core.key")})
        command = [
            sys.executable,
            "-m",
            "dhmlrun",
            "core",
            "serve",
            "--port",
            "0",
            "--db",
            str(self.root / "core.db"),
            "--env-file",
            str(self.client_settings),
        ]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + CORE_START_TIMEOUT
        while time.monotonic() < deadline and self.process.poll() is None:
            found = re.search(r"export DHCORE_ENDPOINT=(\S+)", self.log.read_text(errors="replace"))
            if found:
                self.endpoint = found.group(1)
                return self
            time.sleep(0.2)
        self.__exit__(None, None, None)
        raise RuntimeError(f"dhmlrun core serve did not start:\n{self.log.read_text(errors='replace')}")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(2)  # Ctrl-C: the core stops serving and lets its workers end
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def client_environment(self, project: str) -> dict[str, str]:
        """This process's environment with the core's client settings (and no other platform's)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DHCORE_", "DH_"))}
        for line in self.client_settings.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition("=")
            env[key] = value
        env["PROJECT_NAME"] = project
        return env

    def runs(self, project: str) -> str:
        """One line per run of the project: kind, state, message (what to look at on failure)."""
        import requests

        url = f"{self.endpoint}/api/v1/-/{project}/runs?size=100&sort=created,asc"
        answer = requests.get(url, headers=self._headers(), timeout=60).json()
        lines = []
        for run in answer.get("content", []):
            status = run.get("status", {})
            message = str(status.get("message") or "")[:300]
            lines.append(f"{run['kind']} {run['id']} {status.get('state')} {message}".rstrip())
            for node in status.get("nodes") or []:  # a pipeline's steps that did not succeed
                if node.get("state") not in ("Succeeded", "Running"):
                    lines.append(
                        f"  step {node.get('display_name')}: {node.get('state')} {node.get('message', '')}"
                    )
        return "\n".join(lines)

    def delete_project(self, project: str) -> None:
        """Everything the scenario left (its services stop with their runs)."""
        import requests

        url = f"{self.endpoint}/api/v1/projects/{project}?cascade=true"
        requests.delete(url, headers=self._headers(), timeout=60)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def run_scenario(repository: Path, scenario: str, work: Path) -> Outcome:
    """Extract, serve a core, run the scenario's main.py; what became of it."""
    tests_root = extract(repository, work / "digitalhub-tests")
    if scenario == "s1-etl":
        point_s1_at_local_data(tests_root)
    project = f"dhmlrun-{scenario}-{secrets.token_hex(3)}"
    started = time.monotonic()
    with ServedCore(work) as core:
        try:
            done = subprocess.run(
                [sys.executable, "main.py"],
                cwd=tests_root / scenario,
                env=core.client_environment(project),
                capture_output=True,
                text=True,
                timeout=SCENARIO_TIMEOUT,
                stdin=subprocess.DEVNULL,
            )
            passed, output = done.returncode == 0, done.stdout + done.stderr
        except subprocess.TimeoutExpired as exc:
            printed = f"{exc.stdout or ''}{exc.stderr or ''}"
            passed, output = False, f"{printed}\ntimed out after {SCENARIO_TIMEOUT} s"
        finally:
            runs = core.runs(project)
            core.delete_project(project)
    seconds = time.monotonic() - started
    if not passed:
        output += f"\n--- the project's runs ---\n{runs}"
        output += f"\n--- the core's log ---\n{core.log.read_text(errors='replace')[-8000:]}"
    return Outcome(scenario, passed, seconds, output)


def repository() -> Path | None:
    value = os.environ.get(SCENARIOS_ENV)
    return Path(value).expanduser() if value else None


@pytest.fixture
def work() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="dhmlrun-scenario-") as folder:
        yield Path(folder)


@pytest.mark.slow
@pytest.mark.skipif(repository() is None, reason=f"{SCENARIOS_ENV} names no digitalhub-tests checkout")
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_platform_scenario_passes_against_the_embedded_core(scenario: str, work: Path) -> None:
    source = repository()
    assert source is not None
    outcome = run_scenario(source, scenario, work)
    assert outcome.passed, f"{scenario} failed after {outcome.seconds:.0f} s:\n{outcome.tail(60)}"


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    source, wanted = Path(argv[0]).expanduser(), argv[1:] or list(SCENARIOS)
    failed = 0
    for scenario in wanted:
        with tempfile.TemporaryDirectory(prefix="dhmlrun-scenario-") as folder:
            outcome = run_scenario(source, scenario, Path(folder))
        failed += not outcome.passed
        verdict = "passed" if outcome.passed else "FAILED"
        print(f"{scenario}: {verdict} ({outcome.seconds:.0f} s)\n{outcome.tail()}\n", flush=True)
    print(f"{len(wanted) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(main(sys.argv[1:]))
