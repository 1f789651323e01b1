"""Bad data at run time: each case ends in an ERROR run whose message names what was wrong, and
the run leaves nothing registered on the platform (real mlrun, loopback servers, embedded core).

This module's `project` is its own, so "nothing registered" is checked by listing everything.
"""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from dhmlrun.runtime.results import discard_entities
from tests.runtime.conftest import FileServer, GitRepo, RawServer, write_zip
from tests.runtime.test_downloads import truncated_by_length, truncated_chunked
from tests.runtime.test_local_execution import log_text

pytestmark = pytest.mark.slow

READS_INPUT = """
import mlrun


def use(context, x: mlrun.DataItem):
    df = x.as_df()
    context.log_dataset("dataset", df=df)
"""

SAYS = "def say(context):\n    context.log_result('word', 'hi')\n"

THREE_OUTPUTS = """
import pandas as pd


def three(context):
    for key in ("first", "second", "third"):
        context.log_dataset(key, df=pd.DataFrame({"a": [1]}))
    context.log_result("rows", 1)
"""


def materials(project: Any) -> list[tuple[str, str, str]]:
    """(type, name, state) of every dataitem, artifact and model of the project."""
    import digitalhub as dh

    found = []
    for entity_type, lister in (
        ("dataitem", dh.list_dataitems),
        ("artifact", dh.list_artifacts),
        ("model", dh.list_models),
    ):
        found += [(entity_type, e.name, e.status.state) for e in lister(project.name)]
    return sorted(found)


def damaged_parquet(path: Path) -> Path:
    """A parquet file whose footer is intact but whose first data page header is overwritten."""
    import pyarrow.parquet as pq

    pd.DataFrame({"a": range(1000), "b": [f"x{i}" for i in range(1000)]}).to_parquet(path)
    offset = pq.ParquetFile(path).metadata.row_group(0).column(0).data_page_offset
    data = bytearray(path.read_bytes())
    data[offset : offset + 40] = b"\xff" * 40
    path.write_bytes(bytes(data))
    return path


def symlink_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("main.py", SAYS)
        info = zipfile.ZipInfo("link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "../../../etc/passwd")
    return path


def bad_data_cases(
    project: Any, file_server: FileServer, raw_server: RawServer, git_repo: GitRepo, tmp_path: Path
) -> dict[str, tuple[dict, dict, list[str]]]:
    """name → (function kwargs, run kwargs, parts the message must contain)."""
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"PAR1 this is not a parquet file")
    garbage_item = project.new_dataitem(name="garbage", kind="table", path=str(garbage))
    damaged_item = project.new_dataitem(
        name="damaged", kind="table", path=str(damaged_parquet(tmp_path / "damaged.parquet"))
    )
    absent = file_server.url("absent.csv")
    short = raw_server.serve("/short.csv", truncated_by_length(b"a\n1\n", 1000))
    cut = raw_server.serve("/cut.csv", truncated_chunked(b"a\n1\n2\n"))
    write_zip(file_server.root / "climbs.zip", {"main.py": SAYS, "../evil.py": "x"})
    symlink_zip(file_server.root / "links-out.zip")
    reads = {"source": {"code": READS_INPUT}, "handler": "use"}
    outputs = {"outputs": {"dataset": "must-not-exist"}}
    return {
        "404 input": (
            reads,
            {"inputs": {"x": absent}, **outputs},
            [f"input 'x': cannot download {absent}", "404"],
        ),
        "short body": (
            reads,
            {"inputs": {"x": short}, **outputs},
            [f"input 'x': cannot download {short}: truncated: received 4 of the 1000 bytes"],
        ),
        "cut chunked body": (
            reads,
            {"inputs": {"x": cut}, **outputs},
            [f"input 'x': cannot download {cut}: truncated: the connection closed"],
        ),
        "not parquet": (
            reads,
            {"inputs": {"x": garbage_item.key}, **outputs},
            [f"input 'x': {garbage} is not a readable parquet file", "magic bytes not found"],
        ),
        "damaged parquet pages": (
            reads,
            {"inputs": {"x": damaged_item.key}, **outputs},
            ["Couldn't deserialize thrift"],  # pyarrow's own error, raised in the handler's as_df()
        ),
        "zip member climbing out": (
            {"source": {"source": file_server.url("climbs.zip")}, "handler": "main:say"},
            {},
            ["refusing source archive: member '../evil.py' escapes the target directory"],
        ),
        "zip symlink pointing out": (
            {"source": {"source": file_server.url("links-out.zip")}, "handler": "main:say"},
            {},
            ["refusing source archive: symlink 'link' -> '../../../etc/passwd' points outside"],
        ),
        "unknown git ref": (
            {"source": {"source": f"git+{git_repo.url}#no-such-ref"}, "handler": "pkg.jobs:say"},
            {},
            ["git ref 'no-such-ref' not found in"],
        ),
    }


def test_bad_data_fails_the_run_clearly_and_registers_nothing(
    project: Any, file_server: FileServer, raw_server: RawServer, git_repo: GitRepo, tmp_path: Path
) -> None:
    cases = bad_data_cases(project, file_server, raw_server, git_repo, tmp_path)
    inputs = materials(project)
    failures = []
    for index, (name, (fn_kwargs, run_kwargs, expected)) in enumerate(cases.items()):
        function = project.new_function(name=f"bad-data-{index}", kind="mlrun", **fn_kwargs)
        run = function.run("job", local_execution=True, **run_kwargs).refresh()
        message = run.status.message or ""
        if run.status.state != "ERROR" or not all(part in message for part in expected):
            failures.append(f"{name}: {run.status.state} {message!r}")
        elif run.status.outputs:
            failures.append(f"{name}: failed run lists outputs {run.status.outputs}")
        elif expected[0] not in log_text(run):
            failures.append(f"{name}: message missing from the run log")
    assert not failures, "\n".join(failures)
    assert materials(project) == inputs  # no output, no entity left CREATED or UPLOADING


def test_outputs_are_registered_all_or_nothing(project: Any) -> None:
    function = project.new_function(
        name="three-outputs", kind="mlrun", source={"code": THREE_OUTPUTS}, handler="three"
    )
    before = materials(project)
    run = function.run(
        "job",
        # the platform refuses '@' in names (the SDK lets it through): registering it fails after
        # another output was registered, whichever order the outputs come in
        outputs={"first": "first-kept", "second": "second@refused", "third": "third-kept"},
        local_execution=True,
    ).refresh()
    assert run.status.state == "ERROR"
    assert "cannot register output 'second' as 'second@refused'" in run.status.message, run.status.message
    assert not run.status.outputs
    assert not run.status.results
    assert materials(project) == before


def test_discarding_removes_registered_entities_and_ignores_absent_ones(project: Any, tmp_path: Path) -> None:
    import digitalhub as dh

    kept = dh.new_dataitem(project=project.name, name="kept", kind="table", path=str(tmp_path / "k.csv"))
    doomed = dh.new_dataitem(project=project.name, name="doomed", kind="table", path=str(tmp_path / "d.csv"))
    never = f"store://{project.name}/artifact/artifact/never:0123456789abcdef0123456789abcdef"
    assert discard_entities([doomed.key, never]) == []
    names = [name for _, name, _ in materials(project)]
    assert "kept" in names and "doomed" not in names
    assert kept.key
