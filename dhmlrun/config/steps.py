"""Which declared functions a hera workflow's steps run, read from its code without running it.

A pipeline run executes the functions its workflow's steps name (`step(function="download",
...)`, digitalhub-runtime-hera's DSL), by their latest version at the workflow's build. So those
functions are dependencies of the pipeline run: created before it, and part of its fingerprint (a
changed step function runs the pipeline again). The code is parsed (`ast`), never imported: the
string values of every `function=` keyword argument. A source that is not here (git, https, s3)
cannot be read at plan time: then every declared function counts.
"""

from __future__ import annotations

import ast
import base64
import binascii
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from dhmlrun.sources import Fetch, UnsupportedSource, classify_source
from dhmlrun.vocabulary.addresses import Address

STEP_KEYWORD = "function"


def step_function_names(source: Mapping[str, Any]) -> set[str] | None:
    """The function names the workflow's code passes as `function=`; None when the code is not
    readable here (a remote source) or does not parse."""
    code = _code(source)
    if code is None:
        return None
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    return {
        keyword.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for keyword in node.keywords
        if keyword.arg == STEP_KEYWORD
        and isinstance(keyword.value, ast.Constant)
        and isinstance(keyword.value.value, str)
    }


def step_functions(source: Mapping[str, Any], declared: Iterable[str]) -> list[str]:
    """The addresses (`functions.NAME`) of the declared functions the workflow's steps run."""
    functions = sorted(a for a in declared if a.startswith("functions."))
    names = step_function_names(source)
    if names is None:
        return functions
    return [a for a in functions if Address.parse(a).name in names]


def _code(source: Mapping[str, Any]) -> str | None:
    if isinstance(source.get("base64"), str):
        try:
            return base64.b64decode(source["base64"], validate=True).decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            return None
    text = source.get("source")
    if not isinstance(text, str):
        return None
    try:
        local = classify_source(text, declared=True).fetch is Fetch.LOCAL
    except UnsupportedSource:
        return None
    try:
        return Path(text).read_text(encoding="utf-8") if local else None
    except (OSError, UnicodeDecodeError):
        return None
