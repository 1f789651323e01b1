"""Variables and templates: sources and their precedence, environments, native types, the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import examples

from .conftest import load, one_problem, problems

CONFIG = """\
version: 1
project:
  name: "demo-{{ env }}"
  description: "{{ var.greeting }} {{ greeting }}"
variables:
  env: {default: dev}
  greeting: {default: hello}
  count: {default: 2}
  ratio: {type: number, default: 0.5}
  enabled: {default: false}
  secret: {default: s3cr3t-value, sensitive: true}
environments:
  prod:
    profile: prod-cluster
    variables: {env: prod, count: 5}
  test: {}
functions:
  f: {kind: mlrun, source: {source: src/main.py}}
runs:
  r:
    function: f
    action: job
    parameters:
      count: "{{ count }}"
      count_text: "n={{ var.count }}"
      ratio: "{{ ratio }}"
      enabled: "{{ var.enabled }}"
      doubled: "{{ count * 2 }}"
      listed: "{{ [count, greeting] }}"
      upper: "{{ greeting | upper }}"
"""


def params(root: Path, **kwargs) -> dict:
    return load(root, **kwargs).resources["runs.r"].spec["parameters"]


def test_variables_are_reachable_as_var_dot_name_and_bare_name(write):
    declaration = load(write(CONFIG))
    assert declaration.project == {"name": "demo-dev", "description": "hello hello"}


def test_a_single_expression_keeps_the_native_type(write):
    got = params(write(CONFIG))
    assert got["count"] == 2 and got["ratio"] == 0.5 and got["enabled"] is False
    assert got["doubled"] == 4 and got["listed"] == [2, "hello"]
    assert got["count_text"] == "n=2" and got["upper"] == "HELLO"


def test_command_line_strings_are_converted_to_the_variable_type(write):
    got = params(write(CONFIG), cli_vars={"count": "7", "ratio": "2", "enabled": "true"})
    assert got["count"] == 7 and got["ratio"] == 2 and got["enabled"] is True


def test_a_value_of_the_wrong_type_is_an_error(write):
    problem = one_problem(write(CONFIG), cli_vars={"count": "many"})
    assert problem.path == "--var count" and "integer" in problem.message


def test_precedence_default_environment_environ_var_file_cli(write, tmp_path):
    root = write(CONFIG)
    var_file = tmp_path / "vars.yaml"
    var_file.write_text("count: 30\n")
    assert params(root)["count"] == 2
    assert params(root, environment="prod")["count"] == 5
    assert params(root, environment="prod", environ={"DHMLRUN_VAR_count": "10"})["count"] == 10
    assert (
        params(root, environment="prod", environ={"DHMLRUN_VAR_count": "10"}, var_files=[var_file])["count"]
        == 30
    )
    assert (
        params(
            root,
            environment="prod",
            environ={"DHMLRUN_VAR_count": "10"},
            var_files=[var_file],
            cli_vars={"count": "40"},
        )["count"]
        == 40
    )


def test_later_var_files_win(write, tmp_path):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("count: 1\ngreeting: hi\n")
    second.write_text("count: 9\n")
    declaration = load(write(CONFIG), var_files=[first, second])
    assert declaration.resources["runs.r"].spec["parameters"]["count"] == 9
    assert declaration.project["description"] == "hi hi"


def test_environment_sets_variables_env_name_and_profile(write):
    declaration = load(write(CONFIG), environment="prod")
    assert declaration.project_name == "demo-prod"
    assert declaration.environment == "prod" and declaration.profile == "prod-cluster"
    assert load(write(CONFIG), environment="test").profile is None


def test_env_is_the_environment_name_when_no_env_variable_is_declared(write):
    root = write(
        CONFIG.replace("  env: {default: dev}\n", "").replace(
            "variables: {env: prod, count: 5}", "variables: {count: 5}"
        )
    )
    assert load(root, environment="prod").project_name == "demo-prod"
    problem = one_problem(root)
    assert "undefined" in problem.message and problem.path == "project.name"


def test_unknown_environment_lists_the_known_ones(write):
    problem = one_problem(write(CONFIG), environment="staging")
    assert "unknown environment 'staging'" in problem.message and problem.allowed == "prod, test"


def test_var_of_an_undeclared_variable_is_an_error(write):
    problem = one_problem(write(CONFIG), cli_vars={"greting": "x"})
    assert "no variable 'greting' is declared; did you mean 'greeting'?" in problem.message


def test_var_file_with_an_undeclared_variable_is_an_error_at_its_line(write, tmp_path):
    var_file = tmp_path / "vars.yaml"
    var_file.write_text("count: 1\ncolour: red\n")
    problem = one_problem(write(CONFIG), var_files=[var_file])
    assert "colour" in problem.message and problem.location.line == 2
    assert problem.location.file.endswith("vars.yaml")


def test_environment_override_of_an_undeclared_variable_is_an_error(write):
    root = write(CONFIG.replace("variables: {env: prod, count: 5}", "variables: {env: prod, cuont: 5}"))
    problem = one_problem(root, environment="prod")
    assert "did you mean 'count'?" in problem.message and problem.path == "environments.prod.variables.cuont"


def test_unrelated_environ_entries_are_ignored(write):
    declaration = load(write(CONFIG), environ={"DHMLRUN_VAR_nothing": "1", "PATH": "/bin"})
    assert declaration.project_name == "demo-dev"


def test_a_variable_without_any_value_is_an_error(write):
    root = write(CONFIG.replace("greeting: {default: hello}", "greeting: {description: needed}"))
    problem = one_problem(root)
    assert "'greeting' has no value" in problem.message and problem.path == "variables.greeting"
    assert load(root, cli_vars={"greeting": "yo"}).project["description"] == "yo yo"


def test_undefined_variable_names_the_field_and_suggests(write):
    root = write(CONFIG.replace('"{{ count }}"', '"{{ cuont }}"'))
    problem = one_problem(root)
    assert problem.path == "runs.r.parameters.count"
    assert "'cuont' is undefined" in problem.message and "did you mean 'count'?" in problem.message
    assert problem.location.line == 24


def test_jinja_syntax_error(write):
    problem = one_problem(write(CONFIG.replace('"{{ count }}"', '"{{ count "')))
    assert "template syntax error" in problem.message and problem.path == "runs.r.parameters.count"


@pytest.mark.parametrize(
    "escape",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "x{{ cycler.__init__.__globals__ }}",
        "{{ lipsum.__globals__.os }}",
        "{{ (greeting.__class__.__base__.__subclasses__() | first).__init__ }}",
    ],
)
def test_sandbox_escapes_are_clean_errors(write, escape):
    problem = one_problem(write(CONFIG.replace('"{{ count }}"', repr(escape))))
    assert problem.path == "runs.r.parameters.count" and problem.location.line == 24
    assert "not allowed by the sandbox" in problem.message or "undefined" in problem.message


def test_huge_results_are_refused_by_the_sandbox(write):
    problem = one_problem(write(CONFIG.replace('"{{ count }}"', "\"{{ 'x' * 10**9 }}\"")))
    assert "sandbox" in problem.message


def test_sensitive_values_never_appear_in_errors(write):
    root = write(
        CONFIG.replace('"{{ count }}"', '"{{ secret | int + greeting }}"').replace(
            'doubled: "{{ count * 2 }}"', 'doubled: "{{ secret ~ 1 }}x{{ nope }}"'
        )
    )
    text = "\n".join(p.render() for p in problems(root))
    assert "s3cr3t-value" not in text


def test_sensitive_variables_are_flagged_in_the_declaration(write):
    declaration = load(write(CONFIG))
    assert declaration.variables["secret"].sensitive and declaration.sensitive_values() == {"s3cr3t-value"}


def test_variables_and_environments_sections_are_not_rendered(write):
    root = write(CONFIG.replace("greeting: {default: hello}", "greeting: {default: '{{ raw }}'}"))
    assert load(root).project["description"] == "{{ raw }} {{ raw }}"


def test_variables_named_like_dict_methods_are_reachable_through_var(write):
    declared = "  count: {default: 2}\n  items: {default: many}\n"
    root = write(
        CONFIG.replace("  count: {default: 2}\n", declared).replace(
            '"{{ var.greeting }} {{ greeting }}"', "\"{{ var.items }}-{{ var['items'] }}\""
        )
    )
    assert load(root).project["description"] == "many-many"


def test_var_dot_env_is_only_the_variable_not_the_environment_name(write):
    root = write(
        CONFIG.replace("  env: {default: dev}\n", "")
        .replace("variables: {env: prod, count: 5}", "variables: {count: 5}")
        .replace('"demo-{{ env }}"', '"demo-{{ var.env }}"')
    )
    assert "'var.env' is undefined" in one_problem(root, environment="prod").message


@settings(max_examples=examples(150), deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "{{ n }}",
                "{{ var.n }}",
                "{{s}}",
                "{{ var.s }}",
                "{{ f }}",
                "{{ none }}",
                "{{ b }}",
                "{{ env }}",
                "x",
                " ",
                "-",
                "{",
            ]
        ),
        min_size=1,
        max_size=5,
    )
)
def test_the_substitution_fast_path_gives_what_jinja_gives(parts: list[str]) -> None:
    from dhmlrun.config.model import Variable
    from dhmlrun.config.render import _NO_FAST_PATH, Renderer, _compile_template, _single_expression

    values = {"n": 3, "s": "text", "f": 1.5, "none": None, "b": True}
    variables = {k: Variable(k, v) for k, v in values.items()}
    renderer = Renderer(variables, "prod")
    text = "".join(parts)
    fast = renderer._render_simple(text)
    if fast is _NO_FAST_PATH:
        return
    expression = _single_expression(text)
    if expression is not None:
        from dhmlrun.config.render import _compile_expression

        assert fast == _compile_expression(expression)(**renderer.context)
        assert type(fast) is type(_compile_expression(expression)(**renderer.context))
    else:
        assert fast == _compile_template(text).render(**renderer.context)


def test_environ_names_match_variables_ignoring_case(write):
    assert params(write(CONFIG), environ={"DHMLRUN_VAR_COUNT": "10"})["count"] == 10


def test_environ_entry_spelt_like_the_variable_wins_over_other_casings(write):
    got = params(write(CONFIG), environ={"DHMLRUN_VAR_COUNT": "10", "DHMLRUN_VAR_count": "11"})
    assert got["count"] == 11


def test_environ_entries_in_several_casings_with_one_value_are_fine(write):
    got = params(write(CONFIG), environ={"DHMLRUN_VAR_COUNT": "10", "DHMLRUN_VAR_Count": "10"})
    assert got["count"] == 10


def test_environ_entries_in_several_casings_with_different_values_are_an_error(write):
    problem = one_problem(write(CONFIG), environ={"DHMLRUN_VAR_COUNT": "10", "DHMLRUN_VAR_Count": "12"})
    assert problem.path == "DHMLRUN_VAR_COUNT and DHMLRUN_VAR_Count"
    assert "variable 'count'" in problem.message and "different values" in problem.message


def test_variables_differing_only_in_case_are_each_set_by_their_own_spelling(write):
    root = write(CONFIG.replace("  count: {default: 2}\n", "  count: {default: 2}\n  COUNT: {default: 3}\n"))
    assert params(root, environ={"DHMLRUN_VAR_count": "10"})["count"] == 10
    problem = one_problem(root, environ={"DHMLRUN_VAR_Count": "10"})
    assert problem.path == "DHMLRUN_VAR_Count" and "'count', 'COUNT'" in problem.message


def test_a_type_mismatch_reads_with_the_right_article(write, tmp_path):
    var_file = tmp_path / "vars.yaml"
    var_file.write_text("count: [1]\n")
    problem = one_problem(write(CONFIG), var_files=[var_file])
    assert problem.message == "variable 'count' is an integer, got a list"
    problem = one_problem(write(CONFIG), cli_vars={"count": "many"})
    assert problem.message == (
        "'many' is not an integer (variable 'count' takes an integer, the type of its default 2)"
    )


def test_a_command_line_value_of_the_wrong_type_is_refused_in_the_user_s_words(write):
    flag = "  count: {default: 2}\n  flag: {type: boolean, default: false}\n"
    root = write(CONFIG.replace("  count: {default: 2}\n", flag))
    messages = [one_problem(root, cli_vars=v).message for v in ({"count": "abc"}, {"flag": "maybe"})]
    assert messages == [
        "'abc' is not an integer (variable 'count' takes an integer, the type of its default 2)",
        "'maybe' is not a boolean (true or false) (variable 'flag' is declared a boolean)",
    ]
    assert not any("literal" in m or "int()" in m for m in messages)


def test_a_var_file_holding_a_list_is_told_it_maps_variable_names_to_values(write, tmp_path):
    var_file = tmp_path / "vars.yaml"
    var_file.write_text("- count\n- 3\n")
    problem = one_problem(write(CONFIG), var_files=[var_file])
    assert problem.message == (
        "the top level must be a mapping of variable names to values (e.g. `min_years: 3`), not a list"
    )
    assert problem.location.file.endswith("vars.yaml") and problem.location.line == 1


def test_an_empty_var_file_sets_nothing(write, tmp_path):
    var_file = tmp_path / "vars.yaml"
    var_file.write_text("# nothing yet\n")
    assert params(write(CONFIG), var_files=[var_file])["count"] == 2
