"""The digitalhub SDK's cached client: forget it, so the next SDK call builds one from the
environment again.

Why: the SDK builds its HTTP client (with the endpoint and credentials read at that moment) once,
in a module-level factory, and every project context holds that client too. Setting
`DHCORE_ENDPOINT` alone therefore does nothing once the SDK has talked to another endpoint in
this process: the embedded core, `open_platform` and every run forked by the warm run server
must reset it. digitalhub is only touched if something already imported it.
"""

from __future__ import annotations

import sys


def reset_sdk_client(*, reread_config: bool = False) -> None:
    """Drop the SDK's cached client and project contexts; with `reread_config`, also its client
    configuration, which it reads at import (the ini path from `DH_CONFIG`): what a forked
    process whose environment changed needs to behave as a new process would."""
    if "digitalhub" not in sys.modules:
        return
    from digitalhub.context.builder import context_builder
    from digitalhub.stores.client.base.factory import client_factory

    if reread_config:
        from digitalhub.stores.client.common.config import ClientConfig, set_client_config

        set_client_config(ClientConfig())
    client_factory.reset()
    # ContextBuilder has `remove(name)` but no way to list names; its registry is this dict.
    for name in list(getattr(context_builder, "_instances", {})):
        context_builder.remove(name)
