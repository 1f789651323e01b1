"""Plan time and HTTP requests at 10, 100 and 1,000 managed entities, on the embedded core.

    /work/venv/bin/python bench/bench_plan.py [--sizes 10,100,1000] [--repeat 5]

For each size: a project with N managed entities (half dataitems, half functions) is created
through `Platform.create_entity` from a plan of an N-entity declaration, so re-planning it is a
no-op, as in CI on an unchanged repo. Measured:
- in-process: `read_state + build_plan` (best of --repeat: the machine is shared);
- end to end: `dhmlrun plan --endpoint ... DIR` in a fresh process on a generated dhmlrun.yaml
  with the same N entities (best of --cli-repeat): what a CI job waits for;
- HTTP requests of one plan, counted by a counting proxy in front of the core.
Prints a table and the ratios of plan time at the largest vs the smallest size (goal <= 2).
"""

from __future__ import annotations

import argparse
import http.server
import os
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dhmlrun.config.model import Declaration, Resource
from dhmlrun.errors import Location
from dhmlrun.plan import build_plan
from dhmlrun.platform import Platform
from dhmlrun.platform.state import PlatformState


class CountingProxy(http.server.ThreadingHTTPServer):
    """Forwards every request to the core and counts them by (method, path without query)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.counts: Counter[str] = Counter()
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: CountingProxy

    def _forward(self) -> None:
        self.server.counts[f"{self.command} {self.path.split('?')[0]}"] += 1
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        request = urllib.request.Request(self.server.upstream + self.path, data=body, method=self.command)
        for key, value in self.headers.items():
            if key.lower() not in ("host", "content-length", "connection"):
                request.add_header(key, value)
        try:
            with urllib.request.urlopen(request) as response:
                status, headers, data = response.status, response.headers, response.read()
        except urllib.error.HTTPError as exc:
            status, headers, data = exc.code, exc.headers, exc.read()
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _forward

    def log_message(self, *args: object) -> None:
        return


def declaration(root: Path, project: str, size: int) -> Declaration:
    resources = {}
    for i in range(size):
        if i % 2:
            spec = {"kind": "mlrun", "source": {"code": f"def h(context):\n    return {i}\n"}, "handler": "h"}
            type_ = "functions"
        else:
            spec = {"kind": "table", "path": f"s3://bench/data-{i}.csv"}
            type_ = "dataitems"
        resources[f"{type_}.e{i}"] = Resource(type_, f"e{i}", spec, Location("dhmlrun.yaml"))
    return Declaration(root=root, files=[], project={"name": project}, resources=resources)


def populate(platform: Platform, decl: Declaration) -> None:
    plan = build_plan(decl, PlatformState(project=decl.project_name))
    for action in plan.actions:
        if action.address == "project":
            platform.ensure_project(action.body)
        else:
            platform.create_entity(action.type, action.body)


def time_plan(platform: Platform, decl: Declaration, repeat: int) -> tuple[float, bool]:
    timings = []
    clean = True
    for _ in range(repeat):
        started = time.perf_counter()
        plan = build_plan(decl, platform.read_state(decl.project_name))
        timings.append(time.perf_counter() - started)
        clean = clean and not plan.has_changes
    return min(timings), clean


def write_config(directory: Path, decl: Declaration) -> Path:
    """The same declaration as a dhmlrun.yaml, for the end-to-end measurement."""
    import yaml

    directory.mkdir(parents=True, exist_ok=True)
    doc: dict = {"version": 1, "project": {"name": decl.project_name}, "dataitems": {}, "functions": {}}
    for resource in decl:
        doc[resource.type][resource.name] = resource.spec
    (directory / "dhmlrun.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return directory


def time_cli(directory: Path, endpoint: str, repeat: int) -> tuple[float, int]:
    """Best wall time of `dhmlrun plan` in a new process, and its exit code."""
    import subprocess

    timings, code = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "dhmlrun",
                "plan",
                "--endpoint",
                endpoint,
                "--detailed-exitcode",
                str(directory),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        timings.append(time.perf_counter() - started)
        code = proc.returncode
        if code not in (0, 2):
            print(proc.stderr, file=sys.stderr)
    return min(timings), code


def point_sdk_at(endpoint: str) -> None:
    from dhmlrun.core.embedded import reset_sdk_client

    os.environ["DHCORE_ENDPOINT"] = endpoint
    reset_sdk_client()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cli-repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    from dhmlrun.core.embedded import embedded_core

    results = []
    with tempfile.TemporaryDirectory() as tmp, embedded_core(Path(tmp) / "core.db") as core:
        proxy = CountingProxy(core.endpoint)
        for size in sizes:
            decl = declaration(Path(tmp), f"bench-{size}", size)
            point_sdk_at(core.endpoint)
            populate(Platform(core.endpoint), decl)
            point_sdk_at(proxy.endpoint)
            platform = Platform(proxy.endpoint)
            platform.read_state(decl.project_name)  # warm-up (SDK client, connection)
            proxy.counts.clear()
            build_plan(decl, platform.read_state(decl.project_name))
            requests = dict(proxy.counts)
            seconds, clean = time_plan(platform, decl, args.repeat)
            cli_seconds, code = time_cli(
                write_config(Path(tmp) / f"cfg-{size}", decl), core.endpoint, args.cli_repeat
            )
            results.append((size, seconds, cli_seconds, code, sum(requests.values()), requests, clean))
        proxy.shutdown()

    print(
        f"{'entities':>9} {'in-process ms':>14} {'CLI ms':>8} {'exit':>5} {'requests':>9}  clean  by endpoint"
    )
    for size, seconds, cli_seconds, code, total, requests, clean in results:
        detail = ", ".join(f"{k.split('/')[-1]} x{v}" for k, v in sorted(requests.items()))
        timing = f"{seconds * 1000:>14.1f} {cli_seconds * 1000:>8.0f}"
        print(f"{size:>9} {timing} {code:>5} {total:>9}  {clean!s:5}  {detail}")
    first, last = results[0], results[-1]
    print(
        f"ratio {last[0]} vs {first[0]} entities: in-process {last[1] / first[1]:.2f}, "
        f"end-to-end CLI {last[2] / first[2]:.2f} (goal <= 2)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
