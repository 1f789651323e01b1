"""Each use of another library's internals (`dhmlrun/compat/`) holds for the versions installed:
these fail when an upgrade leaves the range a use was written for, or moves what it uses, so
the use is checked again (then its range widened, or the use dropped) instead of going stale."""

from __future__ import annotations

import importlib.util
import os
import platform
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from packaging.version import Version

from dhmlrun.compat import digitalhub, hera, installed, mlrun, pyarrow, python, within

FENCED: list[tuple[str, ModuleType]] = [
    ("mlrun", mlrun),
    ("digitalhub", digitalhub),
    ("digitalhub-runtime-hera", hera),
    ("pyarrow", pyarrow),
]


@pytest.mark.parametrize(("distribution", "module"), FENCED, ids=[d for d, _ in FENCED])
def test_the_installed_version_is_one_the_use_was_written_for(distribution: str, module: ModuleType) -> None:
    assert within(distribution, module.VERSIONS), (
        f"{distribution} {installed(distribution)} is installed, but {module.__name__} was written for "
        f"{distribution}{module.VERSIONS}: check that what it uses still holds, then change VERSIONS"
    )


def test_the_python_is_one_the_exit_handlers_call_was_written_for() -> None:
    assert python.VERSIONS.contains(Version(platform.python_version())), python.__doc__


def test_the_exit_handlers_can_be_run() -> None:
    import atexit

    assert callable(getattr(atexit, "_run_exitfuncs", None))


def test_the_sdk_client_configuration_is_where_it_was() -> None:
    from digitalhub.stores.client.base.factory import client_factory
    from digitalhub.stores.client.common.config import ClientConfig, set_client_config

    assert callable(client_factory.reset) and callable(set_client_config) and ClientConfig


def test_arrow_pools_are_found_in_the_installed_libarrow() -> None:
    import pyarrow as pa  # noqa: F401  (loads libarrow)

    found = pyarrow.arrow_pools()
    assert found is not None and found.pending() >= 0


@pytest.mark.slow  # imports mlrun
def test_mlrun_offline_db_provider_is_where_it_was() -> None:
    from mlrun.db.factory import RunDBFactory
    from mlrun.db.nopdb import NopDB

    assert callable(RunDBFactory()._rundb_container.nop.override)
    assert NopDB.__getattribute__ is not object.__getattribute__  # what `without_nop_warnings` undoes


@pytest.mark.slow  # imports mlrun
def test_connecting_mlrun_offline_leaves_the_environment_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    """mlrun exports `MLRUN_DBPATH=./` when it connects offline; the caller's environment (and
    every process it starts after) must not keep it."""
    import mlrun as mlrun_package

    from dhmlrun.runtime.memdb import install_memory_db

    db = install_memory_db()
    config = mlrun_package.mlconf
    saved = config.dbpath
    monkeypatch.delenv("MLRUN_DBPATH", raising=False)
    config.dbpath = ""  # as in a process that never connected
    try:
        mlrun.install_offline_db(db)
        assert config.dbpath == "./"  # mlrun's own configuration is what mlrun made it
    finally:
        config.dbpath = saved
    assert "MLRUN_DBPATH" not in os.environ


def test_the_hera_runtime_builder_only_names_its_runtime() -> None:
    """What the deferred builder reproduces: the package's builder is its base class and
    `RUNTIME_CLASS = RuntimeHera`, nothing more."""
    from digitalhub.runtimes.builder import RuntimeBuilder

    # the package's own module, from its file (a worker session in this process may have put
    # the deferred one in its place)
    package = importlib.util.find_spec(hera.PACKAGE)
    assert package is not None and package.origin is not None
    source = Path(package.origin).parent / "runtimes" / "builder.py"
    spec = importlib.util.spec_from_file_location("hera_runtime_builder_as_installed", source)
    assert spec is not None and spec.loader is not None
    installed_builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(installed_builder)
    RuntimeHeraBuilder = installed_builder.RuntimeHeraBuilder

    assert RuntimeHeraBuilder.__bases__ == (RuntimeBuilder,)
    assert {name for name in vars(RuntimeHeraBuilder) if not name.startswith("__")} == {"RUNTIME_CLASS"}
    assert RuntimeHeraBuilder.RUNTIME_CLASS is hera.runtime_class()


DEFERRED = """
import sys
from dhmlrun.compat.hera import defer_runtime_import, runtime_class
assert defer_runtime_import()
from digitalhub.factory.registry import registry
builder = registry.get_runtime_builder("hera+build:run")
assert "hera.workflows" not in sys.modules, "registering the runtimes imported hera"
assert registry.get_runtime_builder("hera+pipeline:run") is not None
assert runtime_class().__name__ == "RuntimeHera" and "hera.workflows" in sys.modules
assert not defer_runtime_import()  # once only
print("ok")
"""


@pytest.mark.slow  # a process that imports the SDK
def test_the_hera_runtime_registers_without_importing_hera() -> None:
    done = subprocess.run([sys.executable, "-c", DEFERRED], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
