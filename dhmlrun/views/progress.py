"""Progress while applying: a live display on a terminal, plain lines everywhere else.

On a TTY, one line per changing node (state and elapsed time, a spinner while it works, and
under a running step the last line it printed), redrawn in place with ANSI cursor movement a few
times a second, so a long apply reads like a status board rather than a scroll of timestamps, and
nobody needs a second terminal with `logs --follow`. `--verbose` prints everything the steps
print, above the board (or as plain lines, `ADDRESS | line`). Without a TTY (CI logs, pipes, files) the
Applier's own line-per-event output is kept: it is what a log reader greps. Both write to
stderr; results (the plan, the summary) stay on stdout.

`LiveProgress.render` is pure (nodes and a time in, lines out), so tests assert on the text;
the ticking thread only calls it and writes.
"""

from __future__ import annotations

import os
import shutil
import textwrap
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

from dhmlrun.views.terminal import safe_text
from dhmlrun.vocabulary import times

MODE_ENV = "DHMLRUN_PROGRESS"
"""`live` or `plain` forces a mode; anything else (or unset) chooses by whether stderr is a TTY."""

VERBS = {
    "create": "creating",
    "update": "updating",
    "delete": "deleting",
    "run": "running",
    "adopt": "adopting",
}
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
ASCII_SPINNER = "|/-\\"
CLEAR_LINE = "\x1b[2K"


def cursor_up(lines: int) -> str:
    return f"\x1b[{lines}A\r" if lines else "\r"


@dataclass
class Node:
    """One changing action as the display knows it."""

    address: str
    action: str
    status: str = "waiting"  # waiting | started | done | failed | skipped
    started: float | None = None
    elapsed: float = 0.0
    message: str = ""
    last_line: str = ""
    """The last complete line the step printed (shown under it while it works)."""


