"""`dhmlrun invoke services.NAME [--json BODY] [--request-path PATH]`: one request to a service.

The service's endpoint is the one its serve run reports (`status.service.url`, as `show` lists
it). A model service gets its V2 inference request (`POST /v2/models/NAME/infer`, NAME its
`model_name`), a python service the request at its root (or `--request-path`), as the SDK's
`run.invoke()` sends them. The answer's body goes to stdout; an HTTP error exits 1.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import click

from dhmlrun.cli.options import ProjectOptions, project_options
from dhmlrun.cli.show import path_option
from dhmlrun.errors import DhmlrunError
from dhmlrun.views.terminal import safe_text
from dhmlrun.vocabulary import states
from dhmlrun.vocabulary.kinds import runtime_name

REQUEST_TIMEOUT = 60.0


@click.command("invoke")
@click.argument("address")
@path_option
@click.option("--json", "body", metavar="BODY", default=None, help="A JSON body to POST (else a GET).")
@click.option(
    "--request-path",
    default=None,
    metavar="PATH",
    help="A path below the service's URL (default: /v2/models/NAME/infer for a model, / for python).",
)
@project_options
def invoke(
    address: str, path: Path, body: str | None, request_path: str | None, options: ProjectOptions
) -> None:
    """Send one request to the service at ADDRESS (services.NAME) and print its answer."""
    from dhmlrun.serving import endpoints

    address = address if address.startswith("services.") else f"services.{address}"
    data = None
    if body is not None:
        try:
            data = json.dumps(json.loads(body)).encode("utf-8")
        except ValueError as exc:
            raise DhmlrunError.single(f"--json: not JSON: {exc}") from exc
    project = options.project(path)
    with project.connect() as platform:
        run = project.read_state(platform).runs.get(address)
    if run is None:
        raise DhmlrunError.single(
            f"{address} has never been deployed in project {project.declaration.project_name}"
        )
    if run.state != states.RUNNING or not run.service_url:
        why = f": {run.message}" if run.message else ""
        raise DhmlrunError.single(
            f"{address} is not running (its run {run.id} is {run.state}{why}); apply to deploy it"
        )
    kind = runtime_name(str(run.kind or ""))
    if request_path is None:
        model = endpoints.model_name(run.spec)
        request_path = f"/v2/models/{model}/infer" if kind in endpoints.MODEL_SERVER_IMPLEMENTATIONS else "/"
    url = f"http://{run.service_url}/{request_path.lstrip('/')}"
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as reply:
            click.echo(safe_text(reply.read().decode("utf-8", "replace")))
    except urllib.error.HTTPError as exc:
        answer = exc.read().decode("utf-8", "replace").strip()
        raise DhmlrunError.single(f"{url} answered HTTP {exc.code}: {safe_text(answer)}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise DhmlrunError.single(f"cannot reach {address} at {url}: {exc}") from exc
