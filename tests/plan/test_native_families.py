"""Planning secrets, artifacts, models and python functions: a pure function of declaration and state.

A secret's value is compared by the salted digest its label keeps and never appears in a plan;
artifacts and models are diffed by content like dataitems; a python function owns its
python_version."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from dhmlrun.config.model import Variable
from dhmlrun.config.secrets import SecretReader
from dhmlrun.errors import DhmlrunError
from dhmlrun.plan import build_plan
from dhmlrun.plan.model import Plan, SecretWrite
from dhmlrun.plan.saved import save_plan
from dhmlrun.plan.secrets import digest_matches, value_digest
from dhmlrun.platform import labels as L
from dhmlrun.platform.state import PlatformState, RemoteEntity
from dhmlrun.views.plan import plan_json, render_plan
from tests.plan.helpers import applied_state, counter_ids, declaration, write_repo

VALUE = "correct-horse-battery"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = write_repo(tmp_path / "repo")
    (root / "models").mkdir()
    (root / "models" / "base.json").write_text('{"coef": [1]}')
    (root / "data" / "ref.json").write_text("{}")
    return root


def native(repo: Path, value: str = VALUE, **extra_specs):
    extra = {
        "secrets.TOKEN": {"env": "TOKEN_VAR", "description": "d"},
        "models.base": {"kind": "model", "path": str(repo / "models" / "base.json"), "framework": "numpy"},
        "artifacts.ref": {"kind": "artifact", "path": str(repo / "data" / "ref.json")},
        "functions.train": {
            "kind": "python",
            "python_version": "PYTHON3_11",
            "source": {"source": str(repo / "src" / "pipeline.py"), "handler": "downloader"},
        },
        "runs.train": {
            "function": "functions.train",
            "action": "job",
            "inputs": {"base": "models.base", "ref": "artifacts.ref"},
            "outputs": {"model": "model"},
            "secrets": ["TOKEN"],
        },
        **extra_specs,
    }
    decl = declaration(repo, extra=extra)
    train = decl.resources["runs.train"]
    train.depends_on = (*train.depends_on, "secrets.TOKEN")  # as the loader links a named secret
    decl.secret_reader = SecretReader({"TOKEN_VAR": value}, decl.variables, repo)
    return decl


def first(repo: Path) -> tuple[Plan, PlatformState]:
    decl = native(repo)
    plan = build_plan(decl, PlatformState(project=decl.project_name), id_factory=counter_ids())
    return plan, with_secret(applied_state(plan), plan)


def with_secret(state: PlatformState, plan: Plan, value: str = VALUE) -> PlatformState:
    """The state after apply wrote the planned secret (labelled with a digest of `value`)."""
    action = plan.by_address()["secrets.TOKEN"]
    assert isinstance(action, SecretWrite)
    metadata = action.body["metadata"]
    _, ours, user = L.decode(metadata["labels"])
    labels = L.encode({**ours, L.VALUE_DIGEST: value_digest(plan.project, "TOKEN", value)}, user)
    state.entities["secrets.TOKEN"] = RemoteEntity(
        "secrets",
        "TOKEN",
        action.body["id"],
        "secret",
        dict(action.body["spec"]),
        metadata["description"],
        tuple(labels),
    )
    return state


def test_a_new_secret_is_created_without_its_value_anywhere_in_the_plan(repo: Path, tmp_path: Path) -> None:
    plan, _ = first(repo)
    action = plan.by_address()["secrets.TOKEN"]
    assert isinstance(action, SecretWrite) and action.create and action.action == "create"
    assert action.body["spec"] == {"path": "secret://TOKEN", "provider": "kubernetes"}
    assert [(c.path, c.after) for c in action.diff] == [("value", "(sensitive)")]
    save_plan(plan, tmp_path / "plan.json", native(repo))
    shown = render_plan(plan) + json.dumps(plan_json(plan)) + (tmp_path / "plan.json").read_text()
    assert VALUE not in shown
    assert hashlib.sha256(VALUE.encode()).hexdigest() not in shown


def test_a_run_starts_only_once_the_secrets_it_names_are_written(repo: Path) -> None:
    plan, _ = first(repo)
    assert "secrets.TOKEN" in plan.by_address()["runs.train"].depends_on


def test_a_secret_whose_value_is_unchanged_plans_nothing(repo: Path) -> None:
    _, state = first(repo)
    plan = build_plan(native(repo), state)
    assert plan.by_address()["secrets.TOKEN"].action == "no-op"
    assert not plan.has_changes


def test_a_changed_value_is_shown_as_changed_and_nothing_more(repo: Path) -> None:
    _, state = first(repo)
    plan = build_plan(native(repo, "another-value"), state)
    action = plan.by_address()["secrets.TOKEN"]
    assert (action.action, action.reason) == ("update", "value changed")
    assert "~ secrets.TOKEN  (value changed)" in render_plan(plan)
    assert "another-value" not in render_plan(plan) + json.dumps(plan_json(plan))
    assert plan.by_address()["runs.train"].action == "no-op"  # a secret's value is not a run input


def test_a_secret_without_a_recorded_digest_is_written_again(repo: Path) -> None:
    _, state = first(repo)
    entity = state.entities["secrets.TOKEN"]
    _, ours, user = L.decode(entity.labels)
    ours.pop(L.VALUE_DIGEST)
    state.entities["secrets.TOKEN"] = RemoteEntity(
        "secrets", "TOKEN", entity.id, "secret", entity.spec, entity.description, tuple(L.encode(ours, user))
    )
    action = build_plan(native(repo), state).by_address()["secrets.TOKEN"]
    assert action.action == "update" and action.reason.startswith("value not recorded")


def test_a_secret_made_outside_dhmlrun_is_adopted_and_its_value_set(repo: Path) -> None:
    decl = native(repo)
    state = PlatformState(project=decl.project_name, project_exists=True, project_description="d")
    state.entities["secrets.TOKEN"] = RemoteEntity("secrets", "TOKEN", "abc", "secret", {}, None, ())
    action = build_plan(decl, state).by_address()["secrets.TOKEN"]
    assert isinstance(action, SecretWrite)
    assert (action.action, action.create, action.seen, action.body["id"]) == ("adopt", False, "abc", "abc")


def test_a_description_change_alone_updates_the_secret(repo: Path) -> None:
    _, state = first(repo)
    decl = native(repo)
    decl.resources["secrets.TOKEN"].spec["description"] = "new words"
    action = build_plan(decl, state).by_address()["secrets.TOKEN"]
    assert (action.action, action.reason) == ("update", "changed: description")


def test_a_value_that_cannot_be_read_fails_the_plan_at_the_secrets_line(repo: Path) -> None:
    decl = native(repo)
    decl.secret_reader = SecretReader({}, decl.variables, repo)
    with pytest.raises(DhmlrunError) as info:
        build_plan(decl, PlatformState(project=decl.project_name))
    assert "environment variable TOKEN_VAR is not set" in str(info.value)


def test_the_digest_is_salted_anew_at_each_write_and_checks_only_its_value() -> None:
    one, two = value_digest("p", "N", "1234"), value_digest("p", "N", "1234")
    assert one != two  # a fresh salt: equal values do not give equal labels
    assert one.startswith("scrypt1.") and "1234" not in one
    assert hashlib.sha256(b"1234").hexdigest() not in one
    assert digest_matches(one, "p", "N", "1234") and digest_matches(two, "p", "N", "1234")
    assert not digest_matches(one, "p", "N", "1235")
    assert not digest_matches(one, "p", "OTHER", "1234")  # bound to its secret
    assert not digest_matches("sha256.x.y", "p", "N", "1234")
    assert not digest_matches(None, "p", "N", "1234")


def test_artifacts_and_models_are_diffed_by_content(repo: Path) -> None:
    _, state = first(repo)
    assert not build_plan(native(repo), state).has_changes
    (repo / "models" / "base.json").write_text('{"coef": [2]}')
    plan = build_plan(native(repo), state)
    acts = plan.by_address()
    assert (acts["models.base"].action, acts["models.base"].reason) == (
        "update",
        "content changed: models/base.json",
    )
    assert acts["artifacts.ref"].action == "no-op"
    assert acts["runs.train"].action == "run"
    assert acts["runs.train"].reason == "input models.base has a new version"


def test_a_model_body_has_dhcores_model_spec(repo: Path) -> None:
    plan, _ = first(repo)
    body = plan.by_address()["models.base"].body
    assert body["kind"] == "model" and body["spec"]["framework"] == "numpy"
    assert body["spec"]["path"] == str(repo / "models" / "base.json")


def test_a_python_function_sends_its_python_version_and_its_code(repo: Path) -> None:
    plan, state = first(repo)
    body = plan.by_address()["functions.train"].body
    assert body["spec"]["python_version"] == "PYTHON3_11"
    assert body["spec"]["source"]["base64"] and body["spec"]["source"]["source"] == "src/pipeline.py"
    decl = native(repo)
    decl.resources["functions.train"].spec["python_version"] = "PYTHON3_12"
    acts = build_plan(decl, state).by_address()
    assert acts["functions.train"].reason == "changed: spec.python_version"
    assert acts["runs.train"].action == "run"


def test_a_python_runs_diff_names_what_changed_and_never_its_outputs(repo: Path) -> None:
    """A python run's outputs are named by its handler: its run on the platform records none, so
    a re-plan compares none (it showed `+ outputs.model` at every re-plan)."""
    plan, state = first(repo)
    assert "outputs" not in state.runs["runs.train"].spec
    decl = native(repo)
    decl.resources["runs.train"].spec["parameters"] = {"epochs": 2}
    again = build_plan(decl, state, id_factory=counter_ids()).by_address()["runs.train"]
    assert again.reason == "run spec changed"
    assert [(c.path, c.before, c.after) for c in again.diff] == [("parameters.epochs", None, 2)]
    new = build_plan(native(repo), PlatformState(project=plan.project)).by_address()["runs.train"]
    assert "outputs" not in {c.path.split(".")[0] for c in new.diff}


def test_a_sensitive_variable_source_is_masked_like_the_variable(repo: Path) -> None:
    decl = native(repo, **{"secrets.TOKEN": {"variable": "token"}})
    decl.variables["token"] = Variable("token", "from-a-variable", sensitive=True)
    decl.secret_reader = SecretReader({}, decl.variables, repo)
    plan = build_plan(decl, PlatformState(project=decl.project_name), id_factory=counter_ids())
    assert "from-a-variable" in decl.sensitive_values()
    assert "from-a-variable" not in render_plan(plan) + json.dumps(plan_json(plan))
