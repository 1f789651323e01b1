"""Where a declared secret's value comes from, and reading it (never from the YAML text itself).

A secret is declared by name with exactly one source: `env: VAR` (an environment variable where
plan and apply run: CI's secret variables), `file: PATH` (a file beside the configuration, kept
out of git; one trailing newline is dropped, as editors add one), or `variable: NAME` (a variable
declared `sensitive: true`, set with `--var`, `--var-file` or `DHMLRUN_VAR_NAME`). The value is
read when plan compares it and when apply writes it, never at load (so `validate` needs no
secret), and it is never put into the declaration, a plan or a message.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dhmlrun.errors import DhmlrunError

from .model import Resource, Variable

SOURCES = ("env", "file", "variable")
MAX_SECRET_BYTES = 1024 * 1024
"""A secret larger than this is certainly a mistake (a whole directory's archive, a data file)."""


def source_of(spec: Mapping[str, object]) -> tuple[str, str]:
    """(`env`|`file`|`variable`, what it names) of a secret's spec."""
    for kind in SOURCES:
        if kind in spec:
            return kind, str(spec[kind])
    raise KeyError("no source")


def describe_source(spec: Mapping[str, object], root: Path | None = None) -> str:
    """Where the value comes from, for messages: `environment variable X`, `file secrets/x`."""
    kind, named = source_of(spec)
    if kind == "env":
        return f"environment variable {named}"
    if kind == "file":
        shown = named
        if root is not None:
            with contextlib.suppress(ValueError):
                shown = Path(named).relative_to(root).as_posix()
        return f"file {shown}"
    return f"variable {named}"


@dataclass
class SecretReader:
    """Reads declared secrets' values from the environment, files and sensitive variables."""

    environ: Mapping[str, str]
    variables: Mapping[str, Variable]
    root: Path | None = None
    _read: dict[str, str] = field(default_factory=dict)

    def value(self, resource: Resource) -> str:
        """The value (read once per process), or `DhmlrunError` at the secret's place."""
        if resource.address not in self._read:
            self._read[resource.address] = self._load(resource)
        return self._read[resource.address]

    def readable(self, resources: Iterable[Resource]) -> set[str]:
        """The values of those secrets that can be read here (for masking; never an error)."""
        values = set()
        for resource in resources:
            try:
                value = self.value(resource)
            except DhmlrunError:
                continue
            if value:
                values.add(value)
        return values

    def _load(self, resource: Resource) -> str:
        kind, named = source_of(resource.spec)
        where = f"{resource.address}.{kind}"
        if kind == "env":
            if named not in self.environ:
                raise DhmlrunError.single(
                    f"the environment variable {named} is not set: it holds the value of {resource.address}",
                    resource.location,
                    where,
                )
            value = self.environ[named]
        elif kind == "file":
            value = _read_file(Path(named), resource, where, self.root)
        else:
            variable = self.variables.get(named)
            if variable is None:  # the loader checked it is declared; an API user may not have
                raise DhmlrunError.single(f"no variable {named!r} is declared", resource.location, where)
            value = "" if variable.value is None else str(variable.value)
        if not value:
            raise DhmlrunError.single(
                f"the value of {resource.address} is empty ({describe_source(resource.spec, self.root)})",
                resource.location,
                where,
            )
        return value


def _read_file(path: Path, resource: Resource, where: str, root: Path | None) -> str:
    shown = describe_source(resource.spec, root)
    try:
        size = path.stat().st_size
        if size > MAX_SECRET_BYTES:
            raise DhmlrunError.single(
                f"{shown} is {size:,} bytes; a secret may be at most {MAX_SECRET_BYTES:,}",
                resource.location,
                where,
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise DhmlrunError.single(f"{shown} does not exist", resource.location, where) from None
    except IsADirectoryError:
        raise DhmlrunError.single(f"{shown} is a directory, not a file", resource.location, where) from None
    except OSError as exc:
        raise DhmlrunError.single(
            f"{shown} cannot be read: {exc.strerror or type(exc).__name__}", resource.location, where
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise DhmlrunError.single(f"{shown} is not UTF-8 text", resource.location, where) from None
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith("\n") else text
