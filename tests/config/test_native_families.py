"""The DigitalHub-native families in the declaration: python functions and runs, artifacts, models,
secrets. Each accepted form loads in DHCore's shape; each refused one is one problem at its line."""

from __future__ import annotations

import base64
import zipfile

import pytest

from dhmlrun.errors import DhmlrunError

from .conftest import load, one_problem, problems

HEAD = "version: 1\nproject: {name: demo}\n"
PYTHON_FN = (
    "functions:\n  f: {kind: python, python_version: PYTHON3_11, source: {source: src/main.py}, handler: h}\n"
)


def test_a_python_function_is_shaped_as_dhcore_stores_it(write):
    fn = load(write(HEAD + PYTHON_FN)).resources["functions.f"]
    assert fn.spec["python_version"] == "PYTHON3_11"
    assert fn.spec["source"]["handler"] == "h" and "handler" not in fn.spec
    assert fn.spec["source"]["source"].endswith("src/main.py")


def test_a_python_functions_inline_code_is_shipped_as_base64(write):
    text = (
        HEAD
        + "functions:\n  f: {kind: python, python_version: PYTHON3_12, source: {code: 'x = 1', handler: h}}\n"
    )
    source = load(write(text)).resources["functions.f"].spec["source"]
    assert source == {"base64": base64.b64encode(b"x = 1").decode(), "handler": "h"}


def test_a_python_function_needs_python_version_and_a_handler(write):
    text = HEAD + "functions:\n  f: {kind: python, source: {source: src/main.py}}\n"
    found = {p.message for p in problems(write(text))}
    assert found == {
        "a python function needs python_version",
        "a python function needs a handler (handler: NAME, or source.handler)",
    }


def test_python_version_lists_the_versions_dhcore_has(write):
    problem = one_problem(write(HEAD + PYTHON_FN.replace("PYTHON3_11", "PYTHON3_9")))
    assert problem.path == "functions.f.python_version"
    assert problem.allowed == "PYTHON3_10, PYTHON3_11, PYTHON3_12, PYTHON3_13"


def test_fields_of_the_other_kind_are_refused(write):
    problem = one_problem(write(HEAD + PYTHON_FN.replace("handler: h}", "handler: h, tag: v1}")))
    assert (problem.path, problem.message) == ("functions.f.tag", "a python function has no tag")
    text = (
        HEAD + "functions:\n  m: {kind: mlrun, source: {source: src/main.py}, python_version: PYTHON3_11}\n"
    )
    problem = one_problem(write(text))
    assert (problem.path, problem.message) == (
        "functions.m.python_version",
        "a mlrun function has no python_version",
    )


def test_an_embedded_python_source_takes_a_function_name_as_handler(write):
    problem = one_problem(write(HEAD + PYTHON_FN.replace("handler: h", "handler: 'main:h'")))
    assert problem.path == "functions.f.handler"
    assert "module:function is for git and archive sources" in problem.message
    git = PYTHON_FN.replace("src/main.py", "git+https://example.com/r.git#main").replace(
        "handler: h", "handler: 'pkg.m:h'"
    )
    assert load(write(HEAD + git)).resources["functions.f"].spec["source"]["handler"] == "pkg.m:h"


def test_a_python_functions_local_source_is_one_py_file_not_an_archive(write, tmp_path):
    root = write(HEAD + PYTHON_FN.replace("src/main.py", "src/code.zip"))
    with zipfile.ZipFile(tmp_path / "src" / "code.zip", "w") as archive:
        archive.writestr("main.py", "def h():\n    pass\n")
    problem = one_problem(root)
    assert problem.path == "functions.f.source.source" and "zip+s3://" in problem.message


def test_a_python_function_reads_s3_code_as_an_archive_only(write):
    problem = one_problem(write(HEAD + PYTHON_FN.replace("src/main.py", "s3://bucket/main.py")))
    assert "zip+s3://" in problem.message


RUNS = """\
runs:
  r:
    function: f
    action: job
"""


def test_a_python_runs_outputs_are_the_names_its_handler_returns(write):
    run = load(write(HEAD + PYTHON_FN + RUNS + "    outputs: [model, score]\n")).resources["runs.r"]
    assert run.spec["outputs"] == {"model": "model", "score": "score"}


def test_a_python_runs_outputs_as_a_map_are_refused(write):
    problem = one_problem(write(HEAD + PYTHON_FN + RUNS + "    outputs: {model: trained}\n"))
    assert problem.path == "runs.r.outputs" and "list of the names its handler returns" in problem.message


def test_an_mlrun_runs_outputs_are_key_value_pairs(write):
    text = HEAD + "functions:\n  f: {kind: mlrun, source: {source: src/main.py}, handler: h}\n" + RUNS
    problem = one_problem(write(text + "    outputs: [model]\n"))
    assert problem.path == "runs.r.outputs[0]" and "KEY: VALUE" in problem.message


@pytest.mark.parametrize(
    "field,value",
    [
        ("values", "[a]"),
        ("node_selector", "[{key: a, value: b}]"),
        ("schedule", "'@daily'"),
        ("replicas", "2"),
    ],
)
def test_what_a_python_job_task_has_not_is_refused(write, field, value):
    problem = one_problem(write(HEAD + PYTHON_FN + RUNS + f"    {field}: {value}\n"))
    assert problem.path == f"runs.r.{field}" and f"a python run has no {field}" in problem.message


def test_a_python_runs_resources_are_dhcores_flat_quantities(write):
    run = load(write(HEAD + PYTHON_FN + RUNS + "    resources: {cpu: 2, mem: 1Gi}\n")).resources["runs.r"]
    assert run.spec["resources"] == {"cpu": "2", "mem": "1Gi"}
    problem = one_problem(write(HEAD + PYTHON_FN + RUNS + "    resources: {cpu: {requests: '1'}}\n"))
    assert problem.path == "runs.r.resources.cpu" and "flat quantities" in problem.message


