"""Request bodies as DHCore reads them, strictly: JSON only, finite numbers, valid Unicode,
DHCore's field types, bounded nesting; every malformed body is a 400 (or 415), never a 500.

Why strict: a client's body is stored and served back to every other client. Python's `json`
accepts `NaN`, `Infinity`, `1e999` (stored as `Infinity`) and lone surrogates (`\\ud800`); stored
once, each of them breaks every strict parser that later lists the collection. DHCore's entity
create and update controllers consume `application/x-yaml` beside JSON (Spring's Jackson YAML
converter reads it); a YAML body is held to the same rules once read, and may not use anchors
and aliases (a few lines of them expand to gigabytes of JSON). Jackson refuses a metadata field
of the wrong type (`labels: "notalist"`) with 400.
"""

from __future__ import annotations

import json
import math
from typing import Any

from dhmlrun.core.errors import ApiError, bad_request

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects accepted (Jackson's default limit is 1000; real
entities stay under 10, and Python's parser would otherwise hit its recursion limit)."""

_METADATA_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "description": (str,),
    "version": (str,),
    "embedded": (bool,),
    "labels": (list,),
    "relationships": (list,),
}


def unsupported_media_type(content_type: str) -> ApiError:
    """415 with Spring's wording."""
    return ApiError(415, f"Content-Type '{content_type}' is not supported")


def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return not media or media == "application/json" or media.endswith("+json")


def parse_body(raw: bytes, content_type: str) -> Any:
    """The body as strict JSON (module docstring)."""
    if not is_json(content_type):
        raise unsupported_media_type(content_type.split(";", 1)[0].strip())
    if not raw.strip():
        raise bad_request("Required request body is missing")
    try:
        text = raw.decode("utf-8")
        value = json.loads(
            text, parse_constant=_no_constant, parse_float=_finite_float, parse_int=_finite_int
        )
    except UnicodeDecodeError as exc:
        raise bad_request(f"JSON parse error: the body is not UTF-8 ({exc.reason})") from exc
    except RecursionError as exc:
        raise bad_request(f"JSON parse error: nested deeper than {MAX_DEPTH} levels") from exc
    except ValueError as exc:
        raise bad_request(f"JSON parse error: {exc}") from exc
    _check(value, 0)
    return value


YAML_TYPES = ("application/x-yaml", "application/yaml")


def is_yaml(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in YAML_TYPES or media.endswith("+yaml")


def parse_entity_body(raw: bytes, content_type: str) -> Any:
    """An entity's body: strict JSON, or YAML (plain data, no anchors or aliases)."""
    if not is_yaml(content_type):
        return parse_body(raw, content_type)
    if not raw.strip():
        raise bad_request("Required request body is missing")
    value = _plain_yaml(raw)
    try:  # the same strictness as JSON once read: finite numbers, valid strings, bounded depth
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise bad_request(f"YAML parse error: {exc}") from exc
    return parse_body(text.encode(), "application/json")


def _plain_yaml(raw: bytes) -> Any:
    import yaml

    class PlainLoader(yaml.SafeLoader):
        """SafeLoader without anchors and aliases, and with dates kept as strings."""

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent) or getattr(self.peek_event(), "anchor", None):
                raise yaml.YAMLError("anchors and aliases are not accepted")
            return super().compose_node(parent, index)

    PlainLoader.yaml_implicit_resolvers = {
        key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    try:
        return yaml.load(raw.decode("utf-8"), Loader=PlainLoader)
    except UnicodeDecodeError as exc:
        raise bad_request(f"YAML parse error: the body is not UTF-8 ({exc.reason})") from exc
    except (yaml.YAMLError, RecursionError) as exc:
        raise bad_request(f"YAML parse error: {str(exc).splitlines()[0] if str(exc) else exc}") from exc


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is out of range for a JSON number")
    return number


def _finite_int(text: str) -> int:
    if len(text) > 4300:  # Python's own limit on int digits; a real entity has none near it
        raise ValueError("integer too long")
    return int(text)


def _check(value: Any, depth: int) -> None:
    """Nesting within `MAX_DEPTH`; every string (keys included) encodable as UTF-8."""
    if depth > MAX_DEPTH:
        raise bad_request(f"JSON parse error: nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        _utf8(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _utf8(key)
            _check(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check(item, depth + 1)


def _utf8(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise bad_request("JSON parse error: a string holds a lone surrogate (not valid Unicode)") from exc


def check_entity_fields(body: dict[str, Any]) -> None:
    """DHCore's types for the top-level and metadata fields it binds (400 with the field named);
    labels are a list of strings (numbers are coerced to strings, as Jackson does)."""
    for field in ("id", "name", "kind", "project"):
        if body.get(field) is not None and not isinstance(body[field], str):
            raise bad_request(f"{field}: must be a string")
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        return
    for field, types in _METADATA_TYPES.items():
        value = metadata.get(field)
        if value is not None and not isinstance(value, types):
            raise bad_request(f"metadata.{field}: must be a {_type_name(types)}")
    labels = metadata.get("labels")
    if isinstance(labels, list):
        if not all(isinstance(x, str | int | float) and not isinstance(x, bool) for x in labels):
            raise bad_request("metadata.labels: must be a list of strings")
        metadata["labels"] = [x if isinstance(x, str) else json.dumps(x) for x in labels]


def _type_name(types: tuple[type, ...]) -> str:
    return {str: "string", bool: "boolean", list: "list"}.get(types[0], types[0].__name__)
