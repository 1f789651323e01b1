"""Templates render under limits: each way to ask for gigabytes, loop for ever or spin is a clear
error at its file:line and field, refused within 2 s of CPU and 200 MB (measured in a fresh
process), and stopped by the guard made for it, not by the clock that bounds them all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dhmlrun.config.model import Variable
from dhmlrun.config.render import Renderer, RenderFailure
from dhmlrun.config.sandbox import TemplateLimits
from tests.conftest import one_worker

from .conftest import load, measure_in_subprocess, one_problem

DOUBLE_40_TIMES = (
    "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}{{ ns.s|length }}"
)

ATTACKS: dict[str, tuple[str, str]] = {
    # name: (template, what the error names)
    "ljust": ("{{ 'x'.ljust(10**9) | length }}", "value_chars"),
    "center": ("{{ 'x'.center(10**9) }}", "value_chars"),
    "rjust": ("{{ 'x'.rjust(10**9) }}", "value_chars"),
    "zfill": ("{{ '1'.zfill(10**9) }}", "value_chars"),
    "expandtabs": ("{{ '\\t\\t'.expandtabs(10**9) }}", "value_chars"),
    "str.replace with a count": ("{{ ('x'*100000).replace('x', 'y'*100000, 100000) }}", "value_chars"),
    "str.replace of the empty string": ("{{ ('x'*100000).replace('', 'y'*100000) }}", "value_chars"),
    "str.translate": ("{{ ('ab'*50000).translate({97: 'x'*100000}) }}", "value_chars"),
    "str.join": ("{{ ('x'*100000).join(range(100000)|map('string')) }}", "value_chars"),
    "nested range loops": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "loop_iterations",
    ),
    "doubling with ~ in a namespace": (DOUBLE_40_TIMES, "value_chars"),
    "doubling with + in a namespace": (DOUBLE_40_TIMES.replace("~", "+"), "value_chars"),
    "doubling a list": (
        "{% set ns = namespace(s=[1]) %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}"
        "{% endfor %}{{ ns.s|length }}",
        "value_items",
    ),
    "doubling with set": (
        "{% set s = 'x'*100000 %}" + "{% set s = s ~ s %}" * 40 + "{{ s|length }}",
        "value_chars",
    ),
    "squaring an integer": (
        "{% set ns = namespace(n=3) %}{% for i in range(40) %}"
        "{% set ns.n = ns.n * ns.n %}{% endfor %}{{ ns.n > 0 }}",
        "int_bits",
    ),
    "power of a power": ("{{ ((10**100)**100)**100 }}", "int_bits"),
    "multiplication": ("{{ 'x' * 10**9 }}", "value_chars"),
    "%-format width": ("{{ '%1000000000s' % 'x' }}", "value_chars"),
    "%-format precision": ("{{ '%.1000000000f' % 1.0 }}", "value_chars"),
    "%-format star width": ("{{ '%*s' % (1000000000, 'x') }}", "'*' widths"),
    "format filter": ("{{ '%1000000000d'|format(1) }}", "value_chars"),
    "str.format width": ("{{ '{:>1000000000}'.format(1) }}", "value_chars"),
    "str.format nested width": ("{{ '{:>{w}}'.format(1, w=1000000000) }}", "value_chars"),
    "str.format_map precision": ("{{ '{x:.1000000000f}'.format_map({'x': 1.0}) }}", "value_chars"),
    "join filter": ("{{ range(100000)|join('x'*100000) }}", "value_chars"),
    "replace filter": ("{{ ('x'*100000)|replace('x', 'y'*100000) }}", "value_chars"),
    "indent filter": ("{{ ('x\\n'*100000)|indent(100000) }}", "value_chars"),
    "indent filter with a string": ("{{ ('x\\n'*100000)|indent('y'*100000) }}", "value_chars"),
    "wordwrap filter": ("{{ ('x '*100000)|wordwrap(1, wrapstring='y'*100000) }}", "value_chars"),
    "center filter": ("{{ 'x'|center(10**9) }}", "value_chars"),
    "center filter with a literal width": ("{{ 'x'|center(1000000000) }}", "value_chars"),
    "batch filter": ("{{ [1]|batch(10**9, 0)|list|length }}", "value_items"),
    "slice filter": ("{{ [1]|slice(10**9)|list|length }}", "value_items"),
    "many values each under the limit": (
        "{{ range(100000)|map('center', 100000)|map('length')|sum }}",
        "produced_chars",
    ),
    "4-byte characters kept in a list": (
        "{% set ns = namespace(l=[]) %}{% for i in range(1000) %}"
        "{% set ns.l = ns.l + ['\U0001f600' * 100000] %}{% endfor %}",
        "value_chars",
    ),
    "4-byte characters kept in variables": (
        "".join(f"{{% set v{i} = '\U0001f600' * 900000 %}}" for i in range(40)),
        "produced_chars",
    ),
    # what a list refers to counts, however cheaply it was made (issue 21)
    "sort's keys": ("{{ (['x'*999999]*100000)|sort|length }}", "value_chars"),
    "max's keys": ("{{ (['x'*999999]*100000)|max|length }}", "value_chars"),
    "unique's keys": ("{{ (['x'*999999]*100000)|unique|list|length }}", "value_chars"),
    "groupby's keys": ("{{ ([{'a': 'x'*999999}]*100000)|groupby('a')|length }}", "value_chars"),
    "dictsort's keys": ("{% set s = 'x'*999999 %}{{ dict(a=s, b=s, c=s)|dictsort|length }}", "value_chars"),
    "a list printed": ("{{ (['x'*999999]*100000)|string|length }}", "value_chars"),
    "a list written out": (
        "{% set s = 'x'*999999 %}{{ [s, s, s, s, s, s, s, s]|string|length }}",
        "value_chars",
    ),
    "a batch's fill, sorted": (
        "{% for b in [0]|batch(100000, 'x'*999999) %}{{ b|sort|length }}{% endfor %}",
        "value_chars",
    ),
    "a namespace made to hold": (
        "{% set s = 'x'*999999 %}{{ namespace(a=s, b=s, c=s)|string|length }}",
        "value_chars",
    ),
    "a namespace set to hold": (
        "{% set s = 'x'*600000 %}{% set ns = namespace(a=s) %}{% set ns.b = s %}{{ ns|string|length }}",
        "value_chars",
    ),
    "the %-format guard on nested keys": (
        "{{ ('%(' * 300000 ~ ')' * 300000 ~ '1000000000s') % {} }}",
        "value_chars",
    ),
    "the %-format guard on flags": ("{{ ('%' ~ '0' * 900000 ~ '!%1000000000s') % 1 }}", "value_chars"),
    "printing in a loop": ("{% for i in range(100000) %}{{ 'x'*100000 }}{% endfor %}", "value_chars"),
    "template text in a loop": ("{% for i in range(100000) %}" + "A" * 1000 + "{% endfor %}", "value_chars"),
    "time": (
        "{% set s = 'x'*1000000 %}{% for i in range(100000) %}{{ s.count('y') }}{% endfor %}",
        "limit 'seconds'",
    ),
    "a huge template": ("{{ 1 }}" * 4000, "template_chars"),
}

DECLARATION = """\
version: 1
project: {name: demo}
functions:
  f: {kind: mlrun, source: {source: src/main.py}}
