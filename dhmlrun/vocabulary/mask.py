"""The mask of sensitive values: every output of dhmlrun (plan text and JSON, apply's lines,
show, logs, saved plans, error messages) shows `(sensitive)` where a sensitive value was."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MASK = "(sensitive)"


def ordered_secrets(secrets: Iterable[str]) -> list[str]:
    """Non-empty secrets, longest first (so a secret containing another is masked whole)."""
    return sorted({str(s) for s in secrets if str(s)}, key=len, reverse=True)


def mask_text(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of a secret replaced by `(sensitive)`."""
    for secret in ordered_secrets(secrets):
        text = text.replace(secret, MASK)
    return text


def mask_value(value: Any, secrets: Iterable[str]) -> Any:
    """A copy of `value` with every secret masked, at any depth (keys included); a number equal
    to a secret is masked too."""
    ordered = ordered_secrets(secrets)
    return _mask(value, ordered) if ordered else value


def _mask(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, MASK)
        return value
    if isinstance(value, dict):
        return {_mask(k, secrets): _mask(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v, secrets) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool) and str(value) in secrets:
        return MASK
    return value
