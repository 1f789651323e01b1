"""Which declared functions a hera workflow's steps run, read from its code without running it.

A pipeline run executes the functions its workflow's steps name (`step(function="download",
...)`, digitalhub-runtime-hera's DSL), by their latest version at the workflow's build. So those
functions are dependencies of the pipeline run: created before it, and part of its fingerprint (a
changed step function runs the pipeline again). The code is parsed (`ast`), never imported: the
string values of every `function=` keyword argument. A source that is not here (git, https, s3),
an archive, or code that does not parse cannot be read at plan time: then every declared function
counts, and the plan says so (`StepNames.unread`), never silently.
"""

from __future__ import annotations

import ast
import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dhmlrun.sources import Fetch, UnsupportedSource, classify_source
from dhmlrun.vocabulary.addresses import Address
from dhmlrun.vocabulary.mask import mask_userinfo

STEP_KEYWORD = "function"


@dataclass(frozen=True)
class StepNames:
    """The function names a workflow's steps pass as `function=`, or, when its code cannot be
    read here, None and why (`unread`, e.g. "its source is fetched by the platform: git+https://…")."""

    names: frozenset[str] | None
    unread: str = ""


def read_step_names(source: Mapping[str, Any]) -> StepNames:
    """The step function names of a workflow's `source` (module docstring)."""
    code = _code(source)
    if isinstance(code, StepNames):
        return code
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError) as exc:
        return StepNames(None, f"its code does not parse ({exc.__class__.__name__})")
    return StepNames(
        frozenset(
            keyword.value.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            for keyword in node.keywords
            if keyword.arg == STEP_KEYWORD
            and isinstance(keyword.value, ast.Constant)
            and isinstance(keyword.value.value, str)
        )
    )


def step_function_names(source: Mapping[str, Any]) -> set[str] | None:
    """The function names the workflow's code passes as `function=`; None when the code is not
    readable here (a remote source, an archive) or does not parse."""
    names = read_step_names(source).names
    return None if names is None else set(names)


def step_functions(source: Mapping[str, Any], declared: Iterable[str]) -> list[str]:
    """The addresses (`functions.NAME`) of the declared functions the workflow's steps run."""
    functions = sorted(a for a in declared if a.startswith("functions."))
    names = step_function_names(source)
    if names is None:
        return functions
    return [a for a in functions if Address.parse(a).name in names]


def _code(source: Mapping[str, Any]) -> str | StepNames:
    """The workflow's Python text, or why it cannot be read here."""
    if isinstance(source.get("base64"), str):
        try:
            return base64.b64decode(source["base64"], validate=True).decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            return StepNames(None, "its code is an archive (base64 that is not Python text)")
    text = source.get("source")
    if not isinstance(text, str):
        return StepNames(None, "it declares no code")
    try:
        local = classify_source(text, declared=True).fetch is Fetch.LOCAL
    except UnsupportedSource:
        return StepNames(None, f"its source {mask_userinfo(text)} is not a form dhmlrun reads")
    if not local:
        return StepNames(None, f"its source is fetched by the platform's build: {mask_userinfo(text)}")
    try:
        return Path(text).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return StepNames(None, f"its source {Path(text).name} is an archive")
    except OSError as exc:
        return StepNames(None, f"its source {Path(text).name} cannot be read ({exc.strerror})")
