"""The Declaration: what the user declared, rendered, validated and normalised.

This is the one value the config package hands to the rest of dhmlrun (plan, apply, show): data
in a single canonical form, so that nothing downstream re-parses YAML or re-normalises the two
input/output notations, plus one reader (`secret_reader`: the declared secrets' values are read
where they are kept, when asked, never held in the declaration):

- `dataitems.NAME`  spec: {kind, path, description?, labels?}; a local `path` is absolute
  (resolved against the declaring file); URLs (http(s)://, s3://, store://) are kept as written.
- `artifacts.NAME`, `models.NAME`  spec: as a dataitem's, models with `framework`, `algorithm`,
  `parameters` (and `base_model`, `model_id`, `model_revision` for huggingface) when given.
- `secrets.NAME`  spec: {env: VAR} | {file: ABSOLUTE PATH} | {variable: NAME}, where the value is
  read (`Declaration.secret_value`); the value itself is never part of the declaration.
- `functions.NAME`  spec: {kind: "mlrun", source: {source|code|base64, handler?, lang?}, handler?,
  image?, tag?, requirements?, description?, labels?}; a local `source.source` is absolute.
  Kind "python": {source: {source?, base64?, handler, lang?}, python_version, image?,
  base_image?, requirements?}: the handler lives in `source.handler` and `code` became `base64`,
  as DHCore stores a python function.
- `workflows.NAME`  spec: {kind: "hera", source: {source?, base64?, handler, lang?}, image?, tag?},
  shaped as DHCore stores one (the handler in `source.handler`, `code` as `base64`).
- `runs.NAME`       spec: {function: "functions.X" | workflow: "workflows.X", action: "job" |
  "build" | "pipeline", inputs: {key: ref},
  outputs: {key: name}, parameters: {}, values: [], trigger, execution, and the task parameters
  (node_selector, volumes, resources, affinity, tolerations, envs, secrets, backoff_limit,
  schedule, replicas) when given}. `inputs` and `outputs` are always maps here, whatever form the
  user wrote (a python run's outputs list becomes {name: name}). An input ref is an address
  (`dataitems.X`, `artifacts.X`, `models.X`, `runs.X.outputs.Y`) or a `store://` key.
- `services.NAME`   spec: {kind: python|sklearnserve|mlflowserve|huggingfaceserve, function:
  "functions.X" (python), init_parameters: {} (python; a value may be a reference), model: a
  reference or a store:// key (model kinds), model_name?, image?, and the serve task's fields
  (replicas, service_type, service_name, resources, volumes, envs, secrets) when given}.
- `lifecycle` (e.g. {prevent_destroy: true}) is kept out of `spec`, in `Resource.lifecycle`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from dhmlrun.errors import DhmlrunError, Location
from dhmlrun.vocabulary.addresses import Address

ENTITY_TYPES: tuple[str, ...] = (
    "dataitems",
    "artifacts",
    "models",
    "secrets",
    "functions",
    "workflows",
    "runs",
    "services",
)
"""Declared resource types, in the order they are applied when nothing else orders them."""
MATERIAL_TYPES: tuple[str, ...] = ("dataitems", "artifacts", "models")
"""Declared data a run may take as an input (`TYPE.NAME`)."""


def function_address(text: str, type_: str = "functions") -> str:
    """The address a run's `function:` (or `workflow:`, with `type_`) names: `functions.NAME`,
    written in full or as `NAME`. An address of another type (`dataitems.x`) stays what it is,
    so it is refused as such."""
    written = Address.parse(text).type
    return text if "." in text and written in ENTITY_TYPES else f"{type_}.{text}"


def executable_of(run_spec: dict[str, Any]) -> str:
    """The address of what a (normalised) run executes: its function, or its workflow."""
    return str(run_spec.get("workflow") or run_spec.get("function") or "")


@dataclass(frozen=True)
class Reference:
    """A pointer from one resource to another, parsed from strings like `runs.a.outputs.ds`."""

    address: str
    output: str | None = None

    @classmethod
    def parse(cls, text: str) -> Reference | None:
        """Return the reference a string denotes, or None when it is not an address."""
        parts = text.split(".")
        if len(parts) == 2 and parts[0] in ENTITY_TYPES and parts[1]:
            return cls(text)
        if len(parts) == 4 and parts[0] == "runs" and parts[2] == "outputs" and parts[1] and parts[3]:
            return cls(f"runs.{parts[1]}", parts[3])
        return None

    def __str__(self) -> str:
        return self.address if self.output is None else f"{self.address}.outputs.{self.output}"


@dataclass
class Resource:
    """One declared entity. `address` is `TYPE.NAME`, the identity used everywhere."""

    type: str
    name: str
    spec: dict[str, Any]
    location: Location
    depends_on: tuple[str, ...] = ()
    lifecycle: dict[str, Any] = field(default_factory=dict)
    declared_in: Path | None = None

    @property
    def address(self) -> str:
        return f"{self.type}.{self.name}"


@dataclass(frozen=True)
class Variable:
    """A resolved variable value and whether it must never be shown."""

    name: str
    value: Any
    sensitive: bool = False


class SecretValues(Protocol):
    """Where the declared secrets' values are read (`config/secrets.SecretReader`)."""

    def value(self, resource: Resource) -> str: ...

    def readable(self, resources: Iterable[Resource]) -> set[str]: ...


