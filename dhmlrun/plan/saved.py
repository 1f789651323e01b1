"""Saved plans (`plan --out FILE`, `apply FILE`): the Plan value serialised, secrets masked.

The file is JSON, written with mode 0600. Sensitive values never reach it: each string that
held one is stored masked as `(sensitive)`, and a "hole" records where it was and which
variables to put back (`{"path": [...], "template": ["Bearer ", {"var": "token"}]}`) plus the
SHA-256 of each value. `apply FILE` asks the declaration for those variables again (from
`--var`, the environment, defaults) and refuses if they are missing or differ.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dhmlrun.errors import DhmlrunError
from dhmlrun.plan.fingerprint import sha256_text
from dhmlrun.plan.model import Plan

FILE_KIND = "dhmlrun-plan"
MASK = "(sensitive)"


def save_plan(plan: Plan, path: Path, sensitive: Mapping[str, str]) -> None:
    """Write `plan` to `path` (0600), masking every value of `sensitive` (variable -> value)."""
    secrets = {name: str(value) for name, value in sensitive.items() if str(value)}
    holes: list[dict[str, Any]] = []
    data = _mask(plan.as_dict(), secrets, [], holes)
    used = sorted({seg["var"] for hole in holes for seg in hole["template"] if isinstance(seg, dict)})
    data["kind"] = FILE_KIND
    data["sensitive"] = {"holes": holes, "sha256": {name: sha256_text(secrets[name]) for name in used}}
    text = json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False)
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)


def is_saved_plan(path: Path) -> bool:
    """True when `path` is a file written by `plan --out` (apply's PATH|PLANFILE argument)."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        with path.open(encoding="utf-8") as handle:
            head = handle.read(1)
            if head != "{":
                return False
            handle.seek(0)
            return json.load(handle).get("kind") == FILE_KIND
    except (OSError, ValueError):
        return False


def load_plan(path: Path) -> tuple[Plan, list[str]]:
    """Read a saved plan; returns it (still masked) and the sensitive variables it needs."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DhmlrunError.single(f"cannot read saved plan {path}: {exc}") from exc
    if data.get("kind") != FILE_KIND:
        raise DhmlrunError.single(f"{path} is not a plan saved by `dhmlrun plan --out`")
    return Plan.from_dict(data), sorted(data.get("sensitive", {}).get("sha256", {}))


def load_plan_with_secrets(path: Path, values: Mapping[str, str]) -> Plan:
    """Read a saved plan and put the sensitive values back (checked against their digests)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    sensitive = data.get("sensitive") or {}
    problems = []
    for name, digest in (sensitive.get("sha256") or {}).items():
        if name not in values:
            problems.append(
                f"the saved plan needs the sensitive variable {name!r}: pass it again "
                f"(--var {name}=... or DHMLRUN_VAR_{name})"
            )
        elif sha256_text(str(values[name])) != digest:
            problems.append(f"the sensitive variable {name!r} differs from the one the plan was made with")
    if problems:
        raise DhmlrunError.single("; ".join(problems))
    for hole in sensitive.get("holes") or ():
        text = "".join(seg if isinstance(seg, str) else str(values[seg["var"]]) for seg in hole["template"])
        _assign(data, hole["path"], text)
    return Plan.from_dict(data)


def _mask(value: Any, secrets: Mapping[str, str], path: list[Any], holes: list[dict[str, Any]]) -> Any:
    if isinstance(value, str):
        template = _template(value, secrets)
        if template is None:
            return value
        holes.append({"path": list(path), "template": template})
        return "".join(seg if isinstance(seg, str) else MASK for seg in template)
    if isinstance(value, dict):
        return {k: _mask(v, secrets, [*path, k], holes) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, secrets, [*path, i], holes) for i, v in enumerate(value)]
    return value


def _template(text: str, secrets: Mapping[str, str]) -> list[Any] | None:
    """Split `text` into literal pieces and `{"var": name}` for each secret occurrence."""
    ordered = sorted(secrets.items(), key=lambda item: len(item[1]), reverse=True)
    pieces: list[Any] = [text]
    for name, secret in ordered:
        split: list[Any] = []
        for piece in pieces:
            if not isinstance(piece, str) or secret not in piece:
                split.append(piece)
                continue
            parts = piece.split(secret)
            for i, part in enumerate(parts):
                if i:
                    split.append({"var": name})
                if part:
                    split.append(part)
        pieces = split
    return None if pieces == [text] else pieces


def _assign(data: Any, path: list[Any], value: Any) -> None:
    for step in path[:-1]:
        data = data[step]
    data[path[-1]] = value
