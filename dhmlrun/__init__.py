"""dhmlrun: DigitalHub and MLRun projects as code.

`from dhmlrun import Project, ApplyOptions` is the Python API (`dhmlrun.api`). The package itself is kept
import-free on purpose: `dhmlrun validate`, `plan` and `--help` must start fast and must not pull
in mlrun or digitalhub, so every heavy import lives inside the function that needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dhmlrun.api import ApplyOptions, Project

__version__ = "0.1.0"
__all__ = ["ApplyOptions", "Project", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("ApplyOptions", "Project"):
        from dhmlrun import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
