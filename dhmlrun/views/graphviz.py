"""SVG from DOT text with Graphviz's `dot` program, the one external renderer dhmlrun uses.

Graphviz is not a Python dependency: `--format svg` needs `dot` on the PATH and says how to
install it when it is missing; the Mermaid and DOT formats need nothing.
"""

from __future__ import annotations

import shutil
import subprocess

from dhmlrun.errors import DhmlrunError

DOT_TIMEOUT_SECONDS = 120.0
MISSING = (
    "--format svg needs Graphviz's `dot` program, which is not installed: install Graphviz "
    "(Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz), "
    "or use --format dot or --format mermaid"
)


def svg(dot_text: str) -> bytes:
    """The SVG drawing of `dot_text`, or a DhmlrunError saying why there is none."""
    program = shutil.which("dot")
    if program is None:
        raise DhmlrunError.single(MISSING)
    try:
        done = subprocess.run(
            [program, "-Tsvg"],
            input=dot_text.encode(),
            capture_output=True,
            timeout=DOT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DhmlrunError.single(f"Graphviz's dot could not draw the graph: {exc}") from exc
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip() or f"exit code {done.returncode}"
        raise DhmlrunError.single(f"Graphviz's dot could not draw the graph: {reason}")
    return done.stdout
