"""Record the MLRun cassettes: the integration suite, live against a real MLRun API server,
through a recording proxy that rewrites `tests/integration/cassettes/` (one file per test).

    python -m tests.integration.record http://127.0.0.1:8787 [PYTEST ARGS]

Run it after a change to what dhmlrun asks of MLRun (the replay in CI then fails with the
difference), with the server of the MLRun version dhmlrun supports (tests/README.md says how to
start one); review the cassettes' diff before committing it. The server must be dedicated to the
recording (the tests create and delete projects on it) and reachable from this machine only.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.integration.cassette import CASSETTES, Cassette, compare, server_version

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    url, pytest_args = argv[0].rstrip("/"), argv[1:]
    print(f"recording against MLRun {server_version(url)} at {url}", flush=True)
    before = {path: Cassette.load(path) for path in sorted(CASSETTES.glob("*.json"))}
    env = {**os.environ, "DHMLRUN_TEST_MLRUN_API": url, "DHMLRUN_TEST_MLRUN_RECORD": "1"}
    # one test at a time: the server's answers are recorded in the order they were given
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", str(HERE)]
    code = subprocess.run([*command, *pytest_args], env=env, cwd=HERE.parents[1], check=False).returncode
    for path in sorted(CASSETTES.glob("*.json")):
        print(f"{path.relative_to(HERE.parents[1])}: {what_changed(before.get(path), Cassette.load(path))}")
    return code


def what_changed(old: Cassette | None, new: Cassette) -> str:
    """The review of a re-recording: the requests that changed (the file's diff is mostly new ids
    and timestamps)."""
    if old is None:
        return f"new, {len(new.exchanges)} exchanges"
    if old.exchanges == new.exchanges:
        return "not re-recorded"
    changes = compare(old, new)
    if not changes:
        return "the same requests (new ids and times)"
    return f"{len(changes)} change(s):\n\n" + "\n\n".join(changes) + "\n"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
