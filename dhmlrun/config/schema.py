"""JSON Schema validation of the declaration, with errors translated into plain sentences.

The schemas live in `schemas/` (one file per entity type, composed by `dhmlrun.schema.json` via
`$ref`), shipped inside the wheel as `dhmlrun/_schemas`. Valid input is recognised by a compiled
yes/no check (`fastcheck`), so the common case never imports jsonschema; only when that says
"invalid" are the files loaded into a `referencing` registry and one jsonschema validator per
process lists the errors. Either way the whole document is checked in one pass, which is faster
than validating resource by resource.

jsonschema's own messages speak of "additionalProperties" and "is not valid under any of the
given schemas"; users get "unknown key 'trigers'; did you mean 'trigger'?" instead, with the
position, the dotted path and the allowed values.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .document import Document, FieldPath
from .suggest import did_you_mean, listing

ROOT_SCHEMA = "dhmlrun.schema.json"
PATTERN_TEXT = {
    "^[a-z0-9-]+$": "use only lowercase letters, digits and '-'",
    "^[a-zA-Z0-9._+-]+$": "use only letters, digits, '.', '_', '+' and '-'",
    "^[A-Za-z_][A-Za-z0-9_]*$": "use letters, digits and '_', not starting with a digit",
    "^(functions\\.)?[a-zA-Z0-9._+-]+$": "write a function name, or functions.NAME",
    "^[0-9]+(\\.[0-9]+)?[a-zA-Z]*$": "write a Kubernetes quantity such as 500m, 2 or 1Gi",
}
TYPE_TEXT = {
    "object": "a map",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def schemas_dir() -> Path:
    """`dhmlrun/_schemas` in an installed wheel, else `schemas/` at the root of the source tree."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "_schemas"
    if (installed / ROOT_SCHEMA).is_file():
        return installed
    return package.parent / "schemas"


@functools.cache
def load_schemas() -> dict[str, dict[str, Any]]:
    """Every schema file by its file name."""
    directory = schemas_dir()
    return {path.name: json.loads(path.read_text()) for path in sorted(directory.glob("*.schema.json"))}


@functools.cache
def _validator() -> Any:
    """One validator per process over the composed schema, with every `$ref` resolved up front.

    The files are composed through a `referencing` registry; resolving the references once here
    (the schemas are not recursive) rather than at every instance is what keeps a thousand
    resources fast: jsonschema otherwise spends a third of its time looking references up.
    """
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    schemas = load_schemas()
    registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values()
    )
    root = schemas[ROOT_SCHEMA]
    resolver = registry.resolver(base_uri=root["$id"])
    return Draft202012Validator(_inline(root, resolver))


