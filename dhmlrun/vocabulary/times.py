"""Timestamps as DHCore writes them: ISO-8601 UTC with milliseconds and a `Z`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """`2026-07-02T10:11:12.345Z`."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_in(seconds: float, start: datetime | None = None) -> str:
    """The timestamp `seconds` from now (or from `start`)."""
    return iso((start or now()) + timedelta(seconds=seconds))


def parse(text: object) -> datetime | None:
    """A timestamp with `Z` or an offset (naive ones are UTC); None when absent or malformed."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def short(text: str | None) -> str | None:
    """`2026-11-27T08:01:33.839Z` -> `2026-11-27 08:01:33` (as dhcli lists show it)."""
    return text.replace("T", " ")[:19] if text else None


def duration_text(seconds: float) -> str:
    """`3.9s`, `2m05s`: how long something took, said the same way everywhere (apply's lines
    and board, `show --graph`)."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def run_duration(created: object, updated: object) -> float | None:
    """How long a finished run took on its platform: from its record's creation to its last
    update (its final state). None when either is missing or they disagree."""
    start, end = parse(created), parse(updated)
    if start is None or end is None or end < start:
        return None
    return (end - start).total_seconds()
