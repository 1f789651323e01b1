"""Walk an Argo Workflow spec as Argo's controller does, with containers run by a callback.

DHCore runs a hera pipeline by creating an Argo Workflow from the spec its build stored; Argo then
starts each DAG task's container once the tasks its `depends` names are done, passes output
parameters into later tasks' arguments, and records every node in the workflow's status
(docs/dhcore-runs.md §3-§4). The embedded core does the same here without Kubernetes: the
walker resolves templates, arguments and `{{...}}` tags, schedules DAG tasks in dependency order
(independent ones at once) and steps group by group, and hands each container to `execute`,
which runs it (the pipeline worker runs the hera step there) and answers with the files the
container wrote, from which output parameters are read by their `valueFrom.path`.

Argo's rules kept: a bare task name in `depends` means it succeeded (or was skipped); a task whose
`depends` is false once its tasks are done is Omitted; after a failure no new task starts (the
DAG's default `failFast`) and the DAG fails with `child '<node id>' failed`; node ids are the
workflow name and the FNV-1a hash of the node name, as Argo names them.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dhmlrun.worker.argo import (
    DONE_PHASES,
    ERROR,
    FAILED,
    FAILED_PHASES,
    OMITTED,
    RUNNING,
    SUCCEEDED,
    ArgoSpecError,
    Container,
    Depends,
    Parameter,
    TaskCall,
    Template,
    WorkflowSpec,
    substitute,
)


@dataclass
class Node:
    """One node of the workflow's status, as Argo records it and DHCore lists it
    (`NodeStatusDTO`: the keys of `as_status`)."""

    id: str
    name: str
    display_name: str
    type: str
    template_name: str
    phase: str = RUNNING
    started: str | None = None
    finished: str | None = None
    inputs: list[dict[str, str]] = field(default_factory=list)
    outputs: list[dict[str, str]] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    message: str | None = None
    exit_code: str | None = None
    run_id: str | None = None
    """The run a hera step created (DHCore's DTO has the field; its mapper leaves it empty)."""

    def as_status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "display_name": self.display_name,
            "type": self.type,
            "children": list(self.children),
            "state": self.phase,
            "start_time": self.started,
            "end_time": self.finished,
            "exit_code": self.exit_code,
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "run_id": self.run_id,
        }
        if self.message:
            status["message"] = self.message
        return {k: v for k, v in status.items() if v is not None}


@dataclass(frozen=True)
class ContainerResult:
    """What a container left: whether it succeeded, the files it wrote (path → content), and
    what to tell about it."""

    succeeded: bool
    files: Mapping[str, str] = field(default_factory=dict)
    message: str | None = None
    run_id: str | None = None


ContainerExecutor = Callable[[Node, Container], ContainerResult]
NodesChanged = Callable[[list[dict[str, Any]]], None]


@dataclass(frozen=True)
class Outcome:
    phase: str
    message: str | None
    nodes: list[dict[str, Any]]


@dataclass(frozen=True)
class _Invocation:
    phase: str
    outputs: dict[str, str]
    message: str | None = None


def node_id(workflow_name: str, node_name: str) -> str:
    """Argo's node id: the workflow's name for the root, else `<name>-<fnv32a(node name)>`."""
    if node_name == workflow_name:
        return workflow_name
    digest = 0x811C9DC5
    for byte in node_name.encode():
        digest = ((digest ^ byte) * 0x01000193) & 0xFFFFFFFF
    return f"{workflow_name}-{digest}"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def workflow_arguments(spec: WorkflowSpec, parameters: Mapping[str, Any]) -> dict[str, str]:
    """The workflow's parameters with a run's `parameters` set on them (`populateInputs` of
    DHCore's Argo framework: a named one replaced, an unknown one added, values as text)."""
    values = {p.name: p.value if p.value is not None else p.default for p in spec.arguments}
    for name, value in parameters.items():
        values[str(name)] = None if value is None else _as_text(value)
    missing = sorted(name for name, value in values.items() if value is None)
    if missing:
        raise ArgoSpecError(f"the workflow parameter(s) {', '.join(missing)} have no value")
    return {name: str(value) for name, value in values.items()}


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    import json

    return json.dumps(value)


