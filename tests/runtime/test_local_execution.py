"""`function.run("job", ..., local_execution=True)` end to end: real mlrun, the embedded core.

Real executions cost time, so each run here checks several behaviours at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.runtime.conftest import FileServer, GitRepo, seed_downloader, write_zip

pytestmark = pytest.mark.slow


PRODUCER = """
import mlrun


def produce(context, table: mlrun.DataItem, extra: mlrun.DataItem, scale: int = 1, label: str = "x"):
    df = table.as_df()
    df["scaled"] = df["a"] * scale
    df["extra_bytes"] = len(extra.get())
    context.log_result("rows", len(df))
    context.log_result("label", label)
    context.log_result("unlisted", 1)
    context.log_artifact("notes", body=b"some notes", local_path="notes.txt")
    context.log_model("model", body=b"weights", model_file="model.bin")
    print("printed by the handler")
    return df
"""


def log_text(run: Any) -> str:
    return "".join(entry.text or "" for entry in run.logs())


def test_the_seed_snippet_runs_the_example_downloader(project: Any, runs_dir: Path) -> None:
    dataitem, function = seed_downloader(project, "employees")
    run = function.run(
        "job", inputs=[{"url": dataitem.key}], outputs=[{"dataset": "dataset"}], local_execution=True
    )
    run.refresh()
    assert run.status.state == "COMPLETED", run.status.message
    assert run.status.results == {"rows": 60}
    dataset = run.output("dataset")
    assert dataset.kind == "table"
    assert dataset.name == "dataset"
    df = dataset.as_df()
    assert df.shape == (60, 6)
    assert list(df.columns)[:2] == ["employee_id", "first_name"]
    # uploaded to the core's files store, as on a platform with S3 (the SDK's log path)
    assert dataset.spec.path.startswith(f"s3://dhcore/{project.name}/dataitem/dataset/")
    assert dataset.status.state == "READY"
    assert {"type": "produced_by", "dest": f"{run.key}:{run.id}"} in dataset.metadata.relationships
    assert "Run execution finished" in log_text(run)


def test_dataset_model_artifact_parameters_and_values(
    project: Any, file_server: FileServer, tmp_path: Path
) -> None:
    table = tmp_path / "table.csv"
    table.write_text("a\n1\n2\n")
    (file_server.root / "extra.txt").write_text("12345")
    dataitem = project.new_dataitem(name="numbers", kind="table", path=str(table))
    function = project.new_function(
        name="producer", kind="mlrun", source={"code": PRODUCER}, handler="produce"
    )
    run = function.run(
        "job",
        inputs={"table": dataitem.key},
        outputs={"dataset": "scaled", "model": "my-model"},
        parameters={"scale": 3, "label": "hello", "inputs": {"extra": file_server.url("extra.txt")}},
        values=["rows", "label"],
        local_execution=True,
    )
    assert run.status.state == "COMPLETED", run.status.message
    assert run.results() == {"rows": 2, "label": "hello"}
    assert run.inputs()["table"].name == "numbers"
    assert set(run.outputs(as_key=True)) == {"dataset", "model", "notes"}

    dataset = run.output("dataset")
    assert (dataset.name, dataset.kind) == ("scaled", "table")
    df = dataset.as_df()
    assert df["scaled"].tolist() == [3, 6]
    assert df["extra_bytes"].tolist() == [5, 5]

    model = run.output("model")
    assert (model.name, model.kind) == ("my-model", "model")
    assert (Path(model.download(str(tmp_path / "model"))) / "model.bin").read_bytes() == b"weights"

    notes = run.output("notes")
    assert (notes.name, notes.kind) == ("notes", "artifact")
    assert Path(notes.download(str(tmp_path / "notes"))).read_text() == "some notes"
    assert "printed by the handler" in log_text(run)


def test_base64_git_and_zip_sources_run(project: Any, git_repo: GitRepo, file_server: FileServer) -> None:
    import base64

    write_zip(file_server.root / "app.zip", {"app/__init__.py": "", "app/main.py": SAYS.format(word="zip")})
    sources = {
        "b64": ({"base64": base64.b64encode(SAYS.format(word="b64").encode()).decode()}, "say", "b64"),
        "git": ({"source": f"git+{git_repo.url}#v1"}, "pkg.jobs:say", "one"),
        "zip": ({"source": "zip+" + file_server.url("app.zip")}, "app.main:say", "zip"),
    }
    for name, (source, handler, word) in sources.items():
        function = project.new_function(name=f"say-{name}", kind="mlrun", source=source, handler=handler)
        run = function.run("job", local_execution=True)
        assert run.status.state == "COMPLETED", f"{name}: {run.status.message}"
        assert run.result("word") == word, name


def test_a_returned_value_without_declared_outputs_is_kept_as_return(project: Any) -> None:
    code = "import pandas as pd\n\ndef table(context):\n    return pd.DataFrame({'a': [1, 2]})\n"
    run = project.new_function(name="returns-df", kind="mlrun", source={"code": code}, handler="table").run(
        "job", local_execution=True
    )
    assert run.status.state == "COMPLETED", run.status.message
    assert run.output("return").as_df()["a"].tolist() == [1, 2]
    assert run.results() == {}


SAYS = "def say(context):\n    context.log_result('word', '{word}')\n"


def failing_runs(file_server: FileServer, git_repo: GitRepo) -> dict[str, tuple[dict, dict, str]]:
    """name → (function kwargs, run kwargs, expected message part)."""
    write_zip(file_server.root / "escape.zip", {"main.py": SAYS, "../evil.py": "x"})
    (file_server.root / "not-a.zip").write_text("plain text")
    ok = {"source": {"code": SAYS}, "handler": "say"}
    return {
        "raising handler": (
            {"source": {"code": "def h(context):\n    raise ValueError('kaboom 42')\n"}, "handler": "h"},
            {},
            "ValueError: kaboom 42 (main.py:2)",
        ),
        "sys.exit in handler": (
            {"source": {"code": "import sys\ndef h(context):\n    sys.exit(3)\n"}, "handler": "h"},
            {},
            "the handler called sys.exit(3)",
        ),
        "missing handler": ({"source": {"code": SAYS}, "handler": "nope"}, {}, "handler 'nope' not found"),
        "import error": (
            {"source": {"code": "import not_a_module_xyz\n" + SAYS}, "handler": "say"},
            {},
            "No module named 'not_a_module_xyz'",
        ),
        "missing input file": (
            ok,
            {"inputs": {"x": "/nonexistent/data.csv"}},
            "/nonexistent/data.csv does not exist",
        ),
        "unknown input entity": (
            ok,
            {"inputs": {"x": "store://nowhere/dataitem/table/ghost:0123"}},
            "input 'x': cannot read store://nowhere",
        ),
        "404 input": (ok, {"inputs": {"x": file_server.url("absent.csv")}}, "HTTP 404"),
        "unreachable input": (
            ok,
            {"inputs": {"x": "http://127.0.0.1:9/x.csv"}},
            "cannot download http://127.0.0.1:9",
        ),
        "bad archive": (
            {"source": {"source": file_server.url("not-a.zip")}, "handler": "main:say"},
            {},
            "it is neither a zip nor a tar archive",
        ),
        "zip escape": (
            {"source": {"source": file_server.url("escape.zip")}, "handler": "main:say"},
            {},
            "'../evil.py' escapes the target directory",
        ),
        "bad git ref": (
            {"source": {"source": f"git+{git_repo.url}#no-such-ref"}, "handler": "pkg.jobs:say"},
            {},
            "git ref 'no-such-ref' not found",
        ),
        "missing declared output": (
            ok,
            {"outputs": {"dataset": "d"}},
            "declared output(s) dataset not produced",
        ),
    }


def test_every_failure_class_ends_in_error_with_its_message(
    project: Any, file_server: FileServer, git_repo: GitRepo
) -> None:
    failures = []
    for index, (name, (fn_kwargs, run_kwargs, expected)) in enumerate(
        failing_runs(file_server, git_repo).items()
    ):
        function = project.new_function(name=f"fails-{index}", kind="mlrun", **fn_kwargs)
        run = function.run("job", local_execution=True, **run_kwargs)  # returns: never raises, never hangs
        run.refresh()
        if run.status.state != "ERROR" or expected not in (run.status.message or ""):
            failures.append(f"{name}: {run.status.state} {run.status.message!r}")
        elif expected not in log_text(run):
            failures.append(f"{name}: message missing from the run log")
    assert not failures, "\n".join(failures)


def test_a_missing_local_source_file_is_refused_at_function_creation(project: Any, tmp_path: Path) -> None:
    from digitalhub.utils.exceptions import EntityError

    with pytest.raises(EntityError, match="does not exist"):
        project.new_function(
            name="ghost", kind="mlrun", source={"source": str(tmp_path / "ghost.py")}, handler="h"
        )


def test_task_parameters_reach_the_run_and_envs_apply_locally(project: Any) -> None:
    import os

    code = (
        "import os\n\ndef h(context):\n    context.log_result('mode', os.environ.get('DHMLRUN_TEST_MODE'))\n"
    )
    function = project.new_function(name="env-reader", kind="mlrun", source={"code": code}, handler="h")
    task = function.new_task("job", env={"DHMLRUN_TEST_MODE": "prod"}, node_selector={"pool": "gpu"})
    assert task.spec.node_selector == [{"key": "pool", "value": "gpu"}]
    run = function.run("job", local_execution=True)
    assert run.status.state == "COMPLETED", run.status.message
    assert run.result("mode") == "prod"
    assert run.spec.node_selector == [{"key": "pool", "value": "gpu"}]
    assert "DHMLRUN_TEST_MODE" not in os.environ  # set for the run only