MATERIALS = """\
artifacts:
  ref: {kind: artifact, path: data/ref.json}
models:
  base: {kind: huggingface, path: "s3://bucket/base", framework: transformers, base_model: bert, model_id: x}
"""


def test_artifacts_and_models_load_like_dataitems_and_feed_runs(write, tmp_path):
    root = write(
        HEAD + MATERIALS + PYTHON_FN + RUNS + "    inputs: {ref: artifacts.ref, base: models.base}\n",
        {"data/ref.json": "{}"},
    )
    declaration = load(root)
    assert declaration.resources["artifacts.ref"].spec["path"] == str(tmp_path / "data" / "ref.json")
    assert declaration.resources["models.base"].spec["base_model"] == "bert"
    assert set(declaration.resources["runs.r"].depends_on) == {"functions.f", "artifacts.ref", "models.base"}


def test_an_unknown_model_input_suggests_the_declared_one(write):
    root = write(
        HEAD + MATERIALS + PYTHON_FN + RUNS + "    inputs: {base: models.bse}\n", {"data/ref.json": "{}"}
    )
    problem = one_problem(root)
    assert problem.path == "runs.r.inputs.base" and "did you mean 'models.base'?" in problem.message


def test_a_model_kind_lists_dhcores_model_kinds(write):
    problem = one_problem(write(HEAD + "models:\n  m: {kind: keras, path: data.csv}\n"))
    assert problem.allowed == "model, sklearn, mlflow, huggingface"


SECRET_RUN = HEAD + PYTHON_FN + RUNS + "    secrets: [TOKEN, ELSEWHERE]\n"


def test_a_run_depends_on_the_declared_secrets_it_names(write):
    declaration = load(write(SECRET_RUN + "secrets:\n  TOKEN: {env: MY_TOKEN}\n"))
    assert set(declaration.resources["runs.r"].depends_on) == {"functions.f", "secrets.TOKEN"}
    assert declaration.resources["secrets.TOKEN"].spec == {"env": "MY_TOKEN"}


def test_a_secret_is_read_from_its_environment_variable_only_when_asked(write):
    declaration = load(
        write(SECRET_RUN + "secrets:\n  TOKEN: {env: MY_TOKEN}\n"), environ={"MY_TOKEN": "v-1"}
    )
    assert declaration.secret_value("secrets.TOKEN") == "v-1"
    assert "v-1" in declaration.sensitive_values()  # masked in every output
    missing = load(write(SECRET_RUN + "secrets:\n  TOKEN: {env: MY_TOKEN}\n"))  # validate needs none
    with pytest.raises(DhmlrunError) as info:
        missing.secret_value("secrets.TOKEN")
    (problem,) = info.value.problems
    assert problem.path == "secrets.TOKEN.env" and problem.location.line == 11
    assert "environment variable MY_TOKEN is not set" in problem.message


def test_a_secret_file_loses_one_trailing_newline(write):
    root = write(HEAD + "secrets:\n  KEY: {file: keys/key.txt}\n", {"keys/key.txt": "s3cr3t\n"})
    assert load(root).secret_value("secrets.KEY") == "s3cr3t"


def test_a_missing_or_empty_secret_file_is_an_error_without_its_content(write):
    root = write(
        HEAD + "secrets:\n  KEY: {file: keys/none.txt}\n  EMPTY: {file: keys/empty.txt}\n",
        {"keys/empty.txt": ""},
    )
    declaration = load(root)
    for address, words in (("secrets.KEY", "does not exist"), ("secrets.EMPTY", "is empty")):
        with pytest.raises(DhmlrunError) as info:
            declaration.secret_value(address)
        assert words in str(info.value)


def test_a_secret_from_a_variable_needs_a_sensitive_one(write):
    text = HEAD + 'variables:\n  plain: {default: x}\n  hidden: {sensitive: true, default: ""}\nsecrets:\n'
    problem = one_problem(write(text + "  A: {variable: plain}\n"))
    assert problem.path == "secrets.A.variable" and "sensitive: true" in problem.message
    problem = one_problem(write(text + "  A: {variable: nosuch}\n"))
    assert "no variable 'nosuch' is declared" in problem.message
    declaration = load(write(text + "  A: {variable: hidden}\n"), cli_vars={"hidden": "from-cli"})
    assert declaration.secret_value("secrets.A") == "from-cli"


def test_a_secret_has_exactly_one_source(write):
    problem = one_problem(write(HEAD + "secrets:\n  A: {env: X, file: y}\n"))
    assert problem.message.startswith("give only one of env, file, variable")
    problem = one_problem(write(HEAD + "secrets:\n  A: {description: no value}\n"))
    assert problem.message.startswith("give exactly one of env, file, variable")


def test_a_secret_value_written_in_the_yaml_is_refused(write):
    found = {p.path: p.message for p in problems(write(HEAD + "secrets:\n  A: {value: hunter2}\n"))}
    assert found["secrets.A.value"].startswith("unknown key 'value'")
    assert "hunter2" not in " ".join(found.values())


def test_a_secret_name_is_dhcores_secret_key(write):
    problem = one_problem(write(HEAD + "secrets:\n  my.key: {env: X}\n"))
    assert problem.path == "secrets.my.key" and "not allowed" in problem.message


def test_a_secret_is_not_a_run_input(write):
    root = write(SECRET_RUN + "    inputs: {t: secrets.TOKEN}\nsecrets:\n  TOKEN: {env: X}\n")
    problem = one_problem(root)
    assert problem.path == "runs.r.inputs.t" and "not a reference to a dataitem" in problem.message
