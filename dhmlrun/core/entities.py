"""Shaping entity DTOs the way DHCore serialises them.

The SDK rebuilds its objects from whatever the server returns, and `dhmlrun plan` diffs against
it, so every server-owned field is formed here in one place: keys, `metadata` audit fields, the
`adjective-animal` version word, millisecond `Z` timestamps, nulls omitted. Storage and HTTP never
touch the inside of a DTO; they call these functions.
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from dhmlrun.core.errors import bad_request
from dhmlrun.vocabulary import keys, states

CONTEXT_TYPES: tuple[str, ...] = (
    "function",
    "workflow",
    "task",
    "run",
    "artifact",
    "dataitem",
    "model",
    "secret",
    "trigger",
    "log",
)
VERSIONED_TYPES = frozenset({"function", "workflow", "artifact", "dataitem", "model"})
MATERIAL_TYPES = frozenset({"artifact", "dataitem", "model"})
EXECUTABLE_TYPES = frozenset({"function", "workflow"})
EMBEDDED_IN_PROJECT: tuple[str, ...] = ("artifact", "dataitem", "model", "function", "workflow")
_WITH_EXTENSIONS = frozenset({"run", "artifact", "dataitem", "model"})
# Types whose `name` defaults to the id (the SDK sends name=id for runs and tasks).
_NAME_IS_ID = frozenset({"run", "task", "log"})

SLUG = re.compile(r"^[a-zA-Z0-9._+-]+$")
PROJECT_NAME = re.compile(r"^[a-z0-9-]{2,38}$")
_SERVER_METADATA = ("project", "name", "created", "updated", "created_by", "updated_by", "version")

_ADJECTIVES = (
    "amber",
    "brave",
    "calm",
    "clever",
    "cosmic",
    "crisp",
    "dapper",
    "eager",
    "fancy",
    "gentle",
    "golden",
    "happy",
    "jolly",
    "keen",
    "lively",
    "lucky",
    "mellow",
    "merry",
    "nimble",
    "noble",
    "plucky",
    "polite",
    "proud",
    "quick",
    "quiet",
    "rapid",
    "shiny",
    "silent",
    "snowy",
    "steady",
    "sunny",
    "swift",
    "tidy",
    "vivid",
    "wise",
    "witty",
    "young",
    "zesty",
    "bold",
    "bright",
)
_ANIMALS = (
    "badger",
    "beaver",
    "bison",
    "camel",
    "cheetah",
    "crane",
    "dolphin",
    "eagle",
    "falcon",
    "ferret",
    "gecko",
    "giraffe",
    "heron",
    "ibex",
    "jaguar",
    "koala",
    "lemur",
    "lynx",
    "marmot",
    "moose",
    "narwhal",
    "ocelot",
    "otter",
    "panda",
    "pelican",
    "puffin",
    "quokka",
    "rabbit",
    "raven",
    "salmon",
    "seal",
    "sparrow",
    "tapir",
    "tiger",
    "toucan",
    "turtle",
    "walrus",
    "weasel",
    "wombat",
    "zebra",
)


def type_from_collection(collection: str) -> str | None:
    """`dataitems` → `dataitem`: the SDK forms collection paths by appending `s` to the type."""
    if collection.endswith("s") and collection[:-1] in CONTEXT_TYPES:
        return collection[:-1]
    return None


def now_ms() -> int:
    """The server clock in epoch milliseconds (core's audit precision)."""
    return time.time_ns() // 1_000_000


def iso_ms(epoch_ms: int) -> str:
    """`2026-07-02T10:11:12.345Z`: the one timestamp format core emits."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def parse_iso_ms(text: str) -> int:
    """Parse an ISO-8601 timestamp (with offset or `Z`) into epoch ms; 400 when malformed."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise bad_request(f"invalid date: {text}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def version_word() -> str:
    """A random `adjective-animal` pair, as core generates for `metadata.version`."""
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_ANIMALS)}"


def build_key(entity_type: str, project: str, kind: str, name: str, entity_id: str) -> str:
    """The `key` core returns (the SDK forms some of its own keys differently; see docs/dhcore.md §3)."""
    if entity_type == "project":
        return f"{keys.PREFIX}{name}"
    if entity_type == "secret":
        return f"{keys.PREFIX}{project}/secret/{kind}/{name}"
    if entity_type in ("task", "log"):
        return f"{keys.PREFIX}{project}/{entity_type}/{kind}/{entity_id}"
    if entity_type == "run":
        return f"{keys.PREFIX}{project}/run/{kind}/{entity_id}:{entity_id}"
    return keys.entity_key(project, entity_type, kind, name, entity_id)