@dataclass
class Declaration:
    """The whole rendered configuration of one project."""

    root: Path
    files: list[Path]
    project: dict[str, Any]
    variables: dict[str, Variable] = field(default_factory=dict)
    environment: str | None = None
    profile: str | None = None
    mlrun: str | None = None
    """The MLRun API the chosen environment names (`environments.NAME.mlrun`)."""
    resources: dict[str, Resource] = field(default_factory=dict)
    secret_reader: SecretValues | None = None
    """Reads the declared secrets' values from where they are kept (`config/secrets.py`)."""
    moved: dict[str, str] = field(default_factory=dict)
    """Renamed resources, {new address: old address} (`moved:`, `config/moves.py`)."""

    @property
    def project_name(self) -> str:
        return str(self.project["name"])

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.resources.values())

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources.values() if r.type == type_]

    def sensitive_values(self) -> set[str]:
        """String forms of every sensitive variable's value and of every declared secret's value
        that can be read here, for masking in any output."""
        values = {str(v.value) for v in self.variables.values() if v.sensitive and str(v.value)}
        if self.secret_reader is not None:
            values |= self.secret_reader.readable(self.of_type("secrets"))
        return values

    def secret_value(self, address: str) -> str:
        """The value of the declared secret at `address`, read now; `DhmlrunError` (with the
        secret's file and line, never the value) when it cannot be read."""
        if self.secret_reader is None:
            raise DhmlrunError.single(f"{address}: no secret values can be read here")
        return self.secret_reader.value(self.resources[address])

    def dependencies(self, address: str) -> set[str]:
        """Every address `address` depends on, transitively (the config loader rejects cycles)."""
        seen: set[str] = set()
        stack = list(self.resources[address].depends_on)
        while stack:
            dep = stack.pop()
            if dep not in seen:
                seen.add(dep)
                stack.extend(self.resources[dep].depends_on)
        return seen

    def topological_order(self) -> list[str]:
        """Addresses so that every resource comes after all it depends on.

        Stable: among the resources ready at each step, type rank (dataitems, functions, runs) then
        address. `graphlib` keeps this linear in the number of edges (a 2,000-run chain took over
        half a second with the former rescan-everything loop). The loader refuses cycles; a
        Declaration built by hand with one gets `graphlib.CycleError`, naming the cycle.
        """
        from graphlib import TopologicalSorter

        rank = {t: i for i, t in enumerate(ENTITY_TYPES)}

        def order(address: str) -> tuple[int, str]:
            return rank.get(Address.parse(address).type, len(rank)), address

        sorter: TopologicalSorter[str] = TopologicalSorter()
        for address, resource in self.resources.items():
            sorter.add(address, *(d for d in resource.depends_on if d in self.resources))
        sorter.prepare()
        done: list[str] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready(), key=order)
            done.extend(ready)
            sorter.done(*ready)
        return done
