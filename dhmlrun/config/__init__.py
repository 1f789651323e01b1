"""The declaration language: load `dhmlrun.yaml` (and its includes) into a `Declaration`.

Kept light on purpose: importing `dhmlrun.config` imports no YAML, Jinja or JSON Schema code;
`load_declaration` (`dhmlrun.config.pipeline`) is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dhmlrun.config.pipeline import load_declaration

__all__ = ["load_declaration"]


def __getattr__(name: str) -> Any:
    if name == "load_declaration":
        from dhmlrun.config.pipeline import load_declaration

        return load_declaration
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
