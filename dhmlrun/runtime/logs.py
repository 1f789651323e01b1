"""Store a run's captured output as a Log of the run on the platform.

The SDK can read run logs but has no call to write one, so this POSTs a Log entity
(`spec.run`, `content` base64, as DHCore returns them) through the SDK's HTTP client, which
carries the configured endpoint and credentials. The log gets a client-generated id, as every
create dhmlrun sends, so a retry after a lost reply cannot store it twice. Best effort: a platform
that does not accept logs must not turn a successful run into a failed one.
"""

from __future__ import annotations

import base64
import logging
import time
import uuid

log = logging.getLogger("dhmlrun.runtime")


def store_run_log(project: str, run_id: str, text: str) -> bool:
    """POST the text as the run's log; False (and a warning) when the platform refuses it."""
    if not text:
        return False
    from digitalhub.stores.client.base.factory import get_client

    body = {
        "id": uuid.uuid4().hex,
        "kind": "log",
        "project": project,
        "spec": {"run": run_id, "timestamp": int(time.time() * 1000)},
        "content": base64.b64encode(text.encode("utf-8", "replace")).decode(),
    }
    try:
        get_client().create_object(f"/api/v1/-/{project}/logs", body)
    except Exception as exc:  # the platform may not accept logs; the run's outcome stands
        log.warning("could not store the log of run %s: %s", run_id, exc)
        return False
    return True
