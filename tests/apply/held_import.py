"""A module whose import waits until the file named by `DHMLRUN_TEST_IMPORT_GATE` exists (at
most 30 s): a run server preloading it is held in its preload for as long as a test needs."""

from __future__ import annotations

import os
import time
from pathlib import Path

_gate = os.environ.get("DHMLRUN_TEST_IMPORT_GATE")
_deadline = time.monotonic() + 30
while _gate and not Path(_gate).exists() and time.monotonic() < _deadline:
    time.sleep(0.02)
