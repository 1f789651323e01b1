"""What each function kind takes, as one table: its own fields, and what its runs may declare.

Two kinds: `mlrun` (dhmlrun's mlrun runtime) and `python` (DigitalHub's own python runtime:
function `python`, task `python+job`, run `python+job:run`, as digitalhub-runtime-python and a
stock DHCore 0.15 define them). The JSON Schema describes the union of both; the rules here say
which of those fields a kind refuses, and shape a python function the way DHCore stores one
(the handler inside `source`, inline `code` shipped as `base64`, as the SDK's builder does).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dhmlrun import archive
from dhmlrun.sources import Fetch, UnsupportedSource, classify_source
from dhmlrun.vocabulary.addresses import Address
from dhmlrun.vocabulary.kinds import HERA_KIND, MLRUN_KIND, PYTHON_KIND

from .document import Document

MLRUN = MLRUN_KIND
PYTHON = PYTHON_KIND
PYTHON_TASK_QUANTITY = re.compile(r"^\d+([a-zA-Z]+)?$")
"""DHCore's `CoreResource` pattern: whole numbers with an optional unit (`500m`, `2`, `1Gi`)."""


@dataclass(frozen=True)
class FunctionKind:
    """One function kind: the declared fields it refuses, those it requires, and the run fields
    (results, task parameters) its task does not have."""

    name: str
    refused: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    run_refused: tuple[str, ...] = ()
    why: str = ""


FUNCTION_KINDS: dict[str, FunctionKind] = {
    MLRUN: FunctionKind(MLRUN, refused=("python_version", "base_image", "init_function")),
    PYTHON: FunctionKind(
        PYTHON,
        refused=("tag",),
        required=("python_version",),
        run_refused=(
            "values",
            "node_selector",
            "affinity",
            "tolerations",
            "backoff_limit",
            "schedule",
            "replicas",
        ),
        why="a python+job task on DHCore 0.15 has volumes, envs, resources, secrets and profile only",
    ),
}


def function_kind(doc: Document, address: Any) -> str | None:
    """The declared kind of the function a run names (`functions.X`), if it is declared."""
    if not isinstance(address, str) or not address.startswith("functions."):
        return None
    return executable_kind(doc, address)


def executable_kind(doc: Document, address: Any) -> str | None:
    """The declared kind of the function or workflow a run names (`functions.X`, `workflows.X`)."""
    if not isinstance(address, str) or "." not in address:
        return None
    type_, name = Address.parse(address).type, Address.parse(address).name
    entries = doc.data.get(type_) if type_ in ("functions", "workflows") else None
    body = entries.get(name) if isinstance(entries, dict) else None
    kind = body.get("kind") if isinstance(body, dict) else None
    return kind if isinstance(kind, str) else None


def refuse_fields(doc: Document, path: tuple[str, ...], spec: dict[str, Any], kind: str) -> None:
    """Record a problem for each field of `spec` that functions of `kind` do not take."""
    rules = FUNCTION_KINDS.get(kind)
    if rules is None:
        return
    for field in rules.refused:
        if field in spec:
            doc.later_problem((*path, field), f"a {kind} function has no {field}", key=True)
    for field in rules.required:
        if field not in spec:
            doc.later_problem(path, f"a {kind} function needs {field}")


ACTIONS: dict[str, tuple[str, ...]] = {
    MLRUN: ("job",),
    PYTHON: ("job", "build"),
    HERA_KIND: ("pipeline", "build"),
}
"""The actions a run of each executable kind may declare (a python function's `serve` is a
service, declared under `services:`)."""


