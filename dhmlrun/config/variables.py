"""Step 3: give every declared variable its value.

Precedence, lowest to highest (a later source overrides an earlier one):

1. `default:` in the declaration (`variables.NAME.default`);
2. the chosen environment's overrides, `environments.ENV.variables` (`--env ENV`);
3. `DHMLRUN_VAR_NAME` in the process environment, NAME matching ignoring case
   (`DHMLRUN_VAR_GH_TOKEN` sets `gh_token`; `_environ_entries` says how clashes are settled);
4. `--var-file FILE` (a YAML mapping of NAME: VALUE), later files winning;
5. `--var NAME=VALUE` on the command line, later ones winning.

Why this order: what is written in the declaration (defaults, then the per-environment values)
is the baseline; what the operator supplies when invoking overrides it, and the more explicit the
source the later it applies — an ambient environment variable, then a file named on the command
line, then a value typed on the command line (Terraform's and the Databricks CLI's order).

Values from the command line and the environment are strings; when a variable has a `type:` (or
its default has one: int, float, bool, list, map) they are converted to it, so `--var n=5` gives
the integer 5 to `{{ n }}`. A variable without a default that nothing sets is an error, so is a
`--var` or var-file entry naming an undeclared variable, and so is an unknown `--env`.
Variable values are used as given; they are not templates themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dhmlrun.errors import Location, Problem

from .document import Document, display_path
from .model import Variable
from .suggest import did_you_mean, listing, with_article
from .yaml_loader import VARIABLE_VALUES, load_yaml

ENV_PREFIX = "DHMLRUN_VAR_"
TYPE_NAMES = ("string", "integer", "number", "boolean", "list", "map")


@dataclass
class ResolvedVariables:
    """The variables' values, the chosen environment and the profile it names."""

    values: dict[str, Variable] = field(default_factory=dict)
    missing: frozenset[str] = frozenset()
    environment: str | None = None
    profile: str | None = None
    mlrun: str | None = None


