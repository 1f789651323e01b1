"""The part of an Argo Workflow spec the embedded core executes, read into typed values.

A hera `build` yields an Argo `Workflow`; DHCore keeps its `spec` (YAML, base64) in the
workflow's `spec.build` and hands it to Argo for each pipeline run (docs/dhcore-runs.md §3).
The embedded core walks that spec itself (`walk.py`); this module only reads it: templates
(container, DAG, steps), their input and output parameters, the tasks' arguments and `depends`
expressions, and Argo's `{{...}}` substitution. Everything else in the spec (artifacts, retry
strategies, volumes) is Kubernetes' business and is ignored here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

# Argo's node phases (workflow/v1alpha1 NodePhase)
PENDING, RUNNING, SUCCEEDED, FAILED, ERROR, SKIPPED, OMITTED = (
    "Pending",
    "Running",
    "Succeeded",
    "Failed",
    "Error",
    "Skipped",
    "Omitted",
)
DONE_PHASES = frozenset({SUCCEEDED, FAILED, ERROR, SKIPPED, OMITTED})
FAILED_PHASES = frozenset({FAILED, ERROR})


class ArgoSpecError(ValueError):
    """The spec cannot be executed: malformed, or names what does not exist."""


@dataclass(frozen=True)
class Parameter:
    """An input, output or argument parameter."""

    name: str
    value: str | None = None
    default: str | None = None
    path: str | None = None
    """`valueFrom.path`: the file in the container an output parameter is read from."""


@dataclass(frozen=True)
class Container:
    image: str
    command: tuple[str, ...]
    args: tuple[str, ...]


@dataclass(frozen=True)
class TaskCall:
    """A DAG task or a step: the template it runs, its arguments, what it waits for."""

    name: str
    template: str
    arguments: tuple[Parameter, ...] = ()
    depends: str | None = None
    """The task's `depends` expression, or its `dependencies` joined with `&&` (DAG only)."""


@dataclass(frozen=True)
class Template:
    name: str
    inputs: tuple[Parameter, ...] = ()
    outputs: tuple[Parameter, ...] = ()
    container: Container | None = None
    dag: tuple[TaskCall, ...] | None = None
    steps: tuple[tuple[TaskCall, ...], ...] | None = None

    @property
    def node_type(self) -> str:
        """Argo's node type for an invocation of this template."""
        if self.dag is not None:
            return "DAG"
        if self.steps is not None:
            return "Steps"
        return "Pod"


@dataclass(frozen=True)
class WorkflowSpec:
    entrypoint: str
    templates: Mapping[str, Template]
    arguments: tuple[Parameter, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)

    def template(self, name: str) -> Template:
        try:
            return self.templates[name]
        except KeyError:
            raise ArgoSpecError(f"no template named {name!r} in the workflow") from None


def parse_workflow_spec(text: str) -> WorkflowSpec:
    """The spec of an Argo Workflow from YAML (the spec itself, or a whole `Workflow`)."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ArgoSpecError(f"the workflow spec is not YAML: {exc}") from exc
    if isinstance(document, dict) and document.get("kind") == "Workflow" and "spec" in document:
        document = document["spec"]
    if not isinstance(document, dict):
        raise ArgoSpecError("the workflow spec is not a mapping")
    templates = {t.name: t for t in (_template(raw) for raw in _list(document, "templates"))}
    entrypoint = document.get("entrypoint")
    if not isinstance(entrypoint, str) or entrypoint not in templates:
        raise ArgoSpecError(f"the workflow's entrypoint {entrypoint!r} names no template")
    for template in templates.values():
        calls = [*(template.dag or ()), *(c for group in template.steps or () for c in group)]
        for call in calls:
            if call.template not in templates:
                raise ArgoSpecError(
                    f"template {template.name!r}: {call.name!r} names no template {call.template!r}"
                )
    arguments = _parameters(_mapping(document, "arguments"), "parameters")
    return WorkflowSpec(entrypoint, templates, arguments)


def _template(raw: Any) -> Template:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise ArgoSpecError("a template without a name")
    name = raw["name"]
    inputs = _parameters(_mapping(raw, "inputs"), "parameters")
    outputs = _parameters(_mapping(raw, "outputs"), "parameters")
    if "container" in raw:
        container = raw["container"] or {}
        return Template(
            name,
            inputs,
            outputs,
            container=Container(
                str(container.get("image") or ""),
                tuple(str(c) for c in container.get("command") or ()),
                tuple(str(a) for a in container.get("args") or ()),
            ),
        )
    if "dag" in raw:
        tasks = tuple(_call(t, dag=True) for t in _list(raw["dag"] or {}, "tasks"))
        return Template(name, inputs, outputs, dag=tasks)
    if "steps" in raw:
        groups = raw["steps"] or []
        steps = tuple(
            tuple(_call(s, dag=False) for s in (group if isinstance(group, list) else [group]))
            for group in groups
        )
        return Template(name, inputs, outputs, steps=steps)
    kinds = sorted(k for k in raw if k in ("script", "resource", "suspend", "http", "plugin", "data"))
    raise ArgoSpecError(
        f"template {name!r}: the embedded core runs container, dag and steps templates, not {kinds}"
    )


def _call(raw: Any, *, dag: bool) -> TaskCall:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise ArgoSpecError("a task or step without a name")
    if not isinstance(raw.get("template"), str):
        raise ArgoSpecError(f"task {raw['name']!r}: the embedded core needs a template name")
    depends = raw.get("depends") if dag else None
    if dag and depends is None and raw.get("dependencies"):
        depends = " && ".join(str(d) for d in raw["dependencies"])
    arguments = _parameters(_mapping(raw, "arguments"), "parameters")
    return TaskCall(raw["name"], raw["template"], arguments, str(depends) if depends else None)


def _parameters(raw: Mapping[str, Any], key: str) -> tuple[Parameter, ...]:
    found = []
    for item in _list(raw, key):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ArgoSpecError("a parameter without a name")
        value_from = item.get("valueFrom") or {}
        found.append(
            Parameter(
                item["name"],
                _text(item.get("value")),
                _text(item.get("default")),
                value_from.get("path") if isinstance(value_from, dict) else None,
            )
        )
    return tuple(found)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _list(raw: Mapping[str, Any], key: str) -> list[Any]:
    value = raw.get(key) if isinstance(raw, Mapping) else None
    return value if isinstance(value, list) else []


def _mapping(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key)
    return value if isinstance(value, Mapping) else {}


# ------------------------------------------------------------------------------- substitution

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")


def substitute(text: str, scope: Mapping[str, str]) -> str:
    """Argo's simple template tags: `{{inputs.parameters.x}}`, `{{workflow.parameters.x}}`,
    `{{tasks.T.outputs.parameters.x}}`, ... replaced from `scope`; a tag naming nothing there
    is an error, as Argo's validation refuses it."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in scope:
            raise ArgoSpecError(f"failed to resolve {{{{{name}}}}}")
        return scope[name]

    return _VARIABLE.sub(value, text)


