"""Content digests and run fingerprints: stable hashes, independent of where the repo is cloned.

Digests are SHA-256 over canonical JSON (sorted keys, no whitespace), so the same declaration
yields the same digest on a laptop and in CI. Local files enter by content and config-relative
path only, never by absolute path.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def canonical_json(value: Any) -> str:
    """The one serialisation used for hashing: sorted keys, compact, non-ASCII kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Digest of a file's bytes, streamed so large local data files do not fill memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_base64(text: str) -> str:
    """Digest of the bytes a base64 string encodes (so `code:` and `base64:` compare equal)."""
    try:
        return sha256_bytes(base64.b64decode(text))
    except (ValueError, TypeError):
        return sha256_text(text)


def digest(value: Any) -> str:
    """SHA-256 of any JSON-able value, via `canonical_json`."""
    return sha256_text(canonical_json(value))


@dataclass(frozen=True)
class RunFingerprint:
    """A run's fingerprint and the three parts it is made of, each stored on the run.

    The parts let a later plan say *why* a run fires (spec, code or inputs) without keeping
    any local state.
    """

    spec: str
    function: str
    inputs: str

    @property
    def value(self) -> str:
        return sha256_text(f"{self.spec}:{self.function}:{self.inputs}")


def fingerprint_run(
    run_spec: Mapping[str, Any],
    function_digest: str,
    image: str | None,
    input_versions: Mapping[str, str],
) -> RunFingerprint:
    """SHA-256 over the canonical run spec, the function's content digest and image, and the
    ids of the input entity versions (or an upstream run's fingerprint)."""
    return RunFingerprint(
        spec=digest(dict(run_spec)),
        function=digest({"function": function_digest, "image": image}),
        inputs=digest(dict(input_versions)),
    )
