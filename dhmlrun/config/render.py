"""Step 4: render Jinja2 templates, one scalar string at a time, in a sandbox.

Rendering per scalar (after parsing, not over the file's text) keeps each value's file:line for
errors and means a template can never inject YAML structure. The environment is the bounded
sandbox of `sandbox.py` with `StrictUndefined`: an undefined name is an error, unsafe attribute
access (`{{ ''.__class__ }}`) raises a SecurityError that becomes a normal problem, and a
template asking for too much memory, too many loop iterations or too much time is stopped by
the `TemplateLimits` (per scalar, and for the whole declaration) with a problem naming the limit.

Names available: every variable as `{{ NAME }}` and `{{ var.NAME }}`, and `{{ env }}` — the `env`
variable when one is declared, else the name of the chosen environment.

A scalar that is exactly one `{{ expression }}` keeps the expression's native type (an int stays
an int); any other template renders to a string. Strings without `{{`, `{%` or `{#` are left as
they are, and the common `{{ name }}` / `{{ var.name }}` substitutions skip Jinja entirely, which
keeps a thousand-resource declaration fast.

A sensitive variable may only be substituted as it is (`{{ var.token }}`, with text around it):
masking finds its value in what dhmlrun shows and writes, but not a value derived from it
(`{{ var.token|reverse }}` printed it reversed), so any other use of it in a template (a filter,
a test, an operator, `var['token']`) is refused. And it may not be used at all in what the
platform stores and shows as metadata (`METADATA`: names, descriptions, labels), which nothing
masks there.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterable, Iterator
from typing import Any

from .document import Document, FieldPath
from .model import Variable
from .sandbox import LIMITS, LimitExceeded, TemplateLimits, budgeted, environment, render_counted
from .suggest import did_you_mean, listing, with_article

NOT_RENDERED = ("version", "include", "variables", "environments")
"""Top-level sections that are read before rendering and are never templates."""

METADATA = {
    ("project", "name"): "the project's name",
    ("project", "description"): "a description",
    ("project", "labels"): "labels",
    ("*", "description"): "a description",
    ("*", "labels"): "labels",
    ("runs", "outputs"): "the name of an output",
    ("runs", "values"): "the name of a result",
}
"""Fields stored as they are on the platform, shown to whoever can list the project: (section,
field) for the project, (entity type or `*`, field) for entities."""

_MARKERS = ("{{", "{%", "{#")
_SIMPLE = re.compile(r"\{\{\s*(var\.)?([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_WHOLE_EXPRESSION = re.compile(r"\s*\{\{(.*)\}\}\s*", re.DOTALL)


class RenderFailure(Exception):
    """A template could not be rendered; the message is ready for the user."""


class _VarNamespace:
    """`var` in templates: only item access, so a variable named `items` or `keys` is not shadowed
    by a dict method (Jinja tries attributes before items). The names read are noted in `read`."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> Any:
        self.read.add(name)
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)


@functools.lru_cache(maxsize=4096)
def _compile_template(source: str) -> Any:
    return environment().from_string(source)


@functools.lru_cache(maxsize=4096)
def _compile_expression(source: str) -> Any:
    return environment().compile_expression(source, undefined_to_none=False)


@functools.lru_cache(maxsize=4096)
def _names_in(source: str) -> frozenset[str]:
    """The names a template reads from its context (`var` among them)."""
    from jinja2 import meta

    return frozenset(meta.find_undeclared_variables(environment().parse(source)))


def _single_expression(text: str) -> str | None:
    """The inner expression when `text` is exactly one `{{ ... }}`, else None."""
    match = _WHOLE_EXPRESSION.fullmatch(text)
    if match is None:
        return None
    inner = match.group(1)
    if any(marker in inner for marker in ("{{", "}}", "{%", "{#")):
        return None
    return inner.strip("-")


