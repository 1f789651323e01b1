"""`dhmlrun init`: write a ready config repo (declaration, handlers, sample data, CI workflow).

The files are package data under `templates/`, stored under names that survive packaging
(`gitignore`, `github/`, `pipeline.py.txt`: no dot-files, no stray Python module inside the
package) and mapped to their real names by `FILES`. The only substitution is the project name
(`__NAME__`), a plain string replace, because the templates themselves contain Jinja2 (`{{ var.x }}`)
and GitHub Actions (`${{ secrets.X }}`) expressions that must be written as they are.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from dhmlrun.errors import DhmlrunError, Location
from dhmlrun.scaffold.pin import (
    REQUIREMENTS_FILE,
    REQUIREMENTS_INPUT,
    installed_pin,
    requirements_input_text,
    requirements_text,
)

TEMPLATES = Path(__file__).resolve().parent / "templates"
NAME_PLACEHOLDER = "__NAME__"
SCHEMA_FILE = ".dhmlrun/schema.json"
# target path in the new repo -> template file (relative to TEMPLATES)
FILES: dict[str, str] = {
    "dhmlrun.yaml": "dhmlrun.yaml",
    "src/pipeline.py": "src/pipeline.py.txt",
    "data/measurements.csv": "data/measurements.csv",
    ".gitignore": "gitignore",
    "README.md": "README.md",
    ".github/workflows/dhmlrun.yml": "github/workflows/dhmlrun.yml",
}
PROJECT_NAME = re.compile(r"^[a-z0-9-]{2,38}$")


@dataclass(frozen=True)
class Scaffold:
    """What `init` wrote: the directory, the project name, the files (relative, sorted) and how
    the CI's dhmlrun is pinned (`pin.py`)."""

    directory: Path
    project: str
    files: tuple[str, ...]
    pin_note: str = ""


def project_name(raw: str) -> str:
    """A DHCore project name (`^[a-z0-9-]+$`, 2-38 characters) from `--name` or a directory name:
    accents dropped, lower-cased, every run of other characters turned into one '-', trimmed of '-'
    at both ends."""
    ascii_text = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:38].strip("-")
    if not PROJECT_NAME.match(slug):
        raise DhmlrunError.single(
            f"cannot make a project name from {raw!r}; give one with --name",
            allowed="lowercase letters, digits and '-', 2 to 38 characters",
        )
    return slug


def planned_files() -> list[str]:
    """Every file `init` writes, relative to the new repo."""
    return sorted([*FILES, SCHEMA_FILE, REQUIREMENTS_FILE, REQUIREMENTS_INPUT])


def scaffold(directory: Path, *, name: str | None = None, force: bool = False) -> Scaffold:
    """Write the config repo into `directory` (created if missing). Existing files are an error
    listing them all, unless `force`, which overwrites them (other files are left alone)."""
    if directory.exists() and not directory.is_dir():
        raise DhmlrunError.single("not a directory", Location(str(directory)))
    project = project_name(name if name else directory.resolve().name)
    existing = [path for path in planned_files() if (directory / path).exists()]
    if existing and not force:
        raise DhmlrunError.single(
            f"{len(existing)} file(s) already exist: {', '.join(existing)}; use --force to overwrite them",
            Location(str(directory)),
        )
    for target, template in FILES.items():
        text = (TEMPLATES / template).read_text(encoding="utf-8").replace(NAME_PLACEHOLDER, project)
        _write(directory / target, text)
    _write(directory / SCHEMA_FILE, schema_text())
    pin = installed_pin()
    _write(directory / REQUIREMENTS_INPUT, requirements_input_text(pin))
    _write(directory / REQUIREMENTS_FILE, requirements_text())
    return Scaffold(directory, project, tuple(planned_files()), pin.note)


def schema_text() -> str:
    """The editor schema, exactly as `dhmlrun schema` prints it."""
    from dhmlrun.config.schema import bundled_schema

    return json.dumps(bundled_schema(), indent=2) + "\n"


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise DhmlrunError.single(f"cannot write: {exc.strerror or exc}", Location(str(path))) from None
