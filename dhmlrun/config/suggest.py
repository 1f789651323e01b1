""" "Did you mean X?", listings and articles: the small words every message is built from."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """` (did you mean 'x'?)` when a candidate is close enough, else the empty string."""
    matches = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f"; did you mean {matches[0]!r}?" if matches else ""


def listing(names: Iterable[str]) -> str:
    """Names as users read them in an `allowed:` hint: `a, b, c`."""
    return ", ".join(str(n) for n in names)


def with_article(noun: str) -> str:
    """`an integer`, `a string`, `null`: a type word as a sentence needs it."""
    if noun in ("null", "nothing"):
        return noun
    return f"an {noun}" if noun[:1].lower() in "aeiou" else f"a {noun}"
