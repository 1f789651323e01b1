"""The mlrun runtime's seed snippet, as an SDK user runs it: one process, then exit.

A run executed by the core (no local execution), then the same run executed locally, then every
output of both read back as a table. Exit code 0 when both runs completed and their datasets read
back as the example's 60 x 6 table; `bench/stress_exit.py` runs this in a fresh interpreter many
times and counts the exits that are not 0.

    DHCORE_ENDPOINT=... DHCORE_ACCESS_TOKEN=... DH_CONFIG=/dev/null \\
        python bench/seed_snippet.py PROJECT [--without-exit-drain]

`--without-exit-drain` unregisters the runtime's exit drain (`dhmlrun/compat/pyarrow.py`)
after the SDK loaded the plugin: the process as it was before that fix, to measure the abort rate.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "employees"
FINAL = ("COMPLETED", "ERROR", "STOPPED")
REMOTE_DEADLINE_SECONDS = 300.0
EXPECTED_SHAPE = (60, 6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project")
    parser.add_argument("--without-exit-drain", action="store_true")
    args = parser.parse_args()

    import digitalhub as dh

    project = dh.get_or_create_project(args.project)
    dataitem = project.new_dataitem(
        name="url-dataitem", kind="table", path=str(EXAMPLE / "data" / "employees.csv")
    )
    function = project.new_function(
        name="mlrun-downloader",
        kind="mlrun",
        source={"source": str(EXAMPLE / "src" / "pipeline.py")},
        handler="downloader",
        image="mlrun/mlrun",
    )
    if args.without_exit_drain:
        _unregister_exit_drain()
    remote = function.run("job", inputs=[{"url": dataitem.key}], outputs=[{"dataset": "dataset"}])
    _wait_until_final(remote)
    local = function.run(
        "job", inputs=[{"url": dataitem.key}], outputs=[{"dataset": "dataset"}], local_execution=True
    )
    local.refresh()
    for name, run in (("remote", remote), ("local", local)):
        assert run.status.state == "COMPLETED", f"{name} run: {run.status.message}"
        for key, entity in run.outputs().items():
            shape = entity.as_df().shape
            assert shape == EXPECTED_SHAPE, f"{name} run, output {key}: {shape}"
            print(f"{name} run: {key} {shape}")


def _wait_until_final(run: Any) -> None:
    deadline = time.monotonic() + REMOTE_DEADLINE_SECONDS
    while run.refresh().status.state not in FINAL:
        if time.monotonic() > deadline:
            state = run.status.state
            raise SystemExit(f"remote run {run.id} still {state} after {REMOTE_DEADLINE_SECONDS:g} s")
        time.sleep(0.1)


def _unregister_exit_drain() -> None:
    import atexit

    from dhmlrun.compat.pyarrow import drain_arrow_pools

    atexit.unregister(drain_arrow_pools)


if __name__ == "__main__":
    main()