class Renderer:
    """Renders strings against one set of variables."""

    def __init__(
        self,
        variables: dict[str, Variable],
        environment: str | None,
        missing: frozenset[str] = frozenset(),
        limits: TemplateLimits = LIMITS,
    ) -> None:
        self.limits = limits
        self.seconds = 0.0
        self.chars = 0
        values = {name: v.value for name, v in variables.items()}
        self.values = values
        self.sensitive = frozenset(name for name, v in variables.items() if v.sensitive)
        self.used_sensitive: frozenset[str] = frozenset()
        """The sensitive variables the last `render` substituted."""
        self.var = _VarNamespace(values)
        self.context: dict[str, Any] = dict(values)
        self.context["var"] = self.var
        env_value = values.get("env", environment)
        if env_value is not None:
            self.context["env"] = env_value
        self.names = sorted(self.context)
        names = "|".join(map(re.escape, missing))
        self.missing = re.compile(rf"\b(?:{names})\b") if missing else None

    def mentions_missing(self, text: str) -> bool:
        """True when the template names a declared variable that has no value (reported elsewhere)."""
        return bool(self.missing and self.missing.search(text))

    def render(self, text: str) -> Any:
        """The rendered value of one scalar string; RenderFailure with a clear message on error."""
        self.used_sensitive = frozenset()
        if not any(marker in text for marker in _MARKERS):
            return text
        try:
            fast = self._render_simple(text)
            value = self._render_jinja(text) if fast is _NO_FAST_PATH else fast
            self._count_declaration_chars(value)
        except RenderFailure:
            raise
        except Exception as exc:  # Jinja raises many types; each becomes one clean message
            raise RenderFailure(self._explain(exc)) from None
        return value

    def _render_jinja(self, text: str) -> Any:
        """Render with Jinja under the budget of one scalar (within what the declaration has left)."""
        if len(text) > self.limits.template_chars:
            raise LimitExceeded(
                f"a template of {len(text):,} characters, more than the "
                f"{self.limits.template_chars:,} allowed (limit 'template_chars')"
            )
        self._refuse_sensitive(_names_in(text))
        self.var.read = set()
        left = self.limits.declaration_seconds - self.seconds
        overtime = None
        if left < self.limits.seconds:
            overtime = (
                f"rendering the declaration's templates took longer than "
                f"{self.limits.declaration_seconds:g} s in all (limit 'declaration_seconds')"
            )
        started = time.monotonic()
        try:
            with budgeted(self.limits, started + min(left, self.limits.seconds), overtime) as budget:
                budget.check_time()
                expression = _single_expression(text)
                if expression is not None:
                    value = self._native(_compile_expression(expression)(**self.context))
                    budget.check_size(_size(value), "a value of about {} characters")
                else:
                    value = render_counted(_compile_template(text), self.context)
                self._refuse_sensitive(self.var.read)
                return value
        finally:
            self.seconds += time.monotonic() - started

    def _refuse_sensitive(self, names: Iterable[str]) -> None:
        """A template Jinja renders may not read a sensitive variable (module docstring)."""
        used = sorted(self.sensitive.intersection(names))
        if used:
            plain = f"{{{{ var.{used[0]} }}}}"
            raise RenderFailure(
                f"the sensitive variable {used[0]!r} may only be substituted plainly ({plain}, in a value "
                "without filters, tests or expressions): masking would not recognise a value derived from it"
            )

    def _count_declaration_chars(self, value: Any) -> None:
        self.chars += _size(value)
        limit = self.limits.declaration_chars
        if self.chars > limit:
            raise LimitExceeded(
                f"the declaration's templates rendered more than {limit:,} characters in all "
                "(limit 'declaration_chars')"
            )

    def _render_simple(self, text: str) -> Any:
        """`{{ name }}` / `{{ var.name }}` substitutions without Jinja, with the same results."""
        if "{%" in text or "{#" in text:
            return _NO_FAST_PATH
        matches = list(_SIMPLE.finditer(text))
        if not matches or text.count("{{") != len(matches):
            return _NO_FAST_PATH
        for match in matches:
            if self._lookup(match) is _NO_FAST_PATH or text[match.start() - 1 : match.start()] == "{":
                return _NO_FAST_PATH  # unknown name, or `{{{ x }}`, which Jinja reads differently
        self.used_sensitive = self.sensitive.intersection(m.group(2) for m in matches)
        if len(matches) == 1 and matches[0].group(0) == text.strip():
            return self._lookup(matches[0])
        size = len(text) + sum(len(str(self._lookup(m))) - len(m.group(0)) for m in matches)
        if size > self.limits.value_chars:
            raise LimitExceeded(
                f"a value of {size:,} characters, more than the {self.limits.value_chars:,} "
                "allowed (limit 'value_chars')"
            )
        return _SIMPLE.sub(lambda m: str(self._lookup(m)), text)

    def _lookup(self, match: re.Match[str]) -> Any:
        scope = self.values if match.group(1) else self.context
        name = match.group(2)
        return scope[name] if name in scope and name != "var" else _NO_FAST_PATH

    @staticmethod
    def _native(value: Any) -> Any:
        from jinja2 import Undefined

        for item in _walk(value):
            if isinstance(item, Undefined):
                item._fail_with_undefined_error()
        if not _is_plain(value):
            raise RenderFailure(
                f"the template gives {with_article(type(value).__name__)}, not a plain value "
                "(string, number, boolean, null, list or map)"
            )
        return value

    def _explain(self, exc: Exception) -> str:
        from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError

        if isinstance(exc, LimitExceeded):
            return f"the template goes over a sandbox limit: {exc}"
        if isinstance(exc, SecurityError):
            return f"the template is not allowed by the sandbox: {exc}"
        if isinstance(exc, TemplateSyntaxError):
            return f"template syntax error: {exc.message}"
        if isinstance(exc, UndefinedError):
            text = str(exc)
            attribute = re.search(r"_VarNamespace object' has no attribute '([^']*)'", text)
            if attribute:
                text = f"'var.{attribute.group(1)}' is undefined"
            name = re.search(r"'(?:var\.)?([^']*)' is undefined", text)
            defined = [n for n in self.names if n != "var"]
            hint = did_you_mean(name.group(1), defined) if name else ""
            return f"undefined in template: {text}{hint} (defined: {listing(defined) or 'nothing'})"
        return f"template failed: {type(exc).__name__}: {exc}"


