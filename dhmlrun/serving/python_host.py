"""A python `serve` run as DHCore serves it: its handler behind HTTP, nuclio style.

DHCore 0.15 (`PythonServeRunner`) runs the nuclio processor of its serverless image on a handler
generated from `runtime-python/docker/_serve_handler.py`. At start that handler reads the project
and the run (`PROJECT_NAME`, `RUN_ID`), calls `run.start_execution()`, imports the function's
handler and `init_function` from the source written under `/shared`, sets `context.project`,
`context.run`, `context.user_function` and `context.root`, and calls `init_function` once with
the run's `init_parameters` (`compose_init`). Then, per request, it composes the handler's
arguments with `compose_inputs` (the project, the run, `context` and `event` when the handler
asks for them) and calls it. The HTTP trigger has two workers (`maxWorkers: 2`).

This module does the same with the same functions of digitalhub-runtime-python and nuclio-sdk's
`Context`, `Event` and `Response`, on a standard-library HTTP server bound to loopback once init
has returned: an `Event` carries the body (decoded from JSON when the content type is
`application/json`, as nuclio's event deserializer does), the query string as `fields`, the
headers, method and path; the handler's return value becomes the response as nuclio's wrapper
turns it into one (`Response.from_entrypoint_output`); an exception is a 500 with its message.
`GET /.dhmlrun/ready` is answered here, not by the handler: the supervisor's readiness probe.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import traceback
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from dhmlrun.serving import endpoints
from dhmlrun.serving.errors import ServeError

MAX_WORKERS = 2
"""Concurrent handler calls, as DHCore's http trigger (`maxWorkers: 2`)."""
MAX_BODY_BYTES = 64 << 20
TRIGGER = ("http", "http")
JSON_TYPE = "application/json"

log = logging.getLogger("dhmlrun.serving.python")


def serve(project: str, run_id: str, spec: dict[str, Any], port: int, root: Path) -> None:
    """Initialise the function of a python serve run and serve it on `port` until killed."""
    context = initialise(project, run_id, spec, root)
    server = ThreadingHTTPServer((endpoints.LOOPBACK, port), _handler_class(context))
    server.daemon_threads = True
    print(
        f"dhmlrun service: serving {spec.get('source', {}).get('handler')} on {endpoints.LOOPBACK}:{port}",
        flush=True,
    )
    server.serve_forever()


def initialise(project: str, run_id: str, spec: dict[str, Any], root: Path) -> Any:
    """The nuclio `Context` after DHCore's `init_context`: project, run, user function, root,
    and `init_function` called once with `init_parameters`."""
    import digitalhub as dh
    import nuclio_sdk
    from digitalhub.context.api import get_context
    from digitalhub_runtime_python.utils.configuration import import_function_and_init_from_source
    from digitalhub_runtime_python.utils.inputs import compose_init

    source = dict(spec.get("source") or {})
    if not source.get("handler"):
        raise ServeError("the function has no handler (source.handler)")
    project_entity = dh.get_project(project)
    platform_context = get_context(project_entity.name)
    platform_context.root.mkdir(parents=True, exist_ok=True)
    run = dh.get_run(run_id, project=project)
    run.start_execution()
    write_source(source, root)
    function, init_function = import_function_and_init_from_source(source, root)
    logger = nuclio_sdk.Logger(logging.INFO, "dhmlrun.serve")  # to this process's output: the log
    context = nuclio_sdk.Context(
        logger=logger,
        platform=nuclio_sdk.Platform("local"),
        worker_id=0,
        trigger=nuclio_sdk.TriggerInfo(*TRIGGER),
    )
    context.project = project_entity
    context.run = run
    context.user_function = function
    context.root = platform_context.root
    if init_function is not None:
        params = compose_init(init_function, context, dict(spec.get("init_parameters") or {}))
        context.logger.info("Execute user init function.")
        init_function(**params)
    context.logger.info("Context initialized.")
    return context


