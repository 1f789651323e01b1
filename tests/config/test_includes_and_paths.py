"""`include:` globs, duplicate names across files, and paths relative to the declaring file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .conftest import load, one_problem, problems

ROOT = """\
version: 1
project: {name: demo}
include: ["resources/*.yaml"]
variables: {base: {default: data}}
dataitems:
  raw: {kind: table, path: "{{ base }}/raw.csv"}
"""

DATA = {"data/raw.csv": "id\n1\n", "data/clean-v2.csv": "id\n1\n"}
"""The local data ROOT and INCLUDED declare."""

ALONE = ROOT.replace('include: ["resources/*.yaml"]\n', "")
"""ROOT without its include (whose glob must match a file)."""


@pytest.fixture
def write(write):
    """The conftest's `write`, with the local data ROOT and INCLUDED declare in place."""
    return lambda text, files=None: write(text, {**DATA, **(files or {})})


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
    root = write(ROOT, {"resources/more.yaml": INCLUDED, "resources/code/job.py": "pass\n", **DATA})
    declaration = load(root)
    assert set(declaration.resources) == {
        "dataitems.raw",
        "dataitems.clean",
        "dataitems.remote",
        "functions.f",
        "runs.r",
    }
    assert [p.name for p in declaration.files] == ["dhmlrun.yaml", "more.yaml"]
    assert declaration.resources["runs.r"].depends_on == ("functions.f", "dataitems.raw")


def test_relative_paths_resolve_against_the_declaring_file(write):
    root = write(ROOT, {"resources/more.yaml": INCLUDED, "resources/code/job.py": "pass\n", **DATA})
    declaration = load(root)
    assert declaration.resources["dataitems.raw"].spec["path"] == str(root / "data" / "raw.csv")
    assert declaration.resources["dataitems.clean"].spec["path"] == str(root / "data" / "clean-v2.csv")
    assert declaration.resources["dataitems.remote"].spec["path"] == "https://example.com/x.csv"
    function = declaration.resources["functions.f"]
    assert function.spec["source"]["source"] == str(root / "resources" / "code" / "job.py")
    assert function.declared_in == root / "resources" / "more.yaml"
    assert function.location.file.endswith("more.yaml") and function.location.line == 6


def test_a_source_file_missing_next_to_the_included_file_is_reported_there(write):
    root = write(ROOT, {"resources/more.yaml": INCLUDED, **DATA})
    problem = one_problem(root)
    assert problem.path == "functions.f.source.source"
    assert problem.location.file.endswith("more.yaml") and problem.location.line == 6


def test_a_name_declared_twice_names_both_places(write):
    root = write(ROOT, {"resources/a.yaml": "dataitems:\n  raw: {kind: table, path: data.csv}\n"})
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


def test_a_glob_matching_nothing_is_an_error_not_silence(write):
    problem = one_problem(write(ROOT.replace("resources/*.yaml", "resource/*.yaml")))
    assert problem.message == "included file 'resource/*.yaml' matches no file"
    assert problem.path == "include[0]" and problem.location.line == 3


def test_a_missing_local_data_file_is_refused_where_it_is_declared(write):
    problem = one_problem(write(ALONE.replace('"{{ base }}/raw.csv"', "data/gone.csv")))
    assert problem.path == "dataitems.raw.path" and problem.location.line == 5
    assert problem.message.startswith("local file 'data/gone.csv' does not exist (looked for ")


def test_every_missing_local_file_is_reported_at_once(write):
    root = write(
        CONFINED.replace("SOURCE", "src/gone.py")
        + "dataitems:\n  d: {kind: table, path: data/d.csv}\n"
        + "artifacts:\n  a: {kind: artifact, path: data/a.json}\n"
        + "models:\n  m: {kind: model, path: models/m.bin}\n"
    )
    (root / "models" / "m.bin").mkdir(parents=True)
    found = {p.path: (p.location.line, p.message) for p in problems(root)}
    lines = {path: line for path, (line, _) in found.items()}
    assert lines == {
        "functions.f.source.source": 4,
        "dataitems.d.path": 6,
        "artifacts.a.path": 8,
        "models.m.path": 10,
    }
    assert found["models.m.path"][1].startswith("local file 'models/m.bin' is a directory, not a file")


