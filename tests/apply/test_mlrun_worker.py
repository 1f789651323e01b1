"""The MLRun worker's functions built by real mlrun (no server): what it stores is what the
next plan reads back as up to date, and what it runs carries none of dhmlrun's bookkeeping."""

from __future__ import annotations

from pathlib import Path

import pytest

from dhmlrun.plan import build_plan
from dhmlrun.plan.model import EntityWrite
from dhmlrun.platform.state import PlatformState
from dhmlrun.worker.on_mlrun import OURS, build_function, readable_url
from tests.plan.helpers import counter_ids, declaration, write_repo
from tests.plan.mlrun_states import MLRUN, RecordedService, read_state

pytestmark = pytest.mark.slow  # imports mlrun


def test_a_stored_function_plans_as_up_to_date(tmp_path: Path) -> None:
    import mlrun

    repo = write_repo(tmp_path / "repo")
    extra = {
        "functions.inline": {
            "kind": "mlrun",
            "source": {"code": "def handler(context):\n    return 1\n"},
            "handler": "handler",
            "description": "inline code",
            "requirements": ["scikit-learn==1.5.0"],
        }
    }
    decl = declaration(repo, extra=extra)
    plan = build_plan(decl, PlatformState(project=decl.project_name, mlrun=MLRUN), id_factory=counter_ids())
    service, dhcore = RecordedService(), PlatformState(project=decl.project_name, project_exists=True)
    service.project = True
    for n, action in enumerate(plan.actions):
        if isinstance(action, EntityWrite) and action.body["kind"] == "mlrun":
            stored = build_function(mlrun, action.body).to_dict()
            stored["metadata"].update(hash=f"h{n}", updated=f"2026-01-01T00:00:{n:02d}")
            service.funcs.append(stored)
    state = read_state(service, dhcore)
    functions = {a: e for a, e in state.entities.items() if a.startswith("functions.")}
    assert set(functions) == {"functions.downloader", "functions.summarise", "functions.inline"}
    again = {a.address: a for a in build_plan(decl, state).actions}
    assert all(again[address].action == "no-op" for address in functions), [
        (a, again[a].reason) for a in functions
    ]


def test_the_function_mlrun_runs_is_detached_from_the_declared_version(tmp_path: Path) -> None:
    """mlrun stores again the function it runs, under its tag: the copy that runs has none, and
    none of dhmlrun's labels, so the declared version on MLRun stays as it was."""
    import mlrun

    from dhmlrun.worker.on_mlrun import detached

    body = {
        "id": "v1",
        "name": "train",
        "project": "p",
        "metadata": {"labels": ["dhmlrun", "dhmlrun/address=functions.train"]},
        "spec": {"source": {"code": "def fit(context):\n    pass\n"}, "handler": "fit"},
    }
    function = detached(mlrun.new_function(runtime=build_function(mlrun, body).to_dict()))
    assert not function.metadata.tag
    assert not set(function.metadata.labels or {}) & set(OURS)
    assert not set(function.metadata.annotations or {}) & set(OURS)
    assert function.spec.default_handler == "fit"


def test_a_file_on_this_machine_is_no_input_for_a_pod() -> None:
    assert readable_url("x", "s3://bucket/data.csv") == "s3://bucket/data.csv"
    with pytest.raises(ValueError, match="DHCORE_DEFAULT_FILES_STORE"):
        readable_url("x", "/home/me/data.csv")