runs:
  r:
    function: f
    action: job
    parameters:
      p: %s
"""

CHILD = """
import json, pathlib, tempfile, time
from dhmlrun.config import load_declaration
from dhmlrun.errors import DhmlrunError

result = {}
base = pathlib.Path(tempfile.mkdtemp())
for index, (name, text) in enumerate(json.loads(ATTACKS).items()):
    root = base / str(index)
    (root / "src").mkdir(parents=True)
    (root / "src" / "main.py").write_text("def handler(context):\\n    return 1\\n")
    (root / "dhmlrun.yaml").write_text(text, encoding="utf-8")
    started = time.process_time()
    try:
        load_declaration(root, environ={})
        problems = []
    except DhmlrunError as error:
        problems = [problem.as_dict() for problem in error.problems]
    result[name] = {"cpu_seconds": time.process_time() - started, "problems": problems,
                    "max_rss_mb": peak_rss_mb()}

# which guard stops each attack when the clock cannot (the wall-clock limit `seconds` stops
# whatever else would run long, first on a loaded machine; "time" is its own attack)
from dataclasses import replace
from dhmlrun.config.render import Renderer
from dhmlrun.config.sandbox import LIMITS

unhurried = replace(LIMITS, seconds=GUARD_SECONDS)
for name, text in json.loads(TEMPLATES).items():
    try:
        Renderer({}, None, limits=unhurried).render(text)
        result[name]["guard"] = None
    except Exception as error:
        result[name]["guard"] = str(error)
