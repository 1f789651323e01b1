"""Apply's warm run server: started as early as the process knows it will apply, and kept for
the next apply of a process that applies again and again.

The server itself (one process that imports mlrun and digitalhub once, then forks one child per
run) is `dhmlrun/worker/fork_server.py`; this module decides when apply starts, takes over,
keeps and stops one. apply falls back to a fresh worker for a run when the server cannot take it
(`fork_server.RunServerUnavailable`).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager

from dhmlrun.worker.fork_server import (
    MLRUN_PRELOAD,
    PRELOAD,
    READ_AT_IMPORT_PREFIXES,
    SERVER_ENV,
    RunServer,
    RunServerUnavailable,
    enabled,
    lend,
    lending,
    unlend,
)

__all__ = [
    "SERVER_ENV",
    "RunServer",
    "RunServerUnavailable",
    "keeping_run_server",
    "release",
    "start_early",
    "warm_run_server",
]

CARRIED_PREFIXES = ("DHCORE_", "DHMLRUN_", "AWS_")
"""The SDK's connection and files store (read when its client is built, which each child does
again: `platform.sdk.configure_sdk`), dhmlrun's own settings (read where they are used), S3's
credentials (read when a client is made)."""
CARRIED_NAMES = ("DH_CONFIG", "_RJEM_MALLOC_CONF", "KMP_DUPLICATE_LIB_OK", "KMP_INIT_AT_FORK")
"""The SDK's ini file (as its connection); settings that libraries put in the environment when
they are imported, for a native library that reads them when it loads: polars' allocator's (the
server imported polars before forking, so set them itself), and Intel's OpenMP runtime's, which
scikit-learn and joblib set (the server imports neither: a run that does loads it with them)."""

_early: RunServer | None = None
"""The server `start_early` started and no `warm_run_server` has taken yet."""
_keeping = False
"""Inside `keeping_run_server()`: the server an apply used outlives it, for the next apply."""
_kept: RunServer | None = None
"""The server kept for the next apply (see `keeping_run_server`)."""
_ignored: frozenset[str] = frozenset()
_retired: list[RunServer] = []
"""Kept servers replaced by a newer one, closed when the block that kept them ends."""
"""Variables whose changes do not retire the kept server (see `keeping_run_server`)."""


def start_early(preload: Sequence[str] = PRELOAD) -> None:
    """Start the run server now, at process start, for a command that is about to apply.

    Why: the server's imports (mlrun and digitalhub, ~2 s) are on the critical path of every
    apply that runs something; the CLI calls this before it even imports the command's
    module (~0.1 s earlier than the command could). `warm_run_server` then takes this server
    instead of starting one; one nobody took is stopped at exit."""
    global _early
    if _early is None and not _reusable() and enabled():
        with contextlib.suppress(OSError):
            _early = RunServer(preload)
        if _early is not None:
            atexit.register(_close_early)


def _close_early() -> None:
    global _early
    server, _early = _early, None
    if server is not None:
        server.close()


@contextmanager
def warm_run_server(wanted: bool, needs_mlrun: bool = True) -> Iterator[RunServer | None]:
    """A run server for the block when `wanted` (the apply may run something) and not turned off
    by `DHMLRUN_RUN_SERVER=0`; None otherwise. Start it as early as possible: its imports
    overlap whatever the caller does before the first run (the one `start_early` started, if
    any, is taken over; inside `keeping_run_server()`, the one the previous apply used). A
    process that used a server is about to end: it also skips the interpreter's final
    collections (`skip_collections_at_exit`).

    `needs_mlrun=False` (the configuration declares no mlrun function): a server that serves
    this apply only does without mlrun's imports (`MLRUN_PRELOAD`, 1.5 s of its 2.5 s of CPU;
    skipped while it still preloads, when `start_early` started it); a kept one preloads all,
    for the applies after this one."""
    global _early, _kept
    server, _early = _early, None
    skip = MLRUN_PRELOAD if not needs_mlrun and not _keeping else ()
    if _reusable():
        if server is not None:
            server.close()
        server = _kept if wanted and enabled() else None
    elif server is not None and not wanted:
        server.close()
        server = None
    elif server is None:
        server = RunServer.start(wanted, [m for m in PRELOAD if m not in skip])
    elif skip:
        server.skip(skip)
    try:
        with lending(server):  # the embedded core of this apply forks its remote runs from it too
            yield server
    finally:
        if server is not None and _keeping and server is not _kept:
            previous, _kept = _kept, server  # the newest: started in the environment of now
            lend(server)  # between applies too: the process's embedded cores fork from it
            if previous is not None:
                unlend(previous)
                previous.retire()  # a run a core forked from it may still be going
                _retired.append(previous)
        elif server is not None and not _keeping:
            server.close()
            skip_collections_at_exit()


def release(server: RunServer) -> None:
    """The apply runs nothing after all: stop its server now, so its memory and CPU go back
    (unless `keeping_run_server()` keeps it for the next apply)."""
    if not _keeping:
        server.close()


def _reusable() -> bool:
    """Whether the kept server can serve this apply: alive, and started in the environment this
    process has now (whatever its imports read of it, as a server started now would), but for
    the variables each run carries in its request and no import reads (`carried_by_runs`)."""
    return (
        _keeping
        and _kept is not None
        and _kept.alive
        and _kept.started_in(os.environ, lambda key: key in _ignored or carried_by_runs(key))
    )


def carried_by_runs(key: str) -> bool:
    """Whether variable `key` is one that a change of does not retire the kept server: it is read
    when a run uses it, never at import (`CARRIED_PREFIXES`, `CARRIED_NAMES`), and each run
    carries the value of now in its request. What a test or a notebook changes between applies
    is mostly these: the platform to talk to, its files store, dhmlrun's own settings."""
    if key.startswith(READ_AT_IMPORT_PREFIXES):
        return False
    return key.startswith(CARRIED_PREFIXES) or key in CARRIED_NAMES