# ------------------------------------------------------------------------------- depends

_TOKEN = re.compile(r"\s*(&&|\|\||!|\(|\)|[A-Za-z0-9_\-]+(?:\.[A-Za-z]+)?)")
_RESULTS: dict[str, frozenset[str]] = {
    "Succeeded": frozenset({SUCCEEDED}),
    "Failed": frozenset({FAILED}),
    "Errored": frozenset({ERROR}),
    "Skipped": frozenset({SKIPPED}),
    "Omitted": frozenset({OMITTED}),
    "Daemoned": frozenset(),
    "AnySucceeded": frozenset({SUCCEEDED}),
    "AllFailed": frozenset({FAILED, ERROR}),
}
_IMPLIED = frozenset({SUCCEEDED, SKIPPED})
"""A bare `task` in `depends` means `task.Succeeded || task.Skipped || task.Daemoned`."""


@dataclass(frozen=True)
class Depends:
    """A parsed `depends` expression: the tasks it waits for and its value once they are done."""

    tokens: tuple[str, ...]

    @classmethod
    def parse(cls, expression: str | None) -> Depends:
        if not expression:
            return cls(())
        tokens: list[str] = []
        position = 0
        while position < len(expression.rstrip()):
            match = _TOKEN.match(expression, position)
            if match is None:
                raise ArgoSpecError(f"cannot read the depends expression {expression!r}")
            tokens.append(match.group(1))
            position = match.end()
        depends = cls(tuple(tokens))
        depends.holds({task: SUCCEEDED for task in depends.tasks()})  # checks the grammar now
        return depends

    def tasks(self) -> set[str]:
        return {t.split(".", 1)[0] for t in self.tokens if t not in ("&&", "||", "!", "(", ")")}

    def holds(self, phases: Mapping[str, str]) -> bool:
        """Whether the expression is true for the final `phases` of the tasks it names."""
        if not self.tokens:
            return True
        parser = _Parser(self.tokens, phases)
        value = parser.expression()
        if parser.position != len(self.tokens):
            raise ArgoSpecError(f"cannot read the depends expression {' '.join(self.tokens)!r}")
        return value


class _Parser:
    """Recursive descent over `||` (lowest), `&&`, `!` and parentheses."""

    def __init__(self, tokens: tuple[str, ...], phases: Mapping[str, str]) -> None:
        self.tokens, self.phases, self.position = tokens, phases, 0

    def _peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self) -> str:
        token = self._peek()
        if token is None:
            raise ArgoSpecError("the depends expression ends too early")
        self.position += 1
        return token

    def expression(self) -> bool:
        value = self._conjunction()
        while self._peek() == "||":
            self._take()
            value = self._conjunction() or value
        return value

    def _conjunction(self) -> bool:
        value = self._unary()
        while self._peek() == "&&":
            self._take()
            value = self._unary() and value
        return value

    def _unary(self) -> bool:
        token = self._take()
        if token == "!":
            return not self._unary()
        if token == "(":
            value = self.expression()
            if self._take() != ")":
                raise ArgoSpecError("a parenthesis is not closed in the depends expression")
            return value
        if token in ("&&", "||", ")"):
            raise ArgoSpecError(f"unexpected {token!r} in the depends expression")
        task, _, result = token.partition(".")
        if result and result not in _RESULTS:
            raise ArgoSpecError(f"unknown task result {result!r} in the depends expression")
        phase = self.phases.get(task)
        return phase in (_RESULTS[result] if result else _IMPLIED)
