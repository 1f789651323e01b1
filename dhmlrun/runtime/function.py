"""Function kind `mlrun`: spec, validator, entity and builder for the digitalhub SDK.

A local file given as `source.source` (Python text, or a zip or tar archive) is read when the
function is created and kept in the spec as `base64` (the path stays in `source.source` for
display), so a worker on another machine, or a later run after the file changed, executes
exactly the code that was declared.
"""

from __future__ import annotations

import base64
from typing import Any

from digitalhub.entities._base.runtime_entity.builder import RuntimeEntityBuilder
from digitalhub.entities.function._base.builder import FunctionBuilder
from digitalhub.entities.function._base.entity import Function
from digitalhub.entities.function._base.spec import FunctionSpec, FunctionValidator
from digitalhub.entities.function._base.status import FunctionStatus
from digitalhub.utils.exceptions import EntityError
from pydantic import BaseModel, ConfigDict, model_validator

from dhmlrun.runtime.kinds import RUN_KINDS, TASK_KINDS, Kind
from dhmlrun.runtime.source import local_path
from dhmlrun.sources import Fetch, UnsupportedSource, classify_source, embedded_problem


class SourceValidator(BaseModel):
    """Where the code comes from, as the seed documents it.

    Unknown keys are ignored (as everywhere in the SDK's specs), so reading a function back from
    a platform that adds fields never fails.
    """

    model_config = ConfigDict(extra="ignore")

    source: str | None = None
    "Path or URI of the code: one of the forms of `dhmlrun.sources` (local file or archive, git, https, s3)."
    code: str | None = None
    "Python code as plain text (stored as base64, as the SDK's python runtime does)."
    base64: str | None = None
    "Python code, base64-encoded."
    handler: str | None = None
    "Entry point, when not given at the function's top level."
    lang: str = "python"
    "Language hint for consoles."

    @model_validator(mode="after")
    def _has_code(self) -> SourceValidator:
        if self.source is None and self.code is None and self.base64 is None:
            raise ValueError("source needs one of 'source', 'code' or 'base64'")
        return self


class FunctionSpecMlrun(FunctionSpec):
    """Spec of an `mlrun` function."""

    def __init__(
        self,
        source: dict | None = None,
        handler: str | None = None,
        image: str | None = None,
        tag: str | None = None,
        requirements: list[str] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.source = source
        self.handler = handler
        self.image = image
        self.tag = tag
        self.requirements = requirements


class FunctionValidatorMlrun(FunctionValidator):
    """Validates an `mlrun` function spec; a handler is required (here or in `source`)."""

    source: SourceValidator
    handler: str | None = None
    image: str | None = None
    tag: str | None = None
    requirements: list[str] | str | None = None

    @model_validator(mode="after")
    def _has_handler(self) -> FunctionValidatorMlrun:
        if not (self.handler or self.source.handler):
            raise ValueError("an mlrun function needs a handler (the function to call in the source)")
        return self


class FunctionStatusMlrun(FunctionStatus):
    """Status of an `mlrun` function (no fields beyond the SDK's)."""


class FunctionMlrun(Function):
    """An `mlrun` function: `function.run("job", inputs=..., outputs=..., ...)` runs it."""


class RuntimeEntityBuilderMlrun(RuntimeEntityBuilder):
    """Ties the three kinds together for the SDK's factory (action `job` ↔ task and run kinds)."""

    EXECUTABLE_KIND = Kind.FUNCTION.value
    TASKS_KINDS = TASK_KINDS
    RUN_KINDS = RUN_KINDS


class FunctionMlrunBuilder(FunctionBuilder, RuntimeEntityBuilderMlrun):
    """Builds `mlrun` functions, embedding a local source file's content at creation."""

    ENTITY_CLASS = FunctionMlrun
    ENTITY_SPEC_CLASS = FunctionSpecMlrun
    ENTITY_SPEC_VALIDATOR = FunctionValidatorMlrun
    ENTITY_STATUS_CLASS = FunctionStatusMlrun
    ENTITY_KIND = Kind.FUNCTION.value

    def build(
        self,
        kind: str,
        project: str,
        name: str,
        uuid: str | None = None,
        description: str | None = None,
        labels: list[str] | None = None,
        embedded: bool = False,
        **kwargs: Any,
    ) -> FunctionMlrun:
        kwargs["source"] = normalise_source(kwargs)
        return super().build(kind, project, name, uuid, description, labels, embedded, **kwargs)


def normalise_source(kwargs: dict) -> dict:
    """Collect `source` from the dict form or loose `code` / `base64` / `code_src` keywords.

    Pops the loose keywords from `kwargs`, converts `code` to `base64`, and embeds a local
    file's content; raises `EntityError` (the SDK's creation error) for an unusable source.
    """
    source = dict(kwargs.get("source") or {})
    if isinstance(kwargs.get("source"), str):
        source = {"source": kwargs["source"]}
    for loose, field in (("code_src", "source"), ("code", "code"), ("base64", "base64")):
        value = kwargs.pop(loose, None)
        if value is not None:
            source.setdefault(field, value)
    if source.get("code") is not None:
        source["base64"] = base64.b64encode(str(source.pop("code")).encode()).decode()
    uri = source.get("source")
    if uri is not None and source.get("base64") is None:
        source["base64"] = _embed_local_file(uri)
        if source["base64"] is None:
            del source["base64"]
    return source


def _embed_local_file(uri: str) -> str | None:
    """Base64 of a local source file, archives included (the runtime tells them by their first
    bytes); None for remote sources (git, http(s), s3), fetched at run time."""
    try:
        form = classify_source(uri)
    except UnsupportedSource as exc:
        raise EntityError(str(exc)) from exc
    if form.fetch is not Fetch.LOCAL:
        return None
    path = local_path(uri)
    if not path.is_file():
        raise EntityError(f"source file {uri!r} does not exist (relative paths are read from {path.cwd()})")
    content = path.read_bytes()
    problem = embedded_problem(content)
    if problem:
        raise EntityError(f"source file {uri!r} cannot be used: {problem}")
    return base64.b64encode(content).decode()
