"""The mlrun runtime for the digitalhub SDK: kinds `mlrun`, `mlrun+job`, `mlrun+job:run`.

The SDK imports `digitalhub_runtime_mlrun`, which re-exports the tuples of `builders.py` while
it scans for runtimes; importing this package imports neither the SDK nor mlrun (mlrun only
when a run executes), so the helpers here serve every worker, whatever the SDK's line.

Importing it also makes the process wait, at exit, for Arrow's thread pools to finish what they
still do (`dhmlrun/compat/pyarrow.py`): reading a table the runtime produced (`dataitem.as_df()`) can leave
work there that aborts the interpreter if it is still running when Python finalizes.
"""

from __future__ import annotations

from dhmlrun.compat.pyarrow import drain_at_exit

drain_at_exit()
