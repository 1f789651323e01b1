"""Folders and files dhmlrun keeps for its user (`.dhmlrun/`: the embedded core's database, run
logs and directories, saved plans): readable by that user only.

Why: the database holds every entity of the project (secret values included, encrypted) and the
run logs hold whatever handlers printed; on a shared machine, mode 644 files in a 755 folder are
everybody's. Created 0700/0600 whatever the umask, and tightened when found looser.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """`path` (and missing parents) as a directory only its owner can enter."""
    path = Path(path)
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    with contextlib.suppress(PermissionError):  # a folder of another user's: leave it
        if path.stat().st_mode & 0o077:
            path.chmod(DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """`path` created empty if missing, readable and writable by its owner only."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return path
