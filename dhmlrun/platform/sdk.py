"""The digitalhub SDK inside a run worker: configured explicitly, talking through the relay.

A worker process is given its connection in its environment (endpoint and credentials, built by
apply or the core: `worker_env.py`). `sdk_session` starts the relay to that endpoint (retries,
recovered creates, the run's lease: `relay.py`), points the SDK at the relay through its public
setting `DHCORE_ENDPOINT`, and has the SDK read its configuration now, as a new process would
(the one internal of the SDK this needs is fenced in `compat/digitalhub.py`). Nothing of the SDK
is replaced or patched; of its plugins, the hera runtime's builder is deferred (`compat/hera.py`:
the SDK would import hera, 0.6 s of CPU, in every worker that reads a run, for hera runs only).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Set
from contextlib import contextmanager

from dhmlrun.compat.digitalhub import reload_client_configuration
from dhmlrun.compat.hera import defer_runtime_import
from dhmlrun.platform.auth import Credentials
from dhmlrun.platform.lease import RunLease
from dhmlrun.platform.relay import SdkRelay
from dhmlrun.platform.rest import RestClient
from dhmlrun.platform.transport import HttpTransport

ENDPOINT_VAR = "DHCORE_ENDPOINT"
RELAYED = {"DHMLRUN_HTTP_ATTEMPTS": "1"}
"""Settings of a client talking to the relay: one attempt (the relay retries)."""


@contextmanager
def sdk_session(
    project: str, run_id: str, *, leased: bool, mask: Set[str] = frozenset()
) -> Iterator[RestClient]:
    """For the block: the SDK of this process talks to the platform of `DHCORE_ENDPOINT`
    through a relay; with `leased`, this process holds the lease of run `run_id`, and what the
    run writes of its results, message and log has the values of `mask` masked (a set the caller
    may add to). Yields dhmlrun's own client of the same platform, through the same relay (its
    writes of the run are ordered with the lease's renewals and masked, as the SDK's are)."""
    endpoint = os.environ.get(ENDPOINT_VAR)
    if not endpoint:
        raise RuntimeError(f"{ENDPOINT_VAR} is not set: a run worker is always given its platform")
    defer_runtime_import()  # before the SDK registers its runtimes (a no-op once it has)
    transport = HttpTransport(endpoint)
    client = RestClient(transport, Credentials(os.environ))
    lease = RunLease(client, project, run_id).start() if leased else None
    try:
        with SdkRelay(transport, lease, mask) as relay:
            os.environ[ENDPOINT_VAR] = relay.endpoint
            configure_sdk()
            try:
                relayed = HttpTransport(relay.endpoint, {**os.environ, **RELAYED})
                yield RestClient(relayed, client.credentials)
            finally:  # as it was: the SDK of this process talks to the platform itself again
                os.environ[ENDPOINT_VAR] = endpoint
                configure_sdk()
    finally:
        if lease is not None:
            lease.stop()


def configure_sdk() -> None:
    """Have the SDK (if already imported) read its configuration from this process's
    environment again (`compat/digitalhub.py`): a forked child of the warm run server inherited
    the configuration the server read at import."""
    reload_client_configuration()
