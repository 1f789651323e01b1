"""A model-serving run as DHCore deploys it: MLServer on a `model-settings.json`.

DHCore 0.15 (`SklearnServeRunner`, `MlflowServeRunner`, `runtime-modelserve.yml`) runs the
`seldonio/mlserver:1.6.0-sklearn` / `-mlflow` image as `mlserver start /shared/`, with the model
copied under `/shared` and a `model-settings.json` naming it: `{name, implementation,
parameters: {uri}}`. This module lays out the same folder for this host and returns the command
that starts MLServer on it. What differs, and why (`docs/services.md`): a `settings.json` beside
it that binds loopback on the ports the supervisor chose, runs inference in the server's own
process (`parallel_workers: 0`: with uvloop 0.23 MLServer's parallel worker dies, "There is no
current event loop", and `/ready` stays 400), and starts no metrics server; and no `pip install`
of an mlflow model's requirements (the model runs in the environment dhmlrun is installed in).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from dhmlrun.serving import endpoints
from dhmlrun.serving.errors import ServeError
from dhmlrun.vocabulary import keys

if TYPE_CHECKING:
    from dhmlrun.platform.rest import RestClient

DOWNLOAD_TIMEOUT = 300.0
"""Seconds a model download may stall before the service fails to start."""

SKLEARN_FILE = re.compile(r".*\.(pkl|joblib)$")
"""The model file DHCore looks for in a sklearn model's folder (`SklearnServeRunner.getFilePath`)."""


def prepare(
    kind: str,
    project: str,
    spec: dict[str, Any],
    folder: Path,
    ports: tuple[int, int],
    client: RestClient | None = None,
) -> list[str]:
    """Fetch the model of a `kind` serve run into `folder`, write MLServer's settings there,
    and return the command that serves it (on `ports`: HTTP, gRPC). `client`: the platform, whose
    files API gives a single-file model without the SDK (`fetch_model`)."""
    path = spec.get("path")
    if not isinstance(path, str) or not path.strip():
        raise ServeError("model path is missing or invalid")  # DHCore's wording
    folder.mkdir(parents=True, exist_ok=True)
    name = endpoints.model_name(spec)
    if kind == endpoints.SKLEARN:
        model_file = _sklearn_file(fetch_model(kind, project, path, folder / name, client))
        uri = str(model_file)
    else:
        uri = str(_unpacked(fetch_model(kind, project, path, folder / "model", client)))
    settings = {
        "name": name,
        "implementation": endpoints.MODEL_SERVER_IMPLEMENTATIONS[kind],
        "parameters": {"uri": uri},
    }
    (folder / "model-settings.json").write_text(json.dumps(settings, indent=2), encoding="utf-8")
    (folder / "settings.json").write_text(json.dumps(server_settings(*ports), indent=2), encoding="utf-8")
    return command(folder)


def server_settings(port: int, grpc_port: int) -> dict[str, Any]:
    """MLServer's `settings.json` for a service of this host (see the module docstring)."""
    return {
        "host": endpoints.LOOPBACK,
        "http_port": port,
        "grpc_port": grpc_port,
        "parallel_workers": 0,
        "metrics_endpoint": None,
    }


def command(folder: Path) -> list[str]:
    """`mlserver start FOLDER`, with the interpreter dhmlrun runs in."""
    return [sys.executable, "-m", "mlserver.cli.main", "start", str(folder)]


def fetch_model(
    kind: str, project: str, path: str, destination: Path, client: RestClient | None = None
) -> Path:
    """Where the model of `path` is on this host: a `store://` model key is resolved to the model
    (its latest version when the key has no id, as DHCore's runners do) and downloaded from the
    platform's store; a URL is downloaded; a local path is used where it is.

    A model version that is one file is first asked of the platform's files API (`client`),
    which answers a presigned URL, as DHCore's does. Why: the SDK's download imports the SDK and
    its S3 client, about a second of every model service's start (bench 11); the SDK stays the
    way for folders (mlflow models), keys without an id, and platforms that answer nothing."""
    if path.startswith(keys.PREFIX):
        fetched = _through_files_api(client, kind, project, path, destination) if client else None
        return fetched or _download_model(kind, project, path, destination)
    scheme = urlsplit(path).scheme
    if scheme in ("", "file"):
        local = Path(urlsplit(path).path if scheme else path)
        if not local.exists():
            raise ServeError(f"model path {path} does not exist on this host")
        return local
    from digitalhub.stores.data.api import get_store

    destination.mkdir(parents=True, exist_ok=True)
    return Path(get_store(path).download(path, destination, overwrite=True))


