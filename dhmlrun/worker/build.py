"""`python -m dhmlrun.worker.build PROJECT RUN_ID`: a function's `build` run, as DHCore does it.

The runtimes' own `run()` does nothing for a build: DHCore does the work (docs/dhcore-runs.md §5).
For a python function it builds an image with the function's requirements and, on completion,
sets the function's `spec.image` to it (`PythonBuildRunner`, `PythonRuntime.onComplete`); the
embedded core prepares the function's environment instead (`environments.py`: reused when it
exists) and reports the image name DHCore would have given (`<project>-<function>:<run id>`, or
the function's own image name with the run id as tag), which the core's completion writes into
the function. A container function's build needs an image builder (DHCore runs Kaniko or
BuildKit); the embedded core has none, so such a build ends in ERROR saying so.

The worker speaks plain REST (no SDK): READY → RUNNING → COMPLETED (results `image`,
`environment`) or ERROR with the reason; what it did is stored as the run's log.
"""

from __future__ import annotations

import base64
import os
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from dhmlrun.environments import BUILD_IMAGE_RESULT, EnvironmentFailed, EnvironmentRequest, prepare
from dhmlrun.vocabulary import states
from dhmlrun.vocabulary.settings import ENVS_DIR_ENV
from dhmlrun.worker.job import EXIT_INFRASTRUCTURE, EXIT_OK, EXIT_USAGE

NO_IMAGE_BUILDER = (
    "the embedded core builds no container images (DHCore builds them with Kaniko or BuildKit on "
    "Kubernetes): build the image elsewhere and set the function's image"
)
MIN_IMAGE_NAME_LENGTH = 3


def image_name(project: str, function: str, image: str | None, run_id: str) -> str:
    """The image DHCore names a build's result: the function's own image name when it has one
    (tag dropped; `PythonBuildRunner.MIN_IMAGE_NAME_LENGTH`), else `<project>-<function>`,
    tagged with the build run's id."""
    name = f"{_sanitized(project)}-{_sanitized(function)}"
    own = (image or "").split(":", 1)[0]
    if len(own) > MIN_IMAGE_NAME_LENGTH:
        name = own
    return f"{name}:{run_id}"


def _sanitized(name: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", name.lower())


def execute_build(project: str, run_id: str) -> int:
    from dhmlrun.platform.auth import Credentials
    from dhmlrun.platform.rest import RestClient, context_path
    from dhmlrun.platform.transport import HttpTransport

    endpoint = os.environ.get("DHCORE_ENDPOINT")
    if not endpoint:
        print("dhmlrun build: DHCORE_ENDPOINT is not set", file=sys.stderr)
        return EXIT_INFRASTRUCTURE
    client = RestClient(HttpTransport(endpoint), Credentials(os.environ))
    path = context_path(project, "runs", run_id)
    try:
        run = client.get(path)
    except Exception as exc:
        print(f"dhmlrun build: cannot read run {run_id} of project {project}: {exc}", file=sys.stderr)
        return EXIT_INFRASTRUCTURE
    if run.get("status", {}).get("state") != states.READY:
        print(f"dhmlrun build: run {run_id} is not READY; not executing it", file=sys.stderr)
        return EXIT_INFRASTRUCTURE
    lines: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    run = client.put(path, {**run, "status": {"state": states.RUNNING}})
    try:
        results = _build(project, run, say)
        status: dict[str, Any] = {"state": states.COMPLETED, "results": results}
    except EnvironmentFailed as exc:
        say(f"build failed: {exc}")
        status = {"state": states.ERROR, "message": str(exc)}
    client.post(context_path(project, "logs"), _log(project, run_id, "\n".join(lines) + "\n"))
    client.put(path, {**run, "status": status})
    return EXIT_OK


def _build(project: str, run: dict[str, Any], say: Any) -> dict[str, str]:
    spec = run.get("spec", {})
    if not str(run.get("kind", "")).startswith("python+"):
        raise EnvironmentFailed(NO_IMAGE_BUILDER)
    function = str(spec.get("function", "")).rsplit("/", 1)[-1].split(":", 1)[0]
    request = EnvironmentRequest.of(spec)
    results = {BUILD_IMAGE_RESULT: image_name(project, function, spec.get("image"), run["id"])}
    if not request.requirements:
        say("no requirements: the core's own environment runs this function")
        return results
    environment = prepare(Path(os.environ[ENVS_DIR_ENV]), request, say)
    say(f"environment {environment.digest} ready")
    return {**results, "environment": environment.digest}


def _log(project: str, run_id: str, text: str) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "kind": "log",
        "project": project,
        "spec": {"run": run_id, "timestamp": int(time.time() * 1000)},
        "content": base64.b64encode(text.encode("utf-8", "replace")).decode(),
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m dhmlrun.worker.build PROJECT RUN_ID", file=sys.stderr)
        return EXIT_USAGE
    return execute_build(args[0], args[1])


if __name__ == "__main__":
    sys.exit(main())
