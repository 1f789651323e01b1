"""Entry points the run-server tests fork children into (`main(argv) -> exit code`, like
`dhmlrun.worker.main.main`). Each writes what it observed to the file named by argv[0]."""

from __future__ import annotations

import gc
import json
import os
import sys
from pathlib import Path


def leak(argv: list[str]) -> int:
    """Change process-global state every way a run could: env, a preloaded module's global,
    the working directory, sys.path; report the pid."""
    os.environ["DHMLRUN_TEST_LEAK"] = "leaked"
    json.dhmlrun_test_leak = True  # a global of a module the server preloaded
    sys.path.append("/leaked")
    os.chdir("/")
    Path(argv[0]).write_text(json.dumps({"pid": os.getpid()}))
    return 0


def observe(argv: list[str]) -> int:
    """Report what this child sees of the state `leak` changed in its sibling."""
    seen = {
        "pid": os.getpid(),
        "env": os.environ.get("DHMLRUN_TEST_LEAK"),
        "module_global": hasattr(json, "dhmlrun_test_leak"),
        "sys_path": "/leaked" in sys.path,
        "cwd": os.getcwd(),
        "path0": sys.path[0],
        "gc": gc.isenabled(),
        "given": os.environ.get("DHMLRUN_TEST_GIVEN"),
    }
    Path(argv[0]).write_text(json.dumps(seen))
    print("observed", flush=True)
    return 0


def exit_with(argv: list[str]) -> int:
    return int(argv[0])


def crash(argv: list[str]) -> int:
    """Die the hard way: no exception, no cleanup (as a segfaulting extension would)."""
    os.abort()


def raise_error(argv: list[str]) -> int:
    raise RuntimeError("handler blew up")


def sdk_config(argv: list[str]) -> int:
    """Report the ini file the SDK would read in this child (the server imported the SDK)."""
    from digitalhub.stores.client.common.config import get_client_config

    Path(argv[0]).write_text(str(get_client_config().config_ini_path))
    return 0


def modules_loaded(argv: list[str]) -> int:
    """Report which of the modules named after the output file this child has imported (those
    its server preloaded, since the child imported none)."""
    Path(argv[0]).write_text(json.dumps({name: name in sys.modules for name in argv[1:]}))
    return 0


def sdk_lookups(argv: list[str]) -> int:
    """Report the modules the SDK imports to look up the builders a run worker needs (a run's
    entity, its runtime): none, when the server registered them before forking."""
    import sys

    from digitalhub.factory.registry import registry

    before = set(sys.modules)
    registry.get_entity_builder("python+job:run")
    registry.get_entity_builder("project")
    registry.get_runtime_builder("python+job:run")
    Path(argv[0]).write_text(json.dumps(sorted(set(sys.modules) - before)))
    return 0


def mlrun_call(argv: list[str]) -> int:
    """Ask the MLRun API server of `MLRUN_DBPATH` for its client spec, through mlrun's own
    client, as a run worker would."""
    import mlrun

    mlrun.get_run_db().api_call("GET", "client-spec")
    Path(argv[0]).write_text(json.dumps({"pid": os.getpid()}))
    return 0
