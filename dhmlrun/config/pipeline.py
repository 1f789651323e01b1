"""The loading pipeline: small named steps, each in its own module, run in this order.

1. `includes.load_files`       read the root file and its includes (`yaml_loader` per file)
2. `schema.validate`           the sections read before rendering (version, include, variables,
                               environments), which are never templates
3. `variables.resolve`         the variables' values (precedence documented there)
4. `render.render_document`    Jinja2 per scalar string, sandboxed
5. `schema.validate`           the rest, structure and values, after rendering
6. `normalise.normalise_resources`  canonical Resources, with the checks JSON Schema cannot do
                               (and what each function kind takes: `kinds`)
7. `references.resolve_references`  depends_on edges; unknown targets and cycles refused
8. `moves.resolve_moves`       `moved:` entries (renamed resources) checked

Why the rest is validated once, after rendering, rather than before and after: rendering replaces
scalars only, so the structure (unknown keys, missing keys, shapes) is the same before and after,
and one pass reports it together with the rendered values (a templated project name is judged on
the name it renders to). A template that fails to render is reported as such and its field is not
judged again. One pass also halves the cost on large declarations.

Steps record problems on the Document and later steps skip what is already broken, so one call
reports every problem it can find; it raises once, at the end (or after step 1 when a file
cannot even be parsed, since nothing after it could be trusted).
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from dhmlrun.errors import DhmlrunError, Problem
from dhmlrun.vocabulary.mask import mask_text

from . import schema
from .confinement import Confinement
from .document import Document, FieldPath
from .includes import find_root_file, load_files
from .model import ENTITY_TYPES, Declaration, Variable
from .moves import resolve_moves
from .normalise import normalise_resources
from .references import resolve_references
from .render import Renderer, render_document
from .secrets import SecretReader
from .variables import resolve_variables

PRE_RENDER_SECTIONS = ("version", "include", "variables", "environments")
"""Validated before rendering: they are never templates and they drive variables and includes."""
PRE_RENDER_PATHS = {(section,) for section in PRE_RENDER_SECTIONS}


def load_declaration(
    path: str | os.PathLike[str] = ".",
    *,
    cli_vars: Mapping[str, str] | None = None,
    var_files: list[Path] | None = None,
    environment: str | None = None,
    environ: Mapping[str, str] | None = None,
    allow_outside: Sequence[str | os.PathLike[str]] = (),
) -> Declaration:
    """Load, render, validate and normalise the declaration at `path`.

    `path` is the config directory (holding `dhmlrun.yaml`) or the root file itself. Raises
    `DhmlrunError` listing every problem found. `environ` defaults to `os.environ` (read for
    `DHMLRUN_VAR_<name>`). Variable precedence is documented in `dhmlrun.config.variables`.
    Files the declaration names (includes, local sources, local data) must be inside the config
    directory or inside one of the `allow_outside` places (`dhmlrun.config.confinement`).
    """
    with _collector_paused():
        return _load(path, cli_vars, var_files, environment, environ, allow_outside)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Loading allocates tens of thousands of small objects and frees almost none; the cyclic
    garbage collector would rescan them over and over (measured: 4x slower on 1,000 resources)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _load(
    path: str | os.PathLike[str],
    cli_vars: Mapping[str, str] | None,
    var_files: list[Path] | None,
    environment: str | None,
    environ: Mapping[str, str] | None,
    allow_outside: Sequence[str | os.PathLike[str]],
) -> Declaration:
    root_file = find_root_file(Path(path))
    doc = load_files(root_file, Confinement.of(root_file.parent, allow_outside))
    if doc.problems:
        raise DhmlrunError(doc.problems)
    for section in PRE_RENDER_SECTIONS:
        if section in doc.data:
            schema.validate(doc, section=section, report=lambda p: True)
    variables = resolve_variables(
        doc,
        cli_vars=cli_vars,
        var_files=var_files,
        environment=environment,
        environ=os.environ if environ is None else environ,
    )
    renderer = Renderer(variables.values, variables.environment, variables.missing)
    result = render_document(doc, renderer)
    schema.validate(doc, report=lambda p: p[:1] not in PRE_RENDER_PATHS and not _under(p, result.failed))
    resources = normalise_resources(doc)
    declared = {f"{t}.{n}" for t in ENTITY_TYPES if isinstance(doc.data.get(t), dict) for n in doc.data[t]}
    resolve_references(doc, resources, declared)
    moved = resolve_moves(doc, declared)
    if doc.problems:
        _raise(doc, variables.values)
    environ = os.environ if environ is None else environ
    return Declaration(
        root=doc.root_file.parent,
        files=doc.files,
        project=dict(doc.data["project"]),
        variables=variables.values,
        environment=variables.environment,
        profile=variables.profile,
        mlrun=variables.mlrun,
        resources=resources,
        secret_reader=SecretReader(environ, variables.values, doc.root_file.parent),
        moved=moved,
    )


def _under(path: FieldPath, roots: set[FieldPath]) -> bool:
    return any(path[:size] in roots for size in range(len(path), 0, -1))


def _raise(doc: Document, variables: dict[str, Variable]) -> None:
    """Raise every problem, with sensitive values masked out of messages."""
    secrets = {str(v.value) for v in variables.values() if v.sensitive and str(v.value)}
    problems = [_masked(p, secrets) for p in doc.problems] if secrets else list(doc.problems)
    raise DhmlrunError(sorted(problems, key=_reading_order))


def _reading_order(problem: Problem) -> tuple[int, str, int, int]:
    """Problems without a place (command-line values) first, then by file, line and column."""
    location = problem.location
    if location is None:
        return (0, "", 0, 0)
    return (1, location.file, location.line or 0, location.column or 0)


def _masked(problem: Problem, secrets: set[str]) -> Problem:
    allowed = None if problem.allowed is None else mask_text(problem.allowed, secrets)
    return Problem(mask_text(problem.message, secrets), problem.location, problem.path, allowed)
