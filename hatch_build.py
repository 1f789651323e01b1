"""Refuse an interpreter dhmlrun cannot run on, at once and in words, when pip asks for the
project's metadata: before it resolves the dependencies.

`requires-python` alone does not do it: for a local project (`pip install -e .`) pip resolves
the dependencies first and, on Python 3.12, ends after hundreds of "Ignored the following versions
that require a different python version" lines in "No matching distribution found for
mlrun==1.12.1", naming neither the cause nor the fix. hatchling calls this metadata hook while
preparing the metadata, which pip does first (hatchling runs metadata hooks only when a field is
dynamic: the hook writes the Python version classifiers, from the same requires-python).
"""

from __future__ import annotations

import sys

from packaging.specifiers import SpecifierSet

WHY = "mlrun 1.12.1 runs on Python 3.11 only; digitalhub 0.15 on 3.10 to 3.14"
HOW = (
    "make the virtual environment with a Python 3.11: python3.11 -m venv .venv (no python3.11? "
    "`uv python install 3.11`, `pyenv install 3.11`, or your system's python3.11 package)"
)


SUPPORTED_MINORS = range(6, 20)
"""Python 3 minor versions the classifiers are drawn from (those requires-python admits)."""


def minors(requires_python: str) -> list[str]:
    """The Python versions (`3.11`) requires-python admits."""
    allowed = SpecifierSet(requires_python)
    return [f"3.{minor}" for minor in SUPPORTED_MINORS if allowed.contains(f"3.{minor}.0")]


def classifiers(requires_python: str) -> list[str]:
    """`Programming Language :: Python :: 3.11`, ... for the minor versions requires-python admits."""
    return [
        "Programming Language :: Python :: 3",
        *(f"Programming Language :: Python :: {m}" for m in minors(requires_python)),
    ]


def refusal(version: tuple[int, int, int], requires_python: str, executable: str) -> str | None:
    """Why this interpreter cannot install dhmlrun, or None when it can."""
    shown = ".".join(str(part) for part in version)
    if SpecifierSet(requires_python).contains(shown):
        return None
    return (
        f"dhmlrun needs Python {' or '.join(minors(requires_python))} (requires-python {requires_python}: "
        f"{WHY}); this is Python {shown} ({executable}). To install it, {HOW}."
    )


try:  # hatchling is there when it builds; the tests import `refusal` without it
    from hatchling.metadata.plugin.interface import MetadataHookInterface
except ImportError:  # pragma: no cover
    MetadataHookInterface = object  # type: ignore[assignment,misc]


class CustomMetadataHook(MetadataHookInterface):  # type: ignore[misc,valid-type]
    """hatchling's `custom` metadata hook (`[tool.hatch.metadata.hooks.custom]`)."""

    def update(self, metadata: dict) -> None:
        requires_python = str(metadata["requires-python"])
        problem = refusal(tuple(sys.version_info[:3]), requires_python, sys.executable)
        if problem is not None:
            raise SystemExit(f"error: {problem}")
        metadata["classifiers"] = classifiers(requires_python)
