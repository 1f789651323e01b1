"""Reading YAML: only safe, well-formed, mapping documents; every error with its line and column."""

from __future__ import annotations

from pathlib import Path

from dhmlrun.config.yaml_loader import MAX_ALIAS_EXPANSION, load_yaml

from .conftest import load, measure_in_subprocess, one_problem, problems


def test_yaml_syntax_error_names_file_line_and_column(write):
    root = write("version: 1\nproject: {name: demo\n")
    problem = one_problem(root)
    assert "YAML syntax error" in problem.message
    assert problem.location.file.endswith("dhmlrun.yaml")
    assert problem.location.line is not None and problem.location.column is not None


def test_tab_in_indentation_is_refused_at_its_line(write):
    root = write("version: 1\nproject:\n\tname: demo\n")
    problem = one_problem(root)
    assert problem.message == "tab character in indentation; YAML indentation must use spaces"
    assert (problem.location.line, problem.location.column) == (3, 1)


def test_a_tab_after_indentation_spaces_is_refused_at_the_tab(write):
    problem = one_problem(write("version: 1\nproject:\n  \tname: demo\n"))
    assert "tab character in indentation" in problem.message
    assert (problem.location.line, problem.location.column) == (3, 3)


def test_a_block_scalar_indented_with_a_tab_is_refused(write):
    root = write("version: 1\nproject:\n  name: demo\n  description: |\n\tindented by a tab\n")
    problem = one_problem(root)
    assert "tab character in indentation" in problem.message
    assert (problem.location.line, problem.location.column) == (5, 1)


def test_tabs_inside_a_block_scalar_are_text(write):
    body = "def handler(context):\n\tif True:\n\t\treturn 1\n"
    indented = "".join(f"        {line}\n" for line in body.splitlines())
    root = write(
        "version: 1\nproject: {name: demo}\nfunctions:\n  f:\n    kind: mlrun\n    source:\n"
        "      code: |\n" + indented + "    handler: handler\n"
    )
    assert load(root).resources["functions.f"].spec["source"]["code"] == body


def test_duplicate_key_is_reported_at_the_second_with_the_first_line(write):
    root = write("version: 1\nproject:\n  name: demo\n  name: other\n")
    problem = one_problem(root)
    assert "duplicate key 'name'" in problem.message and "line 3" in problem.message
    assert problem.location.line == 4
    assert problem.path == "project.name"


def test_non_mapping_root_is_refused(write):
    problem = one_problem(write("- version\n- project\n"))
    assert "top level must be a mapping" in problem.message and "a list" in problem.message


def test_scalar_root_is_refused(write):
    assert "top level must be a mapping" in one_problem(write("just text\n")).message


def test_empty_file_is_refused(write):
    assert "empty" in one_problem(write("")).message


def test_comment_only_file_is_empty(write):
    assert "empty" in one_problem(write("# nothing here\n")).message


def test_several_documents_in_one_file_are_refused(write):
    assert "YAML syntax error" in one_problem(write("version: 1\n---\nversion: 1\n")).message


def billion_laughs(levels: int = 10) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        refs = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_at_the_alias_that_crosses_the_budget(tmp_path: Path):
    (tmp_path / "bomb.yaml").write_text(billion_laughs())
    loaded = load_yaml(tmp_path / "bomb.yaml")
    (problem,) = loaded.problems
    assert problem.message == (
        f"aliases expand to more than {MAX_ALIAS_EXPANSION} values; refused (possible alias bomb)"
    )
    # a1..a4 expand to 74,718 values; the first *a4 of line 6 adds 66,430 more (the anchor is line 5)
    assert (problem.location.line, problem.location.column) == (6, 10)


def test_alias_bomb_is_refused_quickly_and_within_bounded_memory(tmp_path: Path):
    (tmp_path / "bomb.yaml").write_text(billion_laughs(levels=30))
    report = measure_in_subprocess(f"""
from pathlib import Path
from dhmlrun.config.yaml_loader import load_yaml
result = [p.render() for p in load_yaml(Path({str(tmp_path / "bomb.yaml")!r})).problems]
""")
    assert "possible alias bomb" in report["result"][0]
    assert report["cpu_seconds"] < 2 and report["max_rss_mb"] < 200, report


def test_many_aliases_of_one_anchor_are_fine(write):
    common = "  common: &common {function: f, action: job, parameters: {a: 1, b: 2, c: 3}, values: [x, y]}\n"
    runs = "".join(f"  r{i}:\n    <<: *common\n    parameters: {{n: {i}}}\n" for i in range(24))
    root = write(
        "version: 1\nproject: {name: demo}\nfunctions:\n"
        "  f: {kind: mlrun, source: {source: src/main.py}}\nruns:\n" + common + runs
    )
    declaration = load(root)
    assert declaration.resources["runs.r23"].spec["parameters"] == {"n": 23}
    assert declaration.resources["runs.r23"].spec["values"] == ["x", "y"]


def test_hundreds_of_aliases_of_a_scalar_are_fine(tmp_path: Path):
    (tmp_path / "f.yaml").write_text("base: &b 1\nitems: [" + ", ".join(["*b"] * 500) + "]\n")
    loaded = load_yaml(tmp_path / "f.yaml")
    assert loaded.problems == [] and loaded.data["items"] == [1] * 500


def test_recursive_alias_is_refused(tmp_path: Path):
    (tmp_path / "f.yaml").write_text("a: &x [1, *x]\n")
    assert "recursive" in load_yaml(tmp_path / "f.yaml").problems[0].message


def test_python_object_tags_are_refused(write):
    root = write("version: 1\nproject: {name: demo}\nx: !!python/object:os.system ls\n")
    messages = [p.message for p in problems(root)]
    assert any("unsupported YAML tag" in m for m in messages)


def test_dates_stay_strings_and_positions_are_recorded(tmp_path: Path):
    (tmp_path / "f.yaml").write_text("when: 2024-01-02\nn: 3\nflag: true\nnothing: null\n")
    loaded = load_yaml(tmp_path / "f.yaml")
    assert loaded.data == {"when": "2024-01-02", "n": 3, "flag": True, "nothing": None}
    assert loaded.at(("n",)).line == 2 and loaded.at(("n",)).column == 4
    assert loaded.at(("flag",), key=True).line == 3


def test_merge_keys_and_few_aliases_work(write):
    root = write("""\
        version: 1
        project: {name: demo}
        functions:
          a: &fn
            kind: mlrun
            source: {source: src/main.py}
            handler: one
          b:
            <<: *fn
            handler: two
        """)
    declaration = load(root)
    assert declaration.resources["functions.b"].spec["handler"] == "two"
    assert declaration.resources["functions.b"].spec["source"]["source"].endswith("main.py")


def test_non_utf8_file_is_refused(tmp_path: Path):
    (tmp_path / "dhmlrun.yaml").write_bytes(b"version: 1\nproject: {name: \xff\xfe}\n")
    assert "UTF-8" in one_problem(tmp_path).message


def test_missing_directory_and_missing_root_file(tmp_path: Path):
    assert "no dhmlrun.yaml" in one_problem(tmp_path).message
    assert "no such file" in one_problem(tmp_path / "nope").message