def write_source(source: dict[str, Any], root: Path) -> None:
    """Put the function's code where the runtime imports it from, as DHCore's runner does: an
    embedded (base64) source is written at the file its local `source` names, else `main.py`;
    any other source (git, an archive, a URL) is fetched by digitalhub-runtime-python."""
    from digitalhub_runtime_python.utils.configuration import save_function_source

    root.mkdir(parents=True, exist_ok=True)
    encoded = source.get("base64")
    if encoded is None:
        save_function_source(root, source)
        return
    target = root / module_file(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(base64.b64decode(encoded))


def module_file(source: dict[str, Any]) -> Path:
    """The file digitalhub-runtime-python imports the handler from, relative to its root
    (`configuration._get_function_to_import`): `module` of `module:function`, else the local
    `source` path (its parts joined as a dotted module), else `main.py`."""
    from digitalhub.utils.uri_utils import has_local_scheme

    handler = str(source.get("handler"))
    if ":" in handler:
        module = handler.split(":", 1)[0]
    else:
        text = source.get("source")
        if isinstance(text, str) and has_local_scheme(text):
            module = ".".join(Path(text.removesuffix(".py")).parts)
        else:
            module = "main"
    return Path(module.replace(".", "/") + ".py")


def event_of(method: str, target: str, headers: dict[str, str], body: bytes) -> Any:
    """The nuclio `Event` of one HTTP request."""
    import nuclio_sdk

    parts = urlsplit(target)
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    payload: Any = body
    if content_type.split(";", 1)[0].strip() == JSON_TYPE and body:
        try:
            payload = json.loads(body.decode("utf-8"))
        except ValueError:
            payload = body
    return nuclio_sdk.Event(
        body=payload,
        content_type=content_type,
        trigger=nuclio_sdk.TriggerInfo(*TRIGGER),
        fields=dict(parse_qsl(parts.query, keep_blank_values=True)),
        headers=headers,
        method=method,
        path=parts.path or "/",
        size=len(body),
        timestamp=datetime.now(UTC),
        url=target,
    )


def respond(context: Any, event: Any) -> dict[str, Any]:
    """Call the user's handler on `event` as DHCore's `handler` does; nuclio's response dict."""
    import nuclio_sdk
    import nuclio_sdk.json_encoder
    from digitalhub_runtime_python.utils.inputs import compose_inputs

    encode = nuclio_sdk.json_encoder.Encoder().encode
    arguments = compose_inputs({}, {}, False, context.user_function, context.project, context, event)
    try:
        output = context.user_function(**arguments)
    except nuclio_sdk.ExceptionWithResponse as exc:  # the handler chose its error response
        output = nuclio_sdk.Response(
            body=exc.body, content_type=exc.content_type, status_code=exc.status_code
        )
    return nuclio_sdk.Response.from_entrypoint_output(encode, output)


def _handler_class(context: Any) -> type[BaseHTTPRequestHandler]:
    workers = threading.BoundedSemaphore(MAX_WORKERS)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "dhmlrun-serve"

        def _serve(self) -> None:
            if self.path == endpoints.PYTHON_READY_PATH and self.command == "GET":
                self._send(200, "text/plain", b"ready", {})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._send(413, "text/plain", b"request body too large", {})
                return
            body = self.rfile.read(length) if length else b""
            event = event_of(self.command, self.path, dict(self.headers.items()), body)
            try:
                with workers:
                    response = respond(context, event)
            except Exception as exc:
                traceback.print_exc()
                self._send(500, "text/plain", f"{type(exc).__name__}: {exc}".encode(), {})
                return
            payload = response.get("body")
            data = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload or b"")
            if response.get("body_encoding") == "base64":
                data = base64.b64decode(data)
            self._send(
                int(response.get("status_code") or 200),
                str(response.get("content_type") or "text/plain"),
                data,
                dict(response.get("headers") or {}),
            )

        def _send(self, status: int, content_type: str, data: bytes, headers: dict[str, Any]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                if key.lower() not in ("content-type", "content-length"):
                    self.send_header(str(key), str(value))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

        def log_message(self, format: str, *args: Any) -> None:
            print(f"{self.address_string()} - {format % args}", flush=True)

    return Handler
