"""A parquet scan whose reads are still running in Arrow's I/O pool when the caller goes on.

Each read goes through a Python file object and takes `READ_SECONDS` (in Python, so it needs the
GIL to finish), and notes "start" and "done" in a journal file: what a `pandas.read_parquet`
leaves behind for a moment after it returns, made long enough to be certain of.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fsspec.implementations.local import LocalFileSystem

READ_SECONDS = 0.3
FILES = 8


class SlowLocalFileSystem(LocalFileSystem):
    """Local files whose every read sleeps first and is noted in `journal`."""

    journal: Path | None = None

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        handle = super()._open(path, mode, **kwargs)
        read = handle.read

        def slow_read(*args: Any) -> bytes:
            _note(self.journal, "start")
            time.sleep(READ_SECONDS)
            data = read(*args)
            _note(self.journal, "done")
            return data

        handle.read = slow_read
        return handle


def _note(journal: Path | None, word: str) -> None:
    if journal is not None:
        with journal.open("a") as out:
            out.write(word + "\n")


def start_slow_scan(folder: Path, journal: Path) -> Iterator[Any]:
    """Write `FILES` parquet files to `folder` and take the first batch of a scan over them:
    when this returns, Arrow's I/O pool is still reading the other files. Returns the scan."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    for i in range(FILES):
        pq.write_table(pa.table({"a": list(range(1000))}), folder / f"part{i}.parquet")
    SlowLocalFileSystem.journal = journal
    slow = PyFileSystem(FSSpecHandler(SlowLocalFileSystem()))
    batches = ds.dataset(str(folder), format="parquet", filesystem=slow).to_batches()
    next(batches)
    return batches


def journal_words(journal: Path) -> list[str]:
    return journal.read_text().split() if journal.exists() else []
