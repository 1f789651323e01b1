"""What the concurrency tests' writer processes run, in a module of its own.

Why here: a `spawn` child imports the module its target lives in. Had the targets stayed in
the test module, each of the eight children would import it, and with it the tests' conftest
and the SDK (1.8 s of CPU each) before writing anything; this module imports what writing
needs only.
"""

from __future__ import annotations

CREATES = 50
"""Entities each writer creates."""


def create_directly(db_path: str, project: str, worker: int) -> None:
    """Its own Store on the shared file, like `core serve` next to an apply."""
    from dhmlrun.core.service import Core
    from dhmlrun.core.store import Store

    core = Core(Store(db_path))
    for i in range(CREATES):
        core.create_entity(
            project, "dataitem", {"name": f"w{worker}-{i}", "kind": "table", "spec": {"path": "s3://x"}}
        )


def create_over_http(endpoint: str, token: str, project: str, worker: int) -> None:
    """A plain HTTP client of the served core."""
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    for i in range(CREATES):
        body = {"name": f"h{worker}-{i}", "kind": "artifact", "project": project, "spec": {"path": "s3://x"}}
        session.post(f"{endpoint}/api/v1/-/{project}/artifacts", json=body, timeout=60).raise_for_status()
