"""CPython: run a process's exit handlers without finalizing the interpreter.

The warm run server's forked children (`worker/fork_server.py`) end like a worker process that
exits normally as far as the run is concerned (the exit handlers run: the runtime's Arrow drain,
logging's flush), but skip the interpreter's teardown with `os._exit`: with mlrun and the SDK
loaded, finalizing takes about a second, and the server's inherited state is not the child's
to tear down. CPython has no public call for "run the atexit handlers now"; `atexit._run_exitfuncs`
is what `Py_FinalizeEx` calls, unchanged from 3.8 to 3.13.
"""

from __future__ import annotations

import atexit

from packaging.specifiers import SpecifierSet

VERSIONS = SpecifierSet(">=3.11,<3.14")
"""The CPython versions `atexit._run_exitfuncs` is known to behave so in."""


def run_exit_handlers() -> None:
    """Call the atexit handlers as interpreter exit would, last registered first."""
    atexit._run_exitfuncs()
