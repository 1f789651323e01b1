"""A declared local file to the project's files store (`protocol.UploadFile`), at the path the
SDK's `log_dataitem`, `log_artifact` and `log_model` would put it, through the SDK's own stores
and credentials (why and when: `apply/uploads.py`)."""

from __future__ import annotations

from dhmlrun.vocabulary import states
from dhmlrun.worker.protocol import Reply, Result, UploadFile


def upload(request: UploadFile, reply: Reply) -> Result:
    """Copy the file to the files store; the result's `path` is the store's copy."""
    from dhmlrun.platform.sdk import sdk_session

    with sdk_session(request.project, request.entity_id, leased=False):
        from digitalhub.entities._commons.utils import build_log_path_from_source
        from digitalhub.stores.data.api import get_store

        destination = build_log_path_from_source(
            request.project, request.entity_type, request.name, request.entity_id, request.source
        )
        get_store(destination).upload(request.source, destination)
    return Result(id=request.entity_id, state=states.COMPLETED, path=destination)