"""
GUARD_SECONDS = 20.0
"""The clock while each guard is checked: far more than any guard needs, so only a guard that no
longer stops its attack lets the clock name itself (and fail the test)."""


@pytest.fixture(scope="module")
@one_worker
def attacked() -> dict[str, Any]:
    """Every attack loaded in one fresh process (peak RSS only grows, so each attack's reading is
    an upper bound of what it used); each declaration carries the attack as `runs.r.parameters.p`."""
    declarations = {
        name: DECLARATION % json.dumps(text, ensure_ascii=False) for name, (text, _) in ATTACKS.items()
    }
    guarded = {name: text for name, (text, _) in ATTACKS.items() if name != "time"}
    code = (
        CHILD.replace("ATTACKS", repr(json.dumps(declarations)))
        .replace("TEMPLATES", repr(json.dumps(guarded)))
        .replace("GUARD_SECONDS", repr(GUARD_SECONDS))
    )
    return measure_in_subprocess(code, timeout=240)["result"]


@pytest.mark.parametrize("name", list(ATTACKS))
def test_an_attack_is_a_clear_error_at_its_field(attacked: dict[str, Any], name: str) -> None:
    """As `dhmlrun validate` meets it, with the default limits: whichever limit a loaded machine
    reaches first, the attack is refused as one problem at its field."""
    (problem,) = attacked[name]["problems"]
    assert problem["path"] == "runs.r.parameters.p" and problem["line"] == 10
    assert problem["message"].startswith("the template goes over a sandbox limit: ")


@pytest.mark.parametrize("name", list(ATTACKS))
def test_an_attack_is_stopped_by_the_guard_made_for_it(attacked: dict[str, Any], name: str) -> None:
    report = attacked[name]
    refusal = report["problems"][0]["message"] if name == "time" else report["guard"]
    assert refusal is not None and ATTACKS[name][1] in refusal, refusal


@pytest.mark.parametrize("name", list(ATTACKS))
def test_an_attack_is_refused_within_2_s_of_cpu_and_200_mb(attacked: dict[str, Any], name: str) -> None:
    """CPU time, not wall time: what an attack costs the machine, however loaded it already is
    (the wall-clock limit `seconds` ends a render that runs long in any case)."""
    report = attacked[name]
    assert report["cpu_seconds"] < 2 and report["max_rss_mb"] < 200, report


@pytest.mark.parametrize(
    ("statement", "shown"),
    [
        ("{% macro m() %}x{% endmacro %}{{ m() }}", "{% macro %}"),
        ("{% set x %}y{% endset %}{{ x }}", "{% set ... endset %}"),
        ("{% filter upper %}x{% endfilter %}", "{% filter %}"),
        ("{% block b %}x{% endblock %}", "{% block %}"),
        ("{% for x in [[1]] recursive %}{{ loop(x) }}{% endfor %}", "recursive loops"),
        ("{% include 'other' %}", "{% include %}"),
    ],
)
def test_statements_that_render_out_of_sight_are_refused(write, statement: str, shown: str) -> None:
    problem = one_problem(write(DECLARATION % json.dumps(statement)))
    assert problem.message.startswith("the template is not allowed by the sandbox: ")
    assert shown in problem.message
    assert problem.location.line == 10


def test_mutating_lists_is_refused(write) -> None:
    problem = one_problem(write(DECLARATION % json.dumps("{% set l = [1] %}{{ l.append(2) }}")))
    assert "'append' of 'list' object is unsafe" in problem.message


def test_lipsum_is_not_offered(write) -> None:
    assert "'lipsum' is undefined" in one_problem(write(DECLARATION % json.dumps("{{ lipsum(5) }}"))).message


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("{% for i in range(3) %}{{ i }}{% endfor %}", "012"),
        ("{% for i in range(300) %}{% for j in range(300) %}{% endfor %}{% endfor %}done", "done"),
        ("{{ 'a'.center(5) }}|{{ 'b'|center(3) }}|{{ '7'.zfill(3) }}", "  a  | b |007"),
        ("{{ [1, 2]|join(',') }} {{ 'x\ny'|indent(2) }}", "1,2 x\n  y"),
        ("{{ '{:>4}'.format(1) }} {{ '%03d' % 7 }} {{ '%.2f'|format(1.5) }}", "   1 007 1.50"),
        (
            "{% set ns = namespace(s='a') %}{% for i in range(3) %}{% set ns.s = ns.s ~ 'b' %}{% endfor %}"
            "{{ ns.s }}",
            "abbb",
        ),
        ("{{ 'aXa'|replace('X', '-') }} {{ 'a b'.split()|length }} {{ 2 ** 10 }}", "a-a 2 1024"),
        ("{{ ('x'*900000)|length }}", 900000),
        (
            "{% set ns = namespace(s='') %}{% for i in range(2000) %}"
            "{% set ns.s = ns.s ~ 'abcdefgh,' %}{% endfor %}"
            "{{ ns.s|length }}",
            "18000",
        ),
    ],
)
def test_ordinary_templates_render_as_before(write, template: str, rendered: Any) -> None:
    declaration = load(write(DECLARATION % json.dumps(template)))
    assert declaration.resources["runs.r"].spec["parameters"]["p"] == rendered


def test_the_declaration_as_a_whole_has_an_output_budget() -> None:
    renderer = Renderer({"n": Variable("n", "x" * 40)}, None, limits=TemplateLimits(declaration_chars=130))
    renderer.render("{{ n ~ 1 }}")
    renderer.render("{{ n }}-{{ n }}")
    with pytest.raises(RenderFailure, match="limit 'declaration_chars'"):
        renderer.render("{{ n|upper }}")


def test_the_declaration_as_a_whole_has_a_time_budget() -> None:
    renderer = Renderer({}, None, limits=TemplateLimits(declaration_seconds=0.3))
    slow = "{% set s = 'x'*1000000 %}{% for i in range(100000) %}{{ s.count('y') }}{% endfor %}"
    with pytest.raises(RenderFailure, match=r"longer than 0.3 s in all \(limit 'declaration_seconds'\)"):
        renderer.render(slow)
    with pytest.raises(RenderFailure, match="limit 'declaration_seconds'"):
        renderer.render("{{ 1 + 1 }}")


def test_substituting_variables_is_bounded_too() -> None:
    renderer = Renderer({"n": Variable("n", "x" * 600_000)}, None)
    assert len(renderer.render("{{ n }}")) == 600_000
    with pytest.raises(RenderFailure, match=r"a value of 1,200,001 characters, .* \(limit 'value_chars'\)"):
        renderer.render("{{ n }}-{{ n }}")


def test_the_limits_are_documented(tmp_path: Path) -> None:
    from dhmlrun.config import sandbox

    for field in TemplateLimits.__dataclass_fields__:
        assert f"`{field}`" in (sandbox.__doc__ or ""), field
