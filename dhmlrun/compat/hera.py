"""digitalhub-runtime-hera: its runtime registered without importing hera until a hera run needs it.

The SDK registers its runtimes by importing every installed `digitalhub_runtime_*` package
(`digitalhub.factory.registry`). The hera package's `__init__` imports its runtime builder,
whose module imports `hera.workflows` (its pydantic models of every Argo object: about 0.6 s of
CPU here, a sixth of a warm run server's start), although only a hera build or pipeline run
ever uses it. `defer_runtime_import` puts a builder of the same name in the place of
`digitalhub_runtime_hera.runtimes.builder` before the package is imported; it builds the same
`RuntimeHera`, imported on first use. Nothing else of the package changes: its entity builders
register as before.

Applied in dhmlrun's own processes before their SDK registers its runtimes: the warm run server
(`worker/fork_server.py`) and every worker's SDK session (`platform/sdk.py`). A process where the
package was imported already, or whose installed version is outside `VERSIONS`, keeps the
package's own builder.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from packaging.specifiers import SpecifierSet

VERSIONS = SpecifierSet(">=0.15.1,<0.16")
"""The versions whose runtime builder is only `RUNTIME_CLASS = RuntimeHera` (`pyproject.toml`'s
range)."""
PACKAGE = "digitalhub_runtime_hera"
BUILDER_MODULE = f"{PACKAGE}.runtimes.builder"
RUNTIME_MODULE = f"{PACKAGE}.runtimes.runtime"


def defer_runtime_import() -> bool:
    """Register the hera runtime with a builder that imports it on first use; whether it did."""
    from dhmlrun.compat import within

    if PACKAGE in sys.modules or BUILDER_MODULE in sys.modules:
        return False
    if not within("digitalhub-runtime-hera", VERSIONS):
        return False
    from digitalhub.runtimes.builder import RuntimeBuilder

    class RuntimeHeraBuilder(RuntimeBuilder):
        """Builds `RuntimeHera` as the package's builder does, importing it (and hera) then."""

        RUNTIME_CLASS = object  # set: the base class refuses a builder without one

        def build(self, project: str, *args: Any, **kwargs: Any) -> Any:
            return runtime_class()(project, *args, **kwargs)

    module = types.ModuleType(BUILDER_MODULE, "digitalhub_runtime_hera's runtime builder, deferred")
    module.RuntimeHeraBuilder = RuntimeHeraBuilder  # type: ignore[attr-defined]
    sys.modules[BUILDER_MODULE] = module
    return True


def runtime_class() -> type:
    """The package's runtime class (importing it, and hera)."""
    import importlib

    return importlib.import_module(RUNTIME_MODULE).RuntimeHera  # type: ignore[no-any-return]
