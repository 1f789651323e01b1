"""How dhmlrun marks what it manages: labels on the platform entities (pure, no SDK).

DHCore labels are a flat list of strings, so dhmlrun's bookkeeping is encoded as `dhmlrun` (the
marker the list filter matches) plus `dhmlrun/KEY=VALUE` strings. Keeping the state on the
entities themselves is what lets dhmlrun run without a local state file: any clone, any CI job,
reads the same truth from the platform.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

MANAGED = "dhmlrun"
PREFIX = "dhmlrun/"

LOCK_NAME = "dhmlrun-lock"
LOCK_TYPE = "dataitems"
"""The apply lock is a marker dataitem (`platform/lock.py`), never a declared entity."""

ADDRESS = "address"
DIGEST = "digest"
LOCAL_PATH = "path"
LOCAL_SHA256 = "sha256"
PREVENT_DESTROY = "prevent_destroy"
FINGERPRINT = "fingerprint"
FP_SPEC = "fp.spec"
FP_FUNCTION = "fp.function"
FP_INPUTS = "fp.inputs"
VALUE_DIGEST = "value"
"""A secret's salted, slow digest of its value (`plan/secrets.py`): how plan compares it."""


def encode(values: Mapping[str, str], user_labels: Iterable[str] = ()) -> list[str]:
    """The label list for a managed entity: the user's own labels, the marker, then our keys."""
    labels = [
        str(label) for label in user_labels if not str(label).startswith((PREFIX,)) and label != MANAGED
    ]
    labels.append(MANAGED)
    labels.extend(f"{PREFIX}{key}={value}" for key, value in sorted(values.items()))
    return labels


def decode(labels: Iterable[str] | None) -> tuple[bool, dict[str, str], list[str]]:
    """Split a label list into (managed?, dhmlrun's keys, the user's labels)."""
    managed = False
    ours: dict[str, str] = {}
    user: list[str] = []
    for label in labels or ():
        text = str(label)
        if text == MANAGED:
            managed = True
        elif text.startswith(PREFIX) and "=" in text:
            key, _, value = text[len(PREFIX) :].partition("=")
            ours[key] = value
        else:
            user.append(text)
    return managed, ours, user


def lock_id(project: str) -> str:
    """The lock marker's entity id. Ids are unique per entity type across projects, so the
    project is part of it. (The *lock id* users see is the holder's own id, recorded inside.)"""
    return f"{LOCK_NAME}-{project}"