class OutputLines:
    """Pieces of a step's output (any cut) into complete lines, by address."""

    def __init__(self) -> None:
        self._partial: dict[str, str] = {}

    def feed(self, address: str, text: str) -> list[str]:
        """The lines `text` completes (a carriage return, as progress bars write, ends one too)."""
        pieces = (self._partial.get(address, "") + text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
        self._partial[address] = pieces.pop()
        return pieces


elapsed_text = times.duration_text
"""`3.9s`, `2m05s`: how long a step took (the live board)."""


@dataclass
class LiveProgress:
    """The live display: `event` is the Applier's structured hook; `render` draws the board."""

    nodes: list[Node]
    stream: TextIO
    clock: Callable[[], float] = time.monotonic
    width: int | None = None
    interval: float = 0.2
    notices: list[str] = field(default_factory=list)
    """Lines said to the user while the board is up (an interrupt), drawn under it."""
    _drawn: int = 0
    _frame: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _ticker: threading.Thread | None = None

    @classmethod
    def for_actions(cls, actions: Iterable[tuple[str, str]], stream: TextIO, **kwargs: Any) -> LiveProgress:
        return cls([Node(address, action) for address, action in actions], stream, **kwargs)

    def _spinner(self) -> str:
        encoding = (getattr(self.stream, "encoding", None) or "").lower().replace("-", "")
        return SPINNER if encoding == "utf8" else ASCII_SPINNER

    def event(self, address: str, action: str, status: str, elapsed: float, message: str) -> None:
        """The Applier's `events` hook (called from its worker threads)."""
        with self._lock:
            node = next((n for n in self.nodes if n.address == address), None)
            if node is None:
                node = Node(address, action)
                self.nodes.append(node)
            node.status = status
            node.message = message
            if status == "started":
                node.started = self.clock()
            else:
                node.elapsed = elapsed

    def notice(self, text: str) -> None:
        """Say `text` under the board (a line written outside it would be drawn over)."""
        with self._lock:
            self.notices.append(text)
        self.draw()

    def printed(self, address: str, lines: list[str]) -> None:
        """Complete lines the step at `address` printed: its last non-blank one goes under it."""
        shown = [line for line in lines if line.strip()]
        if not shown:
            return
        with self._lock:
            node = next((n for n in self.nodes if n.address == address), None)
            if node is not None:
                node.last_line = shown[-1].strip()

    def above(self, lines: list[str]) -> None:
        """Write `lines` above the board (they scroll away with the terminal), then redraw it."""
        if not lines:
            return
        with self._lock:
            out = cursor_up(self._drawn) if self._drawn else ""
            out += "".join(f"{CLEAR_LINE}{safe_text(line)}\n" for line in lines)
            self._drawn = 0
            self.stream.write(out)
        self.draw()

    def finish(self, results: Iterable[Any]) -> None:
        """Mark what the walk skipped (it never started those) and draw the final board."""
        with self._lock:
            by_address = {n.address: n for n in self.nodes}
            for result in results:
                node = by_address.get(result.address)
                if node is not None and node.status in ("waiting", "started"):
                    node.status = result.status
                    node.message = result.message
                    node.elapsed = result.elapsed
        self.draw()

    def render(self, now: float | None = None) -> list[str]:
        """One line per node: symbol, address, state, elapsed, message (cut to the width)."""
        now = self.clock() if now is None else now
        width = self.width or shutil.get_terminal_size((100, 24)).columns
        spinner = self._spinner()
        pad = max((len(n.address) for n in self.nodes), default=0)
        lines = []
        for node in self.nodes:
            if node.status == "started":
                symbol = spinner[self._frame % len(spinner)]
                state = VERBS.get(node.action, node.action)
                elapsed = elapsed_text(now - (node.started or now))
            else:
                symbol = {"waiting": "·", "done": "✓", "failed": "✗", "skipped": "-"}.get(node.status, "?")
                if spinner == ASCII_SPINNER:
                    symbol = {"·": ".", "✓": "+", "✗": "x"}.get(symbol, symbol)
                state = node.status
                elapsed = elapsed_text(node.elapsed) if node.status in ("done", "failed") else ""
            line = f"  {symbol} {node.address.ljust(pad)}  {state:<9} {elapsed:>7}"
            if node.message and node.status in ("failed", "skipped"):
                line += f"  {safe_text(node.message)}"
            lines.append(line.rstrip()[: max(20, width - 1)])
            if node.status == "started" and node.last_line:
                lines.append(f"      │ {safe_text(node.last_line)}"[: max(20, width - 1)])
        for notice in self.notices:  # wrapped, not cut: every word of it matters
            lines.extend(textwrap.wrap(notice, max(20, width - 1)))
        return lines

    def draw(self) -> None:
        """Redraw the board in place: up to its first line, then each line cleared and rewritten."""
        with self._lock:
            lines = self.render()
            out = cursor_up(self._drawn) if self._drawn else ""
            out += "".join(f"{CLEAR_LINE}{line}\n" for line in lines)
            self._drawn = len(lines)
            self._frame += 1
        self.stream.write(out)
        self.stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            self.draw()

    def start(self) -> None:
        """Draw now, then redraw on a timer until `stop`."""
        self.draw()
        self._ticker = threading.Thread(target=self._tick, name="dhmlrun-progress", daemon=True)
        self._ticker.start()

    def stop(self) -> None:
        """Stop the timer and draw the final board (once)."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=1)
        self.draw()


def live_wanted(stream: TextIO, environ: dict[str, str] | None = None) -> bool:
    """Live display only on a real terminal (not TERM=dumb), unless DHMLRUN_PROGRESS says."""
    env = os.environ if environ is None else environ
    forced = env.get(MODE_ENV, "").lower()
    if forced in ("live", "plain"):
        return forced == "live"
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and env.get("TERM") != "dumb"


class Display:
    """The CLI's `Observer` of an apply: a live board on a terminal (from `begin`, with the
    plan's changing actions, to `finish`), else the Applier's timestamped lines as they come."""

    def __init__(self, stream: TextIO, plain: Callable[[str], None], *, verbose: bool = False) -> None:
        self.stream = stream
        self.plain = plain
        self.verbose = verbose
        """Show everything the steps print (else the live board shows each running step's last line)."""
        self.live: LiveProgress | None = None
        self._lines = OutputLines()

    def begin(self, actions: Iterable[Any]) -> None:
        """The plan about to be applied: put its changing actions on the board."""
        if self.live is None and live_wanted(self.stream):
            self.live = LiveProgress.for_actions(
                ((a.address, a.action) for a in actions if a.changes), self.stream
            )
            self.live.start()

    def line(self, text: str) -> None:
        if self.live is None:
            self.plain(safe_text(text))

    def event(self, address: str, action: str, status: str, elapsed: float, message: str) -> None:
        if self.live is not None:
            self.live.event(address, action, status, elapsed, message)

    def notice(self, text: str) -> None:
        """Tell the user something now (under the live board, or as a plain line)."""
        if self.live is not None:
            self.live.notice(text)
        else:
            self.plain(text)

    def output(self, address: str, text: str) -> None:
        """What a step printed: its last line under it on the board; every line with
        `verbose` (above the board, or as plain `ADDRESS | line` lines)."""
        lines = self._lines.feed(address, text)
        live = self.live
        if live is not None:
            live.printed(address, lines)
        if not self.verbose:
            return
        shown = [f"{address} | {line}" for line in lines]
        if live is not None:
            live.above(shown)
        else:
            for line in shown:
                self.plain(safe_text(line))

    def finish(self, results: Iterable[Any] = ()) -> None:
        """Mark what the walk skipped and draw the final board (safe to call more than once)."""
        if self.live is not None:
            self.live.finish(results)
            self.live.stop()
            self.live = None
