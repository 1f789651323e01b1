"""Applying: execute a Plan, in dependency order, N at a time; runs in worker processes.

The names below are loaded on first use (PEP 562), so that importing `dhmlrun.apply.run_server`
to start the warm run server does not first pull in the executor, the planner and the platform.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Applier"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from dhmlrun.apply import executor

        return getattr(executor, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
