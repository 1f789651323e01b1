"""Step 6: turn the validated data into `Resource`s in the one canonical form of `model.py`.

Here live the checks JSON Schema cannot express: a function's `source` URL scheme, that a local
source file exists, that `base64` decodes, that mlrun will accept the run name it derives from
a function and its handler (`dhmlrun.mlrun_names`), that `schedule` is a valid cron, that local
files stay inside the config directory (`confinement`), what each function kind takes
(`kinds`), that a secret's variable is sensitive. Relative local paths become absolute
against the directory of the file that declared the resource. `inputs` and `outputs` become maps
whichever form was written; `env` becomes `envs`; `lifecycle` moves out of `spec`; the defaults
(`trigger: on_change`, `execution: local`, empty parameters and values) are filled in so
downstream code never has to know them.
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from dhmlrun import archive
from dhmlrun.errors import Location
from dhmlrun.mlrun_names import run_name_problem
from dhmlrun.sources import (
    FORMS,
    Fetch,
    UnsupportedSource,
    classify_source,
    embedded_problem,
    size_problem,
)
from dhmlrun.vocabulary.defaults import REMOTE, RUN_DEFAULTS
from dhmlrun.vocabulary.kinds import PLATFORM_ACTIONS
from dhmlrun.vocabulary.urls import scheme

from .cron import cron_problem
from .document import Document
from .kinds import (
    ACTIONS,
    PYTHON,
    executable_kind,
    function_kind,
    hera_workflow,
    python_function,
    python_run,
    refuse_fields,
)
from .model import Resource, executable_of, function_address
from .services import service

CRON_FORMS = "'MIN HOUR DOM MON DOW' e.g. '0 3 * * 1-5', or @hourly, @daily, @weekly, @monthly"


def local_path(text: str, declared_in: Path) -> Path:
    """A path as written, made absolute against the declaring file's directory (symlinks kept;
    `~` expands, so `~/.bashrc` is seen for what it is: outside the config directory)."""
    path = Path(text).expanduser()
    return Path(os.path.normpath(path if path.is_absolute() else declared_in.parent / path))


def normalise_resources(doc: Document) -> dict[str, Resource]:
    """Every resource by address (`TYPE.NAME`).

    Resources the schema already found problems in are still checked as far as their shape
    allows, so one run reports every problem; the loader raises before any of them is used.
    """
    builders: dict[str, Callable[[Document, str, dict[str, Any], Path], dict[str, Any]]] = {
        "dataitems": functools.partial(_dataitem, type_="dataitems"),
        "artifacts": functools.partial(_dataitem, type_="artifacts"),
        "models": functools.partial(_dataitem, type_="models"),
        "secrets": _secret,
        "functions": _function,
        "workflows": _workflow,
        "runs": _run,
        "services": _service,
    }
    resources: dict[str, Resource] = {}
    for type_, build in builders.items():
        entries = doc.data.get(type_)
        if not isinstance(entries, dict):
            continue
        for name, body in entries.items():
            if not isinstance(body, dict):
                continue
            spec = dict(body)
            lifecycle = spec.pop("lifecycle", None) or {}
            declared_in = doc.declared_in(type_, name)
            try:
                spec = build(doc, name, spec, declared_in)
            except (KeyError, TypeError, AttributeError, ValueError):
                if doc.is_flagged(type_, name):
                    continue  # malformed, and already reported by the schema
                raise
            location = doc.locate((type_, name), key=True) or Location(str(declared_in))
            resources[f"{type_}.{name}"] = Resource(type_, name, spec, location, (), lifecycle, declared_in)
    return resources


def _dataitem(
    doc: Document, name: str, spec: dict[str, Any], declared_in: Path, type_: str = "dataitems"
) -> dict[str, Any]:
    """A local path (`file://` ones too: the runtime reads them from disk) becomes absolute and
    must stay inside the confinement; URLs are kept as written. (Artifacts and models too.)"""
    written = spec["path"]
    written_scheme = scheme(written)
    if written_scheme not in (None, "file"):
        return spec
    spec["path"] = str(local_path(urlparse(written).path if written_scheme else written, declared_in))
    resolved = Path(spec["path"])
    outside = doc.confinement.resolved_outside(resolved)
    if outside is not None:
        doc.later_problem((type_, name, "path"), doc.confinement.refusal("data path", written, outside))
        return spec
    missing = _not_a_file(resolved)
    if missing:  # plan reads it (its digest is the version), apply uploads it: found out now, not then
        doc.later_problem((type_, name, "path"), f"local file {written!r} {missing} (looked for {resolved})")
    return spec


def _not_a_file(path: Path) -> str | None:
    """Why `path` is not a readable local file (None when it is one)."""
    try:
        if path.is_file():
            return None
        return "is a directory, not a file" if path.is_dir() else "does not exist"
    except (OSError, ValueError):  # e.g. a NUL byte or a name too long for the OS
        return "does not exist"


def _secret(doc: Document, name: str, spec: dict[str, Any], declared_in: Path) -> dict[str, Any]:
    """A secret's `file` becomes absolute and must stay inside the confinement; a `variable` must
    be declared, and sensitive (a value that may be printed is no secret)."""
    if "file" in spec:
        written = spec["file"]
        spec["file"] = str(local_path(written, declared_in))
        outside = doc.confinement.resolved_outside(Path(spec["file"]))
        if outside is not None:
            refusal = doc.confinement.refusal("secret file", written, outside)
            doc.later_problem(("secrets", name, "file"), refusal)
    if "variable" in spec:
        declared = doc.data.get("variables") if isinstance(doc.data.get("variables"), dict) else {}
        variable = declared.get(spec["variable"])
        if variable is None:
            doc.later_problem(
                ("secrets", name, "variable"),
                f"no variable {spec['variable']!r} is declared",
                allowed=", ".join(sorted(declared)) or "(no variables are declared)",
            )
        elif not (isinstance(variable, dict) and variable.get("sensitive") is True):
            doc.later_problem(
                ("secrets", name, "variable"),
                f"variable {spec['variable']!r} must be declared sensitive: true to hold a "
                "secret's value (else it could be printed)",
            )
    return spec


def _function(doc: Document, name: str, spec: dict[str, Any], declared_in: Path) -> dict[str, Any]:
    source = _checked_source_spec(doc, ("functions", name, "source"), spec["source"], declared_in)
    spec["source"] = source
    if spec.get("kind") == PYTHON:
        return python_function(doc, name, spec)
    refuse_fields(doc, ("functions", name), spec, str(spec.get("kind")))
    handler = spec.get("handler") or source.get("handler")
    problem = run_name_problem(name, handler) if isinstance(handler, str) else None
    if problem and ("functions", name) not in doc.reported:  # a name refused already says why
        doc.problem(("functions", name), problem, key=True)
    return spec


def _workflow(doc: Document, name: str, spec: dict[str, Any], declared_in: Path) -> dict[str, Any]:
    spec["source"] = _checked_source_spec(doc, ("workflows", name, "source"), spec["source"], declared_in)
    return hera_workflow(doc, name, spec)


def _checked_source_spec(
    doc: Document, path: tuple[str, ...], written: dict[str, Any], declared_in: Path
) -> dict[str, Any]:
    """A function's or workflow's `source`: its URL or local file checked (`_checked_source`),
    its base64 decoding to what the runtime can run."""
    source = dict(written)
    if "source" in source:
        source["source"] = _checked_source(doc, path, source["source"], declared_in)
    if "base64" in source:
        try:
            content = base64.b64decode(source["base64"], validate=True)
        except (binascii.Error, ValueError):
            doc.later_problem(
                (*path, "base64"),
                "base64 does not decode: it must be standard base64 text "
                "(A-Z, a-z, 0-9, +, /, with = padding)",
            )
        else:
            _check_embedded(doc, (*path, "base64"), "base64", content)
    return source


def _checked_source(doc: Document, path: tuple[str, ...], text: str, declared_in: Path) -> str:
    """A remote source must be a form the runtime fetches; a local one must exist inside the
    confinement and be code the runtime can run (it is shipped in the spec): `dhmlrun.sources`."""
    field = (*path, "source")
    try:
        form = classify_source(text, declared=True)
    except UnsupportedSource as exc:
        doc.later_problem(field, str(exc), allowed=FORMS)
        return text
    if form.fetch is not Fetch.LOCAL:
        return text
    resolved = local_path(text, declared_in)
    outside = doc.confinement.resolved_outside(resolved)
    if outside is not None:
        doc.later_problem(field, doc.confinement.refusal("source file", text, outside))
        return str(resolved)
    missing = _not_a_file(resolved)
    if missing:
        doc.later_problem(field, f"source file {text!r} {missing} (looked for {resolved})")
        return str(resolved)
    too_big = size_problem(resolved.stat().st_size)  # judged before reading it
    if too_big:
        doc.later_problem(field, f"source file {text!r} cannot be used: {too_big}")
    else:
        _check_embedded(doc, field, f"source file {text!r}", resolved.read_bytes())
    return str(resolved)


def _check_embedded(doc: Document, field: tuple[str, ...], what: str, content: bytes) -> None:
    """Code shipped in the spec: text, or an archive the runtime will unpack (judged now, with the
    same limits)."""
    problem = embedded_problem(content)
    if problem is None and archive.archive_format(content[:512]) is not None:
        try:
            archive.check(content)
        except archive.ArchiveRefused as exc:
            problem = f"the archive is refused: {exc}"
    if problem:
        doc.later_problem(field, f"{what} cannot be used: {problem}")


def bindings(
    doc: Document, path: tuple[str | int, ...], value: Any, *, names: bool = False
) -> dict[str, str]:
    """`inputs`/`outputs` as one map, from the map form or the seed's list of one-key maps; with
    `names` (a python run's outputs), a list of names instead, each mapped to itself."""
    if isinstance(value, dict):
        if names:
            doc.later_problem(
                path,
                "a python run's outputs are a list of the names its handler returns "
                "(e.g. [model, accuracy]); the runtime names the entities itself",
            )
        return dict(value)
    merged: dict[str, str] = {}
    for index, item in enumerate(value or []):
        if isinstance(item, str) != names:
            doc.later_problem(
                (*path, index),
                "write the name of an output the handler returns"
                if names
                else "write KEY: VALUE (a one-key map)",
            )
            continue
        if names:
            if item in merged:
                doc.later_problem((*path, index), f"output {item!r} is given twice")
            merged[item] = item
            continue
        for key, target in item.items():
            if key in merged:
                doc.later_problem((*path, index, key), f"key {key!r} is given twice", key=True)
            merged[key] = target
    return merged


def _service(doc: Document, name: str, spec: dict[str, Any], declared_in: Path) -> dict[str, Any]:
    return service(doc, name, spec)


def _run(doc: Document, name: str, spec: dict[str, Any], declared_in: Path) -> dict[str, Any]:
    path = ("runs", name)
    if "workflow" in spec:
        spec["workflow"] = function_address(spec["workflow"], "workflows")
    else:
        spec["function"] = function_address(spec["function"])
    executable = executable_of(spec)
    _check_action(doc, path, spec, executable_kind(doc, executable))
    spec["inputs"] = bindings(doc, (*path, "inputs"), spec.get("inputs"))
    python = function_kind(doc, executable) == PYTHON
    named = python or spec.get("action") == "pipeline"  # a pipeline's: its steps' output parameters
    spec["outputs"] = bindings(doc, (*path, "outputs"), spec.get("outputs"), names=named)
    if python:
        python_run(doc, name, spec)
    if spec.get("schedule"):  # a schedule fires on the platform, never in an apply
        spec.setdefault("execution", REMOTE)
    if spec["action"] in PLATFORM_ACTIONS:
        if spec.get("execution", REMOTE) != REMOTE:
            doc.later_problem(
                (*path, "execution"),
                f"a {spec['action']} run is executed by the platform "
                "(DHCore's builders, Argo): its execution is remote",
                allowed="remote",
            )
        spec["execution"] = REMOTE
    for key, default in RUN_DEFAULTS.items():
        spec.setdefault(key, copy.deepcopy(default))
    if "env" in spec:
        if "envs" in spec:
            doc.later_problem(
                (*path, "env"), "give either env or envs, not both (they are the same)", key=True
            )
        spec["envs"] = spec.pop("env")
    if "schedule" in spec:
        problem = cron_problem(spec["schedule"])
        if problem:
            doc.later_problem((*path, "schedule"), f"invalid cron schedule: {problem}", allowed=CRON_FORMS)
    return spec


def _check_action(doc: Document, path: tuple[str, ...], spec: dict[str, Any], kind: str | None) -> None:
    """The action is one the executable's kind has (`kinds.ACTIONS`)."""
    actions = ACTIONS.get(kind or "")
    if actions is None or spec.get("action") in actions:
        return
    what = f"a {kind} {'workflow' if 'workflow' in spec else 'function'}"
    doc.later_problem(
        (*path, "action"), f"{what} has no action {spec.get('action')!r}", allowed=", ".join(actions)
    )