_NO_FAST_PATH = object()


def _walk(value: Any) -> Iterator[Any]:
    """The value and everything nested in its lists and maps."""
    yield value
    if isinstance(value, list | tuple):
        for item in value:
            yield from _walk(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)


def _size(value: Any) -> int:
    """About the characters a rendered value takes: its strings' lengths plus one per other item."""
    return sum(len(item) if isinstance(item, str) else 1 for item in _walk(value))


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, list | tuple):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


class RenderResult:
    """Which paths held templates: `rendered` succeeded, `failed` did not (problems recorded)."""

    def __init__(self) -> None:
        self.rendered: set[FieldPath] = set()
        self.failed: set[FieldPath] = set()


def render_document(doc: Document, renderer: Renderer) -> RenderResult:
    """Render every templated scalar of `doc.data` in place."""
    result = RenderResult()
    for key, value in doc.data.items():
        if key not in NOT_RENDERED:
            doc.data[key] = _render_value(doc, renderer, value, (key,), result)
    return result


def _render_value(
    doc: Document, renderer: Renderer, value: Any, path: FieldPath, result: RenderResult
) -> Any:
    if isinstance(value, str):
        if not any(marker in value for marker in _MARKERS):
            return value
        try:
            rendered = renderer.render(value)
        except RenderFailure as exc:
            result.failed.add(path)
            if not renderer.mentions_missing(value):  # already reported as "has no value"
                doc.problem(path, str(exc))
            return value
        if renderer.used_sensitive:
            refused = _metadata_field(path)
            if refused is not None:
                result.failed.add(path)
                name = sorted(renderer.used_sensitive)[0]
                doc.problem(
                    path,
                    f"the sensitive variable {name!r} may not be used in {refused}: the "
                    "platform stores and shows it as it is, unmasked",
                )
                return value
        result.rendered.add(path)
        return _plain(rendered)
    if isinstance(value, dict):
        return {k: _render_value(doc, renderer, v, (*path, k), result) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_value(doc, renderer, v, (*path, i), result) for i, v in enumerate(value)]
    return value


def _metadata_field(path: FieldPath) -> str | None:
    """What `path` is when it is one of the `METADATA` fields (or inside one), else None."""
    if len(path) >= 2 and path[0] == "project":
        return METADATA.get(("project", str(path[1])))
    if len(path) >= 3:
        return METADATA.get((str(path[0]), str(path[2]))) or METADATA.get(("*", str(path[2])))
    return None


def _plain(value: Any) -> Any:
    """Tuples (from native expressions) become lists, the only sequence JSON Schema knows."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
