"""Saved plans: private, masked, round-trip exactly, refuse a missing or different secret by
name, record their environment, and a malformed file is a clear error, never a traceback."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from dhmlrun.errors import DhmlrunError
from dhmlrun.plan import build_plan
from dhmlrun.plan.model import RunStart
from dhmlrun.plan.saved import is_saved_plan, load_plan, load_saved_plan, save_plan
from dhmlrun.platform.state import PlatformState
from tests.plan.helpers import counter_ids, declaration, write_repo

SECRET = "s3cr3t-t0ken-value"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_repo(tmp_path / "repo")


def saved(repo: Path, tmp_path: Path, secret: str | None = SECRET):
    decl = declaration(repo, secret=secret)
    plan = build_plan(decl, PlatformState(project=decl.project_name), id_factory=counter_ids())
    path = tmp_path / "plan.json"
    save_plan(plan, path, decl)
    return plan, path


def test_saved_plan_is_private_masked_and_round_trips(repo: Path, tmp_path: Path) -> None:
    plan, path = saved(repo, tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert SECRET not in path.read_text()
    assert is_saved_plan(path) and not is_saved_plan(repo / "src" / "pipeline.py")
    loaded = load_saved_plan(path)
    assert loaded.needed == ["token"]
    assert loaded.plan_with({"token": SECRET}).as_dict() == plan.as_dict()
    masked = next(a for a in load_plan(path).actions if a.address == "runs.download")
    assert isinstance(masked, RunStart) and masked.request is not None
    assert masked.request.parameters["token"] == "(sensitive)"


def test_saved_plan_says_missing_and_differs_apart(repo: Path, tmp_path: Path) -> None:
    _, path = saved(repo, tmp_path)
    loaded = load_saved_plan(path)
    with pytest.raises(DhmlrunError, match="sensitive variable 'token' is missing"):
        loaded.plan_with({})
    with pytest.raises(DhmlrunError, match="differs"):
        loaded.plan_with({"token": "other"})


def test_saved_plan_records_its_environment(repo: Path, tmp_path: Path) -> None:
    _, path = saved(repo, tmp_path, secret=None)
    data = json.loads(path.read_text())
    assert "environment" in data
    assert load_saved_plan(path).environment == data["environment"]


@pytest.mark.parametrize(
    "mangle",
    [
        lambda d: d.update(actions="not a list"),
        lambda d: d["actions"].append({"shape": "nonsense", "address": "x"}),
        lambda d: d["actions"][0].update(address=["not", "a", "string"]),
        lambda d: d.pop("project"),
        lambda d: d.update(sensitive={"holes": [{"path": 3}], "sha256": {}}),
        lambda d: d.update(saved_format=1),
        lambda d: d.update(environment=["dev"]),
    ],
)
def test_a_malformed_saved_plan_is_a_clear_error(repo: Path, tmp_path: Path, mangle) -> None:
    _, path = saved(repo, tmp_path)
    data = json.loads(path.read_text())
    mangle(data)
    path.write_text(json.dumps(data))
    with pytest.raises(DhmlrunError, match=str(path)):
        load_saved_plan(path)


def test_a_file_that_is_not_json_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text("{ not json")
    with pytest.raises(DhmlrunError, match="cannot read saved plan"):
        load_saved_plan(path)
