"""Benchmark (6): a 1 GB CSV input fetched over loopback HTTP by the runtime's input fetching.

The server (a thread of this process) generates the CSV body on the fly, with a Content-Length,
so nothing is written to disk but the fetched file itself, which lands where a run would put it
and is deleted afterwards. The fetch runs in a fresh subprocess that reports its peak RSS
(`VmHWM` from /proc/self/status) after its imports and after the fetch: the growth is what
fetching costs in memory (goal: at most 200 MB, i.e. the body is streamed, not held).

    python bench/bench_fetch.py [--quick]     (--quick: 200 MB)
"""

from __future__ import annotations

import argparse
import http.server
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PYTHON, REPO, Result

GOAL_MB = 200
MB = 1024 * 1024

CHILD = """
import json, sys, time
from pathlib import Path
from dhmlrun.runtime.inputs import fetch_input

def hwm():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
before = hwm()
start = time.perf_counter()
local = fetch_input("data", sys.argv[1], Path(sys.argv[2]))
elapsed = time.perf_counter() - start
print(json.dumps({"before": before, "after": hwm(), "seconds": elapsed, "path": local,
                  "size": Path(local).stat().st_size}))
"""


def csv_block() -> bytes:
    """About 1 MB of whole CSV rows, repeated to make the body."""
    rows = [b"id,name,department,salary,years\n"]
    i = 0
    while sum(map(len, rows)) < MB:
        rows.append(f"{i},employee-{i},dept-{i % 17},{30000 + i % 50000},{i % 40}\n".encode())
        i += 1
    return b"".join(rows)


class CsvServer(http.server.ThreadingHTTPServer):
    """Serves `size` bytes of CSV at any path, generated as it is sent."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.block = csv_block()
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/employees.csv"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: CsvServer

    def do_GET(self) -> None:
        size, block = self.server.size, self.server.block
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        sent = 0
        while sent < size:
            chunk = block[: size - sent]
            self.wfile.write(chunk)
            sent += len(chunk)

    def log_message(self, *args: object) -> None:
        return


def fetch_once(size: int) -> dict:
    server = CsvServer(size)
    with tempfile.TemporaryDirectory(prefix="bench-fetch-") as tmp:
        done = subprocess.run(
            [PYTHON, "-c", CHILD, server.url, str(Path(tmp) / "data")],
            capture_output=True,
            text=True,
            check=False,
            cwd=REPO,
        )
        server.shutdown()
        if done.returncode != 0:
            raise RuntimeError(f"fetch failed:\n{done.stdout}\n{done.stderr}")
        report = json.loads(done.stdout.strip().splitlines()[-1])
        Path(report["path"]).unlink()  # explicit: the 1 GB file must not outlive the measurement
    if report["size"] != size:
        raise RuntimeError(f"fetched {report['size']} bytes of {size}")
    return report


def run(quick: bool = False) -> list[Result]:
    size = (200 if quick else 1024) * MB
    started = time.perf_counter()
    report = fetch_once(size)
    wall = time.perf_counter() - started
    growth = (report["after"] - report["before"]) / MB
    return [
        Result(
            f"6. fetch a {size // MB} MB CSV over loopback HTTP: peak RSS growth",
            f"{growth:.1f} MB",
            f"{report['before'] / MB:.0f} MB (peak RSS before)",
            growth / (size / MB),
            f"<= {GOAL_MB} MB growth",
            growth <= GOAL_MB,
            "one run (VmHWM of a fresh subprocess)",
            [f"{size / MB / report['seconds']:.0f} MB/s; bench {wall:.1f} s; ratio = growth / body size"],
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    for result in run(args.quick):
        print(
            f"{result.name}: {result.measured} (baseline {result.baseline}); goal {result.goal}: "
            f"{'met' if result.met else 'NOT met'}; {'; '.join(result.notes)}"
        )


if __name__ == "__main__":
    main()
