"""What can go wrong talking to a platform, as types: callers branch on the type (and the
HTTP status), never on the text of a message.

DHCore answers a refused request with `{"status": N, "message": TEXT, "errorCode": null}`
(docs/dhcore.md §10). Its only way of saying "this id exists already" is a 400 whose message
starts with `Duplicated entity`, so that prefix of the body's `message` field is part of the
contract, read in one place (`refusal`).
"""

from __future__ import annotations

import json
from typing import Any

from dhmlrun.errors import DhmlrunError, Problem

DUPLICATE_PREFIX = "Duplicated entity"
MAX_SHOWN = 300


class PlatformError(DhmlrunError):
    """The platform could not be reached, or refused or failed a request."""

    def __init__(self, message: str) -> None:
        super().__init__([Problem(message)])


class Unreachable(PlatformError):
    """No answer at all: connection refused, reset or timed out, after every retry."""


class Refused(PlatformError):
    """The platform answered with an error status (after retries, for 5xx)."""

    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        self.method, self.path, self.status, self.message = method, path, status, message
        super().__init__(f"the platform refused {method} {path}: {status} {message}".rstrip())


class NotFound(Refused):
    """404: no such entity (or project)."""


class Duplicate(Refused):
    """400 `Duplicated entity …`: an entity with this id (or project with this name) exists."""


class NotAllowed(Refused):
    """401 or 403: missing, wrong or insufficient credentials. Its text says where credentials
    come from, since the platform's own ("Access Denied") does not."""

    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        super().__init__(method, path, status, message)
        self.problems = [Problem(f"{self.problems[0].message}; {CREDENTIALS_HINT}")]


CREDENTIALS_HINT = (
    "the credentials were missing or not accepted: set DHCORE_ACCESS_TOKEN (or DHCORE_USER and "
    "DHCORE_PASSWORD), or choose the ~/.dhcore.ini profile that holds them with --profile NAME "
    "(a `dhmlrun core serve` takes the token it printed or DHMLRUN_CORE_TOKEN's, as DHCORE_ACCESS_TOKEN)"
)


def error_message(body: bytes) -> str:
    """The `message` of DHCore's error body (Spring's default body has `error`), else the text."""
    try:
        data: Any = json.loads(body or b"{}")
    except ValueError:
        return body[:MAX_SHOWN].decode("utf-8", "replace").strip()
    if isinstance(data, dict):
        found = data.get("message") or data.get("error")
        if found:
            return str(found)[:MAX_SHOWN]
    return ""


def refusal(method: str, path: str, status: int, body: bytes) -> Refused:
    """The typed error for an error reply."""
    message = error_message(body)
    if status == 404:
        return NotFound(method, path, status, message)
    if status in (401, 403):
        return NotAllowed(method, path, status, message)
    if status == 400 and message.startswith(DUPLICATE_PREFIX):
        return Duplicate(method, path, status, message)
    return Refused(method, path, status, message)
