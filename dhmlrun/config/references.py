"""Step 7: resolve references between resources into `depends_on`, and refuse cycles.

Edges: a run depends on its function (`functions.X`) or workflow (`workflows.X`, and the
declared functions its steps run: `steps.py`), on each input that is an address
(`dataitems.X`, `artifacts.X`, `models.X`, `runs.X.outputs.KEY`) and on each secret it names
that is declared (`secrets: [X]` -> `secrets.X`; other names are secrets already on the
platform); `store://` keys point outside the declaration and add no edge. An unknown target is
an error suggesting the nearest declared name; so is an output key the producing run does not
declare. Cycles (a run feeding itself, or a ring of runs) are errors
showing the whole cycle.
"""

from __future__ import annotations

from dhmlrun.vocabulary.addresses import Address

from .document import Document
from .model import MATERIAL_TYPES, Reference, Resource, executable_of, function_address
from .steps import step_functions
from .suggest import did_you_mean, listing, with_article

INPUT_FORMS = "dataitems.NAME, artifacts.NAME, models.NAME, runs.NAME.outputs.KEY, or a store:// key"
MAX_REPORTED_CYCLES = 20
"""Each cycle found costs one pass over the graph; past this many the first ones are enough to fix."""


def resolve_references(doc: Document, resources: dict[str, Resource], declared: set[str]) -> None:
    """Fill `depends_on` of every run; `declared` holds every declared address, broken or not."""
    for resource in resources.values():
        edges = {"runs": _run_edges, "services": _service_edges}.get(resource.type)
        if edges is None:
            continue
        try:
            resource.depends_on = tuple(edges(doc, resource, resources, declared))
        except (KeyError, TypeError, AttributeError):
            if not doc.is_flagged(resource.type, resource.name):
                raise  # a well-formed resource must never fail here; malformed ones were reported
    _check_broken_runs(doc, resources, declared)
    _refuse_shared_outputs(doc, resources)
    _reject_cycles(doc, resources)


def _refuse_shared_outputs(doc: Document, resources: dict[str, Resource]) -> None:
    """An output names the entity a run writes: two runs writing one name (or a run writing a
    declared dataitem, artifact or model) would each make the other's result an old version."""
    writers: dict[str, str] = {
        r.name: f"the name of the declared {r.type[:-1]} {r.address}"
        for r in resources.values()
        if r.type in MATERIAL_TYPES
    }
    for run in resources.values():
        outputs = run.spec.get("outputs") if run.type == "runs" else None
        for key, name in outputs.items() if isinstance(outputs, dict) else ():
            if not isinstance(name, str):
                continue
            writer = f"written by {run.address} (outputs.{key})"
            first = writers.setdefault(name, writer)
            if first != writer:
                doc.later_problem(
                    ("runs", run.name, "outputs", key),
                    f"output {name!r} is also {first}: each would make the "
                    "other's result an old version; give it a name of its own",
                )


def _check_broken_runs(doc: Document, resources: dict[str, Resource], declared: set[str]) -> None:
    """A run with other problems still gets its `function` checked, so all errors come at once."""
    runs = doc.data.get("runs")
    for name, body in runs.items() if isinstance(runs, dict) else ():
        function = body.get("function") if isinstance(body, dict) else None
        if isinstance(body, dict) and isinstance(body.get("workflow"), str):
            function = body["workflow"]
        if f"runs.{name}" in resources or not isinstance(function, str):
            continue
        address = function_address(function, "workflows" if "workflow" in body else "functions")
        if address not in declared:
            _unknown_function(doc, name, address, declared)


