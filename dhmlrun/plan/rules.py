"""The per-kind diff rules table: what the declaration owns, what the server fills in.

All kind-specific behaviour of planning lives in `RULES` (the Databricks-bundle convention of
one resources table): which spec fields are compared, the defaults the server assumes when a
field is absent, the fields the server or SDK add on its own (never a diff), which field holds
a local path (compared by config-relative path and SHA-256, never by absolute path, so a CI
clone elsewhere plans nothing), and which declaration keys are dhmlrun's own and never sent.
The functions below are generic over that table.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dhmlrun.errors import DhmlrunError, Location
from dhmlrun.plan.fingerprint import digest, sha256_base64, sha256_file, sha256_text
from dhmlrun.platform import labels as L
from dhmlrun.platform.state import RemoteEntity
from dhmlrun.vocabulary import keys, states, urls

METADATA_KEYS = ("kind", "description", "labels")


@dataclass(frozen=True)
class KindRules:
    """How one entity type is diffed and sent. See the module docstring."""

    type: str
    entity_type: str
    versioned: bool = True
    owned: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    server_filled: tuple[str, ...] = ()
    local_path: str | None = None
    ship_local_as: str | None = None
    inline_content: str | None = None
    planner_only: tuple[str, ...] = ()
    compared_when_declared: tuple[str, ...] = ()
    """Owned fields the platform may set itself when they are not declared (a python function's
    `image`, written by its build: `PythonRuntime.onComplete`): compared only when declared."""

    @property
    def content_key(self) -> str | None:
        """The view key under which the content digest (file, code or base64) is compared."""
        base = self.inline_content or self.local_path
        return f"spec.{base}:sha256" if base else None


RULES: dict[str, KindRules] = {
    "dataitems": KindRules(
        type="dataitems",
        entity_type="dataitem",
        owned=("schema",),
        server_filled=("size", "src_path", "preview", "rows"),
        local_path="path",
    ),
    "artifacts": KindRules(
        type="artifacts",
        entity_type="artifact",
        owned=("src_path",),
        server_filled=("size",),
        local_path="path",
    ),
    "models": KindRules(
        type="models",
        entity_type="model",
        owned=("framework", "algorithm", "parameters", "base_model", "model_id", "model_revision"),
        defaults={"parameters": {}},
        server_filled=("size", "metrics"),
        local_path="path",
    ),
    "functions": KindRules(
        type="functions",
        entity_type="function",
        owned=("source.handler", "source.lang", "handler", "image", "tag", "requirements"),
        defaults={"source.lang": "python", "requirements": []},
        server_filled=("python_version", "build", "source.lang_version"),
        local_path="source.source",
        ship_local_as="source.base64",
        inline_content="source",
    ),
    "workflows": KindRules(
        type="workflows",
        entity_type="workflow",
        owned=("source.handler", "source.lang", "image", "tag"),
        defaults={"source.lang": "python"},
        server_filled=("build",),
        local_path="source.source",
        ship_local_as="source.base64",
        inline_content="source",
    ),
    "runs": KindRules(
        type="runs",
        entity_type="run",
        versioned=False,
        owned=("function", "workflow", "action", "inputs", "outputs", "parameters", "values"),
        planner_only=("trigger", "execution"),
    ),
}
"""The one table of per-kind behaviour. Runs are compared by fingerprint, never by spec: the
runtime rewrites a run's spec while building it (docs/dhcore.md §2). Secrets are not here: their
one owned field is their value, compared by digest (`plan/secrets.py`)."""

KIND_RULES: dict[tuple[str, str], KindRules] = {
    ("functions", "python"): KindRules(
        type="functions",
        entity_type="function",
        owned=(
            "source.handler",
            "source.init_function",
            "source.lang",
            "python_version",
            "image",
            "base_image",
            "requirements",
        ),
        defaults={"source.lang": "python", "requirements": []},
        server_filled=("source.lang_version",),
        compared_when_declared=("image",),
        local_path="source.source",
        ship_local_as="source.base64",
        inline_content="source",
    ),
}
"""Kinds of a type that differ from its row in `RULES`: a python function owns and sends its
`python_version` (DHCore requires it), where an mlrun function's is the runtime's own."""


VERSIONED_TYPES: tuple[str, ...] = tuple(t for t, r in RULES.items() if r.versioned)
"""The declared types every change of which is a new version (dataitems, artifacts, models,
functions), compared through this table."""


def function_digest(view: dict[str, Any]) -> str:
    """A function's content digest: its kind and spec (code digest, handler, image...), not its
    description or labels, which do not change what a run computes."""
    return view_digest({k: v for k, v in view.items() if k == "kind" or k.startswith("spec.")})


def rules_for(type_: str, kind: object) -> KindRules:
    """The rules of `type_` entities of `kind`."""
    return KIND_RULES.get((type_, str(kind)), RULES[type_])


def task_parameters(run_spec: Mapping[str, Any]) -> dict[str, Any]:
    """A run's task parameters (resources, envs, node_selector...): whatever else it declares."""
    rules = RULES["runs"]
    skip = {*rules.owned, *rules.planner_only, *METADATA_KEYS}
    return {k: v for k, v in run_spec.items() if k not in skip}


