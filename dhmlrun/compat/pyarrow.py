"""Let Arrow's thread pools finish their work before the interpreter finalizes (pyarrow < 24).

Why: `pandas.read_parquet(path)` (what the SDK's `dataitem.as_df()` calls for a table the runtime
registered) opens the file in Python and hands pyarrow a Python file object, so the buffers it
reads are Python objects (`arrow::py::PyBuffer`). pyarrow's parquet reader finishes part of a
read on its CPU and I/O thread pools after `read_table` has returned (the last references to the
reader and its buffers are dropped there), and dropping a Python buffer takes the GIL. When that
happens while the interpreter finalizes, CPython ends the pool thread (`pthread_exit`) and the
unwind through Arrow's `noexcept` destructors calls `std::terminate`: the process prints
`terminate called without an active exception` and aborts (exit code 134) after all its work
was done. A core dump of the seed snippet shows exactly that stack (apache/arrow#33975,
#34314). Upstream, apache/arrow#49943 makes those destructors skip Python once it finalizes; the
pyarrow 23.0.1 installed with mlrun 1.12 (which requires pyarrow < 24) still aborts.

So at exit this module waits, with the GIL released, until both of Arrow's global pools have no
task queued or running. atexit handlers run before the interpreter starts finalizing, while a
pool thread can still take the GIL, so the pending work completes normally. Arrow has no Python
API for a pool's task count: the exported C++ functions are called through ctypes
(`GetCpuThreadPool`, `io::internal::GetIOThreadPool`, `ThreadPool::GetNumTasks`). Where they
cannot be found (another platform, another ABI) nothing is done, and the wait is bounded so that
a task that never ends cannot keep the process from exiting.

Needed for `VERSIONS`: pyarrow 24 carries apache/arrow#49943 (merged 2026-05-07), and there
the drain is skipped. The mangled symbol names are those of libarrow 23 (Itanium ABI); a test
finds them in the installed libarrow (`tests/compat/test_versions.py`).
"""

from __future__ import annotations

import atexit
import ctypes
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import SpecifierSet

from dhmlrun.compat import within

VERSIONS = SpecifierSet("<24")
"""The pyarrow versions without apache/arrow#49943, which need the drain."""
DRAIN_TIMEOUT_SECONDS = 10.0
"""The longest exit waits for Arrow's pools; a straggler normally needs milliseconds."""
POLL_SECONDS = 0.005

_CPU_POOL = "_ZN5arrow8internal16GetCpuThreadPoolEv"
_IO_POOL = "_ZN5arrow2io8internal15GetIOThreadPoolEv"
_NUM_TASKS = "_ZN5arrow8internal10ThreadPool11GetNumTasksEv"
_LIBARROW_PATTERNS = ("libarrow.so*", "libarrow.*dylib")

_installed = False


@dataclass(frozen=True)
class ArrowPools:
    """Arrow's global CPU and I/O thread pools, as far as their task counts go."""

    num_tasks: Callable[[int], int]
    pools: tuple[int, ...]

    def pending(self) -> int:
        """Tasks queued or running in either pool (a ctypes call: the GIL is released meanwhile)."""
        return sum(self.num_tasks(pool) for pool in self.pools)


def drain_at_exit() -> None:
    """Register the exit drain once per process (the runtime plugin does it when imported), for
    the pyarrow versions that need it."""
    global _installed
    if not _installed and within("pyarrow", VERSIONS):
        atexit.register(drain_arrow_pools)
        _installed = True


def drain_arrow_pools(timeout: float = DRAIN_TIMEOUT_SECONDS) -> bool:
    """Wait until Arrow's pools are idle; False when they were still busy after `timeout`.

    A process that never imported pyarrow has no pools to wait for (and is not made to import it).
    """
    if "pyarrow" not in sys.modules:
        return True
    pools = arrow_pools()
    if pools is None:
        return True
    if wait_until_idle(pools.pending, timeout):
        return True
    print(
        f"dhmlrun: Arrow still had {pools.pending()} task(s) running {timeout:g} s after exit began; "
        "exiting anyway",
        file=sys.stderr,
    )
    return False


def wait_until_idle(pending: Callable[[], int], timeout: float, poll: float = POLL_SECONDS) -> bool:
    """True once `pending()` is 0 on two polls in a row, False if not within `timeout` seconds.

    Two polls: one pool's task can hand work to the other pool just before it ends, between the
    reads of the two counts; the second poll sees that work.
    """
    deadline = time.monotonic() + timeout
    idle_polls = 0
    while True:
        idle_polls = idle_polls + 1 if pending() == 0 else 0
        if idle_polls == 2:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)  # releases the GIL: the pools' threads may need it to finish


def arrow_pools() -> ArrowPools | None:
    """The pools of the libarrow pyarrow loaded, or None when its functions cannot be found."""
    library = _libarrow_path()
    if library is None:
        return None
    try:
        lib = ctypes.CDLL(str(library))  # already loaded by pyarrow: the same handle, no new copy
        cpu_pool, io_pool, num_tasks = lib[_CPU_POOL], lib[_IO_POOL], lib[_NUM_TASKS]
    except (OSError, AttributeError):
        return None
    for getter in (cpu_pool, io_pool):
        getter.argtypes, getter.restype = [], ctypes.c_void_p
    num_tasks.argtypes, num_tasks.restype = [ctypes.c_void_p], ctypes.c_int
    pools = tuple(pool for pool in (cpu_pool(), io_pool()) if pool)
    return ArrowPools(num_tasks, pools)


def _libarrow_path() -> Path | None:
    """pyarrow's libarrow (a wheel ships it next to the package, e.g. `libarrow.so.2300`)."""
    try:
        import pyarrow
    except ImportError:
        return None
    for folder in pyarrow.get_library_dirs():
        for pattern in _LIBARROW_PATTERNS:
            found = sorted(Path(folder).glob(pattern))
            if found:
                return found[0]
    return None
