"""A python function's `requirements` hold inside its runs on the embedded core, whatever the core's
own environment has: a `build` (explicit, or implicitly the first run) prepares an environment per
(python version, requirements, base image) digest and every later run reuses it; the build sets the
function's image as DHCore's `PythonRuntime.onComplete` does (docs/dhcore-runs.md §5). The
requirements come from wheels the test makes (`PIP_FIND_LINKS`, `PIP_NO_INDEX`): no internet."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import pytest

from tests.wheels import make_wheel

pytestmark = pytest.mark.slow

FINAL = ("COMPLETED", "ERROR", "STOPPED")
CORE_HAS = "pandas-stubs"
"""A distribution the core's environment has (in another version) and no run imports."""

HANDLER = """
from importlib.metadata import version

import dhmlrun_probe


def versions():
    return dhmlrun_probe.VERSION, version("pandas-stubs")
"""


@pytest.fixture
def wheels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "wheels"
    make_wheel(directory, "dhmlrun-probe", "2.0.0", module="dhmlrun_probe")
    make_wheel(directory, "dhmlrun-probe", "1.0.0", module="dhmlrun_probe")
    make_wheel(directory, CORE_HAS, "0.0.1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(directory))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    return directory


def function_with(project: Any, name: str, requirements: list[str]) -> Any:
    source = {"base64": base64.b64encode(HANDLER.encode()).decode(), "handler": "versions"}
    return project.new_function(
        name, kind="python", python_version="PYTHON3_10", source=source, requirements=requirements
    )


def wait_final(run: Any, seconds: float = 240) -> Any:
    deadline = time.monotonic() + seconds
    while run.refresh().status.state not in FINAL:
        assert time.monotonic() < deadline, f"run {run.id} still {run.status.state}"
        time.sleep(0.1)
    return run


def environments(core: Any) -> list[Path]:
    envs = core.db_path.parent / "envs"
    return sorted(p for p in envs.iterdir() if p.is_dir()) if envs.is_dir() else []


def log_of(run: Any) -> str:
    return "".join(entry.text or "" for entry in run.logs())


def test_a_build_prepares_the_environment_and_every_run_reuses_it(project: Any, core: Any, wheels) -> None:
    from importlib.metadata import version

    assert version(CORE_HAS) != "0.0.1"
    function = function_with(project, "pinned", ["dhmlrun-probe==2.0.0", f"{CORE_HAS}==0.0.1"])
    before = environments(core)
    build = wait_final(function.run("build"))
    assert build.status.state == "COMPLETED", build.status.message
    assert "preparing dhmlrun-probe==2.0.0" in log_of(build)
    assert "PYTHON3_10 asked; the core runs Python 3.11" in log_of(build)
    assert project.get_function("pinned").spec.image == f"{project.name}-pinned:{build.id}"
    built = [e for e in environments(core) if e not in before]
    assert len(built) == 1
    prepared_at = (built[0] / ".ready").stat().st_mtime_ns

    for _ in range(2):
        run = wait_final(function.run("job"))
        assert run.status.state == "COMPLETED", run.status.message
        assert (run.result("output_0"), run.result("output_1")) == ("2.0.0", "0.0.1")
    assert [e for e in environments(core) if e not in before] == built  # reused, not made again
    assert (built[0] / ".ready").stat().st_mtime_ns == prepared_at


def test_the_first_run_of_a_function_never_built_prepares_its_environment(project: Any, wheels) -> None:
    function = function_with(project, "unbuilt", ["dhmlrun-probe==1.0.0"])
    run = wait_final(function.run("job"))
    assert run.status.state == "COMPLETED", run.status.message
    assert run.result("output_0") == "1.0.0"


def test_requirements_pip_cannot_satisfy_fail_the_run_saying_so(project: Any, wheels) -> None:
    run = wait_final(function_with(project, "impossible", ["dhmlrun-probe==9.9.9"]).run("job"))
    assert run.status.state == "ERROR"
    assert "could not be prepared: pip could not install dhmlrun-probe==9.9.9" in run.status.message


def test_a_pip_option_is_not_a_requirement(project: Any, wheels) -> None:
    build = wait_final(
        function_with(project, "optioned", ["--index-url=http://127.0.0.1:9/simple"]).run("build")
    )
    assert build.status.state == "ERROR"
    assert "is not a requirement specifier" in build.status.message