def get_path(data: Mapping[str, Any] | None, dotted: str) -> Any:
    """`get_path({"a": {"b": 1}}, "a.b") == 1`; None when any step is missing."""
    value: Any = data
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for part in parts[:-1]:
        data = data.setdefault(part, {})
    data[parts[-1]] = value


def pop_path(data: dict[str, Any], dotted: str) -> None:
    parts = dotted.split(".")
    for part in parts[:-1]:
        data = data.get(part) if isinstance(data.get(part), dict) else {}
    data.pop(parts[-1], None)


def is_local_path(value: Any) -> bool:
    """A local path (made absolute by the config loader), not a URL or store key."""
    return isinstance(value, str) and bool(value) and not urls.is_url(value)


def relative_to_root(path: str, root: Path) -> str:
    """Config-relative, POSIX-style path: what is compared and shown instead of absolute paths."""
    try:
        rel = os.path.relpath(Path(path).resolve(), Path(root).resolve())
    except ValueError:  # another drive on Windows
        rel = path
    return Path(rel).as_posix()


def _declared_spec(spec: Mapping[str, Any], rules: KindRules) -> dict[str, Any]:
    """The declared spec minus metadata keys and dhmlrun-only keys: what the platform gets."""
    return {k: v for k, v in spec.items() if k not in METADATA_KEYS and k not in rules.planner_only}


@dataclass(frozen=True)
class LocalFile:
    """A local file a resource points at: shown and compared by `relpath` and `sha256`."""

    absolute: str
    relpath: str
    sha256: str


def local_file(
    resource_spec: Mapping[str, Any],
    rules: KindRules,
    root: Path,
    where: str,
    location: Location | None = None,
) -> LocalFile | None:
    """Read the local file of a declared resource, or None when it has none (URL, inline code)."""
    if rules.local_path is None:
        return None
    value = get_path(resource_spec, rules.local_path)
    if not is_local_path(value):
        return None
    path = Path(value)
    if not path.is_file():
        raise DhmlrunError.single(
            f"local file not found: {relative_to_root(value, root)}", location, f"{where}.{rules.local_path}"
        )
    return LocalFile(str(path), relative_to_root(value, root), sha256_file(path))


def _inline_digest(spec: Mapping[str, Any], rules: KindRules) -> str | None:
    if rules.inline_content is None:
        return None
    content = get_path(spec, rules.inline_content)
    if not isinstance(content, Mapping):
        return None
    if content.get("base64"):
        return sha256_base64(str(content["base64"]))
    if content.get("code"):
        return sha256_text(str(content["code"]))
    return None


def desired_view(
    spec: Mapping[str, Any], lifecycle: Mapping[str, Any], rules: KindRules, local: LocalFile | None
) -> dict[str, Any]:
    """The comparable view of a declared dataitem/function: flat dotted keys, defaults applied."""
    declared = _declared_spec(spec, rules)
    view: dict[str, Any] = {
        "kind": spec.get("kind"),
        "description": spec.get("description"),
        "labels": sorted(str(x) for x in spec.get("labels") or ()),
        "lifecycle.prevent_destroy": bool(lifecycle.get("prevent_destroy", False)),
    }
    for name in rules.owned:
        value = get_path(declared, name)
        if value is None and name in rules.compared_when_declared:
            continue
        view[f"spec.{name}"] = rules.defaults.get(name) if value is None else value
    if rules.local_path:
        raw = get_path(declared, rules.local_path)
        view[f"spec.{rules.local_path}"] = local.relpath if local else raw
    if rules.content_key:
        view[rules.content_key] = local.sha256 if local else _inline_digest(declared, rules)
    return view


