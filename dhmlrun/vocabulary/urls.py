"""What counts as a URL in a declaration (a data path, a source): anything with a scheme.

Everything else is a local path, resolved against the file that declares it. One test, used by
the planner, the importer and the config loader alike.
"""

from __future__ import annotations

import re

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def scheme(value: object) -> str | None:
    """The URL scheme (`zip+s3`), lower-cased; None for a local path."""
    match = _SCHEME.match(value) if isinstance(value, str) else None
    return match.group(1).lower() if match else None


def is_url(value: object) -> bool:
    return scheme(value) is not None
