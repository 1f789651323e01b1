"""The embedded core as a process-local service that serves HTTP only when something needs it.

`EmbeddedCore` wires the parts: store, service (`Core`), API, and the job runner for remote runs.
In this process it answers through `transport()` (no socket). `serve()` starts an HTTP server on
loopback behind a fresh random bearer token, for what runs in other processes (run workers, the
core's own job workers); the token reaches them through their environment and is never printed.
`dhmlrun core serve` runs the same thing in the foreground (`serve_forever`).

With `stock=True` the core knows only what a stock DHCore 0.15 ships (`kinds.py`): other kinds
are refused with 404 `No such spec.`, specs keep only their kind's fields. So a rehearsal on one
machine meets the refusals a real deployment would give.

The core has a files store of its own (`objects.py`, S3 under `/s3/` of its port, `files/`
beside the database) and hands it to every client it serves as DHCore hands its pods their
store (`client_environment`: `DHCORE_DEFAULT_FILES_STORE` and the S3 settings the SDK reads).
Given another store (`files_store=`, from `DHCORE_DEFAULT_FILES_STORE` where the core is
opened), it hands that one instead, and the S3 settings of its host's environment go with it.
"""

from __future__ import annotations

import secrets
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dhmlrun.core.api import CoreApi
from dhmlrun.core.configuration import run_configuration
from dhmlrun.core.files import FilesService
from dhmlrun.core.files_api import files_routes
from dhmlrun.core.inprocess import InProcessTransport
from dhmlrun.core.jobs import DEFAULT_MAX_WORKERS, WORKER_MODULE, Jobs
from dhmlrun.core.kinds import KindRegistry, is_service
from dhmlrun.core.levels import DEFAULT_LEVEL
from dhmlrun.core.levels import api_level as api_level_of
from dhmlrun.core.objects import DEFAULT_BUCKET, ObjectStore
from dhmlrun.core.s3 import PREFIX as FILES_PREFIX
from dhmlrun.core.s3 import files_credentials
from dhmlrun.core.service import Core
from dhmlrun.core.store import Store
from dhmlrun.core.supervisor import ServiceSupervisor
from dhmlrun.platform.worker_env import embedded_connection
from dhmlrun.vocabulary.settings import FILES_STORE_ENV

if TYPE_CHECKING:
    from dhmlrun.core.http_server import HttpServer


def new_token() -> str:
    """A bearer token for one start of the core: 256 random bits."""
    return secrets.token_urlsafe(32)


