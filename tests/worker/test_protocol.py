"""The worker boundary's protocol: every operation names a function that exists, and every
request reaches the worker as the same typed value apply sent."""

from __future__ import annotations

import importlib
import json

import pytest

from dhmlrun.vocabulary.runs import FunctionVersion
from dhmlrun.worker.protocol import (
    OPERATIONS,
    ExecuteMLRunRun,
    ExecuteRun,
    Request,
    Result,
    RunOrder,
    StoreMLRunFunction,
    UploadFile,
    WriteMLRunSchedule,
    decode,
    encode,
)

ORDER = RunOrder(
    project="p",
    run_id="r1",
    function=FunctionVersion("functions.f", "v1", "store://p/function/mlrun/f:v1", "mlrun"),
    action="job",
    inputs={"data": "store://p/dataitem/table/d:1"},
    outputs={"dataset": "clean"},
    parameters={"n": 3},
    values=["rows"],
    task={"envs": [{"name": "A", "value": "1"}]},
    execution="remote",
    labels=["dhmlrun", "dhmlrun/address=runs.r"],
    workflow_build="workflows.w has no build yet",
)
REQUESTS: list[Request] = [
    ExecuteRun(ORDER),
    UploadFile("p", "dataitem", "d", "e1", "/tmp/d.csv"),
    StoreMLRunFunction({"id": "v1", "project": "p", "name": "f"}),
    ExecuteMLRunRun(ORDER),
    WriteMLRunSchedule("nightly", ORDER),
]


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_every_operation_names_a_function_that_exists(name: str) -> None:
    module, _, function = OPERATIONS[name].handler.partition(":")
    assert callable(getattr(importlib.import_module(module), function))


def test_every_operation_is_exercised_here() -> None:
    assert {type(r) for r in REQUESTS} == {o.request for o in OPERATIONS.values()}


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: type(r).__name__)
def test_a_request_crosses_the_boundary_unchanged(request_: Request) -> None:
    assert decode(json.loads(json.dumps(encode(request_)))) == request_


def test_an_unknown_operation_is_refused() -> None:
    with pytest.raises(KeyError):
        decode({"op": "no-such-thing", "request": {}})


def test_a_result_crosses_the_boundary_unchanged() -> None:
    result = Result("r1", "COMPLETED", None, {"dataset": "store://p/dataitem/table/clean:9"}, {"rows": 3})
    assert Result.from_dict(json.loads(json.dumps(result.as_dict()))) == result
    assert result.completed and not Result.failure("r1", "boom").completed