@contextmanager
def keeping_run_server(keep: bool = True, ignoring: Collection[str] = ()) -> Iterator[None]:
    """While the block runs, the run server an apply used is kept for the next apply of this
    process (`keep=False`: each apply starts and stops its own, as outside; the kept one waits).

    Why: a process that applies again and again (a test session, a notebook) otherwise starts a
    server, and pays its imports (about 2 s of CPU), per apply. Runs stay as isolated as with a
    server per apply: each is still a fresh fork of the same warm, untouched process, and the
    kept server serves only while this process's environment is the one it was started in (a
    server imports modules that read it: `SSL_CERT_FILE`, `MLRUN_*`...); after a change, the
    next apply starts a server, which is kept instead (`ignoring`: variables the caller knows no
    import reads, such as pytest's `PYTEST_CURRENT_TEST`). The kept server is lent to the
    process's embedded cores meanwhile (`fork_server.lend`): their runs and services fork from
    it too, between applies, instead of from a server of their own. It is stopped when the
    block that started keeping ends."""
    global _keeping, _kept, _ignored, _retired
    outer = (_keeping, _kept, _ignored, _retired)
    owns = keep and not _keeping  # the block's own server (an enclosing keeping block shares its)
    _keeping = keep
    if owns:
        _kept, _ignored, _retired = None, frozenset(ignoring), []
    try:
        yield
    finally:
        if owns:
            for server in [*_retired, *([_kept] if _kept is not None else [])]:
                unlend(server)
                server.close()
        _keeping, _kept, _ignored, _retired = outer


_skipping_collections = False


def skip_collections_at_exit() -> None:
    """Spare this process the interpreter's final garbage collections when it exits.

    Why: apply ends soon after its runs, holding the SDK, pydantic, uvicorn and the platform
    state; Python's teardown runs full collections over all of it, ~0.3 s measured on the
    critical path of every apply that ran something. Freezing the heap at exit (the last atexit
    handler to be registered runs first) moves everything out of the collector's reach; every
    other exit step still runs: atexit handlers, flushing and closing of files and streams,
    module teardown. Only the finalizers of objects in reference cycles still alive at exit are
    skipped, which Python does not promise to run at exit anyway."""
    global _skipping_collections
    if not _skipping_collections:
        atexit.register(gc.freeze)
        _skipping_collections = True
