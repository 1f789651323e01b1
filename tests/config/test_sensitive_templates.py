"""A sensitive variable's value cannot be shown through a template, nor stored as metadata
(issue 21, item 3): `{{ var.tok|reverse|join }}` printed it reversed, and a description or a label
holding it was stored verbatim on the platform."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from dhmlrun.cli import cli

from .conftest import load, one_problem

TOKEN = "tok-4f9a-s3cr3t"

DECLARATION = """\
version: 1
project:
  name: demo
variables:
  tok: {default: %s, sensitive: true}
  plain: {default: visible}
functions:
  f: {kind: mlrun, source: {source: src/main.py}}
runs:
  r:
    function: f
    action: job
    parameters:
      p: %s
"""


def declared(value: str) -> str:
    return DECLARATION % (TOKEN, json.dumps(value))


@pytest.mark.parametrize(
    "template",
    [
        "{{ var.tok|reverse|join }}",
        "{{ tok|upper }}",
        "{{ var['tok'] }}",
        "{{ var.tok[::-1] }}",
        "{{ 'yes' if var.tok.startswith('tok') else 'no' }}",
        "{{ var.tok ~ '' }}",
        "{% for c in var.tok %}{{ c }},{% endfor %}",
        "{% set k = 'to' ~ 'k' %}{{ var[k]|list }}",
    ],
)
def test_a_sensitive_variable_through_a_filter_or_expression_is_refused(write, template: str) -> None:
    problem = one_problem(write(declared(template)))
    assert problem.path == "runs.r.parameters.p" and problem.location.line == 14
    assert "the sensitive variable 'tok' may only be substituted plainly ({{ var.tok }}" in problem.message
    assert TOKEN not in problem.message and TOKEN[::-1] not in problem.message


@pytest.mark.parametrize(
    "template", ["{{ var.tok }}", "Bearer {{ tok }}", "{{ var.plain|upper }}-{{ plain }}"]
)
def test_plain_substitutions_are_still_rendered(write, template: str) -> None:
    parameters = load(write(declared(template))).resources["runs.r"].spec["parameters"]
    expected = template.replace("{{ var.tok }}", TOKEN).replace("{{ tok }}", TOKEN)
    expected = expected.replace("{{ var.plain|upper }}-{{ plain }}", "VISIBLE-visible")
    assert parameters["p"] == expected


@pytest.mark.parametrize(
    ("field", "yaml", "what"),
    [
        ("project.description", "project:\n  name: demo\n  description: 'x {{ var.tok }}'", "a description"),
        ("project.name", "project:\n  name: 'demo-{{ tok }}'", "the project's name"),
        (
            "dataitems.d.description",
            "dataitems:\n  d: {kind: table, path: s3://b/x, description: '{{ tok }}'}",
            "a description",
        ),
        (
            "dataitems.d.labels[0]",
            "dataitems:\n  d: {kind: table, path: s3://b/x, labels: ['{{ tok }}']}",
            "labels",
        ),
        (
            "runs.r.outputs.dataset",
            "runs:\n  r: {function: f, action: job, outputs: {dataset: 'o-{{ tok }}'}}",
            "the name of an output",
        ),
    ],
)
def test_a_sensitive_variable_in_metadata_is_refused(write, field: str, yaml: str, what: str) -> None:
    head = "version: 1\nproject: {name: demo}\n" if not yaml.startswith("project") else "version: 1\n"
    text = head + yaml + f"\nvariables:\n  tok: {{default: {TOKEN}, sensitive: true}}\n"
    text += "functions:\n  f: {kind: mlrun, source: {source: src/main.py}}\n"
    problem = one_problem(write(text))
    assert problem.path == field
    assert problem.location.line == 1 + next(i for i, line in enumerate(text.splitlines()) if "{{" in line)
    said = "the platform stores and shows it as it is, unmasked"
    assert problem.message == f"the sensitive variable 'tok' may not be used in {what}: {said}"


def test_plan_never_prints_a_sensitive_value_through_a_filter(write) -> None:
    root = write(declared("{{ var.tok|reverse|join }}"))
    result = CliRunner().invoke(cli, ["plan", str(root), "--json"], env={"DH_CONFIG": "/dev/null"})
    assert result.exit_code == 1
    for text in (result.output, str(result.exception)):
        assert TOKEN not in text and TOKEN[::-1] not in text
