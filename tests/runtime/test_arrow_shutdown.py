"""Exit waits for Arrow's thread pools: work still running there at exit completes, and the
interpreter exits 0 instead of aborting with `terminate called without an active exception`."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from dhmlrun.compat.pyarrow import arrow_pools, drain_arrow_pools, wait_until_idle
from tests.runtime.slow_reads import journal_words, start_slow_scan

EXITS_DURING_READS = """
import atexit
import sys
from pathlib import Path

import digitalhub_runtime_mlrun  # what the SDK imports when it scans for runtimes
from dhmlrun.compat.pyarrow import drain_arrow_pools
from tests.runtime.slow_reads import start_slow_scan

if sys.argv[3] == "without-drain":
    atexit.unregister(drain_arrow_pools)
scan = start_slow_scan(Path(sys.argv[1]), Path(sys.argv[2]))
print("first batch read; exiting", flush=True)
"""


def exit_during_reads(tmp_path: Path, mode: str) -> tuple[int | None, str, list[str]]:
    """Run the script in a fresh interpreter: (exit code, None if it hung; stderr; journal)."""
    script, folder, journal = tmp_path / "exits.py", tmp_path / "parts", tmp_path / "journal"
    script.write_text(EXITS_DURING_READS)
    folder.mkdir()
    try:
        done = subprocess.run(
            [sys.executable, str(script), str(folder), str(journal), mode],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
        return None, stderr, journal_words(journal)
    assert "first batch read" in done.stdout, done.stderr
    return done.returncode, done.stderr, journal_words(journal)


def test_exit_waits_for_reads_still_running_in_arrow_and_exits_cleanly(tmp_path: Path) -> None:
    code, stderr, journal = exit_during_reads(tmp_path, "with-drain")
    assert code == 0, stderr
    assert "terminate called" not in stderr and "Fatal Python error" not in stderr
    assert journal.count("start") == journal.count("done") > 1  # every read in flight finished


def test_without_the_drain_the_same_exit_aborts(tmp_path: Path) -> None:
    """The reproduction the drain is for: the interpreter finalizes while Arrow's threads still
    need the GIL, and the process aborts (or hangs) instead of exiting 0."""
    code, _, _ = exit_during_reads(tmp_path, "without-drain")
    assert code != 0, "expected the unguarded exit to abort"


def test_the_pools_count_a_read_still_running_then_go_idle(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    pools = arrow_pools()
    assert pools is not None, "libarrow's pool functions were not found"
    scan = start_slow_scan(folder, tmp_path / "journal")
    assert pools.pending() > 0
    assert wait_until_idle(pools.pending, timeout=30)
    assert pools.pending() == 0
    del scan


def test_idle_means_two_idle_polls_in_a_row() -> None:
    counts = iter([0, 2, 0, 0, 5])
    assert wait_until_idle(lambda: next(counts), timeout=5, poll=0)
    assert next(counts) == 5  # it stopped at the second idle poll in a row


def test_a_pool_that_stays_busy_is_given_up_after_the_timeout() -> None:
    start = time.monotonic()
    assert not wait_until_idle(lambda: 1, timeout=0.05, poll=0.01)
    assert 0.05 <= time.monotonic() - start < 5


def test_a_process_without_pyarrow_is_not_made_to_import_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "pyarrow")
    assert drain_arrow_pools()
    assert "pyarrow" not in sys.modules
