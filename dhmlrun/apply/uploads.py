"""Declared local files (of dataitems, artifacts and models) go to the project's files store on
apply, as the SDK's `log_dataitem`, `log_artifact` and `log_model` put them: a run that executes
elsewhere (a pod on DHCore's or MLRun's Kubernetes) cannot read a file on the apply machine.

Only when the plan names a files store (`DHCORE_DEFAULT_FILES_STORE=s3://…` in the environment or
the profile, or the embedded core's own) and only for a new version: the plan gives an entity a
new version exactly when its file's content (or its declaration) changed, or when its current
version is not in that store yet, so an unchanged file is never uploaded again. The entity keeps
dhmlrun's record of the local file (config-relative path and SHA-256, in its labels), which is
what the next plan compares; its `spec.path` is the store's copy.

The upload itself runs in a worker process (`worker/upload.py`), through the SDK's own stores and
credentials, so apply never imports the SDK.
"""

from __future__ import annotations

from typing import Any

from dhmlrun.platform import labels as L
from dhmlrun.worker.protocol import UploadFile

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


def upload_request(type_: str, body: dict[str, Any], source: str) -> UploadFile:
    """The worker request that uploads the file of the new version `body`."""
    return UploadFile(
        project=body["project"],
        entity_type=UPLOADED_TYPES[type_],
        name=body["name"],
        entity_id=body["id"],
        source=source,
    )
