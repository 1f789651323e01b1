"""Applying: execute a Plan, in dependency order, N at a time; runs in worker processes."""

from dhmlrun.apply.executor import Applier, check_not_stale, stale_reasons

__all__ = ["Applier", "check_not_stale", "stale_reasons"]
