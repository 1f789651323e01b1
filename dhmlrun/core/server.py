"""The embedded core as a process-local service that serves HTTP only when something needs it.

`EmbeddedCore` wires the parts: store, service (`Core`), API, and the job runner for remote runs.
In this process it answers through `transport()` (no socket). `serve()` starts an HTTP server on
loopback behind a fresh random bearer token, for what runs in other processes (run workers, the
core's own job workers); the token reaches them through their environment and is never printed.
`dhmlrun core serve` runs the same thing in the foreground (`serve_forever`).

With `stock=True` the core knows only what a stock DHCore 0.15 ships (`kinds.py`): other kinds
are refused with 404 `No such spec.`, specs keep only their kind's fields. So a rehearsal on one
machine meets the refusals a real deployment would give.
"""

from __future__ import annotations

import secrets
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from dhmlrun.core.api import CoreApi
from dhmlrun.core.inprocess import InProcessTransport
from dhmlrun.core.jobs import DEFAULT_MAX_WORKERS, WORKER_MODULE, Jobs
from dhmlrun.core.kinds import KindRegistry, is_service
from dhmlrun.core.service import Core
from dhmlrun.core.store import Store
from dhmlrun.core.supervisor import ServiceSupervisor

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
    ) -> None:
        self.db_path = Path(db_path)
        self.stock = stock
        self.store = Store(self.db_path)
        self.core = Core(self.store, kinds=KindRegistry(stock=stock))
        self.api = CoreApi(self.core)
        self.jobs = Jobs(
            self.core,
            max_workers=max_workers,
            worker_module=worker_module,
            runs_dir=self.db_path.parent / "runs",
            envs_dir=self.db_path.parent / "envs",
        )
        self.services = ServiceSupervisor(
            self.core, self.db_path.parent / "services", self.jobs.process_for
        )
        self.core.on_run_created = self._run_created
        self.core.on_run_stop = self._run_stop
        self.core.on_runs_deleted = self._runs_deleted
        self.core.on_run_resume = self._run_resumed
        self.core.on_runs_read = self.services.reconcile
        self.core.run_service_log = self._live_log
        self.endpoint: str | None = None
        self.token: str | None = None
        self._http: HttpServer | None = None
        self._lock = threading.Lock()

    def transport(self) -> InProcessTransport:
        """Requests from this process, answered without a socket."""
        return InProcessTransport(self.api)

    def serve(self) -> tuple[str, str]:
        """Serve HTTP on loopback behind a new token (once); returns (endpoint, token)."""
        with self._lock:
            if self._http is None:
                from dhmlrun.core.http_server import HttpServer

                token = new_token()
                http = HttpServer(self._app(token))
                http.start()
                self._http, self.endpoint, self.token = http, http.endpoint, token
                self.jobs.start(http.endpoint, token)
        assert self.endpoint is not None and self.token is not None
        return self.endpoint, self.token

    def bind(self, host: str, port: int, token: str) -> HttpServer:
        """An HTTP server for `serve_forever`, bound now: a port in use fails before anything runs."""
        from dhmlrun.core.http_server import HttpServer

        return HttpServer(self._app(token), host, port)

    def serve_forever(self, http: HttpServer, token: str) -> None:
        """`dhmlrun core serve`: serve `http` (from `bind`) in this thread until interrupted."""
        with self._lock:
            self._http, self.endpoint, self.token = http, http.endpoint, token
        self.jobs.start(http.endpoint, token)
        try:
            http.run()
        finally:
            self.close()

    def _app(self, token: str) -> object:
        from dhmlrun.core.asgi import CoreApp

        return CoreApp(self.api, token=token)

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
        """Stop serving, let workers finish (bounded), close the database."""
        with self._lock:
            http, self._http = self._http, None
        if http is not None:
            http.stop()
        self.services.close()
        self.jobs.shutdown()
        self.store.close()
