"""What a declared run is when its declaration leaves a field out, and the words of its
`trigger` and `execution` fields.

The normaliser fills the defaults in, so the planner and apply never need to know them; the
JSON Schema repeats them as `default` for editors and the reference (a test keeps them equal).
"""

from __future__ import annotations

from typing import Any

ON_CHANGE = "on_change"
ALWAYS = "always"
ONCE = "once"
LOCAL = "local"
REMOTE = "remote"

RUN_DEFAULTS: dict[str, Any] = {
    "trigger": ON_CHANGE,
    "execution": LOCAL,
    "parameters": {},
    "values": [],
}

TASK_PARAMETERS = (
    "node_selector",
    "volumes",
    "resources",
    "affinity",
    "tolerations",
    "envs",
    "secrets",
    "backoff_limit",
    "schedule",
    "replicas",
    "profile",
    "timeout",
)
"""A run's task parameters (how and where it executes, as DHCore's k8s tasks name them), in a
declaration and in a run's spec on the platform."""