def parse_reference(ref: str) -> tuple[str, str, str] | None:
    """Split `kind://project/rest` into its parts; None when it is not of that shape."""
    match = re.match(r"^([^:/]+(?::[^:/]+)?)://([^/]+)/(.+)$", ref)
    if match is None:
        return None
    return match.group(1), match.group(2), match.group(3)


def omit_nulls(value: dict[str, Any]) -> dict[str, Any]:
    """Drop null fields at the DTO level and one level down (core's NON_NULL on its classes)."""
    shaped: dict[str, Any] = {}
    for key, item in value.items():
        if item is None:
            continue
        if key in ("metadata", "spec", "status") and isinstance(item, dict):
            item = {k: v for k, v in item.items() if v is not None}
        shaped[key] = item
    return shaped


def _as_map(body: dict[str, Any], field: str) -> dict[str, Any]:
    """A body section that must be a JSON object (or absent)."""
    value = body.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_request(f"{field}: must be an object")
    return dict(value)


def _required_kind(body: dict[str, Any]) -> str:
    kind = body.get("kind")
    if not isinstance(kind, str) or not kind.strip():
        raise bad_request("invalid kind")
    return kind


def _server_metadata(
    metadata: dict[str, Any],
    *,
    project: str,
    name: str,
    created: int,
    updated: int,
    created_by: str,
    updated_by: str,
    version: str | None,
) -> dict[str, Any]:
    """Merge the audit fields core owns into a client's metadata map."""
    merged = {k: v for k, v in metadata.items() if k not in _SERVER_METADATA and v is not None}
    merged.update(
        project=project,
        name=metadata.get("name") or name,
        created=iso_ms(created),
        updated=iso_ms(updated),
        created_by=created_by,
        updated_by=updated_by,
    )
    if version is not None:
        merged["version"] = version
    return merged


def _project_spec(body: dict[str, Any]) -> dict[str, Any]:
    """A project's own spec: the entity lists are computed on GET (§6), never stored."""
    spec = _as_map(body, "spec")
    for entity_type in EMBEDDED_IN_PROJECT:
        spec.pop(f"{entity_type}s", None)
    return spec


def new_project(body: dict[str, Any], *, user: str, now: int) -> dict[str, Any]:
    """A project DTO from a create body: `id == name`, enforced."""
    name = body.get("name")
    if not isinstance(name, str) or not PROJECT_NAME.match(name):
        raise bad_request("invalid project name: must match ^[a-z0-9-]+$, 2-38 characters")
    if body.get("id") not in (None, name):
        raise bad_request("project id must match name")
    metadata = _created_metadata(_as_map(body, "metadata"), project=name, name=name, user=user, now=now)
    status = _as_map(body, "status")
    status.setdefault("state", states.CREATED)
    dto = {
        "id": name,
        "name": name,
        "kind": body.get("kind") or "project",
        "project": name,
        "user": user,
        "key": build_key("project", name, "project", name, name),
        "metadata": metadata,
        "spec": _project_spec(body),
        "status": status,
    }
    return omit_nulls(dto)


def _created_metadata(
    metadata: dict[str, Any], *, project: str, name: str, user: str, now: int, version: str | None = None
) -> dict[str, Any]:
    """Metadata of a create: the client's map with every audit field set by the server clock."""
    return _server_metadata(
        metadata,
        project=project,
        name=name,
        created=now,
        updated=now,
        created_by=user,
        updated_by=user,
        version=version,
    )


def _updated_metadata(
    stored: dict[str, Any], body: dict[str, Any], *, project: str, user: str, now: int, version: str | None
) -> dict[str, Any]:
    """Metadata of a PUT: the client's map, with creation audit kept and update audit set."""
    old = stored.get("metadata", {})
    return _server_metadata(
        _as_map(body, "metadata"),
        project=project,
        name=stored["name"],
        created=parse_iso_ms(old["created"]),
        updated=now,
        created_by=old.get("created_by", stored.get("user", "")),
        updated_by=user,
        version=version,
    )


def updated_project(stored: dict[str, Any], body: dict[str, Any], *, user: str, now: int) -> dict[str, Any]:
    """PUT on a project: spec, metadata and status replaced; id, name and audit creation kept."""
    dto = dict(stored)
    name = stored["name"]
    dto["metadata"] = _updated_metadata(stored, body, project=name, user=user, now=now, version=None)
    dto["spec"] = _project_spec(body)
    status = _as_map(body, "status")
    status.setdefault("state", stored.get("status", {}).get("state", states.CREATED))
    dto["status"] = status
    return omit_nulls(dto)