def _type_of(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "map"
    return None


def _matches(value: Any, type_: str) -> bool:
    actual = _type_of(value)
    return actual == type_ or (type_ == "number" and actual == "integer")


def _from_text(text: str, type_: str | None) -> Any:
    """Convert a command-line/environment string to the variable's type; ValueError, whose
    message is meant for the user, when it cannot."""
    if type_ in (None, "string"):
        return text
    stripped = text.strip()
    if type_ in ("integer", "number"):
        try:
            return int(stripped)
        except ValueError:
            if type_ == "number":
                try:
                    return float(stripped)
                except ValueError:
                    pass
        raise ValueError(f"{text!r} is not {with_article(type_)}")
    if type_ == "boolean":
        lowered = stripped.lower()
        if lowered in ("true", "yes", "on", "1"):
            return True
        if lowered in ("false", "no", "off", "0"):
            return False
        raise ValueError(f"{text!r} is not a boolean (true or false)")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = text
    if not _matches(value, type_):
        example = "[a, b]" if type_ == "list" else "{key: value}"
        raise ValueError(f"{text!r} is not {with_article(type_)} (write it in YAML, e.g. {example})")
    return value


class _Resolver:
    """Holds the declared variables while the sources are applied in precedence order."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        declared = doc.data.get("variables")
        self.declared: dict[str, dict[str, Any]] = (
            {name: spec for name, spec in (declared or {}).items() if isinstance(spec, dict)}
            if isinstance(declared, dict)
            else {}
        )
        self.types = {name: self._declared_type(spec) for name, spec in self.declared.items()}
        self.values: dict[str, Any] = {n: s["default"] for n, s in self.declared.items() if "default" in s}

    @staticmethod
    def _declared_type(spec: dict[str, Any]) -> str | None:
        type_ = spec.get("type")
        if type_ in TYPE_NAMES:
            return type_
        return _type_of(spec.get("default"))

    def unknown(self, name: str) -> str:
        return f"no variable {name!r} is declared{did_you_mean(name, self.declared)}"

    def set_typed(self, name: str, value: Any, problem: Any) -> None:
        """Set a value that came with its YAML type (a var file, an environment's overrides)."""
        type_ = self.types.get(name)
        if isinstance(value, str) and type_ not in (None, "string"):
            self.set_text(name, value, problem)
            return
        if type_ is not None and not _matches(value, type_):
            actual = _type_of(value) or "null"
            problem(f"variable {name!r} is {with_article(type_)}, got {with_article(actual)}")
            return
        self.values[name] = value

    def set_text(self, name: str, text: str, problem: Any) -> None:
        try:
            self.values[name] = _from_text(text, self.types.get(name))
        except ValueError as exc:
            problem(f"{exc} ({self.type_origin(name)})")

    def type_origin(self, name: str) -> str:
        """Where a variable's type comes from, for a message refusing a value."""
        spec = self.declared.get(name, {})
        type_ = with_article(self.types.get(name) or "string")
        if spec.get("type") in TYPE_NAMES:
            return f"variable {name!r} is declared {type_}"
        return f"variable {name!r} takes {type_}, the type of its default {spec.get('default')!r}"


def _apply_environment(
    doc: Document, resolver: _Resolver, environment: str | None, out: ResolvedVariables
) -> None:
    if environment is None:
        return
    environments = doc.data.get("environments")
    known = environments if isinstance(environments, dict) else {}
    if environment not in known:
        doc.problems.append(
            Problem(
                f"unknown environment {environment!r}{did_you_mean(environment, known)}",
                doc.locate(("environments",), key=True) if known else Location(display_path(doc.root_file)),
                "--env",
                listing(known) or "(no environments are declared)",
            )
        )
        return
    spec = known[environment] if isinstance(known[environment], dict) else {}
    profile, mlrun = spec.get("profile"), spec.get("mlrun")
    out.profile = profile if isinstance(profile, str) else None
    out.mlrun = mlrun if isinstance(mlrun, str) else None
    overrides = spec.get("variables")
    if not isinstance(overrides, dict):
        return
    for name, value in overrides.items():
        path = ("environments", environment, "variables", name)
        if name not in resolver.declared:
            doc.problem(path, resolver.unknown(name), allowed=listing(resolver.declared), key=True)
            continue
        resolver.set_typed(name, value, lambda message, path=path: doc.problem(path, message))


def _apply_environ(resolver: _Resolver, environ: Mapping[str, str], doc: Document) -> None:
    chosen, problems = _environ_entries(resolver.declared, environ)
    doc.problems.extend(problems)
    for name in resolver.declared:
        key = chosen.get(name)
        if key is not None:
            resolver.set_text(
                name, environ[key], lambda message, key=key: doc.problems.append(Problem(message, None, key))
            )


def _environ_entries(
    declared: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[dict[str, str], list[Problem]]:
    """The `DHMLRUN_VAR_*` entry that sets each variable (`{name: key}`), and the clashes.

    Shells and CI systems spell environment variables in capitals, so the part after the prefix
    matches a variable's name ignoring case (`DHMLRUN_VAR_GH_TOKEN` sets `gh_token`). So that
    the result never depends on the order the environment lists its entries in:
    - an entry spelt exactly like a declared variable sets that variable, whatever else matches
      it ignoring case (and two variables differing only in case, `a` and `A`, are each set by
      their own spelling);
    - otherwise differently-cased entries matching one variable must hold the same value; when
      they do not, it is an error naming them, as no rule says which one was meant;
    - an entry matching, ignoring case, two variables that differ only in case is an error.
    """
    folded: dict[str, list[str]] = {}
    for name in declared:
        folded.setdefault(name.casefold(), []).append(name)
    chosen: dict[str, str] = {}
    loose: dict[str, list[str]] = {}
    problems: list[Problem] = []
    for key in sorted(k for k in environ if k.startswith(ENV_PREFIX)):
        suffix = key[len(ENV_PREFIX) :]
        names = folded.get(suffix.casefold(), [])
        if suffix in declared:
            chosen[suffix] = key
        elif len(names) > 1:
            problems.append(
                Problem(
                    f"it matches variables {listing(map(repr, names))} ignoring case; "
                    "spell it exactly as the variable it sets",
                    None,
                    key,
                )
            )
        elif names:
            loose.setdefault(names[0], []).append(key)
    for name, keys in loose.items():
        if name in chosen:
            continue
        if len({environ[key] for key in keys}) > 1:
            problems.append(
                Problem(
                    f"each sets variable {name!r} (names match ignoring case), with "
                    "different values; unset all but one",
                    None,
                    " and ".join(keys),
                )
            )
        else:
            chosen[name] = keys[0]
    return chosen, problems


def _apply_var_file(doc: Document, resolver: _Resolver, path: Path) -> None:
    loaded = load_yaml(Path(path).resolve(), holds=VARIABLE_VALUES)
    doc.problems.extend(loaded.problems)
    if loaded.problems:
        return
    for name, value in loaded.data.items():
        location = loaded.at((name,), key=True)
        if name not in resolver.declared:
            doc.problems.append(Problem(resolver.unknown(name), location, name, listing(resolver.declared)))
            continue
        resolver.set_typed(
            name,
            value,
            lambda message, location=location, name=name: doc.problems.append(
                Problem(message, location, name)
            ),
        )


def _apply_cli(doc: Document, resolver: _Resolver, cli_vars: Mapping[str, str]) -> None:
    for name, text in cli_vars.items():
        if name not in resolver.declared:
            doc.problems.append(
                Problem(
                    resolver.unknown(name),
                    None,
                    f"--var {name}",
                    listing(resolver.declared) or "(no variables are declared)",
                )
            )
            continue
        resolver.set_text(
            name,
            text,
            lambda message, name=name: doc.problems.append(Problem(message, None, f"--var {name}")),
        )


def resolve_variables(
    doc: Document,
    *,
    cli_vars: Mapping[str, str] | None,
    var_files: list[Path] | None,
    environment: str | None,
    environ: Mapping[str, str],
) -> ResolvedVariables:
    """Apply the sources in precedence order; problems go to `doc.problems`."""
    resolver = _Resolver(doc)
    out = ResolvedVariables(environment=environment)
    _apply_environment(doc, resolver, environment, out)
    _apply_environ(resolver, environ, doc)
    for var_file in var_files or []:
        _apply_var_file(doc, resolver, var_file)
    _apply_cli(doc, resolver, cli_vars or {})
    for name, spec in resolver.declared.items():
        if name not in resolver.values:
            out.missing = out.missing | {name}
            doc.problem(
                ("variables", name),
                f"variable {name!r} has no value: give it a default, or set it "
                f"with --var {name}=VALUE, a --var-file or {ENV_PREFIX}{name}",
                key=True,
            )
            continue
        out.values[name] = Variable(name, resolver.values[name], bool(spec.get("sensitive", False)))
    return out
