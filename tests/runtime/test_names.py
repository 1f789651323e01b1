"""The run name validate checks is the one mlrun derives: at 63 characters a run completes, at 64
mlrun refuses it, so the declaration is refused at validate instead of failing at apply."""

from __future__ import annotations

from typing import Any

import pytest

from dhmlrun.mlrun_names import RUN_NAME_MAX, mlrun_run_name, run_name_problem

pytestmark = pytest.mark.slow

CODE = "def train_it(context):\n    context.log_result('ok', 1)\n"
HANDLER = "train_it"


def run_of(project: Any, name: str) -> Any:
    function = project.new_function(name=name, kind="mlrun", source={"code": CODE}, handler=HANDLER)
    return function.run("job", local_execution=True)


def test_the_longest_run_name_validate_accepts_runs(project: Any) -> None:
    name = "f" * (RUN_NAME_MAX - len("-train-it"))
    assert len(mlrun_run_name(name, HANDLER)) == RUN_NAME_MAX and run_name_problem(name, HANDLER) is None
    run = run_of(project, name)
    assert run.status.state == "COMPLETED", run.status.message


def test_one_character_more_is_what_mlrun_refuses(project: Any) -> None:
    name = "f" * (RUN_NAME_MAX - len("-train-it") + 1)
    assert run_name_problem(name, HANDLER) is not None
    run = run_of(project, name)
    assert run.status.state == "ERROR" and "run.metadata.name" in run.status.message, run.status.message
