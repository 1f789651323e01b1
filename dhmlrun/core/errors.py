"""The error bodies DHCore answers with, because the SDK parses their *text*.

The digitalhub SDK maps a 400 whose body contains "Duplicated entity" to `EntityAlreadyExistsError`
and "missing spec" to `MissingSpecError`; everything else becomes `BadRequestError`/`BackendError`.
So the messages here are part of the wire contract, not prose: change them and clients break.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any


class ApiError(Exception):
    """A request the server refuses: rendered as `{"status", "message", "errorCode": null}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict[str, Any]:
        """DHCore's controller-advice body for handled errors."""
        return {"status": self.status, "message": self.message, "errorCode": None}


def bad_request(message: str) -> ApiError:
    """400 for validation failures, bad parameters and refused transitions."""
    return ApiError(400, message)


def duplicated(entity_type: str, entity_id: str) -> ApiError:
    """400 whose text the SDK turns into `EntityAlreadyExistsError`."""
    return ApiError(400, f"Duplicated entity {entity_type}:{entity_id}.")


def not_found(entity_type: str) -> ApiError:
    """404 `No such <type>.` exactly as core words it (the SDK maps it to `BackendError`)."""
    return ApiError(404, f"No such {entity_type}.")


def no_such_spec() -> ApiError:
    """404 `No such spec.`: what DHCore's spec registry answers when asked to create an entity of
    a kind it does not know (the body is core's usual one, the status is 404, not 400)."""
    return ApiError(404, "No such spec.")


def missing_spec() -> ApiError:
    """400 `missing spec`: a schema asked for by a kind its entity does not have (the SDK maps
    the text to `MissingSpecError`)."""
    return bad_request("missing spec")


def invalid_transition(current: str, target: str) -> ApiError:
    """400 for a state change with no edge in the lifecycle table."""
    return ApiError(400, f"Invalid transition from state {current} to state {target}.")


def forbidden() -> ApiError:
    """403 like Spring's Http403ForbiddenEntryPoint (the SDK refreshes only on 401)."""
    return ApiError(403, "Access Denied")


def spring_default_body(status: int, error: str, path: str) -> dict[str, Any]:
    """Spring Boot's body for paths no controller handles (`{timestamp, status, error, path}`)."""
    now = datetime.fromtimestamp(time.time(), tz=UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+00:00"
    return {"timestamp": stamp, "status": status, "error": error, "path": path}
