"""Progress while applying: a live board on a TTY, plain timestamped lines otherwise."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dhmlrun.apply.results import NodeResult
from dhmlrun.views.progress import CLEAR_LINE, Display, LiveProgress, live_wanted
from tests.cli.conftest import dhmlrun

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class Terminal(io.StringIO):
    """A text stream that says it is a terminal (what the live display checks)."""

    encoding = "utf-8"

    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _board(stream: io.StringIO | None = None) -> tuple[LiveProgress, Clock]:
    clock = Clock()
    live = LiveProgress.for_actions(
        [("functions.maker", "create"), ("runs.make", "run"), ("runs.after", "run")],
        stream or Terminal(),
        clock=clock,
        width=80,
    )
    return live, clock


def test_board_shows_one_line_per_node_with_state_and_ticking_elapsed_time() -> None:
    live, clock = _board()
    live.event("functions.maker", "create", "started", 0.0, "")
    live.event("functions.maker", "create", "done", 0.2, "")
    live.event("runs.make", "run", "started", 0.0, "")
    clock.now += 3.25
    lines = live.render()
    assert lines[0] == "  ✓ functions.maker  done         0.2s"
    assert re.fullmatch(r"  \S runs\.make        running      3\.2s", lines[1]), lines[1]
    assert lines[2] == "  · runs.after       waiting"
    clock.now += 60
    assert live.render()[1].endswith("1m03s")


def test_failures_and_skips_carry_their_message() -> None:
    live, _ = _board()
    live.event("runs.make", "run", "started", 0.0, "")
    live.event("runs.make", "run", "failed", 1.5, "boom on purpose")
    live.finish([NodeResult("runs.after", "run", "skipped", "runs.make failed")])
    lines = live.render()
    assert lines[1] == "  ✗ runs.make        failed       1.5s  boom on purpose"
    assert lines[2] == "  - runs.after       skipped            runs.make failed"


def test_a_running_step_shows_the_last_line_it_printed_under_it() -> None:
    live, _ = _board()
    display = Display(Terminal(), lambda text: None)
    display.live = live
    live.event("runs.make", "run", "started", 0.0, "")
    display.output("runs.make", "epoch 1\nepo")
    display.output("runs.make", "ch 2\n\n")
    lines = live.render()
    assert lines[1].startswith("  ") and "running" in lines[1]
    assert lines[2] == "      │ epoch 2"
    live.event("runs.make", "run", "done", 1.0, "")
    assert all("│" not in line for line in live.render())  # only while it works


def test_verbose_prints_every_line_a_step_prints() -> None:
    plain: list[str] = []
    display = Display(io.StringIO(), plain.append, verbose=True)
    display.output("runs.make", "step 1\rstep 2\r\nhalf")
    display.output("runs.make", " done\n")
    assert plain == ["runs.make | step 1", "runs.make | step 2", "runs.make | half done"]
    quiet: list[str] = []
    Display(io.StringIO(), quiet.append).output("runs.make", "step 1\n")
    assert quiet == []


def test_verbose_lines_go_above_the_live_board() -> None:
    stream = Terminal()
    live, _ = _board(stream)
    display = Display(stream, lambda text: None, verbose=True)
    display.live = live
    live.draw()
    display.output("runs.make", "hello\n")
    after = ANSI.sub("", stream.getvalue().split("\x1b[3A", 1)[1]).replace("\r", "")
    assert after.splitlines()[0] == "runs.make | hello"
    assert "functions.maker" in after


def test_redraw_moves_up_over_the_previous_board_and_clears_each_line() -> None:
    stream = Terminal()
    live, _ = _board(stream)
    live.draw()
    first = stream.getvalue()
    assert first.count(CLEAR_LINE) == 3 and "\x1b[3A" not in first
    live.event("functions.maker", "create", "done", 0.1, "")
    live.draw()
    second = stream.getvalue()[len(first) :]
    assert second.startswith("\x1b[3A\r")
    assert "✓ functions.maker" in second


def test_a_notice_is_drawn_under_the_board_and_redrawn_with_it() -> None:
    """An interrupt's message: written past the board it would be drawn over at the next tick."""
    stream = Terminal()
    live, _ = _board(stream)
    live.draw()
    live.notice("Interrupted: starting nothing more. " + "Interrupt again to exit at once. " * 3)
    notice = live.render()[3:]
    assert len(notice) == 2 and all(len(line) <= 79 for line in notice)  # wrapped to the width
    assert " ".join(notice).endswith("Interrupt again to exit at once.")
    live.draw()
    last = stream.getvalue().rsplit("\x1b[5A\r", 1)[-1]  # the board is 5 lines high now
    assert ANSI.sub("", last).splitlines()[-2:] == notice