def _run_edges(doc: Document, run: Resource, resources: dict[str, Resource], declared: set[str]) -> list[str]:
    edges: list[str] = []
    executable = executable_of(run.spec)
    wanted = "workflows." if "workflow" in run.spec else "functions."
    if executable in declared and executable.startswith(wanted):
        edges.append(executable)
        workflow = resources.get(executable)
        if workflow is not None and workflow.type == "workflows":
            edges.extend(step_functions(workflow.spec.get("source") or {}, declared))
    else:
        _unknown_function(doc, run.name, executable, declared)
    for key, target in run.spec["inputs"].items():
        edge = _input_edge(doc, run, key, target, resources, declared)
        if edge and edge not in edges:
            edges.append(edge)
    for name in run.spec.get("secrets") or ():
        if f"secrets.{name}" in declared and f"secrets.{name}" not in edges:
            edges.append(f"secrets.{name}")
    return edges


def _service_edges(
    doc: Document, service: Resource, resources: dict[str, Resource], declared: set[str]
) -> list[str]:
    """A service depends on the function it serves (python), the model it serves, the entities
    its init parameters name, and the declared secrets it names."""
    path = ("services", service.name)
    spec = service.spec
    edges: list[str] = []
    function = spec.get("function")
    if isinstance(function, str):
        declared_function = resources.get(function)
        kind = declared_function.spec.get("kind") if declared_function is not None else None
        if function not in declared or not function.startswith("functions."):
            functions = _of_type(declared, "functions")
            doc.later_problem(
                (*path, "function"),
                f"unknown function {function!r}{_suggest(function, functions)}",
                allowed=listing(functions) or "(no functions are declared)",
            )
        elif kind is not None and kind != "python":
            doc.later_problem(
                (*path, "function"),
                f"{function} is a {kind} function: a python service serves a python function",
            )
        else:
            edges.append(function)
    if spec.get("kind") != "python" and f"functions.{service.name}" in declared:
        doc.later_problem(
            path,
            f"a {spec.get('kind')} service owns a function named after it, and "
            f"functions.{service.name} is declared: give one of them another name",
            key=True,
        )
    model = spec.get("model")
    if isinstance(model, str):
        reference = Reference.parse(model)
        if reference is not None and not (reference.address.startswith("models.") or reference.output):
            doc.later_problem(
                (*path, "model"),
                f"{model!r} is not a model: write models.NAME, runs.NAME.outputs.KEY or a store:// model key",
            )
        else:
            edge = _entity_edge(doc, (*path, "model"), model, resources, declared)
            if edge:
                edges.append(edge)
    for key, value in (spec.get("init_parameters") or {}).items():
        if isinstance(value, str) and Reference.parse(value) is not None:
            edge = _entity_edge(doc, (*path, "init_parameters", key), value, resources, declared)
            if edge and edge not in edges:
                edges.append(edge)
    for name in spec.get("secrets") or ():
        if f"secrets.{name}" in declared and f"secrets.{name}" not in edges:
            edges.append(f"secrets.{name}")
    return edges


def _unknown_function(doc: Document, run: str, address: str, declared: set[str]) -> None:
    runs = doc.data.get("runs") if isinstance(doc.data.get("runs"), dict) else {}
    field = "workflow" if isinstance(runs.get(run), dict) and "workflow" in runs[run] else "function"
    wanted = f"{field}s"
    candidates = _of_type(declared, wanted)
    type_ = Address.parse(address).type
    if type_ != wanted:  # `function: dataitems.x`: another kind of entity, said as such
        what = f"is not a {field}"
        if address in declared:
            what = f"is {with_article(type_[:-1])}, not a {field}"
        message = f"{address!r} {what}{_suggest(address, candidates)}"
    else:
        message = f"unknown {field} {address!r}{_suggest(address, candidates)}"
    doc.later_problem(
        ("runs", run, field), message, allowed=listing(candidates) or f"(no {wanted} are declared)"
    )


def _input_edge(
    doc: Document, run: Resource, key: str, target: str, resources: dict[str, Resource], declared: set[str]
) -> str | None:
    return _entity_edge(doc, ("runs", run.name, "inputs", key), target, resources, declared)


