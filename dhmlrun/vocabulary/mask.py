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
    """A copy of `value` with every secret and URL credential masked in its values, at any depth;
    a number equal to a secret is masked too. Keys are never changed: they are structure (with
    a one-character secret, masking `execution` broke the plan apply shows)."""
    return _mask(value, ordered_secrets(secrets))


def _mask(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, MASK)
        return mask_userinfo(value)
    if isinstance(value, dict):
        return {k: _mask(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v, secrets) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool) and str(value) in secrets:
        return MASK
    return value


class StreamMask:
    """`mask_text` over a text that arrives in pieces (what a run prints, as it prints it).

    `feed` returns what can be written so far: up to the last line end that no secret can still
    straddle (a piece may end half-way through a secret), or, for a line longer than
    `max_pending`, all but its last characters; `end` returns the rest, masked.
    """

    def __init__(self, secrets: Iterable[str], max_pending: int = 64 * 1024) -> None:
        self.secrets = ordered_secrets(secrets)
        self.longest = len(self.secrets[0]) if self.secrets else 1
        self.max_pending = max_pending
        self.pending = ""

    def feed(self, text: str) -> str:
        self.pending += text
        safe = max(len(self.pending) - (self.longest - 1), 0)  # an unfinished secret starts after it
        line_end = self.pending.rfind("\n", 0, safe) + 1
        cut = line_end or (safe if len(self.pending) > self.max_pending else 0)
        cut = self._past_straddling(cut)
        out, self.pending = self.pending[:cut], self.pending[cut:]
        return mask_text(out, self.secrets) if out else ""

    def end(self) -> str:
        out, self.pending = self.pending, ""
        return mask_text(out, self.secrets) if out else ""

    def _past_straddling(self, cut: int) -> int:
        """`cut`, moved to the end of any secret occurrence it would split."""
        moved = True
        while moved and cut > 0:
            moved = False
            for secret in self.secrets:
                start = self.pending.find(secret, max(0, cut - len(secret) + 1))
                while start != -1 and start < cut:
                    if cut < start + len(secret):
                        cut, moved = start + len(secret), True
                    start = self.pending.find(secret, start + 1)
        return cut
