"""DHCore's files API on the embedded core: presigned URLs into its own store.

Project level: FilesStoreController (`/-/{p}/files/...`); entity level: the Artifact, DataItem
and Model context controllers through BaseFilesService (`/{type}s/{id}/files/...`). The URLs
point at the core's S3 endpoint, as DHCore's point at its S3 (S3FilesStore), and move the bytes
with plain HTTP, no credentials beside the URL.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import digitalhub as dh
import requests

from tests.core.conftest import Api


def put(url: str, data: bytes) -> requests.Response:
    response = requests.put(url, data=data, timeout=30)
    assert response.status_code == 200, response.text
    return response


def get(url: str) -> bytes:
    response = requests.get(url, timeout=30)
    assert response.status_code == 200, response.text
    return response.content


def test_the_store_of_a_project_is_the_cores_or_its_configured_one(api: Api, project: str) -> None:
    """FilesStoreController.getFilesStores: the default store + `/` + project; a project's
    `config.default_files_store` wins (FilesService.getDefaultStore)."""
    assert api.ok("GET", f"/-/{project}/files/stores") == [f"s3://dhcore/{project}"]
    spec = {"config": {"default_files_store": "s3://team"}}
    api.ok("PUT", f"/projects/{project}", json={"name": project, "kind": "project", "spec": spec})
    assert api.ok("GET", f"/-/{project}/files/stores") == [f"s3://team/{project}"]
    assert api.request("GET", "/-/no-such-project/files/stores").status_code == 404


def test_upload_download_info_and_delete_by_path(api: Api, project: str) -> None:
    folder = f"s3://dhcore/{project}/manual"
    upload = api.ok("POST", f"/-/{project}/files/upload", params={"path": folder, "filename": "a.txt"})
    assert (upload["path"], upload["method"]) == (f"{folder}/a.txt", "PUT")
    put(upload["url"], b"through a presigned url")
    download = api.ok("GET", f"/-/{project}/files/download", params={"path": f"{folder}/a.txt"})
    assert get(download["url"]) == b"through a presigned url"
    assert download["expiration"].endswith("Z")
    [info] = api.ok("GET", f"/-/{project}/files/info", params={"path": f"{folder}/a.txt"})
    assert (info["name"], info["size"], info["hash"]) == ("a.txt", 23, f"ETAG:{info['hash'][5:]}")
    assert api.ok("GET", f"/-/{project}/files/info", params={"path": folder + "/"}) == [
        {"path": "a.txt", "name": "a.txt", "size": 23, "last_modified": info["last_modified"]}
    ]
    api.ok("DELETE", f"/-/{project}/files/delete", params={"path": folder + "/"})
    assert api.ok("GET", f"/-/{project}/files/info", params={"path": folder + "/"}) == []


def test_a_multipart_upload_through_the_api(api: Api, project: str) -> None:
    path = f"s3://dhcore/{project}/big"
    params = {"path": path, "filename": "big.bin"}
    start = api.ok("POST", f"/-/{project}/files/multipart/start", params=params)
    first, second = os.urandom(5 * 1024 * 1024), b"tail"
    etags = []
    for number, chunk in ((1, first), (2, second)):
        part = api.ok(
            "PUT",
            f"/-/{project}/files/multipart/part",
            params={**params, "uploadId": start["uploadId"], "partNumber": number},
        )
        assert part["partNumber"] == number
        etags.append(put(part["url"], chunk).headers["etag"])
    done = api.ok(
        "POST",
        f"/-/{project}/files/multipart/complete",
        params={**params, "uploadId": start["uploadId"], "partList": etags},
    )
    assert done == {"path": f"{path}/big.bin", "uploadId": start["uploadId"], "method": "POST"}
    download = api.ok("GET", f"/-/{project}/files/download", params={"path": f"{path}/big.bin"})
    assert get(download["url"]) == first + second


def test_refusals_are_dhcores(api: Api, project: str) -> None:
    """`invalid filename` 400, missing parameters 400, a path no store handles 404
    (FilesStoreController: NoSuchEntityException)."""
    bad = api.request(
        "POST", f"/-/{project}/files/upload", params={"path": "s3://dhcore/x", "filename": "a/b"}
    )
    assert (bad.status_code, bad.json()["message"]) == (400, "invalid filename")
    assert api.request("GET", f"/-/{project}/files/info").status_code == 400
    local = api.request("GET", f"/-/{project}/files/download", params={"path": "/etc/passwd"})
    assert (local.status_code, local.json()["message"]) == (404, "No such entity.")
    http = api.ok("GET", f"/-/{project}/files/download", params={"path": "https://example.com/f.csv"})
    assert http == {"path": "https://example.com/f.csv", "url": "https://example.com/f.csv"}  # HttpStore


def test_an_entitys_file_downloads_and_its_info_is_the_sdks(
    core: Any, api: Api, project_name: str, tmp_path: Path
) -> None:
    """BaseFilesService.downloadFileAsUrl (the entity's spec.path) and getFileInfo (status.files,
    which the SDK's upload() fills)."""
    source = tmp_path / "weights.bin"
    source.write_bytes(b"weights")
    artifact = dh.new_project(project_name).log_artifact("w", kind="artifact", source=str(source))
    base = f"/-/{project_name}/artifacts/{artifact.id}/files"
    assert get(api.ok("GET", base + "/download")["url"]) == b"weights"
    assert get(api.ok("GET", base + "/download/weights.bin")["url"]) == b"weights"  # the `**` form
    assert [f["path"] for f in api.ok("GET", base + "/info")] == [f["path"] for f in artifact.files]


def test_an_entitys_uploads_stay_under_its_path(api: Api, project: str) -> None:
    """BaseFilesService.uploadFileAsUrl: STORE/PROJECT/TYPE/NAME/ID/FILE, and `invalid file path`
    when an existing entity's spec.path does not contain it."""
    fresh = api.ok(
        "POST", f"/-/{project}/models/new-id/files/upload", params={"name": "m", "filename": "m.pkl"}
    )
    assert fresh["path"] == f"s3://dhcore/{project}/model/m/new-id/m.pkl"
    put(fresh["url"], b"model")
    model = api.ok(
        "POST",
        f"/-/{project}/models",
        json={"id": "new-id", "name": "m", "kind": "model", "spec": {"path": fresh["path"]}},
    )
    again = api.ok(
        "POST", f"/-/{project}/models/{model['id']}/files/upload", params={"name": "m", "filename": "m.pkl"}
    )
    assert again["path"] == fresh["path"]
    other = api.request(
        "POST", f"/-/{project}/models/{model['id']}/files/upload", params={"name": "m", "filename": "x"}
    )
    assert (other.status_code, other.json()["message"]) == (400, "invalid file path")
    wrong_name = api.request(
        "POST", f"/-/{project}/models/{model['id']}/files/upload", params={"name": "z", "filename": "m.pkl"}
    )
    assert (wrong_name.status_code, wrong_name.json()["message"]) == (400, "invalid name")


def test_functions_have_no_files_routes(api: Api, project: str) -> None:
    response = api.request("GET", f"/-/{project}/functions/some-id/files/download")
    assert response.status_code == 404
    assert response.json()["error"] == "Not Found"  # Spring's body: no controller maps it
