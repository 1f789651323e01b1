"""A module the run-server tests run as `python -m` would (`RunServer.spawn(module=...)`): it
writes what it sees to the file named by its first argument, then waits for the file named by
its second (when given) and exits as its third says (`none`, a number, or a message)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

if __name__ == "__main__":
    out, go, how = [*sys.argv[1:], "", "none"][:3]
    seen = {"name": __name__, "argv0": Path(sys.argv[0]).name, "argv": sys.argv[1:]}
    Path(out).write_text(json.dumps(seen))
    print("started")
    deadline = time.monotonic() + 60
    while go and not Path(go).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    sys.exit(None if how == "none" else int(how) if how.isdigit() else how)
