"""References between resources: normalised addresses, depends_on, unknown targets and cycles."""

from __future__ import annotations

from .conftest import load, one_problem, problems

HEAD = """\
version: 1
project: {name: demo}
dataitems:
  employees: {kind: table, path: data.csv}
functions:
  f: {kind: mlrun, source: {source: src/main.py}}
runs:
"""


def test_function_short_name_is_normalised_to_its_address(write):
    root = write(HEAD + "  a: {function: f, action: job}\n  b: {function: functions.f, action: job}\n")
    declaration = load(root)
    assert declaration.resources["runs.a"].spec["function"] == "functions.f"
    assert declaration.resources["runs.b"].spec["function"] == "functions.f"


def test_inputs_in_list_form_become_a_map_and_edges(write):
    root = write(
        HEAD
        + """\
  a:
    function: f
    action: job
    inputs: [{url: dataitems.employees}, {model: "store://demo/model/m:1"}]
    outputs: [{dataset: clean}]
  b:
    function: f
    action: job
    inputs: {dataset: runs.a.outputs.dataset}
"""
    )
    declaration = load(root)
    a, b = declaration.resources["runs.a"], declaration.resources["runs.b"]
    assert a.spec["inputs"] == {"url": "dataitems.employees", "model": "store://demo/model/m:1"}
    assert a.spec["outputs"] == {"dataset": "clean"}
    assert a.depends_on == ("functions.f", "dataitems.employees")
    assert b.depends_on == ("functions.f", "runs.a")
    assert declaration.topological_order().index("runs.a") < declaration.topological_order().index("runs.b")


def test_run_defaults_and_lifecycle_split(write):
    root = write(HEAD + "  a: {function: f, action: job, lifecycle: {prevent_destroy: true}}\n")
    run = load(root).resources["runs.a"]
    assert run.lifecycle == {"prevent_destroy": True} and "lifecycle" not in run.spec
    assert run.spec["trigger"] == "on_change" and run.spec["execution"] == "local"
    assert run.spec["parameters"] == {} and run.spec["values"] == [] and run.spec["inputs"] == {}


def test_unknown_function_suggests_the_nearest(write):
    problem = one_problem(write(HEAD + "  a: {function: g, action: job}\n"))
    assert problem.message == "unknown function 'functions.g'" and problem.allowed == "functions.f"
    assert problem.path == "runs.a.function" and problem.location.line == 8


def test_a_dataitem_named_as_a_function_is_refused_as_a_dataitem(write):
    problem = one_problem(write(HEAD + "  a: {function: dataitems.employees, action: job}\n"))
    assert problem.message == "'dataitems.employees' is a dataitem, not a function"
    assert problem.path == "runs.a.function" and problem.allowed == "functions.f"


def test_unknown_dataitem_suggests_the_nearest(write):
    problem = one_problem(write(HEAD + "  a: {function: f, action: job, inputs: {x: dataitems.employes}}\n"))
    assert problem.message == "unknown dataitem 'dataitems.employes'; did you mean 'dataitems.employees'?"


def test_unknown_run_output_lists_the_declared_outputs(write):
    root = write(
        HEAD + "  a: {function: f, action: job, outputs: {dataset: d}}\n"
        "  b: {function: f, action: job, inputs: {x: runs.a.outputs.datset}}\n"
    )
    problem = one_problem(root)
    assert "has no output 'datset'; did you mean 'dataset'?" in problem.message
    assert problem.allowed == "dataset"


def test_input_that_is_not_a_reference_is_explained(write):
    problem = one_problem(write(HEAD + "  a: {function: f, action: job, inputs: {x: employees}}\n"))
    assert "did you mean 'dataitems.employees'?" in problem.message
    assert "store://" in problem.allowed


def test_self_cycle(write):
    problem = one_problem(
        write(HEAD + "  a: {function: f, action: job, inputs: {x: runs.a.outputs.y}, outputs: {y: z}}\n")
    )
    assert problem.message == "dependency cycle (each feeds the next): runs.a -> runs.a"
    assert problem.path == "runs.a.inputs.x"