def remote_view(entity: RemoteEntity, rules: KindRules) -> dict[str, Any]:
    """The same view built from what the platform returned, through dhmlrun's recorded labels."""
    recorded = entity.recorded
    view: dict[str, Any] = {
        "kind": entity.kind,
        "description": entity.description,
        "labels": sorted(entity.user_labels),
        "lifecycle.prevent_destroy": recorded.get(L.PREVENT_DESTROY) == "true",
    }
    for name in rules.owned:
        value = get_path(entity.spec, name)
        view[f"spec.{name}"] = rules.defaults.get(name) if value is None else value
    if rules.local_path:
        view[f"spec.{rules.local_path}"] = recorded.get(
            f"{L.LOCAL_PATH}:{rules.local_path}", get_path(entity.spec, rules.local_path)
        )
    if rules.content_key:
        view[rules.content_key] = recorded.get(f"{L.LOCAL_SHA256}:{rules.local_path}") or _inline_digest(
            entity.spec, rules
        )
    return view


def local_source_matches(
    entity: RemoteEntity, rules: KindRules, local: LocalFile | None, before: Mapping[str, Any]
) -> bool:
    """True when a remote entity holds the declared local file's content (same digest) or points
    at that very file: then only the config-relative path differs, which is dhmlrun's own
    bookkeeping (recorded in labels), not a change to the entity. Used when adopting."""
    if local is None or rules.local_path is None:
        return False
    if rules.content_key and before.get(rules.content_key) == local.sha256:
        return True
    raw = get_path(entity.spec, rules.local_path)
    return is_local_path(raw) and Path(str(raw)).resolve() == Path(local.absolute).resolve()


def view_digest(view: Mapping[str, Any]) -> str:
    return digest(dict(view))


def entity_body(
    *,
    project: str,
    name: str,
    entity_id: str,
    spec: Mapping[str, Any],
    lifecycle: Mapping[str, Any],
    rules: KindRules,
    local: LocalFile | None,
    address: str,
    view: Mapping[str, Any],
) -> dict[str, Any]:
    """The entity JSON apply POSTs for a create or a new version (docs/dhcore.md §2)."""
    body_spec = dict(_declared_spec(spec, rules))
    body_spec = {k: (dict(v) if isinstance(v, dict) else v) for k, v in body_spec.items()}
    recorded = {L.ADDRESS: address, L.DIGEST: view_digest(view)}
    if lifecycle.get("prevent_destroy"):
        recorded[L.PREVENT_DESTROY] = "true"
    if local is not None and rules.local_path:
        recorded[f"{L.LOCAL_PATH}:{rules.local_path}"] = local.relpath
        recorded[f"{L.LOCAL_SHA256}:{rules.local_path}"] = local.sha256
        if rules.ship_local_as:
            content = Path(local.absolute).read_bytes()
            set_path(body_spec, rules.ship_local_as, base64.b64encode(content).decode("ascii"))
            set_path(body_spec, rules.local_path, local.relpath)
    for filled in rules.server_filled:
        pop_path(body_spec, filled)
    return {
        "id": entity_id,
        "name": name,
        "kind": spec.get("kind"),
        "project": project,
        "metadata": {
            "project": project,
            "name": name,
            "description": spec.get("description"),
            "labels": L.encode(recorded, spec.get("labels") or ()),
            "embedded": False,
        },
        "spec": body_spec,
        "status": {"state": states.CREATED},
    }


def store_key(project: str, rules: KindRules, kind: str, name: str, entity_id: str) -> str:
    """The `store://` key of an entity version, as the SDK builds it (docs/dhcore.md §3)."""
    return keys.entity_key(project, rules.entity_type, kind, name, entity_id)
