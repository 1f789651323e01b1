"""How much of DHCore 0.15's HTTP contract the embedded core serves: every path and method of
DHCore's own OpenAPI document, asked of a fresh embedded core.

    python bench/probe_routes.py OPENAPI_JSON [--stock] [--list]

OPENAPI_JSON is DHCore's `application/openapi/openapi.json` (branch 0.15.x of
scc-digitalhub/digitalhub-core; e.g. `git -C MIRROR show 0.15.x:application/openapi/openapi.json
> openapi.json`). Each path template is filled with real ids (a project, and one entity of each
type created first), each of its methods is sent once with a JSON object body where one is
taken, and the answer is classified:

- served: any answer in DHCore's own error body (`{status, message, errorCode}`) or a success,
  i.e. a controller took the request (a 400 for a body the probe did not fill counts: DHCore
  would answer 400 too);
- not served: Spring's default body (`{timestamp, status, error, path}`) with 404 or 405, which is
  what a server without that controller answers, or a 5xx.

Prints one line per path not fully served, then the counts: paths whose every method is served,
and (path, method) pairs. Writes nothing outside a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import requests

from dhmlrun.core.server import EmbeddedCore

OIDC_PATHS = frozenset(
    {
        "/auth/authorize",
        "/auth/token",
        "/auth/userinfo",
        "/auth/jwks",
        "/auth/test",
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    }
)
"""The OAuth2/OIDC authorization server's paths: an identity provider, which the goal excepts."""
PROJECT = "probe"
WITH_BODY = ("POST", "PUT", "PATCH")


def seed(session: requests.Session, base: str) -> dict[str, str]:
    """A project and one entity of each type; their ids by collection."""

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        if path.startswith(f"/api/v1/-/{PROJECT}/"):
            body = {"project": PROJECT, **body}  # DHCore refuses a create without it (400)
        answer = session.post(base + path, json=body, timeout=30)
        answer.raise_for_status()
        return answer.json()

    post("/api/v1/projects", {"name": PROJECT, "kind": "project"})
    ctx = f"/api/v1/-/{PROJECT}"
    code = {"source": {"code": "def f():\n    return 1\n", "lang": "python"}, "python_version": "PYTHON3_11"}
    function = post(ctx + "/functions", {"name": "fn", "kind": "python", "spec": {**code, "handler": "f"}})
    executable = f"python://{PROJECT}/fn:{function['id']}"
    task = post(ctx + "/tasks", {"kind": "python+job", "spec": {"function": executable}})
    run = post(
        ctx + "/runs",
        {
            "kind": "python+job:run",
            "spec": {"task": f"python+job://{PROJECT}/{task['id']}", "local_execution": True},
        },
    )
    ids = {
        "projects": PROJECT,
        "functions": function["id"],
        "tasks": task["id"],
        "runs": run["id"],
        "artifacts": post(
            ctx + "/artifacts", {"name": "a", "kind": "artifact", "spec": {"path": "s3://dhcore/a"}}
        )["id"],
        "dataitems": post(
            ctx + "/dataitems", {"name": "d", "kind": "table", "spec": {"path": "s3://dhcore/d"}}
        )["id"],
        "models": post(ctx + "/models", {"name": "m", "kind": "model", "spec": {"path": "s3://dhcore/m"}})[
            "id"
        ],
        "secrets": post(ctx + "/secrets", {"name": "s", "kind": "secret", "spec": {"path": "secret://s"}})[
            "id"
        ],
        "logs": post(ctx + "/logs", {"spec": {"run": run["id"]}, "content": ""})["id"],
    }
    workflow = session.post(
        base + ctx + "/workflows",
        json={"name": "w", "kind": "hera", "spec": {"source": code["source"]}},
        timeout=30,
    )
    ids["workflows"] = workflow.json().get("id", "missing") if workflow.ok else "missing"
    trigger = session.post(
        base + ctx + "/triggers",
        json={
            "name": "t",
            "kind": "scheduler",
            "spec": {
                "task": f"python+job://{PROJECT}/{task['id']}",
                "function": executable,
                "schedule": "0 0 * * *",
            },
        },
        timeout=30,
    )
    ids["triggers"] = trigger.json().get("id", "missing") if trigger.ok else "missing"
    return ids


def concrete(template: str, ids: dict[str, str]) -> str:
    """The template with every `{param}` filled: ids by the collection before them."""
    parts = template.split("/")
    for index, part in enumerate(parts):
        if not part.startswith("{"):
            continue
        name = part.strip("{}")
        previous = parts[index - 1] if index else ""
        if name == "project":
            parts[index] = PROJECT
        elif name == "id":
            parts[index] = ids.get(previous, "missing")
        elif name == "entity":
            parts[index] = "function"
        elif name == "kind":
            parts[index] = "python"
        elif name == "action":
            parts[index] = "stop"
        else:
            parts[index] = "x"
    return "/".join(parts)


def served(response: requests.Response) -> bool:
    if response.status_code >= 500:
        return False
    if response.status_code not in (404, 405):
        return True
    try:
        body = response.json()
    except ValueError:
        return response.status_code == 404 and not response.content  # DHCore's empty 404s (schemas)
    return not (isinstance(body, dict) and "error" in body and "timestamp" in body)


def probe(openapi: dict[str, Any], stock: bool) -> tuple[list[tuple[str, list[str]]], int, int, int, int]:
    missing: list[tuple[str, list[str]]] = []
    paths = pairs = served_paths = served_pairs = 0
    with tempfile.TemporaryDirectory(prefix="probe-routes-") as work:
        core = EmbeddedCore(Path(work) / "core.db", stock=stock)
        try:
            endpoint, token = core.serve()
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {token}"
            ids = seed(session, endpoint)
            for template in sorted(openapi["paths"]):
                if template in OIDC_PATHS:
                    continue
                methods = sorted(m.upper() for m in openapi["paths"][template])
                failing = []
                for method in methods:
                    body = {} if method in WITH_BODY else None
                    url = endpoint + concrete(template, ids)
                    response = session.request(method, url, json=body, timeout=30, allow_redirects=False)
                    pairs += 1
                    if served(response):
                        served_pairs += 1
                    else:
                        failing.append(f"{method} {response.status_code}")
                paths += 1
                if failing:
                    missing.append((template, failing))
                else:
                    served_paths += 1
        finally:
            core.close()
    return missing, paths, served_paths, pairs, served_pairs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("openapi", type=Path, help="DHCore 0.15's application/openapi/openapi.json")
    parser.add_argument("--stock", action="store_true", help="probe the core in --stock mode")
    parser.add_argument("--list", action="store_true", help="also list every path not fully served")
    args = parser.parse_args()
    openapi = json.loads(args.openapi.read_text())
    missing, paths, served_paths, pairs, served_pairs = probe(openapi, args.stock)
    if args.list:
        for template, failing in missing:
            print(f"  not served: {template}  ({', '.join(failing)})")
    total = len(openapi["paths"])
    print(
        f"DHCore 0.15 paths: {total} ({total - paths} OIDC excepted); served: {served_paths} of {paths} "
        f"paths, {served_pairs} of {pairs} (path, method) pairs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