def _inline(node: Any, resolver: Any) -> Any:
    """`node` with each `{"$ref": X, ...siblings}` replaced by X's contents plus the siblings."""
    if isinstance(node, list):
        return [_inline(item, resolver) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        resolved = resolver.lookup(node["$ref"])
        target = _inline(resolved.contents, resolved.resolver)
        siblings = {k: _inline(v, resolver) for k, v in node.items() if k != "$ref"}
        return {**target, **siblings}
    if "$id" in node:
        resolver = resolver.in_subresource(_resource(node))
    return {k: _inline(v, resolver) for k, v in node.items() if k not in ("$id", "$defs", "$schema")}


def _resource(contents: dict[str, Any]) -> Any:
    from referencing import Resource

    return Resource.from_contents(contents)


@functools.cache
def _fast_check(section: str | None) -> Callable[[Any], bool] | None:
    """The compiled yes/no check for the document (or one section); None if it cannot be built."""
    from .fastcheck import Unsupported, compile_check

    root = bundled_schema(for_editors=False)
    try:
        return compile_check(root if section is None else root["properties"][section], root)
    except (Unsupported, RecursionError, KeyError):
        return None


def validate(doc: Document, *, report: Callable[[FieldPath], bool], section: str | None = None) -> None:
    """Validate `doc.data` (or one top-level `section` of it), recording a problem for every error at
    a path `report` accepts. Valid input is recognised by the compiled check alone."""
    fast = _fast_check(section)
    if fast is not None and fast(doc.data if section is None else doc.data[section]):
        return
    validator = _validator()
    if section is None:
        errors = validator.iter_errors(doc.data)
    else:
        subschema = validator.schema["properties"][section]
        errors = validator.evolve(schema=subschema).iter_errors(doc.data[section])
    for error in errors:
        path = tuple(error.absolute_path) if section is None else (section, *error.absolute_path)
        if report(path):
            _translate(doc, error, path)


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({shown!r})"
    return "a list" if isinstance(value, list) else "a map"


def _translate(doc: Document, error: Any, path: FieldPath) -> None:
    """One jsonschema error -> one or more plain problems."""
    keyword, expected, instance = error.validator, error.validator_value, error.instance
    if "propertyNames" in error.relative_schema_path:
        doc.problem((*path, instance), _name_message(keyword, expected, instance, error.schema), key=True)
    elif keyword == "additionalProperties" and expected is False:
        known = list(error.schema.get("properties", {}))
        for extra in (k for k in instance if k not in known):
            doc.problem(
                (*path, extra),
                f"unknown key {extra!r}{did_you_mean(extra, known)}",
                allowed=listing(known),
                key=True,
            )
    elif keyword == "required":
        for name in (n for n in expected if n not in instance):
            doc.problem(path, f"missing required key {name!r}")
    elif keyword == "type":
        types = [expected] if isinstance(expected, str) else expected
        wanted = " or ".join(TYPE_TEXT.get(t, t) for t in types)
        doc.problem(path, f"expected {wanted}, got {_describe(instance)}")
    elif keyword == "enum":
        doc.problem(
            path,
            f"{instance!r} is not allowed{did_you_mean(str(instance), map(str, expected))}",
            allowed=listing(expected),
        )
    elif keyword == "const":
        doc.problem(path, f"must be {expected!r}, got {_describe(instance)}", allowed=repr(expected))
    elif keyword == "pattern":
        doc.problem(path, f"{instance!r} is not allowed: {PATTERN_TEXT.get(expected, 'pattern ' + expected)}")
    else:
        _translate_bounds(doc, error, path)


def _name_message(keyword: str, expected: Any, name: str, schema: dict[str, Any]) -> str:
    """Why a name (a key of `dataitems`, `functions`, `runs`...) is refused, for the reason it is."""
    shown = name if len(name) <= 40 else name[:37] + "..."
    if keyword == "maxLength":
        return f"the name {shown!r} is too long: {len(name)} characters, at most {expected}"
    if keyword == "minLength":
        return "a name must not be empty"
    return f"the name {shown!r} is not allowed: {PATTERN_TEXT.get(schema.get('pattern'), 'invalid name')}"


def _translate_bounds(doc: Document, error: Any, path: FieldPath) -> None:
    keyword, expected, instance = error.validator, error.validator_value, error.instance
    if keyword == "minLength":
        message = "must not be empty" if expected == 1 else f"must be at least {expected} characters long"
        doc.problem(path, message)
    elif keyword == "maxLength":
        doc.problem(path, f"must be at most {expected} characters long (it has {len(instance)})")
    elif keyword == "minimum":
        doc.problem(path, f"must be at least {expected}, got {instance}")
    elif keyword in ("minProperties", "maxProperties"):
        doc.problem(path, "each item must be a map with exactly one key (KEY: VALUE)")
    elif keyword == "oneOf" and all(set(branch) == {"required"} for branch in expected):
        choices = [branch["required"][0] for branch in expected]
        present = [c for c in choices if isinstance(instance, dict) and c in instance]
        message = (
            f"give exactly one of {listing(choices)}"
            if not present
            else f"give only one of {listing(choices)} (found {listing(present)})"
        )
        doc.problem(path, message, allowed=listing(choices))
    else:
        doc.problem(path, error.message)


# -- one bundled document for editors ----------------------------------------------------------------


def bundled_schema(*, for_editors: bool = True) -> dict[str, Any]:
    """The root schema with every other file embedded under `$defs`, all refs local (`#/$defs/...`),
    so editors (yaml-language-server) can use it from a single file or URL. For editors, scalar
    fields also accept a template string; the strict form (`for_editors=False`) does not."""
    schemas = load_schemas()
    root = copy.deepcopy(schemas[ROOT_SCHEMA])
    root.pop("$id", None)
    defs = root.setdefault("$defs", {})
    for file_name, schema in schemas.items():
        if file_name == ROOT_SCHEMA:
            continue
        body = {k: v for k, v in copy.deepcopy(schema).items() if k not in ("$id", "$schema")}
        defs[_def_name(file_name)] = _rewrite_refs(body, _def_name(file_name))
    bundled = _rewrite_refs(root, None)
    if not for_editors:
        return bundled
    bundled = _allow_templates(bundled)
    bundled["$defs"]["template"] = TEMPLATE_SCHEMA
    return bundled


TEMPLATE_SCHEMA = {
    "type": "string",
    "pattern": "\\{\\{|\\{%",
    "description": "A Jinja2 template, checked after rendering.",
}
_SCALAR_KEYWORDS = {"type", "pattern", "enum", "const", "minimum", "minLength", "maxLength"}
_CONTAINER_KEYWORDS = {"properties", "additionalProperties", "items", "$ref", "oneOf", "anyOf", "allOf"}
_SCHEMA_MAPS = ("properties", "$defs", "patternProperties")
_SCHEMA_VALUES = ("items", "additionalProperties", "not", "if", "then", "else", "contains")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")


def _allow_templates(schema: Any) -> Any:
    """For editors: a scalar field may also hold a template (`"{{ var.n }}"`), which the loader
    renders before judging it. Containers stay strict so unknown keys are still flagged."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for key in _SCHEMA_MAPS:
        if isinstance(out.get(key), dict):
            out[key] = {name: _allow_templates(sub) for name, sub in out[key].items()}
    for key in _SCHEMA_VALUES:
        if isinstance(out.get(key), dict):
            out[key] = _allow_templates(out[key])
    for key in _SCHEMA_LISTS:
        if isinstance(out.get(key), list):
            out[key] = [_allow_templates(sub) for sub in out[key]]
    if _SCALAR_KEYWORDS & out.keys() and not _CONTAINER_KEYWORDS & out.keys() and out.get("type") != "object":
        description = out.pop("description", None)
        wrapped: dict[str, Any] = {"anyOf": [out, {"$ref": "#/$defs/template"}]}
        if description:
            wrapped["description"] = description
        return wrapped
    return out


def _def_name(file_name: str) -> str:
    return file_name.removesuffix(".schema.json")


def _rewrite_refs(node: Any, owner: str | None) -> Any:
    if isinstance(node, dict):
        return {
            k: (_local_ref(v, owner) if k == "$ref" else _rewrite_refs(v, owner)) for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rewrite_refs(v, owner) for v in node]
    return node


def _local_ref(ref: str, owner: str | None) -> str:
    target, _, fragment = ref.partition("#")
    if not target:
        return f"#/$defs/{owner}{fragment}" if owner else f"#{fragment}"
    return f"#/$defs/{_def_name(target)}{fragment}"
