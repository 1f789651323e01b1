"""Services in the declaration (`services:`, addressed `services.NAME`): what each kind takes, the
edges to what it serves, and each refused form as one problem at its line with its field path."""

from __future__ import annotations

from .conftest import load, one_problem

HEAD = (
    "version: 1\nproject: {name: demo}\n"
    "models:\n  iris: {kind: sklearn, path: data.csv}\n"
    "dataitems:\n  flowers: {kind: table, path: data.csv}\n"
    "functions:\n"
    "  api: {kind: python, python_version: PYTHON3_11, source: {source: src/main.py}, handler: handler,\n"
    "        init_function: init}\n"
    "  loader: {kind: mlrun, source: {source: src/main.py}, handler: handler}\n"
    "runs:\n  train: {function: api, action: job, outputs: [model]}\n"
)


def test_services_load_with_their_edges_and_the_init_function_in_the_source(write):
    text = HEAD + (
        "services:\n"
        "  classifier: {kind: sklearnserve, model: runs.train.outputs.model, model_name: iris, replicas: 2}\n"
        "  api: {kind: python, function: api, init_parameters: {flowers: dataitems.flowers, size: 3},\n"
        "        env: [{name: LEVEL, value: debug}]}\n"
        "  base: {kind: mlflowserve, model: models.iris}\n"
    )
    declaration = load(write(text))
    assert declaration.resources["functions.api"].spec["source"]["init_function"] == "init"
    api = declaration.resources["services.api"]
    assert api.spec["function"] == "functions.api"
    assert api.spec["envs"] == [{"name": "LEVEL", "value": "debug"}] and "env" not in api.spec
    assert set(api.depends_on) == {"functions.api", "dataitems.flowers"}
    assert declaration.resources["services.classifier"].depends_on == ("runs.train",)
    assert declaration.resources["services.base"].depends_on == ("models.iris",)
    order = declaration.topological_order()
    assert order.index("runs.train") < order.index("services.classifier")


def test_a_model_service_has_no_function(write):
    problem = one_problem(
        write(HEAD + "services:\n  s: {kind: sklearnserve, model: models.iris, function: api}\n")
    )
    assert problem.path == "services.s.function"
    assert problem.message == "a sklearnserve service has no function: a sklearnserve service serves a model"
    assert problem.location is not None and problem.location.line == 14


def test_a_python_service_needs_a_python_function(write):
    missing = one_problem(write(HEAD + "services:\n  s: {kind: python}\n"))
    assert missing.path == "services.s" and "function" in missing.message
    other = one_problem(write(HEAD + "services:\n  s: {kind: python, function: loader}\n"))
    assert other.path == "services.s.function"
    assert other.message == "functions.loader is a mlrun function: a python service serves a python function"
    unknown = one_problem(write(HEAD + "services:\n  s: {kind: python, function: apx}\n"))
    assert unknown.message == "unknown function 'functions.apx'; did you mean 'functions.api'?"


def test_a_model_service_serves_a_model(write):
    problem = one_problem(write(HEAD + "services:\n  s: {kind: sklearnserve, model: dataitems.flowers}\n"))
    assert problem.path == "services.s.model"
    assert "is not a model" in problem.message
    output = one_problem(
        write(HEAD + "services:\n  s: {kind: sklearnserve, model: runs.train.outputs.modl}\n")
    )
    assert output.message == "run 'train' has no output 'modl'; did you mean 'model'?"


def test_a_model_service_may_not_share_its_name_with_a_declared_function(write):
    problem = one_problem(write(HEAD + "services:\n  api: {kind: sklearnserve, model: models.iris}\n"))
    assert problem.path == "services.api"
    assert "owns a function named after it" in problem.message


def test_an_mlrun_function_has_no_init_function(write):
    text = (
        "version: 1\nproject: {name: demo}\nfunctions:\n"
        "  f: {kind: mlrun, source: {source: src/main.py}, handler: handler, init_function: init}\n"
    )
    problem = one_problem(write(text))
    assert problem.path == "functions.f.init_function"
