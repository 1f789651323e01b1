"""The one error a service's own process reports before its server listens."""

from __future__ import annotations


class ServeError(Exception):
    """The service cannot be started; the message says why, in one line."""