def _download_model(kind: str, project: str, key: str, destination: Path) -> Path:
    import digitalhub as dh

    entity_type, name, entity_id = _parse_key(key)
    if entity_type != "model":
        raise ServeError("invalid entity kind reference, expected model")
    try:
        model = dh.get_model(key) if entity_id else dh.get_model(name, project=project)
    except Exception as exc:
        raise ServeError(f"invalid entity reference, model {key} not found: {exc}") from exc
    expected = endpoints.MODEL_KINDS[kind]
    if model.kind != expected:
        raise ServeError(f"invalid entity reference, expected {expected} model (got {model.kind})")
    model_path = str(model.spec.path)
    if urlsplit(model_path).scheme in ("", "file"):
        return fetch_model(kind, project, model_path, destination)
    destination.mkdir(parents=True, exist_ok=True)
    return Path(model.download(destination=str(destination), overwrite=True))


def _through_files_api(
    client: RestClient, kind: str, project: str, key: str, destination: Path
) -> Path | None:
    """The one file of model version `key`, downloaded from the URL the platform's files API
    gives (`GET /-/{p}/models/{id}/files/download`); None when it gives none (a folder, no such
    API), or the key names no version."""
    from dhmlrun.platform.rest import context_path

    entity_type, _, entity_id = _parse_key(key)
    if entity_type != "model" or not entity_id:
        return None
    try:
        model = client.get(context_path(project, "models", entity_id)) or {}
        if model.get("kind") != endpoints.MODEL_KINDS[kind]:
            return None  # the SDK's way says what is wrong with it
        path = str((model.get("spec") or {}).get("path") or "")
        answer = client.get(context_path(project, "models", entity_id, "files", "download"))
    except Exception:  # no files API here: the SDK's way
        return None
    url = (answer or {}).get("url") if isinstance(answer, dict) else None
    name = PurePosixPath(urlsplit(path).path).name
    if not url or not name or urlsplit(path).scheme in ("", "file"):
        return None
    destination.mkdir(parents=True, exist_ok=True)
    target = destination / name
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as reply, target.open("wb") as out:
        shutil.copyfileobj(reply, out)
    return target


def _parse_key(key: str) -> tuple[str, str, str | None]:
    """(entity type, name, id or None) of `store://project/type/kind/name[:id]`."""
    parsed = keys.parse_key(key)
    if parsed is None:
        raise ServeError(f"invalid entity reference {key}: expected store://PROJECT/model/KIND/NAME[:ID]")
    return parsed.type, parsed.name, parsed.id or None


def _sklearn_file(found: Path) -> Path:
    """The `.pkl`/`.joblib` file of a downloaded sklearn model (a file, or in its folder)."""
    if found.is_file():
        return found
    candidates = sorted(p for p in found.rglob("*") if p.is_file() and SKLEARN_FILE.match(p.name))
    if not candidates:
        raise ServeError("model file not found")  # DHCore's wording
    return candidates[0]


def _unpacked(found: Path) -> Path:
    """An mlflow model's folder (a `.zip` model is unpacked beside it, as DHCore's init does)."""
    if found.is_file() and zipfile.is_zipfile(found):
        target = found.with_suffix("")
        shutil.rmtree(target, ignore_errors=True)
        with zipfile.ZipFile(found) as archive:
            for member in archive.namelist():
                if Path(member).is_absolute() or ".." in Path(member).parts:
                    raise ServeError(f"model archive member {member} escapes its folder")
            archive.extractall(target)
        return _mlmodel_root(target)
    return _mlmodel_root(found) if found.is_dir() else found


def _mlmodel_root(folder: Path) -> Path:
    """The folder holding `MLmodel` (downloads may nest it one level down)."""
    if (folder / "MLmodel").is_file():
        return folder
    nested = sorted(p.parent for p in folder.rglob("MLmodel"))
    return nested[0] if nested else folder