def test_a_directory_without_a_declaration_says_how_to_name_one_or_make_one(tmp_path):
    problem = one_problem(tmp_path)
    assert problem.message.startswith(f"no dhmlrun.yaml in {tmp_path}: name the config directory")
    assert "--path DIR" in problem.message and f"dhmlrun init {tmp_path}" in problem.message


def test_the_root_file_may_be_given_directly(write):
    root = write(ALONE, DATA)
    assert load(root / "dhmlrun.yaml").root == root


def test_the_example_validates():
    from .conftest import EXAMPLE

    declaration = load(EXAMPLE)
    assert declaration.project_name == "employees-dev"
    assert Path(declaration.resources["dataitems.employees"].spec["path"]).is_file()


CONFINED = """\
version: 1
project: {name: demo}
functions:
  f: {kind: mlrun, source: {source: SOURCE}, handler: h}
"""


@pytest.fixture
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory beside the config directory, holding `secret.py`."""
    place = tmp_path_factory.mktemp("outside")
    (place / "secret.py").write_text("TOKEN = 'x'\n")
    return place


def test_an_include_climbing_with_dots_is_refused_before_reading(write):
    problem = one_problem(write(ROOT.replace("resources/*.yaml", "../../../../etc/*")))
    assert problem.path == "include[0]" and problem.location.line == 3
    assert problem.message == (
        "include '../../../../etc/*': '..' is not allowed in include patterns (they "
        "name files below the config directory)"
    )


def test_an_absolute_include_outside_is_refused(write):
    problem = one_problem(write(ROOT.replace("resources/*.yaml", "/etc/*")))
    assert problem.message.startswith("include '/etc/*' is outside the config directory ")
    assert problem.message.endswith("pass --allow-outside PATH to allow it")


def test_an_included_symlink_to_a_file_outside_is_refused_naming_only_the_link(write, outside):
    root = write(ROOT)
    (root / "resources").mkdir()
    (root / "resources" / "more.yaml").symlink_to(outside / "secret.py")
    problem = one_problem(root)
    assert problem.path == "include[0]"
    assert problem.message.startswith(
        "include 'resources/*.yaml' at 'resources/more.yaml' leads outside the config directory "
    )
    assert str(outside) not in problem.message


def test_a_glob_never_lists_a_directory_outside(write, outside):
    """Issue 21: a glob through a symlinked directory named the files it found beside the repo."""
    (outside / "private-key-name.yaml").write_text("x: 1\n")
    root = write(ROOT.replace("resources/*.yaml", "*/*.yaml"))
    (root / "shared").symlink_to(outside)
    problem = one_problem(root)
    assert problem.message.startswith("include '*/*.yaml' at 'shared' leads outside the config directory ")
    assert "private-key-name" not in problem.message and str(outside) not in problem.message


def test_a_leading_star_climbing_out_names_nothing_outside(write, outside):
    """Issue 21: `*/../../*/*` listed the files beside the config directory in its error."""
    (outside / "private-key-name.yaml").write_text("x: 1\n")
    problem = one_problem(write(ROOT.replace("resources/*.yaml", "*/../../*/*")))
    assert "'..' is not allowed" in problem.message and "private-key-name" not in problem.message


def test_repeated_dot_dot_stars_are_refused_at_once(write):
    """Issue 21: `*/../*/../...` doubled the work at each level (74 s at depth 6)."""
    files = {f"d{i}/x.yaml": "" for i in range(8)}
    root = write(ROOT.replace("resources/*.yaml", "*/../" * 12 + "*.yaml"), files)
    assert "'..' is not allowed" in one_problem(root).message


def test_repeated_double_stars_match_once(write, monkeypatch):
    """`**/**/...` over a tree walked each way of splitting the path between them; they collapse,
    so the tree is walked once (its 66 entries, each directory listed for both segments)."""
    from dhmlrun.config import includes

    monkeypatch.setattr(includes, "MAX_EXPANSION", 200)
    files = {
        f"{a}/{b}/{c}/x{a}{b}{c}.yaml": f"variables: {{v{a}{b}{c}: {{default: 1}}}}\n"
        for a in "abc"
        for b in "abc"
        for c in "abc"
    }
    root = write(ROOT.replace("resources/*.yaml", "**/" * 12 + "*.yaml"), files)
    assert len(load(root).files) == 1 + 27


def test_an_include_looking_at_too_many_entries_is_refused(write, monkeypatch):
    from dhmlrun.config import includes

    monkeypatch.setattr(includes, "MAX_EXPANSION", 20)
    root = write(ROOT.replace("resources/*.yaml", "**/*.yaml"), {f"d/f{i}.txt": "" for i in range(30)})
    problem = one_problem(root)
    assert problem.message == (
        "include '**/*.yaml' looks at more than 20 directory entries; name the files more precisely"
    )


def test_a_source_climbing_out_is_refused(write, outside):
    relative = os.path.relpath(outside / "secret.py", write(ROOT))
    problem = one_problem(write(CONFINED.replace("SOURCE", relative)))
    assert problem.path == "functions.f.source.source" and problem.location.line == 4
    assert problem.message.startswith(f"source file {relative!r} is outside the config directory ")
    assert problem.message.endswith("pass --allow-outside PATH to allow it")


def test_a_source_symlinked_outside_is_refused(write, outside):
    root = write(CONFINED.replace("SOURCE", "src/x.py"))
    (root / "src" / "x.py").symlink_to("/etc/passwd")
    problem = one_problem(root)
    assert problem.path == "functions.f.source.source"
    assert "it resolves to /etc/passwd; pass --allow-outside PATH to allow it" in problem.message


def test_a_source_in_the_home_directory_is_outside(write, outside, monkeypatch):
    monkeypatch.setenv("HOME", str(outside))
    problem = one_problem(write(CONFINED.replace("SOURCE", "~/secret.py")))
    assert problem.message.startswith("source file '~/secret.py' is outside the config directory ")


def test_a_data_path_outside_is_refused(write):
    problem = one_problem(write(ALONE.replace('"{{ base }}/raw.csv"', "/etc/passwd")))
    assert problem.path == "dataitems.raw.path" and problem.location.line == 5
    assert problem.message.startswith("data path '/etc/passwd' is outside the config directory ")


def test_a_place_allowed_outside_may_be_read(write, outside):
    root = write(CONFINED.replace("SOURCE", str(outside / "secret.py")))
    declaration = load(root, allow_outside=[outside])
    assert declaration.resources["functions.f"].spec["source"]["source"] == str(outside / "secret.py")


def test_allowing_one_place_does_not_allow_another(write, outside):
    root = write(CONFINED.replace("SOURCE", "/etc/passwd"))
    assert "pass --allow-outside PATH" in one_problem(root, allow_outside=[outside]).message


def test_a_recursive_glob_does_not_follow_symlinked_directories(write):
    root = write(ROOT.replace("resources/*.yaml", "**/*.yaml"), DATA)
    (root / "sub").mkdir()
    (root / "sub" / "more.yaml").write_text("variables: {extra: {default: 1}}\n")
    for name in ("a", "b", "c"):
        (root / "sub" / name).symlink_to(root)  # a loop: glob would walk a/b/c/a/... for ever
    (root / "etc").symlink_to("/etc")
    declaration = load(root)
    assert [p.name for p in declaration.files] == ["dhmlrun.yaml", "more.yaml"]
    assert declaration.variables["extra"].value == 1


def test_globs_keep_their_meaning(write):
    root = write(ROOT.replace('["resources/*.yaml"]', '["resources/*.yaml", "deep/**/*.yml"]'), DATA)
    files = {
        "resources/a.yaml": "variables: {a: {default: 1}}\n",
        "resources/.hidden.yaml": "variables: {h: {default: 1}}\n",
        "deep/b.yml": "variables: {b: {default: 1}}\n",
        "deep/x/y/c.yml": "variables: {c: {default: 1}}\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    assert set(load(root).variables) == {"base", "a", "b", "c"}


def test_a_file_url_data_path_is_a_local_path_and_confined(write):
    problem = one_problem(write(ALONE.replace('"{{ base }}/raw.csv"', "file:///etc/passwd")))
    assert problem.path == "dataitems.raw.path"
    assert problem.message.startswith("data path 'file:///etc/passwd' is outside the config directory ")