class EmbeddedCore:
    """A core on one database file (see the module docstring)."""

    def __init__(
        self,
        db_path: Path | str,
        *,
        max_workers: int = DEFAULT_MAX_WORKERS,
        worker_module: str = WORKER_MODULE,
        stock: bool = False,
        files_store: str | None = None,
        token: str | None = None,
        api_level: int = DEFAULT_LEVEL,
    ) -> None:
        self.db_path = Path(db_path)
        self.stock = stock
        self.store = Store(self.db_path)
        self.core = Core(self.store, kinds=KindRegistry(stock=stock, level=api_level))
        self.level = api_level_of(api_level)
        """The DHCore API level served (`levels.py`): 15, or 16 for the 0.16 line."""
        self.token: str = token or new_token()
        """The bearer token of this start (`serve()` and `bind()` use it); the files store's key
        is derived from it."""
        self.objects = ObjectStore(self.store, self.db_path.parent / "files")
        self.files_store = (files_store or "").rstrip("/") or f"s3://{DEFAULT_BUCKET}"
        """The default files store handed to runs: the core's own unless told otherwise."""
        self.core.files = FilesService(self.objects, self.files_store, files_credentials(self.token))
        self.api = CoreApi(self.core, files_routes(self.core))
        self.jobs = Jobs(
            self.core,
            max_workers=max_workers,
            worker_module=worker_module,
            runs_dir=self.db_path.parent / "runs",
            envs_dir=self.db_path.parent / "envs",
            files_store=self.files_store,
            level=api_level,
        )
        self.services = ServiceSupervisor(
            self.core, self.db_path.parent / "services", self.jobs.process_for, fork=self.jobs.fork_service
        )
        self.core.on_run_created = self._run_created
        self.core.on_run_stop = self._run_stop
        self.core.on_runs_deleted = self._runs_deleted
        self.core.on_run_resume = self._run_resumed
        self.core.on_runs_read = self.services.reconcile
        self.core.run_service_log = self._live_log
        self.core.served_endpoint = lambda: self.serve()[0]
        self.core.configuration = self.configuration
        self.endpoint: str | None = None
        self._http: HttpServer | None = None
        self._lock = threading.Lock()

    def transport(self) -> InProcessTransport:
        """Requests from this process, answered without a socket."""
        return InProcessTransport(self.api)

    def serve(self) -> tuple[str, str]:
        """Serve HTTP on loopback behind this start's token (once); returns (endpoint, token)."""
        with self._lock:
            if self._http is None:
                from dhmlrun.core.http_server import HttpServer

                http = HttpServer(self._app())
                http.start()
                self._http, self.endpoint = http, http.endpoint
                self.jobs.start(http.endpoint, self.token, self.connection(http.endpoint))
        assert self.endpoint is not None
        return self.endpoint, self.token

    def client_environment(self) -> dict[str, str]:
        """What the SDK of another process needs to use this core, served (and its files store)."""
        endpoint, _ = self.serve()
        return self.connection(endpoint)

    def connection(self, endpoint: str) -> dict[str, str]:
        """The SDK settings that reach this core at `endpoint`, its files store included."""
        return embedded_connection(endpoint, self.token, self.files_environment(endpoint))

    def configuration(self, endpoint: str) -> dict[str, Any]:
        """What DHCore's configuration providers publish for a client at `endpoint` (CoreConfig,
        FilesConfig, S3Config): names and URLs, never a key."""
        settings: dict[str, Any] = {
            **run_configuration(endpoint, self.files_store, self.level),
            **self.files_environment(endpoint),
        }
        if "AWS_ENDPOINT_URL" in settings:
            settings["S3_BUCKET"] = DEFAULT_BUCKET
        settings.update({key.upper(): list(value) for key, value in self.level.configuration})
        return {k: v for k, v in settings.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}

    def files_environment(self, endpoint: str) -> dict[str, str]:
        """The default files store as the SDK reads it (DHCore hands its pods the same): for
        the core's own store, its S3 endpoint and key; for another store, only its URL."""
        if self.files_store != f"s3://{DEFAULT_BUCKET}":
            return {FILES_STORE_ENV: self.files_store}
        access_key, secret = files_credentials(self.token)
        return {
            FILES_STORE_ENV: self.files_store,
            "AWS_ENDPOINT_URL": endpoint + FILES_PREFIX,
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_REGION": "us-east-1",
        }

    def bind(self, host: str, port: int) -> HttpServer:
        """An HTTP server for `serve_forever`, bound now: a port in use fails before anything runs."""
        from dhmlrun.core.http_server import HttpServer

        return HttpServer(self._app(), host, port)

    def serve_forever(self, http: HttpServer) -> None:
        """`dhmlrun core serve`: serve `http` (from `bind`) in this thread until interrupted."""
        with self._lock:
            self._http, self.endpoint = http, http.endpoint
        self.jobs.start(http.endpoint, self.token, self.connection(http.endpoint))
        try:
            http.run()
        finally:
            self.close()

    def _app(self) -> object:
        from dhmlrun.core.asgi import CoreApp
        from dhmlrun.core.s3 import S3Service
        from dhmlrun.core.s3_edge import S3Edge

        files = S3Edge(S3Service(self.objects, files_credentials(self.token)))
        return CoreApp(self.api, token=self.token, files=files)

    def _live_log(self, run_id: str) -> dict | None:
        """What a run still executing has printed so far: a serve run's service, or the worker
        of a job (both outlive the request that reads them)."""
        return self.services.log_entry(run_id) or self.jobs.live_log(run_id)

    def _run_created(self, project: str, run_id: str, run: dict) -> None:
        """A run for the core's own executor (a serve run for its service supervisor): its
        workers and services need the HTTP server."""
        self.serve()
        if is_service(str(run.get("kind", ""))):
            self.services.launch(project, run_id, run)
        else:
            self.jobs.submit(project, run_id, run)

    def _run_stop(self, project: str, run_id: str) -> None:
        if self.services.serves(run_id):
            self.services.stop(project, run_id)
        else:
            self.jobs.stop_run(project, run_id)

    def _run_resumed(self, project: str, run_id: str, run: dict) -> None:
        """A resumed serve run is served again (a resumed job has nothing to resume here)."""
        if is_service(str(run.get("kind", ""))):
            self.serve()
            self.services.resume(project, run_id, run)

    def _runs_deleted(self, run_ids: list[str]) -> None:
        self.jobs.forget_runs(run_ids)
        self.services.forget(run_ids)

    def close(self) -> None:
        """Stop the services, let workers finish (bounded) while they can still reach this core
        to record how their runs ended, then stop serving and close the database."""
        self.services.close()
        self.jobs.shutdown()
        with self._lock:
            http, self._http = self._http, None
        if http is not None:
            http.stop()
        self.store.close()
