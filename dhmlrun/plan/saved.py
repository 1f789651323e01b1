"""Saved plans (`plan --out FILE`, `apply FILE`): the Plan value serialised, secrets masked.

The file is JSON, written with mode 0600. It records the declaration environment the plan was
made with (`-e`), so apply renders the same declaration without being told again. Sensitive
values never reach it: each string that held one is stored masked as `(sensitive)`, and a
"hole" records where it was and which variables to put back (`{"path": [...], "template":
["Bearer ", {"var": "token"}]}`) plus a salted scrypt digest of each value (as secrets' labels
have, `plan/secrets.py`: an unsalted SHA-256 of a 6-digit value was reversed in 0.3 s). `apply
FILE` takes those variables from the declaration again (from `--var`, the environment, defaults)
and refuses if one is missing or differs; then it makes the plan again and refuses any
difference (`plan/replay.py`), so a file edited after review is never applied.

A saved plan is input like any other: it is checked for shape before anything of it is used
(a malformed file is a clear error), and apply uses the configuration where it runs, never a
directory the file names.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dhmlrun.errors import DhmlrunError
from dhmlrun.plan.model import Plan
from dhmlrun.plan.secrets import digest_matches, value_digest
from dhmlrun.vocabulary.mask import MASK

if TYPE_CHECKING:
    from dhmlrun.config.model import Declaration

FILE_KIND = "dhmlrun-plan"
SAVED_FORMAT = 3
"""The layout of the file (typed actions, how the plan was made, salted digests); a file of
another layout is refused, not guessed."""
DIGEST_SCOPE = "saved plan"
"""Where a sensitive variable's digest is kept, mixed into it beside the project and the name."""
MAX_PLAN_BYTES = 64 * 1024 * 1024


def sensitive_by_name(declaration: Declaration) -> dict[str, str]:
    """Sensitive variables (name -> value), for masking saved plans reversibly."""
    return {n: str(v.value) for n, v in declaration.variables.items() if v.sensitive and str(v.value)}


