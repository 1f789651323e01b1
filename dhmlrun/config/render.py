"""Step 4: render Jinja2 templates, one scalar string at a time, in a sandbox.

Rendering per scalar (after parsing, not over the file's text) keeps each value's file:line for
errors and means a template can never inject YAML structure. The environment is Jinja2's
`SandboxedEnvironment` with `StrictUndefined`: an undefined name is an error, and unsafe
attribute access (`{{ ''.__class__ }}`) raises a SecurityError that becomes a normal problem.
Multiplication and powers are bounded too, so `{{ 'x' * 10**10 }}` cannot exhaust memory.

Names available: every variable as `{{ NAME }}` and `{{ var.NAME }}`, and `{{ env }}` — the `env`
variable when one is declared, else the name of the chosen environment.

A scalar that is exactly one `{{ expression }}` keeps the expression's native type (an int stays
an int); any other template renders to a string. Strings without `{{`, `{%` or `{#` are left as
they are, and the common `{{ name }}` / `{{ var.name }}` substitutions skip Jinja entirely, which
keeps a thousand-resource declaration fast.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

from .document import Document, FieldPath
from .model import Variable
from .suggest import did_you_mean, listing, with_article

NOT_RENDERED = ("version", "include", "variables", "environments")
"""Top-level sections that are read before rendering and are never templates."""

_MARKERS = ("{{", "{%", "{#")
_SIMPLE = re.compile(r"\{\{\s*(var\.)?([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_WHOLE_EXPRESSION = re.compile(r"\s*\{\{(.*)\}\}\s*", re.DOTALL)
MAX_SEQUENCE = 100_000
MAX_EXPONENT = 100


class RenderFailure(Exception):
    """A template could not be rendered; the message is ready for the user."""


class _VarNamespace:
    """`var` in templates: only item access, so a variable named `items` or `keys` is not shadowed
    by a dict method (Jinja tries attributes before items)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)


@functools.cache
def _environment() -> Any:
    """The sandbox, built once per process (importing and configuring Jinja costs ~100 ms)."""
    from jinja2 import StrictUndefined
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import SandboxedEnvironment

    class BoundedSandbox(SandboxedEnvironment):
        """Jinja's sandbox plus limits on `*` and `**`, the two cheap ways to allocate gigabytes."""

        intercepted_binops = frozenset(["*", "**"])

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise SecurityError(f"exponent {right} is larger than the sandbox allows ({MAX_EXPONENT})")
            if operator == "*":
                for seq, times in ((left, right), (right, left)):
                    if isinstance(seq, str | list | tuple) and isinstance(times, int) and (
                        len(seq) * times > MAX_SEQUENCE
                    ):
                        raise SecurityError(f"result longer than the sandbox allows ({MAX_SEQUENCE})")
            return super().call_binop(context, operator, left, right)

    return BoundedSandbox(undefined=StrictUndefined, keep_trailing_newline=True)


@functools.lru_cache(maxsize=4096)
def _compile_template(source: str) -> Any:
    return _environment().from_string(source)


@functools.lru_cache(maxsize=4096)
def _compile_expression(source: str) -> Any:
    return _environment().compile_expression(source, undefined_to_none=False)


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

    def __init__(self, variables: dict[str, Variable], environment: str | None,
                 missing: frozenset[str] = frozenset()) -> None:
        values = {name: v.value for name, v in variables.items()}
        self.values = values
        self.context: dict[str, Any] = dict(values)
        self.context["var"] = _VarNamespace(values)
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
        if not any(marker in text for marker in _MARKERS):
            return text
        fast = self._render_simple(text)
        if fast is not _NO_FAST_PATH:
            return fast
        try:
            expression = _single_expression(text)
            if expression is not None:
                return self._native(_compile_expression(expression)(**self.context))
            return _compile_template(text).render(**self.context)
        except RenderFailure:
            raise
        except Exception as exc:  # Jinja raises many types; each becomes one clean message
            raise RenderFailure(self._explain(exc)) from None

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
        if len(matches) == 1 and matches[0].group(0) == text.strip():
            return self._lookup(matches[0])
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
            raise RenderFailure(f"the template gives {with_article(type(value).__name__)}, not a plain value "
                                "(string, number, boolean, null, list or map)")
        return value

    def _explain(self, exc: Exception) -> str:
        from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError

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
        result.rendered.add(path)
        return _plain(rendered)
    if isinstance(value, dict):
        return {k: _render_value(doc, renderer, v, (*path, k), result) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_value(doc, renderer, v, (*path, i), result) for i, v in enumerate(value)]
    return value


def _plain(value: Any) -> Any:
    """Tuples (from native expressions) become lists, the only sequence JSON Schema knows."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value

