"""The digitalhub SDK inside a run worker: configured explicitly, talking through the relay.

A worker process is given its connection in its environment (endpoint and credentials, built by
apply or the core: `worker_env.py`). `sdk_session` starts the relay to that endpoint (retries,
recovered creates, the run's lease: `relay.py`), points the SDK at the relay through its public
setting `DHCORE_ENDPOINT`, and has the SDK read its configuration now, as a new process would.
Nothing of the SDK is replaced or patched.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Set
from contextlib import contextmanager

from dhmlrun.platform.auth import Credentials
from dhmlrun.platform.lease import RunLease
from dhmlrun.platform.relay import SdkRelay
from dhmlrun.platform.rest import RestClient
from dhmlrun.platform.transport import HttpTransport

ENDPOINT_VAR = "DHCORE_ENDPOINT"


@contextmanager
def sdk_session(
    project: str, run_id: str, *, leased: bool, mask: Set[str] = frozenset()
) -> Iterator[RestClient]:
    """For the block: the SDK of this process talks to the platform of `DHCORE_ENDPOINT`
    through a relay; with `leased`, this process holds the lease of run `run_id`, and what the
    run writes of its results, message and log has the values of `mask` masked (a set the caller
    may add to). Yields dhmlrun's own client of the same platform."""
    endpoint = os.environ.get(ENDPOINT_VAR)
    if not endpoint:
        raise RuntimeError(f"{ENDPOINT_VAR} is not set: a run worker is always given its platform")
    transport = HttpTransport(endpoint)
    client = RestClient(transport, Credentials(os.environ))
    lease = RunLease(client, project, run_id).start() if leased else None
    try:
        with SdkRelay(transport, lease, mask) as relay:
            os.environ[ENDPOINT_VAR] = relay.endpoint
            configure_sdk()
            try:
                yield client
            finally:  # as it was: the SDK of this process talks to the platform itself again
                os.environ[ENDPOINT_VAR] = endpoint
                configure_sdk()
    finally:
        if lease is not None:
            lease.stop()


def configure_sdk() -> None:
    """Have the SDK (if already imported) read its configuration from this process's
    environment again, through its public API: a forked child of the warm run server inherited
    the configuration the server read at import."""
    if "digitalhub" not in sys.modules:
        return
    from digitalhub.stores.client.base.factory import client_factory
    from digitalhub.stores.client.common.config import ClientConfig, set_client_config

    set_client_config(ClientConfig())
    client_factory.reset()