def test_cycle_through_several_runs_is_shown_whole_and_once(write):
    root = write(
        HEAD
        + """\
  a: {function: f, action: job, inputs: {x: runs.c.outputs.o}, outputs: {o: a-out}}
  b: {function: f, action: job, inputs: {x: runs.a.outputs.o}, outputs: {o: b-out}}
  c: {function: f, action: job, inputs: {x: runs.b.outputs.o}, outputs: {o: c-out}}
  d: {function: f, action: job, inputs: {x: runs.c.outputs.o}}
"""
    )
    found = problems(root)
    assert [p.message for p in found] == [
        "dependency cycle (each feeds the next): runs.a -> runs.b -> runs.c -> runs.a"
    ]


def test_a_long_chain_is_fine(write):
    body = "".join(
        f"  r{i}: {{function: f, action: job, inputs: {{x: runs.r{i - 1}.outputs.o}}, "
        f"outputs: {{o: out{i}}}}}\n"
        for i in range(1, 1500)
    )
    declaration = load(write(HEAD + "  r0: {function: f, action: job, outputs: {o: out0}}\n" + body))
    assert declaration.dependencies("runs.r1499") >= {"runs.r0", "functions.f"}


def test_every_independent_cycle_is_reported(write):
    root = write(
        HEAD
        + """\
  a: {function: f, action: job, inputs: {x: runs.b.outputs.o}, outputs: {o: a-out}}
  b: {function: f, action: job, inputs: {x: runs.a.outputs.o}, outputs: {o: b-out}}
  c: {function: f, action: job, inputs: {x: runs.c.outputs.o}, outputs: {o: c-out}}
"""
    )
    found = sorted((p.path, p.message) for p in problems(root))
    assert found == [
        ("runs.b.inputs.x", "dependency cycle (each feeds the next): runs.a -> runs.b -> runs.a"),
        ("runs.c.inputs.x", "dependency cycle (each feeds the next): runs.c -> runs.c"),
    ]


def test_topological_order_puts_ready_resources_by_type_then_name(write):
    root = write(
        HEAD
        + """\
  z: {function: f, action: job, outputs: {o: z-out}}
  b: {function: f, action: job, inputs: {x: runs.z.outputs.o}}
  a: {function: f, action: job}
"""
    )
    assert load(root).topological_order() == [
        "dataitems.employees",
        "functions.f",
        "runs.a",
        "runs.z",
        "runs.b",
    ]


class VisitCounting(dict):
    """A mapping that counts how many of its entries are visited (iterated, looked up, tested)."""

    visits = 0

    def _seen(self, n: int = 1) -> None:
        type(self).visits += n

    def __iter__(self):
        for key in super().__iter__():
            self._seen()
            yield key

    def items(self):
        for pair in super().items():
            self._seen()
            yield pair

    def keys(self):
        return list(iter(self))

    def values(self):
        return [value for _, value in self.items()]

    def __contains__(self, key: object) -> bool:
        self._seen()
        return super().__contains__(key)

    def __getitem__(self, key: str):
        self._seen()
        return super().__getitem__(key)

    def get(self, key: str, default=None):
        self._seen()
        return super().get(key, default)


def test_topological_order_of_a_long_chain_is_linear():
    """Linear in the entries visited, not in seconds (a timed bound fails on a loaded machine):
    the former rescan-everything loop visited the chain's entries quadratically often."""
    from pathlib import Path

    from dhmlrun.config.model import Declaration, Resource
    from dhmlrun.errors import Location

    n = 6000
    resources = VisitCounting(
        (f"runs.r{i}", Resource("runs", f"r{i}", {}, Location("x"), (f"runs.r{i - 1}",) if i else ()))
        for i in range(n)
    )
    declaration = Declaration(Path("."), [], {"name": "demo"}, resources=resources)
    VisitCounting.visits = 0
    order = declaration.topological_order()
    assert order == [f"runs.r{i}" for i in range(n)]
    assert VisitCounting.visits <= 4 * n, VisitCounting.visits


def test_two_runs_writing_one_output_name_are_refused(write):
    root = write(
        HEAD + "  a: {function: f, action: job, outputs: {dataset: clean}}\n"
        "  b: {function: f, action: job, outputs: {table: clean}}\n"
    )
    problem = one_problem(root)
    assert problem.path == "runs.b.outputs.table" and problem.location.line == 9
    assert problem.message.startswith("output 'clean' is also written by runs.a (outputs.dataset): ")


def test_a_run_writing_a_declared_dataitem_is_refused(write):
    problem = one_problem(write(HEAD + "  a: {function: f, action: job, outputs: {dataset: employees}}\n"))
    assert problem.message.startswith("output 'employees' is also the name of the declared dataitem ")
