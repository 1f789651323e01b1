"""The dependency graph: built from the declaration (lineage through run outputs), coloured by a
plan or by the platform's state, and written as Mermaid and DOT that no label can break."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from dhmlrun.config import load_declaration
from dhmlrun.plan import build_plan
from dhmlrun.plan.model import NOOP, RUN
from dhmlrun.platform.state import PlatformState, RemoteRun
from dhmlrun.views.graph import (
    AFFECTED,
    COMPLETED,
    EXECUTES,
    EXTERNAL,
    FAILED,
    INPUT,
    NEVER_RUN,
    OUTPUT,
    OUTPUTS,
    RUNNING,
    UNDECLARED,
    Graph,
    changes_graph,
    declaration_graph,
    dot_string,
    plan_graph,
    state_graph,
    to_dot,
    to_mermaid,
)
from tests.plan.helpers import applied_state, counter_ids, declaration, write_repo
from tests.views.mermaid_check import MermaidError, check_mermaid

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "employees"
HOSTILE = [
    'say "hi" [to] {them} (now) | <b>bold</b> & #35; done',
    "%%{init: {'theme': 'dark'}}%% ```mermaid``` end",
    "back\\slash \\n not a newline; a;b --> c",
    "naïve café 日本語 — ✓",
    "`code` *star* _under_ ~tilde~ [link](http://x)",
]


@pytest.fixture(scope="module")
def example():
    return load_declaration(EXAMPLE, environ={})


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_repo(tmp_path / "repo")


def collapsed_edges(graph: Graph) -> set[tuple[str, str]]:
    """The graph's edges with each output node replaced by the run that writes it, and the
    run -> output edges dropped: what `depends_on` records."""

    def owner(address: str) -> str:
        node = graph.nodes[address]
        return address.partition(".outputs.")[0] if node.type == OUTPUTS else address

    return {(owner(e.source), e.target) for e in graph.edges if e.kind != OUTPUT}


# ---------------------------------------------------------------- the declaration's graph


def test_the_example_graph_has_every_declared_resource_and_each_run_output(example) -> None:
    graph = declaration_graph(example)
    declared = set(example.resources)
    outputs = {"runs.download.outputs.dataset", "runs.summary.outputs.dataset"}
    assert set(graph.nodes) == declared | outputs
    assert {a for a, n in graph.nodes.items() if n.type == OUTPUTS} == outputs


def test_the_example_edges_are_the_declarations_dependencies(example) -> None:
    graph = declaration_graph(example)
    depends_on = {(dep, r.address) for r in example for dep in r.depends_on}
    assert collapsed_edges(graph) == depends_on


def test_lineage_goes_from_the_run_through_its_output_to_the_run_reading_it(example) -> None:
    edges = {(e.source, e.target, e.kind, e.label) for e in declaration_graph(example).edges}
    assert ("runs.download", "runs.download.outputs.dataset", OUTPUT, "dataset") in edges
    assert ("runs.download.outputs.dataset", "runs.summary", INPUT, "dataset") in edges
    assert ("dataitems.employees", "runs.download", INPUT, "url") in edges
    assert ("functions.downloader", "runs.download", EXECUTES, "") in edges
    assert ("runs.download", "runs.summary", INPUT, "dataset") not in edges


def test_output_nodes_are_labelled_with_the_entity_the_run_writes(example) -> None:
    graph = declaration_graph(example)
    assert graph.nodes["runs.download.outputs.dataset"].lines == ("employees-clean",)
    assert graph.nodes["runs.summary.outputs.dataset"].lines == ("salary-summary",)


def test_a_store_key_input_is_an_external_node_shared_by_its_readers(repo: Path) -> None:
    key = "store://other/dataitem/table/ref:1"
    extra = {
        "runs.a": {"function": "functions.downloader", "action": "job", "inputs": {"x": key}},
        "runs.b": {"function": "functions.downloader", "action": "job", "inputs": {"y": key}},
    }
    graph = declaration_graph(declaration(repo, extra=extra))
    assert graph.nodes[key].type == EXTERNAL
    assert {(e.source, e.target) for e in graph.edges if e.source == key} == {
        (key, "runs.a"),
        (key, "runs.b"),
    }


def test_node_ids_are_unique_and_plain_even_when_names_collide(repo: Path) -> None:
    extra = {
        "dataitems.a-b": {"kind": "table", "path": "s3://b/1.csv"},
        "dataitems.a_b": {"kind": "table", "path": "s3://b/2.csv"},
        "dataitems.a.b": {"kind": "table", "path": "s3://b/3.csv"},
    }
    graph = declaration_graph(declaration(repo, extra=extra))
    ids = [n.id for n in graph.nodes.values()]
    assert len(ids) == len(set(ids))
    assert all(i.replace("_", "").isalnum() and i.isascii() for i in ids)


# ---------------------------------------------------------------- Mermaid


def test_the_example_mermaid_parses_with_one_node_per_address(example) -> None:
    graph = declaration_graph(example)
    chart = check_mermaid(to_mermaid(graph))
    assert len(chart.nodes) == len(graph.nodes)
    assert {label.splitlines()[0] for label in chart.nodes.values()} == set(example.resources) | {
        "employees-clean",
        "salary-summary",
    }
    assert len(chart.edges) == len(graph.edges)
    shapes = {graph.nodes[a].type: chart.shapes[graph.nodes[a].id] for a in graph.nodes}
    assert shapes == {"dataitems": "[()]", "functions": "[[]]", "runs": "([])", "outputs": "[//]"}
    assert sum(1 for *_, arrow in chart.edges if arrow == "-.->") == 2  # function -> run


@pytest.mark.parametrize("text", HOSTILE)
def test_a_mermaid_label_shows_any_text_as_written_and_breaks_nothing(text: str) -> None:
    graph = Graph("t")
    graph.add("dataitems.a", "dataitems", [text, "second line"])
    graph.add("runs.b", "runs", ["b"])
    graph.connect("dataitems.a", "runs.b", INPUT, text)
    chart = check_mermaid(to_mermaid(graph))
    assert chart.nodes["dataitem_a"] == f"{text}\nsecond line"
    assert chart.edges == [("dataitem_a", "run_b", text, "-->")]


def test_the_checker_refuses_what_mermaid_would_misread() -> None:
    good = 'flowchart LR\n    a["x"]\n    b["y"]\n    a --> b\n'
    check_mermaid(good)
    for broken in (
        good + '    c["un"quoted"]\n',
        good + "    a --> missing\n",
        good + '    a["again"]\n',
        good + "    class a nothing\n",
        good + '    end["keyword"]\n',
        good + '    c["%%{init: {}}%%"]\n',
        good + '    c["<script>"]\n',
    ):
        with pytest.raises(MermaidError):
            check_mermaid(broken)


# ---------------------------------------------------------------- DOT


def svg_texts(svg: bytes) -> list[str]:
    root = ET.fromstring(svg)
    return [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]


def draw(dot: str) -> bytes:
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed here (CI installs it: apt-get install graphviz)")
    done = subprocess.run(["dot", "-Tsvg"], input=dot.encode(), capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    assert not done.stderr.strip(), done.stderr.decode()  # no syntax warnings either
    return done.stdout


def test_the_example_dot_draws_with_graphviz(example) -> None:
    texts = svg_texts(draw(to_dot(declaration_graph(example))))
    for address in example.resources:
        assert address in texts
    assert {"employees-clean", "salary-summary", "url", "dataset"} <= set(texts)


@pytest.mark.parametrize("text", HOSTILE)
def test_a_dot_label_draws_any_text_as_written(text: str) -> None:
    graph = Graph(f"title {text}")
    graph.add("dataitems.a", "dataitems", [text])
    graph.add("runs.b", "runs", ["b"])
    graph.connect("dataitems.a", "runs.b", INPUT, text)
    texts = svg_texts(draw(to_dot(graph)))
    assert texts.count(text) == 2  # the node and the edge
    assert f"title {text}" in texts


def test_dot_strings_escape_quotes_backslashes_and_entities() -> None:
    assert dot_string('a "b" \\N &amp;') == 'a \\"b\\" \\\\N &amp;amp;'


# ---------------------------------------------------------------- a plan


def plans(repo: Path, **changed):
    """The example applied, then planned again with the run specs in `changed` edited."""
    decl = declaration(repo)
    state = applied_state(
        build_plan(decl, PlatformState(project=decl.project_name), id_factory=counter_ids())
    )
    edited = declaration(
        repo,
        extra={
            f"runs.{name}": {**decl.resources[f"runs.{name}"].spec, **spec} for name, spec in changed.items()
        },
    )
    return edited, build_plan(edited, state, id_factory=counter_ids())


def highlighted(graph: Graph) -> set[str]:
    return {a for a, n in graph.nodes.items() if n.status not in (None, NOOP)}


def test_a_plan_changing_one_run_highlights_that_run_and_everything_downstream(repo: Path) -> None:
    decl, plan = plans(repo, download={"parameters": {"limit": 10}})
    graph = plan_graph(decl, plan)
    downstream = {"runs.download.outputs.dataset", "runs.summary", "runs.summary.outputs.dataset"}
    assert highlighted(graph) == {"runs.download"} | downstream
    assert graph.nodes["runs.download"].status == RUN
    assert graph.nodes["runs.summary"].status == RUN  # its input is re-made: the planner reruns it
    assert graph.nodes["runs.download.outputs.dataset"].status == AFFECTED
    assert graph.nodes["dataitems.employees"].status == NOOP


def test_a_plan_changing_the_last_run_leaves_its_upstream_alone(repo: Path) -> None:
    decl, plan = plans(repo, summary={"parameters": {"min_years": 9}})
    graph = plan_graph(decl, plan)
    assert highlighted(graph) == {"runs.summary", "runs.summary.outputs.dataset"}
    chart = check_mermaid(to_mermaid(graph))
    assert chart.with_class("run") == {"run_summary"}
    assert chart.with_class("affected") == {"run_summary__dataset"}
    assert "run_download" in chart.with_class("noop")


def test_nodes_are_labelled_with_the_action_and_its_reason(repo: Path) -> None:
    decl, plan = plans(repo, summary={"parameters": {"min_years": 9}})
    graph = plan_graph(decl, plan)
    reason = plan.by_address()["runs.summary"].reason
    assert reason and "> run: " + reason.split()[0] in "\n".join(graph.nodes["runs.summary"].lines)
    assert "up to date" in graph.nodes["runs.download"].lines


def test_a_downstream_run_the_plan_does_not_rerun_is_still_highlighted(repo: Path) -> None:
    decl, plan = plans(repo, download={"parameters": {"limit": 10}}, summary={"trigger": "once"})
    graph = plan_graph(decl, plan)
    assert graph.nodes["runs.summary"].status == AFFECTED


def test_an_entity_the_plan_deletes_is_drawn_as_deleted(repo: Path) -> None:
    decl = declaration(repo)
    state = applied_state(
        build_plan(decl, PlatformState(project=decl.project_name), id_factory=counter_ids())
    )
    fewer = declaration(repo, drop=("runs.summary", "functions.summarise"))
    graph = plan_graph(fewer, build_plan(fewer, state, id_factory=counter_ids()))
    assert graph.nodes["functions.summarise"].status == "delete"
    check_mermaid(to_mermaid(graph))


def test_the_graph_of_changes_keeps_changes_downstream_and_their_direct_inputs(repo: Path) -> None:
    decl, plan = plans(repo, summary={"parameters": {"min_years": 9}})
    small = changes_graph(plan_graph(decl, plan))
    assert set(small.nodes) == {
        "runs.summary",
        "runs.summary.outputs.dataset",
        "functions.summarise",
        "runs.download.outputs.dataset",
    }
    check_mermaid(to_mermaid(small))


def test_sensitive_values_and_control_characters_never_reach_a_label(repo: Path) -> None:
    secret = "s3cr3t-t0ken-value"
    key = f"store://p/dataitem/table/{secret}:1"
    extra = {
        "runs.x": {
            "function": "functions.downloader",
            "action": "job",
            "inputs": {"k": key},
            "outputs": {"o": "out\x1b]52;c;Zm9v\x07\u202egnp.exe"},
        }
    }
    graph = declaration_graph(declaration(repo, secret=secret, extra=extra))
    for text in (to_mermaid(graph), to_dot(graph)):
        assert secret not in text and "(sensitive)" in text
        assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text


# ---------------------------------------------------------------- the platform's state


def run(address: str, state: str, created: str, updated: str, message: str | None = None) -> RemoteRun:
    return RemoteRun(
        id="r1",
        address=address,
        state=state,
        created=created,
        updated=updated,
        message=message,
        outputs={"dataset": "store://p/dataitem/table/employees-clean:1"},
    )


def test_the_state_graph_colours_runs_by_state_with_their_duration(repo: Path) -> None:
    decl = declaration(repo)
    state = PlatformState(project=decl.project_name, project_exists=True)
    state.runs["runs.download"] = run(
        "runs.download", "COMPLETED", "2026-01-01T10:00:00.000Z", "2026-01-01T10:02:05.000Z"
    )
    state.runs["runs.summary"] = run(
        "runs.summary", "ERROR", "2026-01-01T10:03:00.000Z", "2026-01-01T10:03:01.500Z", "boom\ntraceback..."
    )
    graph = state_graph(decl, state)
    assert graph.nodes["runs.download"].status == COMPLETED
    assert "COMPLETED in 2m05s" in graph.nodes["runs.download"].lines
    assert graph.nodes["runs.summary"].status == FAILED
    assert "ERROR in 1.5s: boom" in graph.nodes["runs.summary"].lines
    chart = check_mermaid(to_mermaid(graph))
    assert chart.with_class("completed") == {"run_download"}
    assert chart.with_class("failed") == {"run_summary"}


def test_the_state_graph_shows_runs_never_run_running_and_undeclared(repo: Path) -> None:
    decl = declaration(repo)
    state = PlatformState(project=decl.project_name, project_exists=True)
    state.runs["runs.download"] = run("runs.download", "RUNNING", "2026-01-01T10:00:00.000Z", "")
    state.runs["runs.gone"] = run(
        "runs.gone", "COMPLETED", "2026-01-01T09:00:00.000Z", "2026-01-01T09:00:03.000Z"
    )
    graph = state_graph(decl, state)
    assert graph.nodes["runs.download"].status == RUNNING
    assert "RUNNING since 2026-01-01 10:00:00" in graph.nodes["runs.download"].lines
    assert graph.nodes["runs.summary"].status == NEVER_RUN
    assert graph.nodes["runs.gone"].status == UNDECLARED
    assert graph.nodes["runs.download.outputs.dataset"].status == "present"
    assert graph.nodes["runs.summary.outputs.dataset"].status == "absent"
    check_mermaid(to_mermaid(graph))
