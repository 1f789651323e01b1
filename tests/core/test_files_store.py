"""The embedded core's files store, used by the unmodified digitalhub SDK with no S3 service.

DHCore gives every client a default files store (FilesService.getDefaultStore, `files.
default-store: s3://dhcore`) and the SDK writes and reads files through its S3 store
(digitalhub.stores.data.s3.store.S3Store). The embedded core keeps that store itself and hands
it to whoever it serves (`EmbeddedCore.client_environment`), so `log_*`, `upload()`,
`download()` and `as_df()` work as on a real platform.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import digitalhub as dh
import pandas as pd
import pytest

from dhmlrun.core.server import EmbeddedCore
from tests.conftest import served_core

CSV = "name,years\nada,3\nbob,7\n"


@pytest.fixture
def sdk_project(core: EmbeddedCore, project_name: str) -> Any:
    return dh.new_project(project_name)


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(CSV)
    return path


def test_the_core_hands_its_clients_its_own_default_store(core: EmbeddedCore) -> None:
    """DHCore hands its pods DHCORE_DEFAULT_FILES_STORE and the S3 settings the SDK reads
    (S3StoreConfigurator: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)."""
    environment = core.client_environment()
    assert environment["DHCORE_DEFAULT_FILES_STORE"] == "s3://dhcore"
    assert environment["AWS_ENDPOINT_URL"] == f"{core.endpoint}/s3"
    assert environment["AWS_SECRET_ACCESS_KEY"] != core.token  # derived from it, not the token itself


def test_log_artifact_uploads_and_download_reads_it_back(
    sdk_project: Any, csv_file: Path, tmp_path: Path
) -> None:
    """SDK `log_artifact` → S3Store.upload at the log path; `download()` → S3Store.download."""
    artifact = sdk_project.log_artifact("people", kind="artifact", source=str(csv_file))
    assert artifact.spec.path == f"s3://dhcore/{sdk_project.name}/artifact/people/{artifact.id}/people.csv"
    downloaded = Path(artifact.download(str(tmp_path / "out"), overwrite=True))
    assert downloaded.read_text() == CSV


def test_log_table_from_a_file_and_from_a_dataframe_read_back_as_dataframes(
    sdk_project: Any, csv_file: Path
) -> None:
    """`log_table(source=…)` uploads the file, `log_table(data=df)` writes parquet
    (S3Store.write_df); `as_df()` reads either (S3Store.read_df)."""
    from_file = sdk_project.log_table("from-file", source=str(csv_file))
    assert from_file.as_df().to_dict("list") == {"name": ["ada", "bob"], "years": [3, 7]}
    frame = pd.DataFrame({"x": [1, 2, 3]})
    from_frame = dh.log_table(sdk_project.name, "from-frame", data=frame)
    assert from_frame.spec.path.endswith("/from-frame.parquet")
    assert from_frame.as_df()["x"].tolist() == [1, 2, 3]


def test_log_model_and_upload_of_an_existing_entity(sdk_project: Any, csv_file: Path, tmp_path: Path) -> None:
    """`log_model` uploads like artifacts; `upload()` sends a local file to an entity that
    already names its store path (Material.upload)."""
    model = sdk_project.log_model("clf", kind="model", source=str(csv_file))
    assert model.spec.path.startswith(f"s3://dhcore/{sdk_project.name}/model/clf/")
    path = f"s3://dhcore/{sdk_project.name}/artifact/manual/weights.bin"
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"\x00\x01weights")
    artifact = sdk_project.new_artifact("manual", kind="artifact", path=path)
    artifact.upload(str(weights))
    assert Path(artifact.download(str(tmp_path / "back"), overwrite=True)).read_bytes() == b"\x00\x01weights"


def test_files_outlive_the_core_that_stored_them(tmp_path: Path, csv_file: Path) -> None:
    """A new start has a new token and a new files-store key; what was stored stays readable."""
    db = tmp_path / "db" / "core.db"
    with served_core(db):
        project = dh.new_project("keeps-files")
        key = project.log_artifact("kept", kind="artifact", source=str(csv_file)).key
    from digitalhub.context.api import delete_context

    delete_context("keeps-files")  # the SDK keeps a project's client: forget the stopped core's
    with served_core(db):
        artifact = dh.get_artifact(key)
        assert Path(artifact.download(str(tmp_path / "again"), overwrite=True)).read_text() == CSV


def test_the_store_lives_beside_the_database_readable_by_its_owner_only(
    tmp_path: Path, csv_file: Path
) -> None:
    db = tmp_path / "private" / "core.db"
    with served_core(db):
        dh.new_project("private-files").log_artifact("a", kind="artifact", source=str(csv_file))
    files = db.parent / "files"
    assert files.is_dir()
    for folder in (files, files / "blobs", files / "incoming"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    blobs = [p for p in (files / "blobs").rglob("*") if p.is_file()]
    assert [b.read_text() for b in blobs] == [CSV]


def test_a_configured_store_replaces_the_cores_own(tmp_path: Path) -> None:
    """With DHCORE_DEFAULT_FILES_STORE set where the core is opened, that store is handed on
    (and the host's S3 settings go with it: the core adds none of its own)."""
    core = EmbeddedCore(tmp_path / "core.db", files_store="s3://team-bucket/")
    try:
        environment = core.client_environment()
        assert environment["DHCORE_DEFAULT_FILES_STORE"] == "s3://team-bucket"
        assert "AWS_ENDPOINT_URL" not in environment
    finally:
        core.close()