def test_lines_are_cut_to_the_terminal_width() -> None:
    live, _ = _board()
    live.event("runs.make", "run", "failed", 1.0, "x" * 500)
    assert all(len(line) <= 79 for line in live.render())


def test_ascii_symbols_when_the_terminal_is_not_utf8() -> None:
    stream = Terminal()
    stream.encoding = "ascii"  # type: ignore[misc]
    live, _ = _board(stream)
    live.event("functions.maker", "create", "done", 0.1, "")
    assert live.render()[0].startswith("  + functions.maker")
    assert live.render()[2].startswith("  . runs.after")


def test_live_only_on_a_terminal_unless_forced() -> None:
    assert live_wanted(Terminal(), {"TERM": "xterm"})
    assert not live_wanted(Terminal(), {"TERM": "dumb"})
    assert not live_wanted(io.StringIO(), {})
    assert live_wanted(io.StringIO(), {"DHMLRUN_PROGRESS": "live"})
    assert not live_wanted(Terminal(), {"DHMLRUN_PROGRESS": "plain"})


def _no_run_config(root: Path, project: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "dhmlrun.yaml").write_text(
        f"""version: 1
project: {{name: {project}}}
dataitems:
  one: {{kind: table, path: "https://example.com/1.csv"}}
  two: {{kind: table, path: "https://example.com/2.csv"}}
"""
    )
    return root


def test_apply_without_a_terminal_prints_plain_event_lines_to_stderr(
    core: Any, project_name: str, tmp_path: Path
) -> None:
    root = _no_run_config(tmp_path / "repo", project_name)
    result = dhmlrun("apply", root, "--auto-approve")
    assert result.exit_code == 0, result.output
    assert re.search(r"^\[\d\d:\d\d:\d\d\] dataitems\.one: creating…$", result.stderr, re.M)
    assert re.search(r"^\[\d\d:\d\d:\d\d\] dataitems\.one: done \(\d+\.\ds\)$", result.stderr, re.M)
    assert "\x1b[" not in result.stderr
    assert "Apply complete: 3 done" in result.stdout and "creating" not in result.stdout


@pytest.mark.slow
def test_apply_on_a_terminal_draws_the_live_board_on_stderr(
    core: Any, project_name: str, tmp_path: Path
) -> None:
    """A real pseudo-terminal as stderr of a real `dhmlrun apply` process."""
    root = _no_run_config(tmp_path / "repo", project_name)
    master, slave = os.openpty()
    env = {**os.environ, "DHCORE_ENDPOINT": core.endpoint, "TERM": "xterm", "PYTHONIOENCODING": "utf-8"}
    env.pop("DHMLRUN_PROGRESS", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dhmlrun", "apply", str(root), "--auto-approve"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    stdout, _ = proc.communicate(timeout=60)
    terminal = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0, terminal
    assert CLEAR_LINE in terminal and re.search(r"\x1b\[\d+A", terminal)
    final = ANSI.sub("", terminal.rsplit("\x1b[3A", 1)[-1]).replace("\r", "")
    assert re.search(r"✓ dataitems\.one\s+done\s+\d+\.\ds", final), final
    assert re.search(r"✓ project\s+done", final), final
    assert "creating…" not in terminal  # the plain lines are replaced by the board
    assert b"Apply complete: 3 done" in stdout and b"\x1b[" not in stdout


def test_a_duration_reads_the_same_everywhere() -> None:
    from dhmlrun.vocabulary.times import duration_text, run_duration

    assert [duration_text(s) for s in (0.04, 3.94, 125.0)] == ["0.0s", "3.9s", "2m05s"]
    assert run_duration("2026-12-06T06:45:41.789Z", "2026-12-06T06:45:42.390Z") == pytest.approx(0.601)
    assert run_duration("2026-12-06T06:45:42Z", "2026-12-06T06:45:41Z") is None
    assert run_duration(None, "2026-12-06T06:45:41Z") is None
