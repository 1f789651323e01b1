"""The names mlrun derives from a declared function, in one place for the runtime and validate.

The runtime gives mlrun the DigitalHub function's name made into an mlrun function name, and
mlrun names each run `{function}-{handler}` (`mlrun.launcher.base`: the handler's last part
after `#`, `::`, `:` or `.`, then `normalize_name`: lowercase, `_` and spaces to `-`), which
must be a Kubernetes label value (`mlrun.utils.regex.run_name`: at most 63 characters, letters,
digits, `-`, `_`, `.`, starting and ending with a letter or digit); a run whose name is not
fails with "run.metadata.name is malformed". `validate` checks the same name, so the failure is
a validation error instead. Standard library only: `validate` must not import mlrun.
"""

from __future__ import annotations

import re

RUN_NAME_MAX = 63
"""A Kubernetes label value's length limit, which mlrun applies to run names."""
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_HANDLER_SEPARATORS = ("#", "::", ":", ".")


def mlrun_function_name(name: str) -> str:
    """A DigitalHub name as a valid mlrun function name (lowercase, dashes, at most 63 chars)."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    return (cleaned or "fn")[:RUN_NAME_MAX].rstrip("-")


def mlrun_run_name(function: str, handler: str) -> str:
    """The name mlrun gives a run of `handler` in the function named `function` on DigitalHub."""
    short = handler
    for separator in _HANDLER_SEPARATORS:
        short = short.split(separator)[-1]
    name = f"{mlrun_function_name(function)}-{short}"
    return re.sub(r"\s+", "-", name).replace("_", "-").lower()


def run_name_problem(function: str, handler: str) -> str | None:
    """Why mlrun would refuse the run name of this function and handler, or None."""
    name = mlrun_run_name(function, handler)
    if len(name) > RUN_NAME_MAX:
        return (
            f"mlrun names the runs of this function {name!r} (its name, '-', its handler's name), "
            f"{len(name)} characters: more than the {RUN_NAME_MAX} a Kubernetes label value may have; "
            "shorten the function's name or its handler's"
        )
    if not _LABEL_VALUE.fullmatch(name):
        return (
            f"mlrun names the runs of this function {name!r} (its name, '-', its handler's name), "
            "which must end with a letter or a digit; rename the handler"
        )
    return None