def save_plan(plan: Plan, path: Path, declaration: Declaration) -> None:
    """Write `plan` to `path` (0600), masking the declaration's sensitive values."""
    secrets = sensitive_by_name(declaration)
    holes: list[dict[str, Any]] = []
    data = _mask(plan.as_dict(), secrets, [], holes)
    used = sorted({seg["var"] for hole in holes for seg in hole["template"] if isinstance(seg, dict)})
    data["kind"] = FILE_KIND
    data["saved_format"] = SAVED_FORMAT
    data["environment"] = declaration.environment
    data["variables"] = {
        n: _plain(v.value) for n, v in sorted(declaration.variables.items()) if not v.sensitive
    }
    digests = {name: value_digest(plan.project, f"{DIGEST_SCOPE}\0{name}", secrets[name]) for name in used}
    data["sensitive"] = {"holes": holes, "scrypt": digests}
    text = json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False)
    fd = os.open(Path(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)


def is_saved_plan(path: Path) -> bool:
    """True when `path` is a JSON file, which apply's PATH|PLANFILE argument takes for a saved
    plan (a declaration is a directory or YAML); `load_saved_plan` then checks it is one."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        with path.open("rb") as handle:
            head = handle.read(64)
    except OSError:
        return False
    return head.lstrip().startswith(b"{")


@dataclass
class SavedPlan:
    """A saved plan as read: the masked plan data, the environment it was made with, and what
    is needed to put its sensitive values back."""

    path: Path
    project: str
    data: dict[str, Any]
    environment: str | None
    variables: dict[str, str]
    """The values of the non-sensitive variables the plan was rendered with: apply renders the
    declaration with the same ones (given again differently, they are refused)."""
    digests: dict[str, str]
    holes: list[dict[str, Any]]

    @property
    def needed(self) -> list[str]:
        return sorted(self.digests)

    def restore(self, declaration: Declaration) -> Plan:
        """The plan with its sensitive values put back from the declaration apply rendered."""
        values = {
            n: str(declaration.variables[n].value)
            for n in self.needed
            if n in declaration.variables and str(declaration.variables[n].value)
        }
        return self.plan_with(values)

    def plan_with(self, values: Mapping[str, str]) -> Plan:
        problems = []
        for name, digest in sorted(self.digests.items()):
            if name not in values:
                problems.append(
                    f"the sensitive variable {name!r} is missing: the saved plan needs it; pass it again "
                    f"(--var {name}=... or DHMLRUN_VAR_{name.upper()})"
                )
            elif not digest_matches(digest, self.project, f"{DIGEST_SCOPE}\0{name}", str(values[name])):
                problems.append(
                    f"the sensitive variable {name!r} differs from the one the plan was made with"
                )
        if problems:
            raise DhmlrunError.single("; ".join(problems))
        data = json.loads(json.dumps(self.data))
        for hole in self.holes:
            text = "".join(
                seg if isinstance(seg, str) else str(values[seg["var"]]) for seg in hole["template"]
            )
            _assign(data, hole["path"], text)
        return _plan_from(data, self.path)


def load_saved_plan(path: Path) -> SavedPlan:
    """Read and check a saved plan; a malformed one is a `DhmlrunError` naming the file."""
    path = Path(path)
    data = _read(path)
    if data.get("kind") != FILE_KIND:
        raise DhmlrunError.single(f"{path} is not a plan saved by `dhmlrun plan --out`")
    if data.get("saved_format") != SAVED_FORMAT:
        raise DhmlrunError.single(
            f"{path} was saved by another version of dhmlrun (format {data.get('saved_format')!r}, "
            f"this one reads {SAVED_FORMAT}); make a new plan"
        )
    sensitive = data.get("sensitive") or {}
    holes, digests = sensitive.get("holes") or [], sensitive.get("scrypt") or {}
    environment, variables = data.get("environment"), data.get("variables") or {}
    if not (
        isinstance(holes, list)
        and all(_is_hole(h) for h in holes)
        and isinstance(digests, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in digests.items())
        and (environment is None or isinstance(environment, str))
        and isinstance(variables, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in variables.items())
    ):
        raise _malformed(
            path, "its sensitive, environment or variables section is not as `plan --out` writes it"
        )
    plan = _plan_from(data, path)  # the shape of the plan itself
    return SavedPlan(path, plan.project, data, environment, dict(variables), dict(digests), list(holes))


def load_plan(path: Path) -> Plan:
    """The saved plan as written (sensitive values still masked): for reading, not applying."""
    saved = load_saved_plan(path)
    return _plan_from(saved.data, saved.path)


def _read(path: Path) -> dict[str, Any]:
    try:
        if path.stat().st_size > MAX_PLAN_BYTES:
            raise _malformed(path, f"it is larger than {MAX_PLAN_BYTES} bytes")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DhmlrunError.single(f"cannot read saved plan {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise _malformed(path, "it is not a JSON object")
    return data


def _plan_from(data: dict[str, Any], path: Path) -> Plan:
    try:
        plan = Plan.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _malformed(path, f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(plan.project, str) or not all(isinstance(a.address, str) for a in plan.actions):
        raise _malformed(path, "its project or an action address is not a string")
    replay = plan.replay
    addresses = (replay.targets, replay.reruns) if replay is not None else ()
    if replay is not None and not (
        isinstance(replay.seed, str)
        and all(isinstance(a, list) and all(isinstance(x, str) for x in a) for a in addresses)
    ):
        raise _malformed(path, "its replay section is not as `plan --out` writes it")
    return plan


def _plain(value: Any) -> str:
    """A variable value as `--var` would give it (rendering parses it back to its type)."""
    return json.dumps(value) if isinstance(value, bool | int | float) or value is None else str(value)


def _is_hole(hole: Any) -> bool:
    return (
        isinstance(hole, dict)
        and isinstance(hole.get("path"), list)
        and isinstance(hole.get("template"), list)
        and all(
            isinstance(s, str) or (isinstance(s, dict) and isinstance(s.get("var"), str))
            for s in hole["template"]
        )
    )


def _malformed(path: Path, why: str) -> DhmlrunError:
    return DhmlrunError.single(
        f"{path} is not a well-formed saved plan ({why}); make a new one with `dhmlrun plan --out FILE`"
    )


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
    try:
        for step in path[:-1]:
            data = data[step]
        data[path[-1]] = value
    except (KeyError, IndexError, TypeError) as exc:
        raise DhmlrunError.single(
            f"a sensitive value of the saved plan points nowhere ({path}): make a new plan"
        ) from exc