class PipelineWalker:
    """Executes one workflow spec; `run` returns its outcome once every node is done."""

    def __init__(
        self,
        spec: WorkflowSpec,
        workflow_name: str,
        parameters: Mapping[str, Any],
        execute: ContainerExecutor,
        on_change: NodesChanged | None = None,
    ) -> None:
        self.spec = spec
        self.name = workflow_name
        self.execute = execute
        self.on_change = on_change
        self._nodes: dict[str, Node] = {}
        self._lock = threading.Lock()
        arguments = workflow_arguments(spec, parameters)
        self._globals = {"workflow.name": workflow_name, "workflow.uid": workflow_name}
        self._globals.update({f"workflow.parameters.{k}": v for k, v in arguments.items()})

    def run(self) -> Outcome:
        result = self._invoke(self.spec.template(self.spec.entrypoint), self.name, self.name, (), None)
        with self._lock:
            nodes = [n.as_status() for n in self._nodes.values()]
        return Outcome(result.phase, result.message, nodes)

    # nodes -----------------------------------------------------------------------------------

    def _open(self, name: str, display: str, template: Template, parent: Node | None) -> Node:
        node = Node(
            node_id(self.name, name), name, display, template.node_type, template.name, started=_now()
        )
        with self._lock:
            self._nodes[node.id] = node
            if parent is not None:
                parent.children.append(node.id)
        self._changed()
        return node

    def _close(self, node: Node, phase: str, message: str | None = None) -> None:
        with self._lock:
            node.phase, node.finished = phase, _now()
            node.message = message or node.message
        self._changed()

    def _omit(self, name: str, display: str, template_name: str, parent: Node) -> None:
        node = Node(node_id(self.name, name), name, display, "Skipped", template_name, phase=OMITTED)
        node.message = "omitted: depends condition not met"
        with self._lock:
            self._nodes[node.id] = node
            parent.children.append(node.id)
        self._changed()

    def _changed(self) -> None:
        if self.on_change is None:
            return
        with self._lock:
            nodes = [n.as_status() for n in self._nodes.values()]
        self.on_change(nodes)

    # templates -------------------------------------------------------------------------------

    def _invoke(
        self,
        template: Template,
        name: str,
        display: str,
        arguments: tuple[Parameter, ...],
        parent: Node | None,
        scope: Mapping[str, str] | None = None,
    ) -> _Invocation:
        node = self._open(name, display, template, parent)
        try:
            inputs = self._inputs(template, arguments, scope or self._globals)
            node.inputs = [{"name": k, "value": v} for k, v in inputs.items()]
            local = {**self._globals, **{f"inputs.parameters.{k}": v for k, v in inputs.items()}}
            if template.container is not None:
                result = self._container(node, template, template.container, local)
            elif template.dag is not None:
                result = self._dag(node, template.dag, local)
            else:
                assert template.steps is not None
                result = self._steps(node, template.steps, local)
        except ArgoSpecError as exc:
            result = _Invocation(ERROR, {}, str(exc))
        node.outputs = [{"name": k, "value": v} for k, v in result.outputs.items()]
        self._close(node, result.phase, result.message)
        return result

    def _inputs(
        self, template: Template, arguments: tuple[Parameter, ...], scope: Mapping[str, str]
    ) -> dict[str, str]:
        given = {a.name: substitute(a.value, scope) for a in arguments if a.value is not None}
        values = {}
        for parameter in template.inputs:
            value = given.get(
                parameter.name, parameter.value if parameter.value is not None else parameter.default
            )
            if value is None:
                raise ArgoSpecError(f"inputs.parameters.{parameter.name} was not supplied")
            values[parameter.name] = value
        return values

    def _container(
        self, node: Node, template: Template, container: Container, scope: Mapping[str, str]
    ) -> _Invocation:
        resolved = Container(
            substitute(container.image, scope),
            tuple(substitute(c, scope) for c in container.command),
            tuple(substitute(a, scope) for a in container.args),
        )
        result = self.execute(node, resolved)
        node.run_id = result.run_id
        node.exit_code = "0" if result.succeeded else "1"
        if not result.succeeded:
            return _Invocation(FAILED, {}, result.message or "Error (exit code 1)")
        outputs = {}
        for parameter in template.outputs:
            value = result.files.get(parameter.path or "", parameter.default)
            if value is None:
                message = f"unable to read output parameter {parameter.name} from {parameter.path}"
                return _Invocation(ERROR, outputs, message)
            outputs[parameter.name] = value
        return _Invocation(SUCCEEDED, outputs, result.message)

    def _dag(self, node: Node, tasks: tuple[TaskCall, ...], scope: Mapping[str, str]) -> _Invocation:
        by_name = {task.name: task for task in tasks}
        depends = {task.name: Depends.parse(task.depends) for task in tasks}
        for task, expression in depends.items():
            unknown = expression.tasks() - by_name.keys()
            if unknown:
                raise ArgoSpecError(f"task {task!r} depends on unknown task(s) {sorted(unknown)}")
        phases: dict[str, str] = {}
        results: dict[str, _Invocation] = {}
        failed: str | None = None
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(tasks))) as pool:
            running: dict[concurrent.futures.Future[_Invocation], str] = {}
            while True:
                ready = [] if failed is not None else self._ready(by_name, depends, phases)  # failFast
                while ready:  # an omitted task may make others ready at once
                    for name in ready:
                        if not depends[name].holds(phases):
                            phases[name] = OMITTED
                            self._omit(f"{node.name}.{name}", name, by_name[name].template, node)
                            continue
                        task_scope = {**scope, **_task_outputs("tasks", results)}
                        future = pool.submit(
                            self._call, by_name[name], f"{node.name}.{name}", node, task_scope
                        )
                        running[future] = name
                        phases[name] = RUNNING
                    ready = self._ready(by_name, depends, phases)
                if not running:
                    break
                done, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
                for future in done:
                    name = running.pop(future)
                    results[name] = future.result()
                    phases[name] = results[name].phase
                    if phases[name] in FAILED_PHASES and failed is None:
                        failed = node_id(self.name, f"{node.name}.{name}")
        if failed is not None:
            return _Invocation(FAILED, {}, f"child '{failed}' failed")
        return _Invocation(SUCCEEDED, {})

    @staticmethod
    def _ready(
        tasks: Mapping[str, TaskCall], depends: Mapping[str, Depends], phases: Mapping[str, str]
    ) -> list[str]:
        """Tasks not started whose depended-on tasks are all done."""
        return [
            name
            for name in tasks
            if name not in phases and all(phases.get(t) in DONE_PHASES for t in depends[name].tasks())
        ]

    def _steps(
        self, node: Node, groups: tuple[tuple[TaskCall, ...], ...], scope: Mapping[str, str]
    ) -> _Invocation:
        results: dict[str, _Invocation] = {}
        for index, group in enumerate(groups):
            group_name = f"{node.name}[{index}]"
            group_node = Node(
                node_id(self.name, group_name), group_name, f"[{index}]", "StepGroup", "", started=_now()
            )
            with self._lock:
                self._nodes[group_node.id] = group_node
                node.children.append(group_node.id)
            step_scope = {**scope, **_task_outputs("steps", results)}
            with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(group))) as pool:
                futures = {
                    step.name: pool.submit(
                        self._call, step, f"{group_name}.{step.name}", group_node, step_scope
                    )
                    for step in group
                }
                results.update({name: future.result() for name, future in futures.items()})
            failures = [name for name in futures if results[name].phase in FAILED_PHASES]
            self._close(group_node, FAILED if failures else SUCCEEDED)
            if failures:
                child = node_id(self.name, f"{group_name}.{failures[0]}")
                return _Invocation(FAILED, {}, f"child '{child}' failed")
        return _Invocation(SUCCEEDED, {})

    def _call(self, call: TaskCall, name: str, parent: Node, scope: Mapping[str, str]) -> _Invocation:
        template = self.spec.template(call.template)
        return self._invoke(template, name, call.name, call.arguments, parent, scope)


def _task_outputs(prefix: str, results: Mapping[str, _Invocation]) -> dict[str, str]:
    """`tasks.T.outputs.parameters.X` (or `steps.S...`) and `tasks.T.status` of finished ones."""
    scope = {}
    for name, result in results.items():
        scope[f"{prefix}.{name}.status"] = result.phase
        for key, value in result.outputs.items():
            scope[f"{prefix}.{name}.outputs.parameters.{key}"] = value
    return scope
