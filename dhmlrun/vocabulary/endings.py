"""Why dhmlrun ended a run that did not complete, kept as data on the run: `status.ended_by` on
DHCore (`platform/runs.py`), `status.dhmlrun.ended_by` on MLRun (`worker/on_mlrun.py`). The
planner reads the reason from there (`RemoteRun.ended_by`), never from the run's message."""

from __future__ import annotations

ENDED_BY = "ended_by"
INTERRUPTED = "interrupted"
"""Apply was stopped (Ctrl-C, SIGTERM) while the run executed; the next apply runs it again."""
TIMED_OUT = "timed out"
"""The run's `timeout` passed before its handler returned."""
EXECUTOR_LOST = "executor lost"
"""The process executing it died (its lease ran out); a new run superseded it."""
