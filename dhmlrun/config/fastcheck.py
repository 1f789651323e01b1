"""A compiled yes/no check of the declaration schema, so valid input never pays for jsonschema.

Nearly every `validate`, `plan` and `apply` reads a valid declaration. jsonschema is thorough but
generic (about 0.1 s per 1,000 resources, plus 50 ms to import); this module compiles the same
schema into plain Python closures that only answer "valid or not". When the answer is "not",
the loader runs jsonschema for the detailed errors, so messages never come from here.

Only the keywords our schemas use are compiled; any other keyword makes `compile_check` raise
`Unsupported`, and the loader then always uses jsonschema — a new keyword can never be silently
ignored. The test suite checks that this and jsonschema agree on random documents.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

ANNOTATIONS = {"title", "description", "$comment", "default", "examples", "$schema", "$id", "$defs"}


class Unsupported(Exception):
    """The schema uses a keyword this compiler does not implement."""


def _is_integer(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and value.is_integer()
    )


TYPE_CHECKS: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": _is_integer,
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: `true` is not `1`, and containers compare element-wise."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return a == b


def compile_check(schema: Any, root: dict[str, Any] | None = None) -> Check:
    """A function telling whether an instance is valid against `schema` (local `#/...` refs only)."""
    root = schema if root is None else root
    if schema is True:
        return lambda value: True
    if schema is False:
        return lambda value: False
    if not isinstance(schema, dict):
        raise Unsupported(f"schema {schema!r}")
    checks: list[Check] = []
    for keyword, argument in schema.items():
        if keyword in ANNOTATIONS:
            continue
        builder = _BUILDERS.get(keyword)
        if builder is None and keyword not in _COMPANIONS:
            raise Unsupported(keyword)
        if builder is not None:
            checks.append(builder(argument, schema, root))
    if len(checks) == 1:
        return checks[0]
    return lambda value: all(check(value) for check in checks)


def _ref(argument: str, schema: dict[str, Any], root: dict[str, Any]) -> Check:
    if not argument.startswith("#"):
        raise Unsupported(f"non-local $ref {argument}")
    target: Any = root
    for part in argument[1:].split("/")[1:]:
        target = target[part.replace("~1", "/").replace("~0", "~")]
    return compile_check(target, root)


def _type(argument: Any, schema: dict[str, Any], root: dict[str, Any]) -> Check:
    names = [argument] if isinstance(argument, str) else list(argument)
    tests = [TYPE_CHECKS[name] for name in names]
    return lambda value: any(test(value) for test in tests)


def _properties(argument: dict[str, Any], schema: dict[str, Any], root: dict[str, Any]) -> Check:
    compiled = {name: compile_check(sub, root) for name, sub in argument.items()}
    extra_schema = schema.get("additionalProperties", True)
    extra = compile_check(extra_schema, root)

    def check(value: Any) -> bool:
        if not isinstance(value, dict):
            return True
        for key, item in value.items():
            test = compiled.get(key)
            if test is None:
                if not extra(item):
                    return False
            elif not test(item):
                return False
        return True

    return check


def _additional(argument: Any, schema: dict[str, Any], root: dict[str, Any]) -> Check:
    if "properties" in schema:
        return lambda value: True  # checked together with `properties`
    extra = compile_check(argument, root)
    return lambda value: not isinstance(value, dict) or all(extra(item) for item in value.values())


def _required(argument: list[str], schema: dict[str, Any], root: dict[str, Any]) -> Check:
    return lambda value: not isinstance(value, dict) or all(name in value for name in argument)


def _enum(argument: list[Any], schema: dict[str, Any], root: dict[str, Any]) -> Check:
    return lambda value: any(json_equal(value, option) for option in argument)


def _const(argument: Any, schema: dict[str, Any], root: dict[str, Any]) -> Check:
    return lambda value: json_equal(value, argument)


def _pattern(argument: str, schema: dict[str, Any], root: dict[str, Any]) -> Check:
    search = re.compile(argument).search
    return lambda value: not isinstance(value, str) or search(value) is not None


def _min_length(argument: int, schema: dict[str, Any], root: dict[str, Any]) -> Check:
    return lambda value: not isinstance(value, str) or len(value) >= argument


def _max_length(argument: int, schema: dict[str, Any], root: dict[str, Any]) -> Check:
    return lambda value: not isinstance(value, str) or len(value) <= argument


def _minimum(argument: float, schema: dict[str, Any], root: dict[str, Any]) -> Check:
    number = TYPE_CHECKS["number"]
    return lambda value: not number(value) or value >= argument


def _min_properties(argument: int, schema: dict[str, Any], root: dict[str, Any]) -> Check:
    return lambda value: not isinstance(value, dict) or len(value) >= argument


def _max_properties(argument: int, schema: dict[str, Any], root: dict[str, Any]) -> Check:
    return lambda value: not isinstance(value, dict) or len(value) <= argument


def _items(argument: Any, schema: dict[str, Any], root: dict[str, Any]) -> Check:
    item = compile_check(argument, root)
    return lambda value: not isinstance(value, list) or all(item(v) for v in value)


def _property_names(argument: Any, schema: dict[str, Any], root: dict[str, Any]) -> Check:
    name = compile_check(argument, root)
    return lambda value: not isinstance(value, dict) or all(name(k) for k in value)


def _one_of(argument: list[Any], schema: dict[str, Any], root: dict[str, Any]) -> Check:
    branches = [compile_check(sub, root) for sub in argument]
    return lambda value: sum(1 for branch in branches if branch(value)) == 1


def _any_of(argument: list[Any], schema: dict[str, Any], root: dict[str, Any]) -> Check:
    branches = [compile_check(sub, root) for sub in argument]
    return lambda value: any(branch(value) for branch in branches)


def _all_of(argument: list[Any], schema: dict[str, Any], root: dict[str, Any]) -> Check:
    branches = [compile_check(sub, root) for sub in argument]
    return lambda value: all(branch(value) for branch in branches)


_BUILDERS: dict[str, Callable[[Any, dict[str, Any], dict[str, Any]], Check]] = {
    "$ref": _ref,
    "type": _type,
    "properties": _properties,
    "additionalProperties": _additional,
    "required": _required,
    "enum": _enum,
    "const": _const,
    "pattern": _pattern,
    "minLength": _min_length,
    "maxLength": _max_length,
    "minimum": _minimum,
    "minProperties": _min_properties,
    "maxProperties": _max_properties,
    "items": _items,
    "propertyNames": _property_names,
    "oneOf": _one_of,
    "anyOf": _any_of,
    "allOf": _all_of,
}
_COMPANIONS: set[str] = set()
