"""Each use of another library's internals (`dhmlrun/compat/`) holds for the versions installed:
these fail when an upgrade leaves the range a use was written for, or moves what it uses, so
the use is checked again (then its range widened, or the use dropped) instead of going stale."""

from __future__ import annotations

import platform
from types import ModuleType

import pytest
from packaging.version import Version

from dhmlrun.compat import digitalhub, installed, mlrun, pyarrow, python, within

FENCED: list[tuple[str, ModuleType]] = [("mlrun", mlrun), ("digitalhub", digitalhub), ("pyarrow", pyarrow)]


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
