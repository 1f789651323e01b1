"""Declared local files (of dataitems, artifacts and models) go to the project's files store on
apply, as the SDK's `log_dataitem`, `log_artifact` and `log_model` put them: a run that executes
elsewhere (a pod on DHCore's or MLRun's Kubernetes) cannot read a file on the apply machine.

Only when a files store is configured (`DHCORE_DEFAULT_FILES_STORE=s3://…`, in the environment
or the profile) and only for a new version: the plan gives an entity a new version exactly
when its file's content (or its declaration) changed, so an unchanged file is never uploaded
again. The entity keeps dhmlrun's record of the local file (config-relative path and SHA-256,
in its labels), which is what the next plan compares; its `spec.path` is the store's copy.

The upload itself runs in a worker process (`run_worker.py`, op `upload`), through the SDK's own
stores and credentials, so apply never imports the SDK.
"""

from __future__ import annotations

from typing import Any

from dhmlrun.platform import labels as L
from dhmlrun.vocabulary import states
from dhmlrun.vocabulary.settings import FILES_STORE_ENV

__all__ = ["FILES_STORE_ENV", "UPLOADED_TYPES", "local_file_of", "upload", "upload_request"]

UPLOADED_TYPES = {"dataitems": "dataitem", "artifacts": "artifact", "models": "model"}
"""The declared types whose local file is uploaded, with the SDK's entity type of each."""


def local_file_of(type_: str, body: dict[str, Any]) -> str | None:
    """The absolute local path a new entity version points at, when it is a declared local file
    to upload (its labels record the file)."""
    if type_ not in UPLOADED_TYPES:
        return None
    recorded = L.decode((body.get("metadata") or {}).get("labels") or ())[1]
    path = (body.get("spec") or {}).get("path")
    if f"{L.LOCAL_PATH}:path" not in recorded or not isinstance(path, str):
        return None
    return path


def upload_request(type_: str, body: dict[str, Any], source: str) -> dict[str, Any]:
    return {
        "op": "upload",
        "project": body["project"],
        "run_id": body["id"],
        "entity_type": UPLOADED_TYPES[type_],
        "name": body["name"],
        "source": source,
    }


def upload(request: dict[str, Any]) -> dict[str, Any]:
    """Worker side: copy the file to the files store, at the path the SDK would log it to."""
    from dhmlrun.platform.sdk import sdk_session

    with sdk_session(request["project"], request["run_id"], leased=False):
        from digitalhub.entities._commons.utils import build_log_path_from_source
        from digitalhub.stores.data.api import get_store

        destination = build_log_path_from_source(
            request["project"], request["entity_type"], request["name"], request["run_id"], request["source"]
        )
        get_store(destination).upload(request["source"], destination)
    return {"id": request["run_id"], "state": states.COMPLETED, "path": destination}
