"""The dhmlrun a config repository's CI installs: pinned to a source anyone can verify, and
installed from a hash-checked lock.

Why: the generated workflow installs dhmlrun right beside a DigitalHub token; `pip install
dhmlrun` would install whatever a package index serves under that name today (dhmlrun is not on
PyPI: whoever registered the name would run code with the token), and an unpinned dependency is
the same risk one step removed. So the workflow installs `requirements.txt` of the *base* branch
with `pip install --require-hashes --no-deps` (every package pinned to a version and its hashes,
nothing resolved at install time; `pip check` then proves the lock complete), as Atlantis and
Terraform Cloud install the tool the server, not the pull request, chose.

`init` cannot compute the hashes of dhmlrun's dependencies without the network, so it writes the
lock's input, `requirements.in`, naming the exact source of the dhmlrun that ran it (read from
the install's own PEP 610 record, `direct_url.json`): an archive with its sha256 as it was
installed, or, for a git install from GitHub, that commit's archive (a git source cannot be
hash-checked). `requirements.txt` says how to lock it (`LOCK_COMMAND`); the workflow refuses to
run until it is a lock. A dhmlrun installed from a local directory has no public source: the
input is left for the user to pin.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

REQUIREMENTS_FILE = "requirements.txt"
REQUIREMENTS_INPUT = "requirements.in"
LOCK_COMMAND = (
    f"pip-compile --generate-hashes --allow-unsafe --output-file={REQUIREMENTS_FILE} {REQUIREMENTS_INPUT}"
)
INPUT_HEADER = f"""\
# The dhmlrun this repository's CI runs (.github/workflows/dhmlrun.yml), pinned exactly: the
# input of the hash-checked lock CI installs. After changing it, lock again (pip-tools):
#   {LOCK_COMMAND}
# and change both files in a reviewed pull request: CI runs them next to the DigitalHub token.
# Accepted forms (a git source cannot be hash-checked: use its archive):
#   dhmlrun @ https://github.com/ORG/dhmlrun/archive/COMMIT.tar.gz
#   dhmlrun @ https://HOST/dhmlrun-VERSION-py3-none-any.whl#sha256=HASH
"""
LOCK_PLACEHOLDER = f"""\
# CI installs this file with `pip install --require-hashes --no-deps`: it must be a complete lock,
# every package with its version and hashes. Make it from {REQUIREMENTS_INPUT} (pip-tools):
#   {LOCK_COMMAND}
# TODO: lock (the workflow refuses to run until this file pins dhmlrun with its hashes)
"""
_GITHUB = re.compile(r"^https://github\.com/([^/]+)/([^/]+?)(?:\.git)?/?$")


@dataclass(frozen=True)
class Pin:
    """The requirement line (None when no verifiable source is known) and what to tell the user."""

    requirement: str | None
    note: str


def pin_from_direct_url(direct_url: dict[str, Any] | None) -> Pin:
    """The pin for an install described by its PEP 610 record (None: installed from an index)."""
    to_lock = f"lock it into {REQUIREMENTS_FILE} before CI can run ({LOCK_COMMAND})"
    if not direct_url:
        return Pin(
            None,
            "dhmlrun was installed from a package index, which is not a verifiable source: "
            f"pin an archive of it in {REQUIREMENTS_INPUT}, then {to_lock}",
        )
    url = str(direct_url.get("url") or "")
    vcs = direct_url.get("vcs_info") or {}
    commit = str(vcs.get("commit_id") or "")
    if vcs.get("vcs") == "git" and len(commit) == 40:
        github = _GITHUB.match(url)
        if github:
            archive = f"https://github.com/{github.group(1)}/{github.group(2)}/archive/{commit}.tar.gz"
            return Pin(
                f"dhmlrun @ {archive}",
                f"{REQUIREMENTS_INPUT} pins dhmlrun at commit {commit[:12]} (its archive); {to_lock}",
            )
        if url.startswith(("https://", "ssh://")):
            return Pin(
                f"dhmlrun @ git+{url}@{commit}",
                f"{REQUIREMENTS_INPUT} pins dhmlrun at commit {commit[:12]} of a git source, which a "
                f"lock cannot hash-check: replace it with an archive of that commit, then {to_lock}",
            )
    archive_info = direct_url.get("archive_info") or {}
    digest = str((archive_info.get("hashes") or {}).get("sha256") or "")
    if digest and url.startswith("https://"):
        return Pin(
            f"dhmlrun @ {url}#sha256={digest}",
            f"{REQUIREMENTS_INPUT} pins dhmlrun to {url} (sha256); {to_lock}",
        )
    return Pin(
        None,
        f"dhmlrun was installed from {url or 'an unknown source'}, which CI cannot reach: "
        f"pin an archive of it in {REQUIREMENTS_INPUT}, then {to_lock}",
    )


def installed_pin() -> Pin:
    """The pin of the dhmlrun running now."""
    from importlib import metadata

    try:
        text = metadata.distribution("dhmlrun").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        text = None
    return pin_from_direct_url(json.loads(text) if text else None)


def requirements_input_text(pin: Pin) -> str:
    """`requirements.in`: the pin, the input of the lock."""
    if pin.requirement is not None:
        return INPUT_HEADER + pin.requirement + "\n"
    return INPUT_HEADER + "# TODO: pin dhmlrun here, then lock\n"


def requirements_text() -> str:
    """`requirements.txt` as `init` leaves it: what to do to make it the lock CI installs."""
    return LOCK_PLACEHOLDER
