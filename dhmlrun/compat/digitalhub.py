"""The digitalhub SDK: have it read its client configuration from the environment again.

The SDK reads `DHCORE_ENDPOINT` and its credentials once, into a process-wide client
configuration and a singleton client. A worker points the SDK at its relay by setting
`DHCORE_ENDPOINT` (`platform/sdk.py`), and a forked child of the warm run server inherited the
configuration the server read at import: both need the SDK to read it again. The SDK's public
API has no call for that (`set_current_profile` reads an ini profile, not the environment), so
this replaces the configuration (`set_client_config(ClientConfig())`, which reads the
environment) and drops the singleton client (`client_factory.reset()`), both from the SDK's
`digitalhub.stores.client` package, as laid out in 0.15.
"""

from __future__ import annotations

import sys

from packaging.specifiers import SpecifierSet

VERSIONS = SpecifierSet(">=0.15.11,<0.16")
"""The SDK versions whose client configuration is laid out so (`pyproject.toml`'s range)."""


def reload_client_configuration() -> None:
    """The SDK (if already imported) reads its configuration from this process's environment."""
    if "digitalhub" not in sys.modules:
        return
    from digitalhub.stores.client.base.factory import client_factory
    from digitalhub.stores.client.common.config import ClientConfig, set_client_config

    set_client_config(ClientConfig())
    client_factory.reset()
