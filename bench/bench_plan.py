"""Plan time and HTTP requests at 10, 100 and 1,000 managed entities, on the embedded core.

    python bench/bench_plan.py [--quick]

For 10 and 1,000 entities: a project with N managed entities (half dataitems, half functions) is created
through `Platform.create_entity` from a plan of an N-entity declaration, so re-planning it is a
no-op, as in CI on an unchanged repo. The core is an `EmbeddedCore` served over HTTP (as
`dhmlrun core serve` is, behind a bearer token), so every side talks to it the way a remote
DHCore is talked to. Measured:
- in-process: `read_state + build_plan` through dhmlrun's REST client over HTTP (best of N: the
  machine is shared);
- end to end: `dhmlrun plan --endpoint ... DIR` in a fresh process (token in
  `DHCORE_ACCESS_TOKEN`) on a generated dhmlrun.yaml with the same N entities (best of N): what a
  CI job waits for;
- HTTP requests of one plan, counted by a counting proxy in front of the core (timings are
  taken without the proxy);
- the baseline of (3): a naive digitalhub SDK script that gets and compares one entity at a time.
"""

from __future__ import annotations

import argparse
import http.server
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PLATFORM_PREFIXES, PYTHON, Result, best_of, embedded_env, seconds

from dhmlrun.config.model import Declaration, Resource
from dhmlrun.errors import Location
from dhmlrun.plan import build_plan
from dhmlrun.plan.model import EntityWrite, ProjectChange
from dhmlrun.platform import Platform
from dhmlrun.platform.state import PlatformState
from dhmlrun.platform.worker_env import embedded_connection


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


@contextmanager
def served_core(db_path: Path) -> Iterator[tuple[str, str]]:
    """(endpoint, token) of an embedded core served over HTTP on loopback, for the block."""
    from dhmlrun.core.server import EmbeddedCore

    core = EmbeddedCore(db_path)
    try:
        yield core.serve()
    finally:
        core.close()


def http_platform(endpoint: str, token: str) -> Platform:
    """dhmlrun's `Platform` over HTTP with the bearer token, as for a remote DHCore."""
    from dhmlrun.platform.auth import Credentials
    from dhmlrun.platform.rest import RestClient
    from dhmlrun.platform.transport import HttpTransport

    return Platform(RestClient(HttpTransport(endpoint), Credentials({"DHCORE_ACCESS_TOKEN": token})))


def populate(platform: Platform, decl: Declaration) -> None:
    """Create what a first apply of `decl` would create (no runs: the declaration has none)."""
    plan = build_plan(decl, PlatformState(project=decl.project_name))
    for action in plan.actions:
        if isinstance(action, ProjectChange):
            platform.ensure_project(action.body)
        elif isinstance(action, EntityWrite):
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


def time_cli(directory: Path, endpoint: str, token: str, repeat: int) -> tuple[float, int]:
    """Best wall time of `dhmlrun plan --endpoint` in a new process, and its exit code. The token
    travels in `DHCORE_ACCESS_TOKEN` (never on the command line); no other platform setting of
    this shell is inherited."""
    env = {**embedded_env(), "DHCORE_ACCESS_TOKEN": token}
    argv = [PYTHON, "-m", "dhmlrun", "plan", "--endpoint", endpoint, "--detailed-exitcode", str(directory)]
    timings, code = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        timings.append(time.perf_counter() - started)
        code = proc.returncode
        if code not in (0, 2):
            print(proc.stderr, file=sys.stderr)
    return min(timings), code


def _set_platform_settings(settings: dict[str, str]) -> None:
    """Replace this process's SDK connection settings with `settings` and have an already
    imported SDK read them again (it builds its client once, from the environment)."""
    from dhmlrun.platform.sdk import configure_sdk

    for key in [k for k in os.environ if k.startswith(PLATFORM_PREFIXES)]:
        del os.environ[key]
    os.environ.update(settings)
    configure_sdk()


@contextmanager
def sdk_pointed_at(endpoint: str, token: str) -> Iterator[None]:
    """For the block, this process's digitalhub SDK (the naive baseline's client; dhmlrun itself
    does not use it) talks to `endpoint` with `token`, through its public settings; afterwards
    it is configured as before (`run_all.py` runs the other benchmarks in this process)."""
    saved = {k: v for k, v in os.environ.items() if k.startswith(PLATFORM_PREFIXES)}
    _set_platform_settings(embedded_connection(endpoint, token))
    try:
        yield
    finally:
        _set_platform_settings(saved)


