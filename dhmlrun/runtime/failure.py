"""A failed handler in one line: the exception's type, its message, and where in the user's own
code it was raised, e.g. `KeyError: 'yearz' (src/pipeline.py:18)`.

mlrun keeps only `str(exception)` of a failing handler (`'yearz', caused by: 'yearz'` for a
pandas KeyError): neither the type nor the place survive into its run record. The exception
itself is seen while mlrun handles it: mlrun logs the failure from inside its `except` block
(`mlrun.runtimes.local.exec_from_params`, 1.12), so a logging handler on mlrun's logger finds it
in `sys.exc_info()` (`HandlerErrorTrap`; docs/runtimes.md §1). The place is the last frame of
the traceback inside the function's materialised source, shown by the path the declaration gave it.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

ShownPath = Callable[[str], "str | None"]
"""A frame's file name -> the path a user knows it by, or None when it is not the user's code."""


def source_paths(code_file: Path, source_root: Path, declared: str | None) -> ShownPath:
    """How frames in the materialised source are shown: the handler's file by the path the
    declaration wrote (`src/pipeline.py`), other files by their path inside the source root."""
    code_file, source_root = code_file.resolve(), source_root.resolve()

    def shown(filename: str) -> str | None:
        try:
            path = Path(filename).resolve()
        except (OSError, ValueError):
            return None
        if path == code_file and _is_relative_file(declared):
            return declared
        if path.is_relative_to(source_root):
            return path.relative_to(source_root).as_posix()
        return None

    return shown


PYTHON_RUNTIME_DIR = "runtime_python"
PYTHON_RUNTIME_FILE = "main.py"
"""Where digitalhub-runtime-python 0.15 puts a function's source before importing it: embedded
code is written as `runtime_python/main.py` under the SDK context's root, archives and git
sources unpacked under `runtime_python/` (its `runtimes/runtime.py` and `utils/configuration.py`;
docs/runtimes.md §2)."""


def python_runtime_paths(declared: str | None) -> ShownPath:
    """How frames of a python function's source are shown: its embedded file by the path the
    declaration wrote, other files by their path inside the runtime's source folder."""

    def shown(filename: str) -> str | None:
        parts = Path(filename).parts
        if PYTHON_RUNTIME_DIR not in parts:
            return None
        inside = Path(*parts[len(parts) - parts[::-1].index(PYTHON_RUNTIME_DIR) :])
        if inside == Path(PYTHON_RUNTIME_FILE) and _is_relative_file(declared):
            return declared
        return inside.as_posix()

    return shown


def _is_relative_file(declared: str | None) -> bool:
    return bool(declared) and "://" not in str(declared) and not Path(str(declared)).is_absolute()


def exception_chain(exc: BaseException) -> list[BaseException]:
    """`exc` and what it was raised from (or while handling), outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _user_frame(exc: BaseException, shown: ShownPath) -> str | None:
    """`file:line` of the last frame of `exc`'s traceback in the user's code."""
    if isinstance(exc, SyntaxError) and exc.filename and shown(exc.filename):
        return f"{shown(exc.filename)}:{exc.lineno}"
    place = None
    for frame in traceback.extract_tb(exc.__traceback__):
        path = shown(frame.filename)
        if path is not None:
            place = f"{path}:{frame.lineno}"
    return place


def describe_failure(exc: BaseException, shown: ShownPath) -> str:
    """`Type: message (file:line)` of the exception the user's code raised: the outermost one of
    the chain whose traceback passes through the user's code (wrappers added by the SDK or mlrun
    say less), else the innermost one, without a place."""
    chain = exception_chain(exc)
    for candidate in chain:
        place = _user_frame(candidate, shown)
        if place is not None:
            return f"{_one_line(candidate)} ({place})"
    return _one_line(chain[-1])


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class HandlerErrorTrap(logging.Handler):
    """Attached to mlrun's logger while a handler runs: keeps each exception being handled when
    mlrun logs an error (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.exceptions: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        raised = sys.exc_info()[1] or (record.exc_info[1] if record.exc_info else None)
        if raised is not None and all(raised is not seen for seen in self.exceptions):
            self.exceptions.append(raised)

    def failure(self, shown: ShownPath) -> str | None:
        """The handler's failure in one line (`describe_failure`): the first exception raised
        through the user's code. None when none was (mlrun's own message then says more than an
        exception of its internals would)."""
        for raised in self.exceptions:
            if any(_user_frame(link, shown) for link in exception_chain(raised)):
                return describe_failure(raised, shown)
        return None
