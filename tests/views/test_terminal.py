"""Nothing from a run or the platform reaches the terminal as a control sequence, and URL
credentials are masked wherever values are shown."""

from __future__ import annotations

import pytest

from dhmlrun.views.terminal import safe_text, safe_value
from dhmlrun.vocabulary.mask import mask_text, mask_value


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("a\x1b]52;c;ZXZpbA==\x07b", "ab"),  # OSC 52: writes the clipboard
        ("a\x1b]0;pwned\x1b\\b", "ab"),  # OSC 0: sets the window title, ST-terminated
        ("a\x1b]8;;http://x\x07link\x1b]8;;\x07b", "alinkb"),  # hyperlinks
        ("a\x1b[2J\x1b[1;1Hb", "ab"),  # CSI: clear screen, move cursor
        ("a\x1b[31mred\x1b[0mb", "aredb"),
        ("a\x9b2Jb", "ab"),  # 8-bit CSI
        ("a\x9d0;t\x9cb", "ab"),  # 8-bit OSC
        ("x\x1bPq#0;2;0;0;0#1~\x1b\\y", "xy"),  # DCS (sixel)
        ("a\x1b]52;c;unterminated", "a"),  # an unterminated string is dropped to the end
        ("over\rwrite\x08\x00\x7f", "overwrite"),
        ("keep\ttabs\nand lines", "keep\ttabs\nand lines"),
        ("café ✓ 日本", "café ✓ 日本"),
    ],
)
def test_control_sequences_and_characters_are_removed(raw: str, shown: str) -> None:
    assert safe_text(raw) == shown


def test_values_are_cleaned_at_any_depth() -> None:
    assert safe_value({"k\x1b[1m": ["v\x07", {"x": "\x1b]0;t\x07y"}], "n": 3}) == {
        "k": ["v", {"x": "y"}],
        "n": 3,
    }


def test_url_credentials_are_masked_with_or_without_secrets() -> None:
    text = "source git+https://bob:TOKEN@github.com/o/r.git#main, s3://AKIA:secret@bucket/k, mail a@b.c"
    assert (
        mask_text(text, [])
        == "source git+https://****@github.com/o/r.git#main, s3://****@bucket/k, mail a@b.c"
    )
    assert mask_value({"source": "https://u:p@h/x.py"}, []) == {"source": "https://****@h/x.py"}