def naive_plan(decl: Declaration) -> int:
    """The baseline of benchmark (3): what a hand-written SDK script does, one entity at a time
    (get the latest version by name, compare its spec with the declared one); the number of
    entities that differ."""
    import digitalhub as dh

    differ = 0
    for resource in decl:
        getter = dh.get_dataitem if resource.type == "dataitems" else dh.get_function
        entity = getter(resource.name, project=decl.project_name)
        remote = entity.spec.to_dict()
        declared = {k: v for k, v in resource.spec.items() if k != "kind"}
        if entity.kind != resource.spec.get("kind") or any(
            remote.get(k) != v for k, v in declared.items() if k in remote
        ):
            differ += 1
    return differ


def measure_size(
    core_endpoint: str, token: str, proxy: CountingProxy, tmp: Path, size: int, repeat: int, cli_repeat: int
) -> dict:
    """Plan timings (in-process and CLI) and request counts for a project of `size` entities."""
    decl = declaration(tmp, f"bench-{size}", size)
    populate(http_platform(core_endpoint, token), decl)
    counted = http_platform(proxy.endpoint, token)
    counted.read_state(decl.project_name)  # warm-up (connection pool, API level check)
    proxy.counts.clear()
    build_plan(decl, counted.read_state(decl.project_name))
    requests = dict(proxy.counts)
    platform = http_platform(core_endpoint, token)  # time without the proxy's own overhead
    platform.read_state(decl.project_name)
    seconds_, clean = time_plan(platform, decl, repeat)
    cli_seconds, code = time_cli(write_config(tmp / f"cfg-{size}", decl), core_endpoint, token, cli_repeat)
    return {
        "size": size,
        "decl": decl,
        "seconds": seconds_,
        "cli": cli_seconds,
        "code": code,
        "requests": requests,
        "clean": clean,
    }


def time_naive(decl: Declaration, endpoint: str, token: str, repeat: int) -> float:
    def once() -> float:
        started = time.perf_counter()
        naive_plan(decl)
        return time.perf_counter() - started

    with sdk_pointed_at(endpoint, token):
        once()  # warm-up, as for the plan
        return best_of(once, repeat)


def run(quick: bool = False) -> list[Result]:
    """Benchmarks (2) plan at 1,000 vs 10 entities and (3) plan vs a naive per-entity SDK script."""
    repeat, cli_repeat = (3, 2) if quick else (5, 3)
    with tempfile.TemporaryDirectory() as tmp, served_core(Path(tmp) / "core.db") as (endpoint, token):
        proxy = CountingProxy(endpoint)
        small = measure_size(endpoint, token, proxy, Path(tmp), 10, repeat, cli_repeat)
        big = measure_size(endpoint, token, proxy, Path(tmp), 1000, repeat, cli_repeat)
        proxy.shutdown()
        naive = time_naive(big["decl"], endpoint, token, 1 if quick else 2)
    total = sum(big["requests"].values())
    lists = sum(v for k, v in big["requests"].items() if k.startswith("GET") and k.count("/") in (3, 5))
    detail = ", ".join(f"{k.split('/')[-1]} x{v}" for k, v in sorted(big["requests"].items()))
    cli_ratio = big["cli"] / small["cli"]
    in_process_ratio = big["seconds"] / small["seconds"]
    plan_result = Result(
        "2. plan, 1,000 vs 10 managed entities (whole process)",
        seconds(big["cli"]),
        f"{seconds(small['cli'])} (10)",
        cli_ratio,
        "ratio <= 2; one list call per type (+pages)",
        cli_ratio <= 2 and big["clean"] and total <= 8,
        f"best of {cli_repeat} (CLI), {repeat} (in-process)",
        [
            f"HTTP requests for 1,000 entities: {total} ({detail}); for 10: "
            f"{sum(small['requests'].values())}; list requests {lists}",
            f"in-process read_state+build_plan: {seconds(big['seconds'])} vs {seconds(small['seconds'])}, "
            f"ratio {in_process_ratio:.2f}; re-plan is a no-op: {big['clean']}",
            f"CLI exit codes (--detailed-exitcode, 0 = no changes): {big['code']} (1,000), "
            f"{small['code']} (10)",
        ],
    )
    speedup = naive / big["seconds"]
    naive_result = Result(
        "3. plan vs naive per-entity SDK script, 1,000 entities",
        seconds(big["seconds"]),
        f"{seconds(naive)} (naive)",
        big["seconds"] / naive,
        ">= 10x faster (ratio <= 0.1)",
        speedup >= 10,
        "in-process, after warm-up (both pay the same imports); best of N",
        [
            f"{speedup:.0f}x faster; whole-process plan CLI {seconds(big['cli'])} "
            f"(its start-up included; the naive script's SDK import is not)"
        ],
    )
    return [plan_result, naive_result]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    for result in run(args.quick):
        print(
            f"{result.name}: {result.measured} vs {result.baseline}, ratio {result.ratio:.3f}; "
            f"goal {result.goal}: {'met' if result.met else 'NOT met'}"
        )
        for note in result.notes:
            print(f"    {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
