"""Mapping what mlrun produced: kinds, names, values, and declared outputs that are missing."""

from __future__ import annotations

import pytest

from dhmlrun.runtime.errors import ExecutionError
from dhmlrun.runtime.results import ProducedFile, check_declared_outputs, produced_files, select_results


def artifact(kind: str, key: str, path: str) -> dict:
    return {"kind": kind, "metadata": {"key": key}, "spec": {"target_path": path}}


def test_mlrun_artifact_kinds_map_to_dataitems_models_and_artifacts() -> None:
    files = produced_files(
        [
            artifact("dataset", "ds", "/o/ds.parquet"),
            artifact("model", "m", "/o/m/"),
            artifact("artifact", "notes", "/o/notes.txt"),
            artifact("plot", "fig", "/o/fig.html"),
            {"kind": "artifact", "metadata": {"key": "no-path"}, "spec": {}},
        ]
    )
    assert files == [
        ProducedFile("ds", "dataitem", "table", "/o/ds.parquet"),
        ProducedFile("m", "model", "model", "/o/m/"),
        ProducedFile("notes", "artifact", "artifact", "/o/notes.txt"),
        ProducedFile("fig", "artifact", "artifact", "/o/fig.html"),
    ]


def test_values_are_filtered_by_name_or_all_kept() -> None:
    results = {"rows": 3, "mean": 1.5, "dataset": None}
    assert select_results(results, [], ["dataset"]) == {"rows": 3, "mean": 1.5}
    assert select_results(results, ["rows"], ["dataset"]) == {"rows": 3}
    assert select_results({"dataset": 0}, [], ["dataset"]) == {"dataset": 0}


def test_a_declared_output_that_was_not_produced_is_an_error() -> None:
    with pytest.raises(ExecutionError, match=r"declared output\(s\) model not produced .*produced: ds"):
        check_declared_outputs([ProducedFile("ds", "dataitem", "table", "/p")], {"ds": "a", "model": "b"})
