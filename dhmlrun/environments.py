"""Python environments for functions' `requirements`, where the embedded core runs them.

DHCore installs a python function's `requirements` in the image its `build` makes (a Dockerfile
`FROM` the base image, `uv pip install -r requirements.txt`), or, for a function never built, at
the start of each run's pod (the entrypoint's `uv venv --system-site-packages` and `uv pip
install -r requirements.txt`; docs/dhcore-runs.md §5). The embedded core does the same without
images: one environment per digest of (requested python version, the core's interpreter version,
requirements, base image), prepared by a build run or, the first time, by the run that needs it,
then reused by every run with the same digest.

An environment is a virtual environment of the core's own interpreter whose site-packages come
first and the core's after (a `.pth` file adds the core's site directories), like DHCore's
`--system-site-packages` venv over its image: the requirements are installed into it with the
core's pip (honouring the host's pip configuration: `PIP_INDEX_URL`, `PIP_FIND_LINKS`, ...) where
the core's packages do not satisfy them, and shadow the core's versions there; dhmlrun, the SDK
and its runtimes are still importable. The interpreter is the core's: a function asking for
PYTHON3_10 runs on the core's Python (said in the build's log).

Environments live under the core's `envs/` folder (beside its database), one folder per digest,
usable once its `.ready` marker exists; a file lock per digest keeps two builds of one digest
from racing, and a build that died is redone.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import site
import subprocess
import sys
import venv
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PYTHON_KIND_PREFIX = "python+"
"""Runs of python functions (`python+job:run`, ...): the ones whose `requirements` the core honours."""
BUILD_IMAGE_RESULT = "image"
"""The result a build run reports the function's new image under (the core's completion sets it)."""
READY_MARKER = ".ready"
OVERLAY_PTH = "_dhmlrun_core.pth"
DIGEST_LENGTH = 24
PIP_TAIL = 3000
Say = Callable[[str], None]


class EnvironmentFailed(Exception):
    """The environment could not be prepared (bad requirements, pip failed); says why."""


@dataclass(frozen=True)
class EnvironmentRequest:
    """What an environment is made of: the function's executable fields that shape it."""

    requirements: tuple[str, ...]
    python_version: str | None = None
    base_image: str | None = None
    interpreter: str = f"{sys.version_info.major}.{sys.version_info.minor}"

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> EnvironmentRequest:
        """From a python function's spec (or a run's, which carries it after the build)."""
        requirements = spec.get("requirements") or ()
        if isinstance(requirements, str):
            requirements = (requirements,)
        return cls(
            tuple(str(r).strip() for r in requirements if str(r).strip()),
            spec.get("python_version"),
            spec.get("base_image"),
        )

    @property
    def digest(self) -> str:
        canonical = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:DIGEST_LENGTH]

    def check(self) -> None:
        """Requirements are requirement specifiers, one per entry: never pip options (a `-r`,
        `--index-url` or `-e` would change what pip reads or where from)."""
        for requirement in self.requirements:
            if requirement.startswith("-") or "\n" in requirement:
                message = f"requirement {requirement!r} is not a requirement specifier"
                raise EnvironmentFailed(f"{message} (pip options are not accepted)")


@dataclass(frozen=True)
class Environment:
    root: Path
    digest: str

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def variables(self, environ: Mapping[str, str]) -> dict[str, str]:
        """`environ` for a process of this environment: its `bin` first on PATH, as activated."""
        path = os.pathsep.join(p for p in (str(self.root / "bin"), environ.get("PATH", "")) if p)
        return {**environ, "VIRTUAL_ENV": str(self.root), "PATH": path}


def ready(envs_dir: Path, request: EnvironmentRequest) -> Environment | None:
    """The environment of `request` if it is prepared already."""
    environment = Environment(envs_dir / request.digest, request.digest)
    return environment if (environment.root / READY_MARKER).is_file() else None


def prepare(envs_dir: Path, request: EnvironmentRequest, say: Say = print) -> Environment:
    """The environment of `request`, prepared now unless it exists (then it is reused)."""
    request.check()
    envs_dir.mkdir(parents=True, exist_ok=True)
    with open(envs_dir / f"{request.digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another build of the same digest: wait, then reuse it
        found = ready(envs_dir, request)
        if found is not None:
            say(f"environment {request.digest}: reused ({', '.join(request.requirements)})")
            return found
        environment = Environment(envs_dir / request.digest, request.digest)
        shutil.rmtree(environment.root, ignore_errors=True)  # what a build that died left
        try:
            _build(environment, request, say)
        except BaseException:
            shutil.rmtree(environment.root, ignore_errors=True)
            raise
        (environment.root / READY_MARKER).write_text(json.dumps(asdict(request)), encoding="utf-8")
        return environment


def _build(environment: Environment, request: EnvironmentRequest, say: Say) -> None:
    named = f"environment {request.digest}"
    say(f"{named}: preparing {', '.join(request.requirements)}")
    if request.python_version and _python_label(request.python_version) != request.interpreter:
        say(f"{named}: {request.python_version} asked; the core runs Python {request.interpreter}")
    if request.base_image:
        say(f"{named}: base image {request.base_image} (the core's interpreter stands for it)")
    venv.EnvBuilder(with_pip=False, symlinks=True, clear=True).create(environment.root)
    _overlay_core_packages(environment)
    requirements = environment.root / "requirements.txt"
    requirements.write_text("\n".join(request.requirements) + "\n", encoding="utf-8")
    command = [str(environment.python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
    done = subprocess.run(
        [*command, "-r", str(requirements)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment.variables({k: v for k, v in os.environ.items() if k != "PYTHONPATH"}),
        check=False,
    )
    for line in done.stdout.splitlines():
        say(line)
    if done.returncode != 0:
        tail = done.stdout[-PIP_TAIL:].strip()
        raise EnvironmentFailed(f"pip could not install {', '.join(request.requirements)}: {tail}")


def _overlay_core_packages(environment: Environment) -> None:
    """Make the core's packages importable after the environment's own (a `.pth` in its
    site-packages calling `site.addsitedir` for each of the core's site directories, so their
    own `.pth` files, editable installs included, are read too)."""
    own = next((environment.root / "lib").glob("python*/site-packages"))
    lines = [f"import site; site.addsitedir({directory!r})" for directory in _core_site_directories()]
    (own / OVERLAY_PTH).write_text("\n".join(lines) + "\n", encoding="utf-8")


def _core_site_directories() -> list[str]:
    directories = list(site.getsitepackages())
    if site.ENABLE_USER_SITE and os.path.isdir(site.getusersitepackages()):
        directories.append(site.getusersitepackages())
    return directories


def _python_label(python_version: str) -> str:
    """`PYTHON3_10` → `3.10` (DHCore's `PythonVersion` names)."""
    return python_version.removeprefix("PYTHON").replace("_", ".")
