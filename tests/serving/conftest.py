"""Fixtures of the service tests: an embedded core of their own (services are processes that
outlive the core, so every test's services are ended when the module is done), SDK projects on
it, and a trained sklearn model file."""

from __future__ import annotations

import importlib.util
import pickle
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dhmlrun.core.server import EmbeddedCore
from tests.apply.test_upload import s3  # noqa: F401 (the loopback S3 files store, a fixture)
from tests.conftest import served_core, unique_project_name

FINAL_OR_SERVING = ("RUNNING", "ERROR", "STOPPED", "COMPLETED")


def needs_server(module: str) -> None:
    """Skip the test unless the model server `module` is installed (`dhmlrun[serve]`): found,
    not imported (`pytest.importorskip` would import MLServer and its runtime, 2.5 s of CPU in
    a test process that serves nothing: the service's own process imports them)."""
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"no {module}: the servers come with dhmlrun[serve]")


def end_services(core: EmbeddedCore) -> None:
    """End every service recorded in `core`'s database (tests never leave a server behind)."""
    with core.store.read() as tx:
        run_ids = [row.run_id for row in tx.services()]
    core.services.forget(run_ids)


def end_services_of(root: Path) -> None:
    """End every service of the embedded core a config directory's applies used, if any."""
    database = root / ".dhmlrun" / "core.db"
    if database.exists():
        core = EmbeddedCore(database)
        try:
            end_services(core)
        finally:
            core.close()


@pytest.fixture(scope="module")
def serving_core(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedCore]:
    """A served embedded core for one module, the SDK pointed at it; its services end with it."""
    db_path = tmp_path_factory.mktemp("serving") / "core.db"
    with served_core(db_path) as core:
        try:
            yield core
        finally:
            end_services(core)


@pytest.fixture
def project(serving_core: EmbeddedCore) -> Any:
    import digitalhub as dh

    return dh.get_or_create_project(unique_project_name("svc"))


def wait_serving(run: Any, seconds: float = 240) -> Any:
    """Refresh `run` until it serves (RUNNING) or ended; the run."""
    deadline = time.monotonic() + seconds
    while run.refresh().status.state not in FINAL_OR_SERVING:
        assert time.monotonic() < deadline, f"run {run.id} still {run.status.state}"
        time.sleep(0.1)
    return run


def port_open(url: str) -> bool:
    """Whether something accepts connections at `host:port`."""
    host, _, port = url.partition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


def port_closed(url: str, seconds: float = 5) -> bool:
    """Whether nothing accepts connections at `host:port` (within `seconds`: a connect to a
    free loopback port of the ephemeral range can, rarely, meet itself)."""
    deadline = time.monotonic() + seconds
    while port_open(url):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.fixture(scope="session")
def iris_model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pickled sklearn classifier of the iris data (as a training job would write it)."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    features, labels = load_iris(return_X_y=True)
    path = tmp_path_factory.mktemp("model") / "model.pkl"
    path.write_bytes(pickle.dumps(LogisticRegression(max_iter=300).fit(features, labels)))
    return path


IRIS_V2_BODY = {
    "inputs": [
        {
            "name": "input-0",
            "shape": [2, 4],
            "datatype": "FP64",
            "data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]],
        }
    ]
}
"""Two flowers, a setosa (class 0) and a virginica (class 2), as a V2 inference request."""
