"""DHCore's `@Valid` on an entity body: each DTO's `@NotNull` and `@Pattern` fields.

Spring validates a `@Valid @RequestBody` before the controller runs, so a context create whose
body names no project is refused even though the controller would set it from the path, and a
PUT without a name is refused too (MethodArgumentNotValidException → 400). The fields and
patterns are the DTO classes' of 0.15 (Function, Workflow, Artifact, DataItem, Model, Secret:
id, name, kind, project; Task: no name; Run: a name that may be absent, a kind under
KIND_PATTERN; Trigger like Run with a slug kind; Log: only its id).
"""

from __future__ import annotations

import re
from typing import Any

from dhmlrun.core.errors import bad_request

SLUG = r"^[a-zA-Z0-9._+-]+$"
KIND = r"^[a-zA-Z0-9._+-:]+$"
_COMPILED = {SLUG: re.compile(SLUG), KIND: re.compile(r"^[a-zA-Z0-9._+\-:]+$")}

Rule = tuple[bool, str]
"""(`@NotNull`?, the `@Pattern` regexp)."""
_NAMED: dict[str, Rule] = {
    "id": (False, SLUG),
    "name": (True, SLUG),
    "kind": (True, SLUG),
    "project": (True, SLUG),
}
DTO_FIELDS: dict[str, dict[str, Rule]] = {
    "function": _NAMED,
    "workflow": _NAMED,
    "artifact": _NAMED,
    "dataitem": _NAMED,
    "model": _NAMED,
    "secret": _NAMED,
    "task": {"id": (False, SLUG), "kind": (True, SLUG), "project": (True, SLUG)},
    "run": {"id": (False, SLUG), "name": (False, SLUG), "kind": (True, KIND), "project": (True, SLUG)},
    "trigger": {"id": (False, SLUG), "name": (False, SLUG), "kind": (True, SLUG), "project": (True, SLUG)},
    "log": {"id": (False, SLUG)},
}
OBJECT_NAMES = {"dataitem": "dataItem"}
"""Spring names the object after the DTO class, first letter lowered (`DataItem` → `dataItem`)."""


def check_dto(entity_type: str, body: dict[str, Any]) -> None:
    """400 with every field error, in Spring's words, when the body breaks its DTO's rules."""
    errors = []
    obj = OBJECT_NAMES.get(entity_type, entity_type)
    for field, (required, pattern) in DTO_FIELDS.get(entity_type, {}).items():
        value = body.get(field)
        if value is None:
            if required:
                errors.append(_error(obj, field, None, "must not be null"))
            continue
        if not isinstance(value, str) or not _COMPILED[pattern].match(value):
            errors.append(_error(obj, field, value, f'must match "{pattern}"'))
    if errors:
        raise bad_request("Validation failed: " + " ".join(errors))


def _error(obj: str, field: str, value: Any, message: str) -> str:
    shown = "null" if value is None else value
    return (
        f"[Field error in object '{obj}' on field '{field}': rejected value [{shown}]; "
        f"default message [{message}]]"
    )
