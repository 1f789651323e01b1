"""The Jinja2 sandbox declaration templates render in, bounded in size, iterations and time.

Jinja's `ImmutableSandboxedEnvironment` keeps templates away from Python's internals and from
mutating lists and dicts; it does not stop them from asking for gigabytes
(`{{ 'x'.ljust(10**9) }}`) or from looping for ever (two nested `range(100000)` loops). A
declaration may come from a pull request that CI validates and plans, so every way a template
can make a large value or spin is bounded here, and going over is a `LimitExceeded` naming the
limit. The limits are the fields of `TemplateLimits` (defaults in `LIMITS`); they hold per scalar
rendered, except the two `declaration_*` ones, which hold for one whole declaration:

- `template_chars`: the length of one template's source (compiling cannot be interrupted, so
  what it costs is bounded by what it is given);
- `value_chars`: any one value a template makes, and its output. Checked before the value is
  made wherever its size can be told beforehand: the widths of `ljust`, `rjust`, `center`,
  `zfill`, `expandtabs`, `str.format` (`'{:>N}'`, `'{:.N}'`) and `%`-formatting (`'%Ns'`), the
  result of `replace`, `join`, `translate`, `*`, `+` and `~`, and the filters `center`, `indent`,
  `wordwrap`, `join`, `replace`, `format`, `batch` and `slice`; after it is made otherwise;
  A list, tuple, map, set or namespace counts as the text it holds: its strings' lengths and
  one per other item, every time it refers to them (`['x'*999999]*100000` holds 10^11
  characters for the price of one string; sorting, comparing or printing it would touch them
  all). Lists, tuples and maps written in the template, what a filter yields one by one and a
  namespace after each `set` are all counted;
- `value_items`: any one list, tuple, map or set a template makes (`range` stops at 100,000 too),
  and the count of `batch` and `slice`;
- `produced_chars`: everything made while rendering one scalar, added up, an item of a container
  counting as `ITEM_CHARS` characters, about what it costs in memory (a loop making many values,
  each under the limits above, which a list could keep alive; at 4 bytes a character, 25 million
  stay under 200 MB). Building a string with `~` in a loop counts every intermediate string, so
  about 20,000 characters can be built that way; `|join` counts the result once;
- `int_bits`: integers made by `*` and `**` (squaring in a loop doubles the size each time);
- `loop_iterations`: the iterations of all `{% for %}` loops of one scalar;
- `seconds`: wall-clock time for one scalar, checked at every loop iteration, call, operator,
  filter and output piece;
- `declaration_chars`, `declaration_seconds`: all rendered values of a declaration together.

`sort`, `unique`, `min`, `max`, `groupby` and `dictsort` make a key of each item (a lower-cased
copy of every string, unless `case_sensitive`): what they are given is made a value first (so
within `value_items` and `value_chars`), and their keys are charged to `produced_chars` before
they are made. `%`-formats are read for widths in one pass (linear in the format's length).

Statements that render into a buffer the output count cannot see (`macro`, `call`, `set` blocks,
`filter` blocks, `block`, recursive `for`) and those loading other templates (`include`,
`import`, `extends`) are refused, and `lipsum` is not offered: none has a use in a declaration.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import re
import time
import types
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .suggest import with_article


@dataclass(frozen=True)
class TemplateLimits:
    """What one rendering may use; see the module docstring for what each bounds."""

    template_chars: int = 20_000
    value_chars: int = 1_000_000
    value_items: int = 100_000
    produced_chars: int = 25_000_000
    int_bits: int = 65_536
    loop_iterations: int = 100_000
    seconds: float = 1.0
    declaration_chars: int = 16_000_000
    declaration_seconds: float = 30.0


LIMITS = TemplateLimits()
ITEM_CHARS = 32
"""What one item of a list or map counts for in `produced_chars`: a pointer and a small object."""
_TEXT = (str, bytes)
_SEQUENCES = (list, tuple, set, frozenset)
_CONTAINERS = (*_SEQUENCES, dict)


class LimitExceeded(Exception):
    """A template went over one of the `TemplateLimits`; the message names the limit."""


class Budget:
    """What one scalar's rendering has used so far. The hooks of the sandbox find it through a
    context variable, so rendering stays re-entrant and thread-safe."""

    def __init__(self, limits: TemplateLimits, deadline: float, overtime: str | None = None) -> None:
        self.limits = limits
        self.deadline = deadline
        self.overtime = overtime or f"rendering took longer than {limits.seconds:g} s (limit 'seconds')"
        self.produced = 0
        self.iterations = 0
        self.output = 0

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise LimitExceeded(self.overtime)

    def check_size(self, size: int, what: str = "a value of {} characters") -> None:
        """Refuse, before it is made, a value of `size` characters (or items); `what` says what
        the number is, `{}` standing for it."""
        limit = self.limits.value_chars
        if size > limit:
            shown = what.format(f"{size:,}")
            raise LimitExceeded(f"{shown}, more than the {limit:,} allowed (limit 'value_chars')")

    def check_items(self, count: int, what: str = "a list of {} items") -> None:
        """Refuse, before it is made, a container of `count` items."""
        limit = self.limits.value_items
        if count > limit:
            shown = what.format(f"{count:,}")
            raise LimitExceeded(f"{shown}, more than the {limit:,} allowed (limit 'value_items')")

    def made(self, value: Any) -> Any:
        """Account for a value just made (strings, bytes and containers; numbers are checked where
        they grow) and hand it back."""
        self.check_time()
        if isinstance(value, _TEXT):
            self.check_size(len(value))
            self.charge(len(value))
        elif isinstance(value, _CONTAINERS):
            self.check_items(len(value))
            self.charge(len(value) * ITEM_CHARS)
            self.check_held(value)
        return value

    def check_held(self, value: Any) -> None:
        """Refuse a container that refers to more text than one value may be (see `held_chars`)."""
        limit = self.limits.value_chars
        held = held_chars(value, limit, self)
        if held > limit:
            raise LimitExceeded(
                f"{with_article(_kind(value))} holding more than {limit:,} characters, "
                "counting every value each time it is referred to (limit 'value_chars')"
            )

    def charge(self, size: int) -> None:
        """Add `size` characters to what this rendering has made (`produced_chars`)."""
        self.produced += size
        if self.produced > self.limits.produced_chars:
            raise LimitExceeded(
                f"the template made more than {self.limits.produced_chars:,} characters of "
                "values in all (limit 'produced_chars')"
            )

    def iteration(self) -> None:
        self.iterations += 1
        if self.iterations > self.limits.loop_iterations:
            raise LimitExceeded(
                f"loops ran more than {self.limits.loop_iterations:,} iterations (limit 'loop_iterations')"
            )
        self.check_time()

    def emitted(self, piece: str) -> None:
        self.output += len(piece)
        self.check_size(self.output, "an output of {} characters")
        self.check_time()

    def check_int(self, bits: int) -> None:
        if bits > self.limits.int_bits:
            raise LimitExceeded(
                f"an integer of about {bits:,} bits, more than the {self.limits.int_bits:,} "
                "allowed (limit 'int_bits')"
            )


def held_chars(value: Any, limit: int, budget: Budget | None = None) -> int:
    """About how many characters `value` amounts to as text: its strings' lengths plus one per
    other item, counting a value every time it is referred to (what printing, comparing, sorting
    or lower-casing it touches). Counting stops past `limit`, so a cycle or a huge structure is
    walked at most `limit` steps; the time limit is checked as it goes."""
    from jinja2.utils import Namespace

    total, stack, steps = 0, [value], 0
    while stack and total <= limit:
        item = stack.pop()
        steps += 1
        if budget is not None and steps % 4096 == 0:
            budget.check_time()
        if isinstance(item, _TEXT):
            total += len(item)
            continue
        total += 1
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, _SEQUENCES):
            stack.extend(item)
        elif isinstance(item, Namespace):
            stack.extend(object.__getattribute__(item, "_Namespace__attrs").values())
    return total


def _kind(value: Any) -> str:
    return {list: "list", tuple: "tuple", dict: "map", set: "set", frozenset: "set"}.get(type(value), "value")


_BUDGET: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("dhmlrun_budget", default=None)


@contextlib.contextmanager
def budgeted(limits: TemplateLimits, deadline: float, overtime: str | None = None) -> Iterator[Budget]:
    """Make a fresh budget the one the sandbox charges while the block runs; `overtime` is the
    message when `deadline` passes (by default, the per-scalar `seconds`)."""
    budget = Budget(limits, deadline, overtime)
    token = _BUDGET.set(budget)
    try:
        yield budget
    finally:
        _BUDGET.reset(token)


def _budget() -> Budget:
    """The active budget; outside `budgeted` (the environment used directly) a fresh one with the
    default limits for each check, so the sandbox is never unbounded."""
    return _BUDGET.get() or Budget(LIMITS, time.monotonic() + LIMITS.seconds)


# -- sizes told beforehand ------------------------------------------------------------------------

_PRINTF_SPEC = re.compile(r"[#0\- +]*+(\*|\d++)?+(?:\.(\*|\d*+))?+")
"""What follows `%` (and its `(key)`) in a %-format: flags, width, precision; possessive, so
matching it is linear in what it reads."""
_PARENTHESES = re.compile(r"[()]")
_FORMAT_SPEC = re.compile(r"(?:.?[<>=^])?[+\- ]?z?#?0?(\d*)[_,]?(?:\.(\d+))?[a-zA-Z%]?")


def _printf_numbers(text: str) -> Iterator[str]:
    """The widths and precisions of `text`'s %-conversions, read in one pass as Python reads
    them: `%`, an optional `(key)` (parentheses nest), flags, width, `.precision`. A backtracking
    regex took quadratic time on `'%(' * 450000`; here every character is read once."""
    position = text.find("%")
    while position != -1:
        cursor = position + 1
        if text.startswith("(", cursor):
            depth = 0
            for parenthesis in _PARENTHESES.finditer(text, cursor):
                depth += 1 if parenthesis.group() == "(" else -1
                if depth == 0:
                    cursor = parenthesis.end()
                    break
            else:
                return  # an incomplete key: Python refuses the whole format here
        spec = _PRINTF_SPEC.match(text, cursor)  # always matches: every part is optional
        yield from (number for number in (spec.groups() if spec else ()) if number)
        position = text.find("%", (spec.end() if spec else cursor) + 1)


def _check_printf(budget: Budget, text: str) -> None:
    """`'%1000000000s' % x` and `'%.1000000000f' % x`: widths and precisions within the limit."""
    for number in _printf_numbers(text):
        if number == "*":
            raise LimitExceeded("'*' widths in %-formatting are not supported in templates")
        budget.check_size(int(number), "a %-format width or precision of {}")


def _check_format_spec(budget: Budget, spec: str) -> None:
    """`'{:>1000000000}'`: the width and precision of a standard format spec within the limit."""
    match = _FORMAT_SPEC.fullmatch(spec)
    if match:
        for number in match.groups():
            if number:
                budget.check_size(int(number), "a format width or precision of {}")


def _replaced_size(text: str | bytes, old: Any, new: Any, count: Any) -> int:
    occurrences = len(text) + 1 if not old else text.count(old)
    if isinstance(count, int) and count >= 0:
        occurrences = min(occurrences, count)
    return len(text) + occurrences * (len(new) - len(old))


def _joined_items(budget: Budget, items: Iterable[Any], separator: int) -> list[Any]:
    """The items of a join, read once and refused as soon as what they join to (their texts, a
    separator between two) is over the limit: `('x'*100000).join(range(100000)|map('string'))` is
    refused at the eleventh item, not after making the hundred thousand."""
    taken: list[Any] = []
    size = 0
    for item in items:
        size += (len(item) if isinstance(item, _TEXT) else 0) + (separator if taken else 0)
        budget.check_size(size, "a joined value of {} characters so far")
        taken.append(item)
    return taken


def _bounded_method_args(budget: Budget, method: Any, args: tuple, kwargs: dict) -> tuple:
    """Check a str or bytes method that can make a value far larger than its inputs, before it
    runs; hand back the arguments (an iterable given to `join` is read once, here)."""
    text, name = method.__self__, method.__name__
    width = args[0] if args else kwargs.get("width", kwargs.get("tabsize", 8 if name == "expandtabs" else 0))
    if name in ("ljust", "rjust", "center", "zfill") and isinstance(width, int):
        budget.check_size(width)
    elif name == "expandtabs" and isinstance(width, int):
        budget.check_size(len(text) + text.count("\t" if isinstance(text, str) else b"\t") * max(width, 0))
    elif name == "replace" and len(args) >= 2:
        count = args[2] if len(args) > 2 else kwargs.get("count")
        budget.check_size(_replaced_size(text, args[0], args[1], count))
    elif name == "join" and args:
        args = (_joined_items(budget, args[0], len(text)), *args[1:])
    elif name == "translate" and args and isinstance(args[0], dict):
        longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
        budget.check_size(len(text) * max(longest, 1))
    return args


def _is_text_method(obj: Any) -> bool:
    return isinstance(obj, types.BuiltinMethodType) and isinstance(obj.__self__, str | bytes)


# -- filters ----------------------------------------------------------------------------------------


def _bounded_filters() -> dict[str, Callable[..., Any]]:
    """The filters whose result can be far larger than their input, each checked before it runs
    and then handing over to Jinja's own implementation (same parameters, same defaults)."""
    from jinja2 import filters, pass_environment, pass_eval_context

    def center(value: str, width: int = 80) -> str:
        _budget().check_size(width if isinstance(width, int) else 0)
        return filters.do_center(value, width)

    def indent(s: str, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
        text = str(s)
        step = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        _budget().check_size(len(text) + (text.count("\n") + 1) * step)
        return filters.do_indent(s, width, first, blank)

    @pass_environment
    def wordwrap(
        environment: Any,
        s: str,
        width: int = 79,
        break_long_words: bool = True,
        wrapstring: str | None = None,
        break_on_hyphens: bool = True,
    ) -> str:
        text, separator = str(s), str(wrapstring or environment.newline_sequence)
        _budget().check_size(len(text) + (len(text) + 1) * len(separator))
        return filters.do_wordwrap(environment, s, width, break_long_words, wrapstring, break_on_hyphens)

    @pass_eval_context
    def join(eval_ctx: Any, value: Iterable[Any], d: str = "", attribute: str | int | None = None) -> str:
        items = _joined_items(_budget(), value, len(str(d)))
        return filters.sync_do_join(eval_ctx, items, d, attribute)

    @pass_eval_context
    def replace(eval_ctx: Any, s: str, old: str, new: str, count: int | None = None) -> str:
        _budget().check_size(_replaced_size(str(s), str(old), str(new), count))
        return filters.do_replace(eval_ctx, s, old, new, count)

    def format(value: str, *args: Any, **kwargs: Any) -> str:
        _check_printf(_budget(), str(value))
        return filters.do_format(value, *args, **kwargs)

    def batch(value: Iterable[Any], linecount: int, fill_with: Any = None) -> Iterator[list[Any]]:
        _budget().check_items(linecount if isinstance(linecount, int) else 0, "batches of {} items")
        return filters.do_batch(value, linecount, fill_with)

    def slice(value: Any, slices: int, fill_with: Any = None) -> Iterator[list[Any]]:
        _budget().check_items(slices if isinstance(slices, int) else 0, "{} slices")
        return filters.sync_do_slice(value, slices, fill_with)

    return {f.__name__: f for f in (center, indent, wordwrap, join, replace, format, batch, slice)}


def _accounted(original: Callable[..., Any]) -> Callable[..., Any]:
    """A filter whose result is accounted for in the budget. `functools.wraps` keeps Jinja's
    pass_context/pass_environment marker, so Jinja still hands the filter what it asks for."""

    @functools.wraps(original)
    def accounted(*args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.check_time()
        result = budget.made(original(*args, **kwargs))
        return _each_made(result) if isinstance(result, Iterator) else result

    return accounted


def _each_made(items: Iterator[Any]) -> Iterator[Any]:
    """What a filter yields one by one (`map`, `select`, `batch`...), each container accounted for
    as it comes: `[0]|batch(100000, s)` yields a list of 100,000 references to `s`. (A string
    yielded was accounted for when it was made.)"""
    budget = _budget()
    for item in items:
        if isinstance(item, _CONTAINERS):
            budget.made(item)
        yield item


KEYED_FILTERS = {"sort": 1, "unique": 1, "min": 1, "max": 1, "groupby": 1, "dictsort": 0}
"""The filters that make a key of every item they are given, and where that value is among their
arguments (after the environment Jinja passes to all but `dictsort`)."""


def _keyed(original: Callable[..., Any], position: int) -> Callable[..., Any]:
    """`sort`, `unique`, `min`, `max`, `groupby` and `dictsort` budgeted: the value they are given is
    made a value first (so it is within `value_items` and `value_chars` whatever produced it), and
    the keys they will make, a lower-cased copy of each string unless `case_sensitive`, are
    charged to `produced_chars` before Jinja makes them."""

    @functools.wraps(original)
    def keyed(*args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        if len(args) > position and isinstance(args[position], Iterable):
            value = args[position]
            value = value if isinstance(value, dict) else list(value)
            budget.made(value)
            budget.charge(held_chars(value, budget.limits.produced_chars, budget))
            args = (*args[:position], value, *args[position + 1 :])
        return original(*args, **kwargs)

    return keyed


# -- the environment --------------------------------------------------------------------------------

REFUSED_STATEMENTS = {
    "Macro": "macro",
    "CallBlock": "call",
    "AssignBlock": "set ... endset",
    "FilterBlock": "filter",
    "Block": "block",
    "Extends": "extends",
    "Include": "include",
    "Import": "import",
    "FromImport": "from ... import",
}
LOOP_FILTER = "dhmlrun_counted_loop"


@functools.cache
def environment() -> Any:
    """The bounded sandbox, built once per process (importing and configuring Jinja takes ~100 ms)."""
    from jinja2 import StrictUndefined, nodes, pass_context
    from jinja2.compiler import CodeGenerator, Frame, optimizeconst
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
    from jinja2.utils import Namespace

    class BoundedFormatter(SandboxedFormatter):
        def format_field(self, value: Any, format_spec: str) -> Any:
            budget = _budget()
            _check_format_spec(budget, format_spec)
            return budget.made(super().format_field(value, format_spec))

    class BoundedCodeGenerator(CodeGenerator):
        @optimizeconst
        def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
            """`a ~ b` through `environment.bounded_concat`, so doubling a string is bounded."""
            if frame.eval_ctx.volatile or frame.eval_ctx.autoescape:
                super().visit_Concat(node, frame)
                return
            self.write("environment.bounded_concat((")
            for arg in node.nodes:
                self.visit(arg, frame)
                self.write(", ")
            self.write("))")

        def visit_List(self, node: nodes.List, frame: Frame) -> None:
            self._made_literal(super().visit_List, node, frame)

        def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
            self._made_literal(super().visit_Dict, node, frame)

        def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
            if node.ctx != "load":  # a target: `{% for a, b in ... %}`, `{% set a, b = ... %}`
                super().visit_Tuple(node, frame)
                return
            self._made_literal(super().visit_Tuple, node, frame)

        def _made_literal(self, visit: Callable[..., None], node: nodes.Expr, frame: Frame) -> None:
            """A list, map or tuple written in the template is made like any other value:
            `[s, s, s, ...]` may refer to a large `s` thousands of times."""
            self.write("environment.made(")
            visit(node, frame)
            self.write(")")

    class BoundedNamespace(Namespace):
        """`namespace()`, whose content is checked when it is made and after every
        `{% set ns.x = ... %}`."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            _budget().check_held(self)

        def __setitem__(self, name: str, value: Any) -> None:
            super().__setitem__(name, value)
            _budget().check_held(self)

    @pass_context
    def counted_loop(context: Any, iterable: Any) -> Iterator[Any]:
        """What every `{% for %}` iterates (see `_parse`): the items, each one counted."""
        budget = _budget()
        for item in iterable:
            budget.iteration()
            yield item

    class BoundedSandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset(["*", "**", "+", "%"])
        code_generator_class = BoundedCodeGenerator

        def _parse(self, source: str, name: str | None, filename: str | None) -> Any:
            """Refuse the statements the budget cannot watch, and make every loop count."""
            tree = super()._parse(source, name, filename)
            for node in tree.find_all(nodes.Stmt):
                kind = type(node).__name__
                if kind in REFUSED_STATEMENTS:
                    raise SecurityError(f"{{% {REFUSED_STATEMENTS[kind]} %}} is not allowed in a declaration")
                if isinstance(node, nodes.For):
                    if node.recursive:
                        raise SecurityError("recursive loops are not allowed in a declaration")
                    node.iter = nodes.Filter(node.iter, LOOP_FILTER, [], [], None, None, lineno=node.lineno)
            return tree

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            budget = _budget()
            budget.check_time()
            if _is_text_method(__obj):
                args = _bounded_method_args(budget, __obj, args, kwargs)
            return budget.made(super().call(__context, __obj, *args, **kwargs))

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            budget = _budget()
            budget.check_time()
            _check_binop(budget, operator, left, right)
            return budget.made(super().call_binop(context, operator, left, right))

        def made(self, value: Any) -> Any:
            return _budget().made(value)

        def bounded_concat(self, parts: Iterable[Any]) -> str:
            budget = _budget()
            texts = [str(part) for part in parts]
            budget.check_size(sum(map(len, texts)))
            return budget.made("".join(texts))

        def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
            """Jinja's wrapper of `str.format`/`format_map`, with widths checked (see BoundedFormatter)."""
            if (
                not isinstance(value, types.MethodType | types.BuiltinMethodType)
                or value.__name__ not in ("format", "format_map")
                or not isinstance(value.__self__, str)
            ):
                return None
            text, is_map = value.__self__, value.__name__ == "format_map"
            vformat = BoundedFormatter(self).vformat

            def wrapper(*args: Any, **kwargs: Any) -> str:
                if is_map:
                    if kwargs or len(args) != 1:
                        raise TypeError("format_map() takes exactly one argument")
                    args, kwargs = (), args[0]
                return str(vformat(text, args, kwargs))

            return functools.update_wrapper(wrapper, value)

    env = BoundedSandbox(undefined=StrictUndefined, keep_trailing_newline=True)
    env.globals.pop("lipsum", None)
    env.globals["namespace"] = BoundedNamespace
    filters = {**env.filters, **_bounded_filters()}
    filters.update({name: _keyed(filters[name], position) for name, position in KEYED_FILTERS.items()})
    env.filters = {name: _accounted(f) for name, f in filters.items()}
    env.filters[LOOP_FILTER] = counted_loop
    return env


def _check_binop(budget: Budget, operator: str, left: Any, right: Any) -> None:
    """Sizes of `*`, `**`, `+` and `%` results, told before they are computed."""
    if operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
        budget.check_int(left.bit_length() * right)
    elif operator == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, str | bytes) and isinstance(times, int):
                budget.check_size(len(seq) * times)
            elif isinstance(seq, list | tuple) and isinstance(times, int):
                budget.check_items(len(seq) * times)
        if isinstance(left, int) and isinstance(right, int):
            budget.check_int(left.bit_length() + right.bit_length())
    elif operator == "+" and isinstance(left, str | bytes) and type(left) is type(right):
        budget.check_size(len(left) + len(right))
    elif operator == "+" and isinstance(left, list | tuple) and type(left) is type(right):
        budget.check_items(len(left) + len(right))
    elif operator == "%" and isinstance(left, str):
        _check_printf(budget, left)


def render_counted(template: Any, context: dict[str, Any]) -> str:
    """Render `template`, counting its output piece by piece as it is produced (a loop printing a
    large value many times is stopped before the pieces are joined)."""
    budget = _budget()
    pieces: list[str] = []
    for piece in template.generate(**context):
        budget.emitted(piece)
        pieces.append(piece)
    return "".join(pieces)
