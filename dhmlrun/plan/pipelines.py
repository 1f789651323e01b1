"""A pipeline run in the plan: whether its workflow is built before it, and the plan's note when
the workflow's steps cannot be read.

DHCore keeps a workflow's build, the Argo Workflow its `hera+build` run made, in that workflow
version's `spec.build` (`HeraRuntime.onComplete`), and a pipeline run executes that build
(docs/dhcore-runs.md §2, §3). The build names each step's function by the key of the function's
latest version when it was made (digitalhub-runtime-hera's `container_template`: `step.py
--entity KEY`). So a pipeline run reuses its workflow's build unless:

- the workflow gets a new version in this plan (a new version has no build),
- the workflow's version has no build yet, or a build that cannot be read,
- the build runs another version of a declared step function than the one this plan leaves it
  at (a step function changed in this plan, or since the build).

Then apply builds the workflow first (`worker/run.py`) and the plan says so, with the reason.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from dhmlrun.config.steps import read_step_names
from dhmlrun.vocabulary import keys
from dhmlrun.vocabulary.addresses import Address

STEP_ENTITY_OPTION = "--entity"
"""The option of the hera step wrapper (`step.py --entity KEY --kwargs JSON`) naming the
function version a step runs (docs/dhcore-runs.md §4)."""


def build_reason(
    workflow: str,
    new_version: bool,
    remote_spec: Mapping[str, Any] | None,
    step_versions: Mapping[str, str | None],
) -> str | None:
    """Why the pipeline run of `workflow` (an address) builds the workflow first, or None when it
    runs the build the workflow's version holds. `new_version`: the workflow gets a new version in
    this plan; `remote_spec`: the spec of its version on the platform; `step_versions`: {address of
    a declared step function: the version id it has on the platform, None when it gets a new
    version in this plan (no build can name that one yet)}."""
    if new_version or remote_spec is None:
        return f"{workflow} gets a new version, which has no build yet"
    build = remote_spec.get("build")
    if not isinstance(build, Mapping) or not build.get("base64"):
        return f"{workflow} has no build yet"
    built = built_step_versions(str(build["base64"]))
    if built is None:
        return f"the build of {workflow} cannot be read"
    stale = [
        address
        for address, version in sorted(step_versions.items())
        if Address.parse(address).name in built and built[Address.parse(address).name] != version
    ]  # a function the build does not name (every declared one counts when the code is unread)
    if stale:
        return f"its build runs an older version of {', '.join(stale)}"
    return None


def built_step_versions(encoded: str) -> dict[str, str] | None:
    """{function name: version id} of the steps of a build (`spec.build.base64`: base64 of the
    Argo Workflow's spec as YAML); None when it is not such a document."""
    try:
        spec = yaml.safe_load(base64.b64decode(encoded, validate=True).decode("utf-8"))
    except (binascii.Error, ValueError, yaml.YAMLError):
        return None
    if not isinstance(spec, dict) or not isinstance(spec.get("templates"), list):
        return None
    versions: dict[str, str] = {}
    for template in spec["templates"]:
        container = template.get("container") if isinstance(template, dict) else None
        if not isinstance(container, dict):
            continue
        words = [*_texts(container, "command"), *_texts(container, "args")]
        key = keys.parse_key(_option(STEP_ENTITY_OPTION, words))
        if key is not None:
            versions[key.name] = key.id
    return versions


def unread_steps_note(
    run: str, workflow: str, source: Mapping[str, Any], counted: Iterable[str]
) -> str | None:
    """The plan's note for a run of a workflow whose code cannot be read at plan time: every
    declared function counts as one of its steps (`config/steps.py`); None when it was read."""
    reading = read_step_names(source)
    if reading.names is not None:
        return None
    functions = ", ".join(counted) or "none are declared"
    return (
        f"{run}: the steps of {workflow} cannot be read at plan time ({reading.unread}): every "
        f"declared function counts as one of its steps ({functions}), so a change to any of them "
        "runs it again"
    )


def _texts(container: Mapping[str, Any], field: str) -> list[str]:
    value = container.get(field)
    return [str(v) for v in value] if isinstance(value, list) else []


def _option(name: str, words: list[str]) -> str | None:
    """The value following `name` among `words` (also written `name=value`)."""
    for index, word in enumerate(words):
        if word == name and index + 1 < len(words):
            return words[index + 1]
        if word.startswith(f"{name}="):
            return word.split("=", 1)[1]
    return None
