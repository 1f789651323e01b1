"""The dhmlrun a config repository's CI installs: pinned to a source anyone can verify.

Why: the generated workflow installs dhmlrun right beside `DHCORE_ACCESS_TOKEN`; `pip install
dhmlrun` would install whatever a package index serves under that name today (dhmlrun is not on
PyPI: whoever registered the name would run code with the token). So `init` writes
`requirements.txt` naming the exact source of the dhmlrun that ran it, read from the install's
own record (PEP 610 `direct_url.json`): a git repository at a commit (pip checks the commit out
exactly; VCS requirements cannot carry hashes), or an archive URL with its sha256 (pip checks
it). A dhmlrun installed from a local directory has no public source: the requirement is left
for the user to pin, and the workflow refuses to run until it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

REQUIREMENTS_FILE = "requirements.txt"
HEADER = """\
# The dhmlrun this repository's CI installs (.github/workflows/dhmlrun.yml), pinned exactly.
# Change it in a reviewed pull request: CI runs it next to DHCORE_ACCESS_TOKEN. Accepted forms:
#   dhmlrun @ git+https://HOST/ORG/dhmlrun@COMMIT        (a full 40-character commit id)
#   dhmlrun @ https://HOST/dhmlrun-VERSION.tar.gz#sha256=HASH
"""


@dataclass(frozen=True)
class Pin:
    """The requirement line (None when no verifiable source is known) and what to tell the user."""

    requirement: str | None
    note: str


def pin_from_direct_url(direct_url: dict[str, Any] | None) -> Pin:
    """The pin for an install described by its PEP 610 record (None: installed from an index)."""
    if not direct_url:
        return Pin(
            None,
            "dhmlrun was installed from a package index, which is not a verifiable source: "
            f"pin a git commit or an archive with its hash in {REQUIREMENTS_FILE}",
        )
    url = str(direct_url.get("url") or "")
    vcs = direct_url.get("vcs_info") or {}
    commit = str(vcs.get("commit_id") or "")
    if vcs.get("vcs") == "git" and len(commit) == 40 and url.startswith(("https://", "ssh://")):
        return Pin(
            f"dhmlrun @ git+{url}@{commit}", f"{REQUIREMENTS_FILE} pins dhmlrun at commit {commit[:12]}"
        )
    archive = direct_url.get("archive_info") or {}
    digest = str((archive.get("hashes") or {}).get("sha256") or "")
    if digest and url.startswith("https://"):
        return Pin(f"dhmlrun @ {url}#sha256={digest}", f"{REQUIREMENTS_FILE} pins dhmlrun to {url} (sha256)")
    return Pin(
        None,
        f"dhmlrun was installed from {url or 'an unknown source'}, which CI cannot reach: "
        f"pin a git commit or an archive with its hash in {REQUIREMENTS_FILE}",
    )


def installed_pin() -> Pin:
    """The pin of the dhmlrun running now."""
    from importlib import metadata

    try:
        text = metadata.distribution("dhmlrun").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        text = None
    return pin_from_direct_url(json.loads(text) if text else None)


def requirements_text(pin: Pin) -> str:
    if pin.requirement is not None:
        return HEADER + pin.requirement + "\n"
    return HEADER + "# TODO: pin dhmlrun here (the workflow refuses to run until this file names it)\n"