def _entity_edge(
    doc: Document, path: tuple[str, ...], target: str, resources: dict[str, Resource], declared: set[str]
) -> str | None:
    """The edge to the entity `target` names (a material or a run's output), or None with a
    problem at `path` when it names nothing declared (`store://` keys name outside entities)."""
    if not isinstance(target, str) or target.startswith("store://"):
        return None
    reference = Reference.parse(target)
    if (
        reference is None
        or reference.address.startswith(("functions.", "workflows.", "secrets."))
        or (reference.address.startswith("runs.") and reference.output is None)
    ):
        hint = ""
        for type_ in (*MATERIAL_TYPES, "runs"):
            if f"{type_}.{target}" in declared:
                hint = f"; did you mean '{type_}.{target}'" + (".outputs.KEY'?" if type_ == "runs" else "?")
        doc.later_problem(
            path,
            f"{target!r} is not a reference to a dataitem, artifact, model or run output{hint}",
            allowed=INPUT_FORMS,
        )
        return None
    if reference.address not in declared:
        type_ = Address.parse(reference.address).type
        doc.later_problem(
            path,
            f"unknown {type_[:-1]} {reference.address!r}"
            f"{_suggest(reference.address, _of_type(declared, type_))}",
            allowed=listing(_of_type(declared, type_)) or f"(no {type_} are declared)",
        )
        return None
    producer = resources.get(reference.address)
    if reference.output is None or producer is None:
        return reference.address
    outputs = list(producer.spec["outputs"])
    if reference.output not in outputs:
        doc.later_problem(
            path,
            f"run {producer.name!r} has no output {reference.output!r}"
            f"{did_you_mean(reference.output, outputs)}",
            allowed=listing(outputs) or "(it declares none)",
        )
    return reference.address


def _suggest(address: str, candidates: list[str]) -> str:
    """Compare names without their shared `TYPE.` prefix, which would make every address look close."""
    import difflib

    names = {Address.parse(c).name: c for c in candidates}
    match = difflib.get_close_matches(Address.parse(address).name, list(names), n=1, cutoff=0.6)
    return f"; did you mean {names[match[0]]!r}?" if match else ""


def _of_type(addresses: set[str], type_: str) -> list[str]:
    return sorted(a for a in addresses if a.startswith(type_ + "."))


def _reject_cycles(doc: Document, resources: dict[str, Resource]) -> None:
    """Report each cycle `graphlib` finds, then cut the edge it was reported at and look again, so
    independent cycles are all reported in one pass (at most `MAX_REPORTED_CYCLES` of them)."""
    from graphlib import CycleError, TopologicalSorter

    graph = {address: {d for d in r.depends_on if d in resources} for address, r in resources.items()}
    for _ in range(MAX_REPORTED_CYCLES):
        try:
            TopologicalSorter(graph).prepare()
        except CycleError as exc:
            cycle = _rotated(exc.args[1])
            _report_cycle(doc, resources[cycle[1]], cycle[0], cycle)
            graph[cycle[1]].discard(cycle[0])
        else:
            return


def _rotated(cycle: list[str]) -> list[str]:
    """graphlib's cycle (each node feeds the next, first == last) started at its smallest address,
    so the same cycle always reads, and is reported, the same way."""
    ring = cycle[:-1]
    start = ring.index(min(ring))
    ring = ring[start:] + ring[:start]
    return [*ring, ring[0]]


def _report_cycle(doc: Document, closing: Resource, target: str, cycle: list[str]) -> None:
    """Report `cycle` (in feed order) at the input of `closing` that names `target`."""
    path: tuple[str, ...] = (closing.type, closing.name, "inputs")
    for key, value in closing.spec.get("inputs", {}).items():
        reference = Reference.parse(value) if isinstance(value, str) else None
        if reference is not None and reference.address == target:
            path = (*path, key)
            break
    doc.later_problem(path, "dependency cycle (each feeds the next): " + " -> ".join(cycle))
