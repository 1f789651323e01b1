"""`dhmlrun import` and adoption: a project made with the plain SDK becomes a dhmlrun project.

The round trip is the contract: import -> plan shows only `adopt` -> apply -> plan shows no
changes, and nothing on the platform gets a new version when nothing differed.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from dhmlrun.api import open_platform
from dhmlrun.config import load_declaration
from dhmlrun.errors import DhmlrunError
from dhmlrun.importer import ProjectExport, build_import, read_export, write_import
from dhmlrun.plan import build_plan
from dhmlrun.platform import labels as L
from dhmlrun.platform.state import PlatformState, RemoteEntity
from tests.cli.conftest import dhmlrun, plan_json
from tests.plan.helpers import applied_state, declaration, write_repo

CODE = "def downloader(context, url):\n    return url\n"


def _sdk_project(name: str, src: Path) -> None:
    """What a team made without dhmlrun: two functions (a file, inline code) and a dataitem."""
    import digitalhub as dh

    (src / "pipeline.py").write_text(CODE)
    project = dh.get_or_create_project(name, description="made with the SDK")
    project.new_function(
        kind="mlrun",
        name="dl",
        source={"source": str(src / "pipeline.py")},
        handler="downloader",
        image="mlrun/mlrun",
    )
    project.new_function(
        kind="mlrun", name="inline", source={"code": "def h(context):\n    return 1\n"}, handler="h"
    )
    project.new_dataitem(
        kind="table", name="emp", path="https://example.com/employees.csv", labels=["team-a"]
    )


@pytest.fixture
def imported(core: Any, project_name: str, tmp_path: Path) -> Path:
    _sdk_project(project_name, tmp_path)
    out = tmp_path / "repo"
    result = dhmlrun("import", project_name, "--out", out)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "# 3 to adopt (made outside dhmlrun)" in result.stdout
    return out


def test_import_writes_a_valid_declaration_with_the_code_as_files(imported: Path, project_name: str) -> None:
    document = yaml.safe_load((imported / "dhmlrun.yaml").read_text())
    assert document["project"] == {"name": project_name, "description": "made with the SDK"}
    assert document["functions"]["dl"] == {
        "kind": "mlrun",
        "source": {"source": "src/pipeline.py"},
        "handler": "downloader",
        "image": "mlrun/mlrun",
    }
    assert (imported / "src" / "pipeline.py").read_text() == CODE
    assert (imported / "src" / "inline.py").read_text().startswith("def h(context)")
    assert document["dataitems"]["emp"]["labels"] == ["team-a"]
    assert dhmlrun("validate", imported).exit_code == 0


def test_imported_project_plans_only_adopt_then_apply_then_no_changes(
    imported: Path, project_name: str
) -> None:
    planned = dhmlrun("plan", imported, "--detailed-exitcode")
    assert planned.exit_code == 2, planned.output
    assert "@ functions.dl" in planned.stdout
    assert "Plan: 3 to adopt, 0 to create, 0 to update, 0 to delete, 0 to run." in planned.stdout
    changes = [a for a in plan_json(imported)["actions"] if a["action"] != "no-op"]
    assert {a["action"] for a in changes} == {"adopt"} and len(changes) == 3
    with open_platform(imported) as platform:
        before = platform.read_state(project_name).entities
    applied = dhmlrun("apply", imported, "--auto-approve")
    assert applied.exit_code == 0, applied.output
    again = dhmlrun("plan", imported, "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert "No changes." in again.stdout
    with open_platform(imported) as platform:
        after = platform.read_state(project_name)
    assert {a: e.id for a, e in after.entities.items()} == {a: e.id for a, e in before.items()}
    assert set(after.managed()) == {"functions.dl", "functions.inline", "dataitems.emp"}


def test_adopting_an_entity_whose_declaration_differs_makes_a_new_version(
    imported: Path, project_name: str
) -> None:
    config = imported / "dhmlrun.yaml"
    config.write_text(config.read_text().replace("handler: downloader", "handler: other"))
    action = next(a for a in plan_json(imported)["actions"] if a["address"] == "functions.dl")
    assert action["action"] == "adopt" and "new version" in action["reason"]
    assert action["diff"] == [{"path": "spec.handler", "before": "downloader", "after": "other"}]
    assert dhmlrun("apply", imported, "--auto-approve").exit_code == 0
    with open_platform(imported) as platform:
        versions = platform.list_versions(project_name, "functions", "dl")
    assert len(versions) == 2
    assert dhmlrun("plan", imported, "--detailed-exitcode").exit_code == 0


def test_json_plan_with_adopt_matches_the_published_schema(imported: Path) -> None:
    import jsonschema

    schema_path = Path(__file__).resolve().parents[2] / "dhmlrun" / "plan" / "plan.schema.json"
    data = plan_json(imported)
    jsonschema.Draft202012Validator(json.loads(schema_path.read_text())).validate(data)
    assert data["summary"]["adopt"] == 3


def test_import_refuses_to_overwrite_a_different_declaration(imported: Path, project_name: str) -> None:
    (imported / "dhmlrun.yaml").write_text("# mine\n")
    result = dhmlrun("import", project_name, "--out", imported)
    assert result.exit_code == 1
    assert "refusing to overwrite dhmlrun.yaml" in str(result.exception)
    assert (imported / "dhmlrun.yaml").read_text() == "# mine\n"
    assert dhmlrun("import", project_name, "--out", imported, "--force").exit_code == 0


def test_import_of_a_missing_project_says_where_it_looked(core: Any, tmp_path: Path) -> None:
    result = dhmlrun("import", "no-such-project-x1", "--out", tmp_path)
    assert result.exit_code == 1
    assert f"project no-such-project-x1 not found on {core.endpoint}" in str(result.exception)


# ---------------------------------------------------------------- build_import (pure)


def _dto(name: str, kind: str, spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {"name": name, "kind": kind, "spec": spec, "metadata": metadata}


def test_functions_with_the_same_file_name_but_other_code_get_separate_files() -> None:
    def encoded(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    export = ProjectExport(
        "p",
        None,
        "http://x",
        functions=[
            _dto("a", "mlrun", {"source": {"source": "main.py", "base64": encoded("A = 1\n")}}),
            _dto("b", "mlrun", {"source": {"source": "main.py", "base64": encoded("B = 2\n")}}),
            _dto("c", "mlrun", {"source": {"source": "main.py", "base64": encoded("A = 1\n")}}),
        ],
    )
    result = build_import(export)
    document = yaml.safe_load(result.files["dhmlrun.yaml"])
    assert document["functions"]["a"]["source"] == {"source": "src/main.py"}
    assert document["functions"]["b"]["source"] == {"source": "src/main_2.py"}
    assert document["functions"]["c"]["source"] == {"source": "src/main.py"}
    assert result.files["src/main_2.py"] == b"B = 2\n"


def test_run_outputs_and_undeclarable_kinds_are_listed_not_imported() -> None:
    export = ProjectExport(
        "p",
        None,
        "http://x",
        functions=[
            _dto("box", "container", {"image": "alpine"}),
            _dto("git", "mlrun", {"source": {"source": "git+https://example.com/r.git#main"}}),
        ],
        dataitems=[
            _dto(
                "out",
                "table",
                {"path": "s3://b/o.parquet"},
                relationships=[{"type": "produced_by", "dest": "store://p/run/mlrun+job:run/r1:r1"}],
            ),
        ],
    )
    result = build_import(export)
    document = yaml.safe_load(result.files["dhmlrun.yaml"])
    assert document["functions"] == {
        "git": {"kind": "mlrun", "source": {"source": "git+https://example.com/r.git#main"}}
    }
    assert "dataitems" not in document
    text = result.files["dhmlrun.yaml"].decode()
    assert "#   functions.box: kind container" in text
    assert "#   dataitems.out: an output of run r1" in text


def test_a_python_function_is_imported_with_its_python_version_and_handler() -> None:
    code = base64.b64encode(b"def train():\n    return 1\n").decode()
    source = {"source": "src/train.py", "base64": code, "handler": "train"}
    export = ProjectExport(
        "p",
        None,
        "http://x",
        functions=[
            _dto("train", "python", {"source": source, "python_version": "PYTHON3_11"}),
            _dto("bare", "python", {"source": {"code": "x = 1"}}),
        ],
    )
    result = build_import(export)
    document = yaml.safe_load(result.files["dhmlrun.yaml"])
    assert document["functions"] == {
        "train": {
            "kind": "python",
            "source": {"source": "src/train.py", "handler": "train"},
            "python_version": "PYTHON3_11",
        }
    }
    assert result.files["src/train.py"] == b"def train():\n    return 1\n"
    assert "functions.bare: a python function without python_version or a handler" in "\n".join(
        result.skipped
    )


def test_write_import_checks_every_file_before_writing_any(tmp_path: Path) -> None:
    export = ProjectExport(
        "p", None, "http://x", functions=[_dto("a", "mlrun", {"source": {"code": "A = 1\n"}})]
    )
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("different\n")
    with pytest.raises(DhmlrunError, match=r"src/a\.py"):
        write_import(build_import(export), tmp_path)
    assert not (tmp_path / "dhmlrun.yaml").exists()


# ---------------------------------------------------------------- hostile exports (issue 21)

PRIVATE = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-really-a-key\n"


@pytest.fixture
def private_file(tmp_path: Path) -> Path:
    """A file of this machine that no export may make import copy."""
    place = tmp_path / "home" / ".ssh"
    place.mkdir(parents=True)
    (place / "id_ed25519").write_text(PRIVATE)
    return place / "id_ed25519"


def _written(out: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())


def test_import_never_copies_a_local_file_an_export_names(tmp_path: Path, private_file: Path) -> None:
    export = ProjectExport(
        "p",
        None,
        "http://x",
        dataitems=[
            _dto("key", "table", {"path": str(private_file)}),
            _dto("url", "table", {"path": f"file://{private_file}"}),
        ],
    )
    result = build_import(export)
    out = tmp_path / "out"
    write_import(result, out)
    assert PRIVATE not in _written(out)
    assert "dataitems" not in yaml.safe_load((out / "dhmlrun.yaml").read_text())
    said = "is a local file of the machine that made it, not copied"
    assert result.skipped == [
        f"dataitems.key: its path {str(private_file)!r} {said}",
        f"dataitems.url: its path 'file://{private_file}' {said}",
    ]


def test_a_recorded_path_is_declared_never_filled_from_this_machine(
    tmp_path: Path, private_file: Path
) -> None:
    """A dataitem dhmlrun applied (it recorded the file's path in its repo) keeps that path, so
    adopting it does not plan its deletion; the label cannot make import read anything."""
    recorded = L.encode({f"{L.LOCAL_PATH}:path": "data/numbers.csv"})
    climbing = L.encode({f"{L.LOCAL_PATH}:path": "../../home/.ssh/id_ed25519"})
    export = ProjectExport(
        "p",
        None,
        "http://x",
        dataitems=[
            _dto("numbers", "table", {"path": str(private_file)}, labels=recorded),
            _dto("climb", "table", {"path": str(private_file)}, labels=climbing),
        ],
    )
    result = build_import(export)
    out = tmp_path / "out"
    write_import(result, out)
    assert PRIVATE not in _written(out) and not (out / "data").exists()
    document = yaml.safe_load((out / "dhmlrun.yaml").read_text())
    assert document["dataitems"] == {"numbers": {"kind": "table", "path": "data/numbers.csv"}}
    assert result.not_copied == [
        f"dataitems.numbers: data/numbers.csv (a local file where it was applied, "
        f"{str(private_file)!r}): not copied, put it there before dhmlrun plan"
    ]
    assert [line.split(":")[0] for line in result.skipped] == ["dataitems.climb"]


def test_names_and_kinds_cannot_write_yaml_into_the_header() -> None:
    """A kind holding a newline once produced a live top-level `runs:` entry among the comments."""
    evil = "x\nruns:\n  pwn: {function: f, action: job}\r\u2028#"
    export = ProjectExport(
        "p\nruns: {}",
        None,
        "http://x\n",
        functions=[_dto("f", evil, {})],
        dataitems=[_dto(f"d\n{evil}", evil, {"path": "s3://b/x"})],
    )
    text = build_import(export).files["dhmlrun.yaml"].decode()
    document = yaml.safe_load(text)
    assert set(document) == {"version", "project"}
    assert "#   functions.f: kind x\\nruns:\\n  pwn: {function: f, action: job}\\r\\u2028#" in text
    assert all(line.startswith("#") for line in text.split("\nversion:")[0].splitlines())


def test_an_export_refers_only_to_files_in_its_own_folder(tmp_path: Path, private_file: Path) -> None:
    private_file.write_text(
        "kind: table\nname: stolen\nspec: {path: s3://b/x}\nmetadata: {description: from this machine}\n"
    )
    export = tmp_path / "export"
    export.mkdir()
    for ref in (str(private_file), f"../home/.ssh/{private_file.name}"):
        (export / "projects-p.yaml").write_text(
            yaml.safe_dump(
                {
                    "kind": "project",
                    "name": "p",
                    "spec": {"dataitems": [{"name": "d", "kind": "table", "metadata": {"ref": ref}}]},
                }
            )
        )
        with pytest.raises(DhmlrunError, match="outside the export's folder: not read"):
            read_export(export / "projects-p.yaml")


# ---------------------------------------------------------------- the planner (pure)


def _unmanaged_copy(entity: RemoteEntity) -> RemoteEntity:
    """The same entity as the SDK would have made it: no dhmlrun labels."""
    return RemoteEntity(entity.type, entity.name, entity.id, entity.kind, spec=entity.spec, key=entity.key)


def test_in_place_adoption_keeps_the_version_and_fires_no_run(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo")
    decl = declaration(repo)
    state = applied_state(build_plan(decl, PlatformState(project=decl.project_name)))
    state.entities["functions.downloader"] = _unmanaged_copy(state.entities["functions.downloader"])
    state.adoptable.add("functions.downloader")
    plan = build_plan(decl, state)
    action = plan.by_address()["functions.downloader"]
    assert action.action == "adopt" and action.in_place and action.diff == []
    assert "dhmlrun" in action.body["metadata"]["labels"]
    assert {a.address for a in plan.changes()} == {"functions.downloader"}
    assert plan.counts() == {"create": 0, "update": 0, "delete": 0, "run": 0, "adopt": 1}


def test_an_entity_dhmlrun_managed_before_is_drift_not_adoption(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo")
    decl = declaration(repo)
    state = applied_state(build_plan(decl, PlatformState(project=decl.project_name)))
    state.entities["functions.downloader"] = _unmanaged_copy(state.entities["functions.downloader"])
    action = build_plan(decl, state).by_address()["functions.downloader"]  # not in state.adoptable
    assert action.action == "update" and action.drift


def test_run_outputs_carry_their_producer() -> None:
    dto = _dto("o", "table", {}, relationships=[{"type": "produced_by", "dest": "store://p/run/k/r:1"}])
    assert RemoteEntity.from_dto("dataitems", dto).produced_by == "store://p/run/k/r:1"
    assert RemoteEntity.from_dto("dataitems", _dto("o", "table", {})).produced_by is None


def test_import_from_the_sdks_project_export_matches_the_live_import(
    imported: Path, project_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import digitalhub as dh

    exports = tmp_path / "exports"
    exports.mkdir()
    monkeypatch.chdir(exports)  # export() writes into the project's source dir, `./`
    exported = Path(dh.get_project(project_name).export())
    out = tmp_path / "from-export"
    result = dhmlrun("import", exported, "--out", out)
    assert result.exit_code == 0, (result.output, result.exception)

    def declared(root: Path) -> object:
        return yaml.safe_load((root / "dhmlrun.yaml").read_text())

    assert declared(out) == declared(imported)
    assert (out / "src" / "pipeline.py").read_text() == CODE
    assert {a["action"] for a in plan_json(out)["actions"] if a["action"] != "no-op"} == {"adopt"}


def test_an_export_imported_with_no_platform_configured_says_where_to_point_plan(
    imported: Path, project_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import digitalhub as dh

    (tmp_path / "exports").mkdir()
    monkeypatch.chdir(tmp_path / "exports")
    exported = Path(dh.get_project(project_name).export())
    for name in ("DHCORE_ENDPOINT", "DHCORE_ACCESS_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("DH_CONFIG", str(tmp_path / "no.ini"))  # and no profile either
    out = tmp_path / "from-export"
    result = dhmlrun("import", exported, "--out", out)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "no changes expected" not in result.stdout and "to adopt" not in result.stdout
    assert f"Next: point plan at the platform project {project_name} lives on" in result.stdout
    assert f"dhmlrun plan {out} --endpoint URL (or --profile NAME, or DHCORE_ENDPOINT)" in result.stdout
    assert "it would plan every entity as new" in result.stdout


def test_a_refused_token_says_where_credentials_come_from(
    core: Any, project_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DHCORE_ACCESS_TOKEN", "not-the-token")
    result = dhmlrun("import", project_name, "--out", tmp_path / "out")
    assert result.exit_code == 1
    message = str(result.exception)
    assert ": 403 Access Denied; the credentials were missing or not accepted: set DHCORE_ACCESS_TOKEN" in (
        message
    )
    assert "with --profile NAME" in message


def test_a_file_that_is_not_a_project_export_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("kind: function\nname: f\n")
    result = dhmlrun("import", tmp_path / "x.yaml", "--out", tmp_path / "out")
    assert result.exit_code == 1 and "is not a project export" in str(result.exception)


MANAGED = """version: 1
project: {name: "%s", description: managed}
dataitems:
  numbers: {kind: table, path: data/numbers.csv, labels: [raw]}
functions:
  f: {kind: mlrun, source: {source: src/jobs.py}, handler: h}
"""


def test_importing_a_managed_project_into_a_new_repo_plans_no_changes(
    core: Any, project_name: str, tmp_path: Path
) -> None:
    """Data paths become the paths dhmlrun recorded in the old repo, with the bytes the platform
    holds: apply uploaded the declared file to the files store (the embedded core's own) and
    import downloads it from there (DHCore's files API, a presigned URL), never from this
    machine's disk; the code is written from the platform."""
    old = tmp_path / "old"
    (old / "data").mkdir(parents=True)
    (old / "src").mkdir()
    (old / "data" / "numbers.csv").write_text("n\n1\n2\n")
    (old / "src" / "jobs.py").write_text("def h(context):\n    pass\n")
    (old / "dhmlrun.yaml").write_text(MANAGED % project_name)
    assert dhmlrun("apply", old, "--auto-approve").exit_code == 0
    (old / "data" / "numbers.csv").unlink()  # what import writes cannot come from here
    new = tmp_path / "new"
    result = dhmlrun("import", project_name, "--out", new)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "every imported entity is already managed by dhmlrun" in result.stdout
    assert (new / "data" / "numbers.csv").read_text() == "n\n1\n2\n"
    assert (
        yaml.safe_load((new / "dhmlrun.yaml").read_text())["dataitems"]["numbers"]["path"]
        == "data/numbers.csv"
    )
    planned = dhmlrun("plan", new, "--detailed-exitcode")
    assert planned.exit_code == 0, planned.output
    assert "No changes." in planned.stdout


def test_a_failed_import_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in __import__("os").environ if k.startswith(("DHCORE_", "DH_"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("DH_CONFIG", "/dev/null")
    out = tmp_path / "out"
    result = dhmlrun("import", "no-such-project", "--out", out)
    assert result.exit_code == 1
    assert "no endpoint is configured" in str(result.exception)
    assert not out.exists()


def test_workflows_and_serve_functions_are_written_not_dropped(tmp_path: Path) -> None:
    """s1-etl's shape: a serve function with its init_function, a hera workflow whose build the
    platform filled in; the written declaration loads, and holds both as they were."""
    code = base64.b64encode(b"def serve(context, event):\n    return 1\n\ndef init(context, di):\n    pass\n")
    flow = base64.b64encode(b"def pipeline():\n    return None\n").decode()
    export = ProjectExport(
        "flows",
        None,
        "http://x",
        functions=[
            _dto(
                "api",
                "python",
                {
                    "source": {"base64": code.decode(), "handler": "serve"},
                    "python_version": "PYTHON3_10",
                    "init_function": "init",
                },
            )
        ],
        workflows=[
            _dto(
                "pipeline",
                "hera",
                {
                    "source": {"base64": flow, "handler": "pipeline", "lang": "python"},
                    "build": {"base64": "eA=="},
                },
            ),
            _dto("old", "kfp", {"source": {"base64": flow, "handler": "pipeline"}}),
        ],
    )
    result = build_import(export)
    document = yaml.safe_load(result.files["dhmlrun.yaml"])
    assert document["functions"]["api"]["init_function"] == "init"
    assert document["workflows"] == {
        "pipeline": {"kind": "hera", "source": {"source": "src/pipeline.py", "handler": "pipeline"}}
    }
    assert "workflows.old: kind kfp" in "\n".join(result.skipped)
    write_import(result, tmp_path / "out")
    loaded = load_declaration(tmp_path / "out", environ={})
    assert loaded.resources["workflows.pipeline"].spec["source"]["handler"] == "pipeline"