def new_context_entity(
    entity_type: str, project: str, body: dict[str, Any], *, user: str, now: int
) -> dict[str, Any]:
    """A context entity DTO from a create body; `status.state` is set to CREATED here.

    The requested state (if any) is returned separately by `requested_state`, because core stores
    CREATED first and then applies the lifecycle transition to the requested one.
    """
    entity_id = body.get("id") or uuid.uuid4().hex
    if not isinstance(entity_id, str) or not SLUG.match(entity_id):
        raise bad_request("invalid id: must match ^[a-zA-Z0-9._+-]+$")
    kind = _required_kind(body) if entity_type != "log" else str(body.get("kind") or "log")
    name = body.get("name") or (entity_id if entity_type in _NAME_IS_ID else None)
    if not isinstance(name, str) or not SLUG.match(name):
        raise bad_request("invalid name: must match ^[a-zA-Z0-9._+-]+$")
    dto: dict[str, Any] = {
        "id": entity_id,
        "name": name,
        "kind": kind,
        "project": project,
        "user": user,
        "key": build_key(entity_type, project, kind, name, entity_id),
        "spec": _as_map(body, "spec"),
    }
    if entity_type != "task":
        metadata = _as_map(body, "metadata")
        version = metadata.get("version")
        if not version or version == entity_id:
            version = version_word()
        dto["metadata"] = _created_metadata(
            metadata, project=project, name=name, user=user, now=now, version=version
        )
        status = _as_map(body, "status")
        status["state"] = states.CREATED
        dto["status"] = status
    if entity_type in _WITH_EXTENSIONS:
        extensions = body.get("extensions")
        dto["extensions"] = extensions if isinstance(extensions, list) else []
    if entity_type == "log":
        dto.pop("kind")
        if body.get("content") is not None:
            dto["content"] = body["content"]
    return omit_nulls(dto)


def requested_state(body: dict[str, Any]) -> str | None:
    """The `status.state` a client asked for in a body, if any."""
    status = body.get("status")
    if isinstance(status, dict) and isinstance(status.get("state"), str):
        return status["state"]
    return None


def updated_context_entity(
    entity_type: str, stored: dict[str, Any], body: dict[str, Any], *, spec_mutable: bool, user: str, now: int
) -> dict[str, Any]:
    """PUT on a context entity: identity and creation audit kept, metadata and status replaced.

    `spec_mutable` carries the per-type rule of the contract (§5), decided by the caller.
    """
    dto = dict(stored)
    if entity_type != "task":
        version = stored.get("metadata", {}).get("version")
        dto["metadata"] = _updated_metadata(
            stored, body, project=stored["project"], user=user, now=now, version=version
        )
        status = _as_map(body, "status")
        status["state"] = stored.get("status", {}).get("state", states.CREATED)
        dto["status"] = status
    if spec_mutable:
        new_spec = _as_map(body, "spec")
        if entity_type == "task":
            for frozen in ("function", "workflow"):
                if frozen in stored.get("spec", {}):
                    new_spec[frozen] = stored["spec"][frozen]
        dto["spec"] = new_spec
    if entity_type in _WITH_EXTENSIONS and isinstance(body.get("extensions"), list):
        dto["extensions"] = body["extensions"]
    if entity_type == "log" and body.get("content") is not None:
        dto["content"] = body["content"]
    return omit_nulls(dto)


def with_state(dto: dict[str, Any], state: str) -> dict[str, Any]:
    """Copy of a DTO whose `status.state` is `state` (tasks have no status and stay as they are)."""
    if "status" not in dto:
        return dto
    shaped = dict(dto)
    shaped["status"] = {**dto["status"], "state": state}
    return shaped


def project_summary(dto: dict[str, Any], ref: str) -> dict[str, Any]:
    """How a project lists a non-embedded entity: identity and light metadata, no spec/status."""
    metadata = dto.get("metadata", {})
    light = {
        k: metadata[k]
        for k in ("project", "name", "description", "created", "updated", "labels")
        if k in metadata
    }
    light["ref"] = ref
    summary = {k: dto[k] for k in ("id", "key", "kind", "name", "project", "user") if k in dto}
    summary["metadata"] = light
    return summary
