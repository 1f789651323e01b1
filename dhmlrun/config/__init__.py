"""The declaration language: load `dhmlrun.yaml` (and its includes) into a `Declaration`.

Kept light on purpose: importing `dhmlrun.config` imports no YAML, Jinja or JSON Schema code;
`load_declaration` pulls the pipeline in on first use.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dhmlrun.config.model import Declaration

__all__ = ["load_declaration"]


def load_declaration(
    path: str | os.PathLike[str] = ".",
    *,
    cli_vars: Mapping[str, str] | None = None,
    var_files: list[Path] | None = None,
    environment: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Declaration:
    """Load, render, validate and normalise the declaration at `path`.

    `path` is the config directory (holding `dhmlrun.yaml`) or the root file itself. Raises
    `DhmlrunError` listing every problem found. `environ` defaults to `os.environ` (read for
    `DHMLRUN_VAR_<name>`). Variable precedence is documented in `dhmlrun.config.variables`.
    """
    from dhmlrun.config.pipeline import load_declaration as load

    return load(path, cli_vars=cli_vars, var_files=var_files, environment=environment, environ=environ)
