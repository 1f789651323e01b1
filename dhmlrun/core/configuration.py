"""The core's configuration, as DHCore hands it to every run it executes.

DHCore 0.15 collects its `ConfigurationProvider`s (`CoreConfig`: endpoint, name, version, API
level and version; `FilesConfig`: the default files store; S3 and proxy settings when set) and
writes each key upper-cased into the run's Kubernetes secret, which every pod of the run reads as
environment (`K8sBaseFramework.buildRunSecret`; docs/dhcore-runs.md §1). The embedded core gives
its run workers the same keys for what it has.
"""

from __future__ import annotations

from dhmlrun.core.api import API_LEVEL, API_VERSION
from dhmlrun.vocabulary.settings import FILES_STORE_ENV

CORE_NAME = "dhmlrun-core"
API_NAME = "v1"


def run_configuration(endpoint: str, files_store: str | None = None) -> dict[str, str]:
    """The configuration variables of a run of the core serving at `endpoint`."""
    configuration = {
        "DHCORE_ENDPOINT": endpoint,
        "DHCORE_NAME": CORE_NAME,
        "DHCORE_VERSION": API_VERSION,
        "DHCORE_API_LEVEL": API_LEVEL,
        "DHCORE_API_VERSION": API_NAME,
    }
    if files_store:
        configuration[FILES_STORE_ENV] = files_store
    return configuration
