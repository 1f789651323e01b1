"""Marking a run failed on the DigitalHub platform: the one definition, used by apply (a worker
that died, an executor lost) and by the workers themselves (an interrupt, a timeout, a runtime
that raised).

A run that already ended is left as it is (a running run is never duplicated, so one stuck
unfinished would block its address; one that ended has its outcome). Why dhmlrun ended it is
kept as data beside the message (`status.ended_by`, `vocabulary/endings.py`), so the next plan
reads the reason without parsing a message. Only what every DHCore stores is used: `status` is
a free map there (DHCore's `RunBaseStatus` fields plus whatever is sent; docs/dhcore.md §2).
"""

from __future__ import annotations

import time

from dhmlrun.platform.errors import NotFound
from dhmlrun.platform.rest import RestClient, context_path
from dhmlrun.vocabulary import endings, states

RECHECK_SECONDS = 0.5


def fail_run(
    client: RestClient,
    project: str,
    run_id: str,
    message: str,
    *,
    reason: str | None = None,
    rechecks: int = 0,
) -> bool:
    """Set the run ERROR with `message` unless it already ended; False when it had ended with
    another outcome (or does not exist).

    `rechecks`: the run's own executor may have a state update in flight (RUNNING, say) that
    lands after ours, so the state is read back that many times and set again if it was
    overwritten.
    """
    path = context_path(project, "runs", run_id)
    for attempt in range(rechecks + 1):
        try:
            dto = client.get(path)
        except NotFound:  # ended before it was created: nothing to mark
            return False
        status = dict(dto.get("status") or {})
        if states.is_final(status.get("state")):
            return status.get("state") == states.ERROR and status.get("message") == message
        status.update({"state": states.ERROR, "message": message})
        if reason is not None:
            status[endings.ENDED_BY] = reason
        client.put(path, {**dto, "status": status})
        if attempt < rechecks:
            time.sleep(RECHECK_SECONDS)
    return True
