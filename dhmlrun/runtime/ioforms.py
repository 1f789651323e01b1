"""Run inputs/outputs in either form the seed allows: a dict, or a list of one-key dicts.

`inputs=[{"url": key}]` (the seed) and `inputs={"url": key}` (the declaration) mean the same;
both are stored as the dict form so every consumer reads one shape.
"""

from __future__ import annotations

from typing import Any


def as_mapping(value: Any, field: str) -> dict[str, str] | None:
    """Normalise `value` to `{name: str}`; a repeated name or a non-string value is an error."""
    if value is None:
        return None
    if isinstance(value, dict):
        items = [value]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise ValueError(
            f"{field} must be a mapping or a list of one-key mappings, not {type(value).__name__}"
        )
    merged: dict[str, str] = {}
    for item in items:
        if not isinstance(item, dict):
            raise ValueError(
                f"{field} entries must be one-key mappings like {{'name': 'value'}}, got {item!r}"
            )
        for name, target in item.items():
            if name in merged:
                raise ValueError(f"{field} names {name!r} twice")
            if not isinstance(target, str) or not target:
                raise ValueError(f"{field}.{name} must be a non-empty string, got {target!r}")
            merged[str(name)] = target
    return merged


def as_names(value: Any, field: str) -> list[str] | None:
    """Normalise `values` to a list of names (a single string is one name)."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{field} must be a list of names")
    return list(value)
