"""The mask of sensitive values: every output of dhmlrun (plan text and JSON, apply's lines,
show, logs, error messages) shows `(sensitive)` where a sensitive value was, and `****` where a
URL carried credentials (`git+https://bob:TOKEN@host/...` -> `git+https://****@host/...`).

Saved plans are the exception for URLs: they must apply exactly, so their credentials stay (the
file is 0600), while sensitive variables are always masked in them (`plan/saved.py`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MASK = "(sensitive)"
USERINFO_MASK = "****"
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s@]+)@")


def ordered_secrets(secrets: Iterable[str]) -> list[str]:
    """Non-empty secrets, longest first (so a secret containing another is masked whole)."""
    return sorted({str(s) for s in secrets if str(s)}, key=len, reverse=True)


def mask_userinfo(text: str) -> str:
    """`scheme://user:password@host` -> `scheme://****@host`."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{USERINFO_MASK}@", text) if "@" in text else text


def mask_text(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of a secret replaced by `(sensitive)`, and URL credentials
    masked."""
    for secret in ordered_secrets(secrets):
        text = text.replace(secret, MASK)
    return mask_userinfo(text)


def mask_value(value: Any, secrets: Iterable[str]) -> Any:
    """A copy of `value` with every secret and URL credential masked, at any depth (keys
    included); a number equal to a secret is masked too."""
    return _mask(value, ordered_secrets(secrets))


def _mask(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, MASK)
        return mask_userinfo(value)
    if isinstance(value, dict):
        return {_mask(k, secrets): _mask(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v, secrets) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool) and str(value) in secrets:
        return MASK
    return value