def hera_workflow(doc: Document, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A hera workflow as DHCore stores it (the SDK's `new_workflow`): its handler in
    `source.handler`, `code` as `base64`, the source a form the hera runtime fetches."""
    return _python_source_entity(doc, ("workflows", name), spec, "a hera workflow")


def python_function(doc: Document, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A python function as DHCore stores it: `handler` moved into `source.handler`, `code` as
    `base64`; checks that the runtime can run the declared source."""
    path = ("functions", name)
    refuse_fields(doc, path, spec, PYTHON)
    return _python_source_entity(doc, path, spec, "a python function")


def _python_source_entity(
    doc: Document, path: tuple[str, ...], spec: dict[str, Any], what: str
) -> dict[str, Any]:
    source = dict(spec["source"])
    handler = spec.pop("handler", None)
    if handler is not None and source.get("handler") not in (None, handler):
        doc.later_problem((*path, "handler"), "give the handler once: handler and source.handler differ")
    handler = source.get("handler") or handler
    if not handler:
        doc.later_problem(path, f"{what} needs a handler (handler: NAME, or source.handler)")
    else:
        source["handler"] = handler
    if "init_function" in spec:  # DHCore keeps it in the source, beside the handler
        source["init_function"] = spec.pop("init_function")
    if "code" in source:
        source["base64"] = base64.b64encode(str(source.pop("code")).encode("utf-8")).decode("ascii")
    embedded = "base64" in source or _local(source.get("source"))
    if embedded and isinstance(handler, str) and not handler.isidentifier():
        doc.later_problem(
            (*path, "handler"),
            f"handler {handler!r}: with a local file, code or base64 the python runtime writes one module, "
            "so the handler is a function name in it (module:function is for git and archive sources)",
        )
    _check_python_source(doc, path, source)
    spec["source"] = source
    return spec


def _local(uri: Any) -> bool:
    try:
        return isinstance(uri, str) and classify_source(uri, declared=True).fetch is Fetch.LOCAL
    except UnsupportedSource:
        return False


def _check_python_source(doc: Document, path: tuple[str, ...], source: dict[str, Any]) -> None:
    """The forms digitalhub-runtime-python fetches: embedded text (it writes it as one module),
    git+https, https (a .py or an archive), zip+https, zip+s3. Not a local or embedded archive (the
    SDK would upload it to the files store), not a plain s3:// file."""
    field = (*path, "source")
    text = source.get("source")
    if isinstance(text, str):
        try:
            form = classify_source(text, declared=True)
        except UnsupportedSource:
            return  # reported by the common source check
        if form.fetch is Fetch.S3 and not text.lower().startswith("zip+s3://"):
            doc.later_problem(
                (*field, "source"),
                "the python runtime reads code from S3 as an archive only: write zip+s3://BUCKET/PATH",
            )
        if form.fetch is Fetch.LOCAL and "base64" not in source and _is_archive(Path(text)):
            doc.later_problem(
                (*field, "source"),
                "a python function's local source is one .py file: publish "
                "an archive as zip+s3://, zip+https:// or git+https:// instead",
            )
    encoded = source.get("base64")
    if isinstance(encoded, str):
        try:
            head = base64.b64decode(encoded[:1024], validate=False)
        except ValueError:
            return  # reported by the common base64 check
        if archive.archive_format(head[:512]) is not None:
            doc.later_problem(
                (*field, "base64"),
                "a python function's base64 is Python text (the runtime "
                "writes it as one module), not an archive",
            )


def _is_archive(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return archive.archive_format(handle.read(512)) is not None
    except OSError:
        return False  # a missing file is reported by the common source check


def python_run(doc: Document, name: str, spec: dict[str, Any]) -> None:
    """Refuse what a python+job run cannot take; `resources` as DHCore's flat quantities."""
    rules = FUNCTION_KINDS[PYTHON]
    for field in rules.run_refused:
        if field in spec and spec[field] not in ([], None):
            reason = "its results are the handler's non-entity outputs" if field == "values" else rules.why
            doc.later_problem(("runs", name, field), f"a python run has no {field}: {reason}", key=True)
    resources = spec.get("resources")
    if isinstance(resources, dict):
        for key, value in list(resources.items()):
            if isinstance(value, int) and not isinstance(value, bool):
                value = resources[key] = str(value)
            if not (isinstance(value, str) and PYTHON_TASK_QUANTITY.match(value)):
                doc.later_problem(
                    ("runs", name, "resources", key),
                    "a python run's resources are DHCore's flat quantities: a whole number with "
                    "an optional unit (cpu: 500m, mem: 1Gi), no requests/limits",
                )
