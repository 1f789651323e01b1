"""A strict check of 5-field cron expressions (minute hour day-of-month month day-of-week).

DHCore hands `schedule` to Kubernetes CronJobs, which accept exactly this syntax plus the
`@hourly`-style macros; checking it here turns a late, remote failure into an error at the line.
"""

from __future__ import annotations

MACRO_FIELDS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
"""The macros Kubernetes CronJobs accept, as the 5 fields they stand for (MLRun takes only fields)."""
MACROS = tuple(MACRO_FIELDS)
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, MONTHS),
    ("day of week", 0, 7, DAYS),
)


def cron_fields(expression: str) -> str:
    """A valid schedule as its 5 fields (a macro replaced by what it stands for)."""
    text = expression.strip()
    return MACRO_FIELDS.get(text.lower(), text)


def cron_problem(expression: str) -> str | None:
    """None when `expression` is a valid schedule, else a sentence saying what is wrong."""
    text = expression.strip()
    if text.startswith("@"):
        return None if text.lower() in MACROS else f"unknown macro {text!r} (use one of {', '.join(MACROS)})"
    parts = text.split()
    if len(parts) != 5:
        return f"a cron schedule has 5 fields (minute hour day-of-month month day-of-week), got {len(parts)}"
    for part, (name, low, high, names) in zip(parts, FIELDS, strict=True):
        problem = _field_problem(part, low, high, names)
        if problem:
            return f"{name} field {part!r}: {problem}"
    return None


def _field_problem(text: str, low: int, high: int, names: tuple[str, ...]) -> str | None:
    for item in text.split(","):
        base, slash, step = item.partition("/")
        if slash and not (step.isdigit() and int(step) > 0):
            return f"step {step!r} must be a positive number"
        if base == "*":
            continue
        start, dash, end = base.partition("-")
        bounds = [_value(start, names), _value(end, names) if dash else None]
        if bounds[0] is None or (dash and bounds[1] is None):
            return f"{base!r} is not a number" + (f" or a name ({names[0]}..)" if names else "")
        for bound in bounds:
            if bound is not None and not low <= bound <= high:
                return f"{bound} is out of range {low}-{high}"
        if dash and bounds[1] < bounds[0]:  # type: ignore[operator]
            return f"range {base!r} runs backwards"
    return None


def _value(text: str, names: tuple[str, ...]) -> int | None:
    if text.isdigit():
        return int(text)
    upper = text.upper()
    if upper in names:
        return names.index(upper) + (1 if len(names) == 12 else 0)
    return None
