"""What reaches a terminal: text from runs and from the platform, with its control sequences
taken out.

Why: a handler's output, a run's error message, an entity's description or a platform's error
text is data, and data may hold escape sequences: `ESC ] 52 ; c ; ... BEL` writes the user's
clipboard, `ESC ] 0 ; ... BEL` sets the window title, CSI sequences move the cursor over lines
already printed. Every such string goes through `safe_text` before it is shown: CSI and OSC
sequences (7-bit and 8-bit), DCS/PM/APC strings, other escapes, and every C0/C1 control except
newline and tab are removed. dhmlrun's own colours and its live board are added after, by the
views themselves.
"""

from __future__ import annotations

import re
from typing import Any

_STRINGS = re.compile(r"(?:\x1b[\]P^_X]|[\x9d\x90\x9e\x9f\x98])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?")
"""OSC, DCS, PM, APC and SOS strings, up to their terminator (BEL or ST), or to the end."""
_CSI = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?")
_ESCAPE = re.compile(r"\x1b[ -/]*[0-~]?")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
INVISIBLE = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
"""Zero-width and bidirectional formatting characters: they make text read as other text (U+202E
reverses what follows it, so a reviewer reads `gnp.exe` for `exe.png`). Removed from what is
reviewed: plans, text and Markdown, and the graph (`reviewable_text`)."""


def safe_text(text: str) -> str:
    """`text` without terminal control sequences or control characters (newline and tab kept)."""
    if not _CONTROLS.search(text):
        return text
    for pattern in (_STRINGS, _CSI, _ESCAPE, _CONTROLS):
        text = pattern.sub("", text)
    return text


def reviewable_text(text: str) -> str:
    """`safe_text`, and without the `INVISIBLE` formatting characters."""
    return INVISIBLE.sub("", safe_text(text))


def reviewable_value(value: Any) -> Any:
    """A copy of `value` with `reviewable_text` applied to every string, at any depth (keys too)."""
    if isinstance(value, str):
        return reviewable_text(value)
    if isinstance(value, dict):
        return {reviewable_value(k): reviewable_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [reviewable_value(v) for v in value]
    return value


def safe_value(value: Any) -> Any:
    """A copy of `value` with `safe_text` applied to every string, at any depth (keys too)."""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dict):
        return {safe_value(k): safe_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [safe_value(v) for v in value]
    return value
