"""`include:` globs, duplicate names across files, and paths relative to the declaring file."""

from __future__ import annotations

from pathlib import Path

from .conftest import load, one_problem, problems

ROOT = """\
version: 1
project: {name: demo}
include: ["resources/*.yaml"]
variables: {base: {default: data}}
dataitems:
  raw: {kind: table, path: "{{ base }}/raw.csv"}
"""

INCLUDED = """\
variables: {suffix: {default: v2}}
dataitems:
  clean: {kind: table, path: "../{{ base }}/clean-{{ suffix }}.csv"}
  remote: {kind: table, path: "https://example.com/x.csv"}
functions:
  f: {kind: mlrun, source: {source: code/job.py}}
runs:
  r: {function: f, action: job, inputs: {x: dataitems.raw}}
"""


def test_included_resources_and_variables_are_merged(write):
    root = write(ROOT, {"resources/more.yaml": INCLUDED, "resources/code/job.py": "pass\n"})
    declaration = load(root)
    assert set(declaration.resources) == {"dataitems.raw", "dataitems.clean", "dataitems.remote",
                                          "functions.f", "runs.r"}
    assert [p.name for p in declaration.files] == ["dhmlrun.yaml", "more.yaml"]
    assert declaration.resources["runs.r"].depends_on == ("functions.f", "dataitems.raw")


def test_relative_paths_resolve_against_the_declaring_file(write):
    root = write(ROOT, {"resources/more.yaml": INCLUDED, "resources/code/job.py": "pass\n"})
    declaration = load(root)
    assert declaration.resources["dataitems.raw"].spec["path"] == str(root / "data" / "raw.csv")
    assert declaration.resources["dataitems.clean"].spec["path"] == str(root / "data" / "clean-v2.csv")
    assert declaration.resources["dataitems.remote"].spec["path"] == "https://example.com/x.csv"
    function = declaration.resources["functions.f"]
    assert function.spec["source"]["source"] == str(root / "resources" / "code" / "job.py")
    assert function.declared_in == root / "resources" / "more.yaml"
    assert function.location.file.endswith("more.yaml") and function.location.line == 6


def test_a_source_file_missing_next_to_the_included_file_is_reported_there(write):
    root = write(ROOT, {"resources/more.yaml": INCLUDED})
    problem = one_problem(root)
    assert problem.path == "functions.f.source.source"
    assert problem.location.file.endswith("more.yaml") and problem.location.line == 6


def test_a_name_declared_twice_names_both_places(write):
    root = write(ROOT, {"resources/a.yaml": "dataitems:\n  raw: {kind: table, path: x.csv}\n"})
    problem = one_problem(root)
    assert "dataitems.raw is declared twice" in problem.message
    assert problem.location.file.endswith("a.yaml") and problem.location.line == 2
    assert "dhmlrun.yaml:6" in problem.message


def test_root_only_sections_are_refused_in_included_files(write):
    root = write(ROOT, {"resources/a.yaml": "project: {name: other}\n"})
    problem = one_problem(root)
    assert "'project' may only be written in the root file" in problem.message
    assert problem.location.file.endswith("a.yaml")


def test_errors_in_included_files_carry_their_file(write):
    root = write(ROOT, {"resources/a.yaml": "dataitems:\n  x: {kind: table, paht: y.csv}\n"})
    found = {p.message: p for p in problems(root)}
    problem = found["unknown key 'paht'; did you mean 'path'?"]
    assert problem.location.file.endswith("a.yaml") and problem.location.line == 2


def test_yaml_errors_in_included_files_are_reported(write):
    root = write(ROOT, {"resources/a.yaml": "dataitems:\n\tx: 1\n"})
    problem = one_problem(root)
    assert "tab" in problem.message and problem.location.file.endswith("a.yaml")


def test_a_literal_include_that_does_not_exist_is_an_error(write):
    problem = one_problem(write(ROOT.replace("resources/*.yaml", "extra.yaml")))
    assert "'extra.yaml' does not exist" in problem.message and problem.path == "include[0]"


def test_a_glob_matching_nothing_is_fine(write):
    assert set(load(write(ROOT)).resources) == {"dataitems.raw"}


def test_the_root_file_may_be_given_directly(write):
    root = write(ROOT)
    assert load(root / "dhmlrun.yaml").root == root


def test_the_example_validates():
    from .conftest import EXAMPLE

    declaration = load(EXAMPLE)
    assert declaration.project_name == "employees-dev"
    assert Path(declaration.resources["dataitems.employees"].spec["path"]).is_file()
