"""Apply's side of the worker boundary: send one typed request to a worker process and wait for
its `Result` (`dhmlrun/worker/protocol.py`).

The process is a child forked by the warm run server when there is one that can take the
request (mlrun and digitalhub already imported: `worker/fork_server.py`), else a fresh
`python -m dhmlrun.worker`. Either way it is a process of its own, so mlrun's process-global
state never leaks between runs and apply never imports mlrun or the SDK.

What the worker prints goes to a private file of the request's temporary folder, and from there,
as it comes, to `.dhmlrun/logs/PROJECT/ID.log` (the run's id, or the id of what an operation
writes: one file per run of each project, never per address alone, so an apply of another
environment of the same configuration never replaces it), with the sensitive values masked (`MaskedCopy`): a
handler printing a token must not leave it in the config directory (CI uploads it, editors index
it); `dhmlrun logs --follow` reads that copy while the run goes on.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TextIO

from dhmlrun.private import private_dir, private_file
from dhmlrun.vocabulary.mask import StreamMask
from dhmlrun.worker.fork_server import RunServer, RunServerUnavailable
from dhmlrun.worker.protocol import Request, Result, encode

WORKER_MODULE = "dhmlrun.worker"


def run_in_worker(
    request: Request,
    log_dir: Path,
    env: Mapping[str, str],
    server: RunServer | None = None,
    mask: Iterable[str] = (),
    on_output: Callable[[str], None] | None = None,
) -> Result:
    """Do `request` in a worker process of its own (the module docstring); its result. What the
    worker printed goes to `log_dir/ID.log` (`log_file`), `mask` masked, and to `on_output` as it
    comes (the live progress shows a run's last line); a worker that died without a result is a
    failure quoting the end of that log."""
    log_file = private_file(worker_log(log_dir, request.subject))
    with tempfile.TemporaryDirectory(prefix="dhmlrun-run-") as tmp:
        request_file = Path(tmp) / "request.json"
        result_file = Path(tmp) / "result.json"
        printed = Path(tmp) / "printed.log"
        request_file.write_text(json.dumps(encode(request)), encoding="utf-8")
        argv = [str(request_file), str(result_file)]
        with MaskedCopy(printed, log_file, mask, on_output):
            returncode = _in_server(server, argv, printed, dict(env), tmp)
            if returncode is None:
                returncode = _in_fresh_worker(argv, printed, dict(env), tmp)
        if result_file.is_file():
            return Result.from_dict(json.loads(result_file.read_text(encoding="utf-8")))
    tail = log_file.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
    return Result.failure(request.subject, f"run worker exited with code {returncode}: " + " | ".join(tail))


def worker_log(log_dir: Path, subject: str) -> Path:
    """The file keeping what the worker of `subject` (a run's id) printed, in the project's
    `log_dir` (`.dhmlrun/logs/PROJECT`), which is made private."""
    return private_dir(log_dir) / f"{subject}.log"


class MaskedCopy:
    """For the block: copies what is written to `source` into `target` as it comes, `mask`
    masked (`vocabulary.mask.StreamMask`), then the rest once the block ends."""

    POLL_SECONDS = 0.1

    def __init__(
        self, source: Path, target: Path, mask: Iterable[str], on_output: Callable[[str], None] | None = None
    ) -> None:
        self.source, self.target = source, target
        self.on_output = on_output
        self.masked = StreamMask(mask)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._copy, name="dhmlrun-log-copy", daemon=True)

    def __enter__(self) -> MaskedCopy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()

    def _copy(self) -> None:
        import codecs

        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        with self.target.open("w", encoding="utf-8") as out:
            reading = None
            try:
                while True:
                    finished = self.done.is_set()  # read once more after the writer ended
                    if reading is None and self.source.exists():
                        reading = self.source.open("rb")
                    if reading is not None:
                        self._write(out, self.masked.feed(decoder.decode(reading.read())))
                    if finished:
                        break
                    self.done.wait(self.POLL_SECONDS)
                self._write(out, self.masked.feed(decoder.decode(b"", final=True)) + self.masked.end())
            finally:
                if reading is not None:
                    reading.close()

    def _write(self, out: TextIO, text: str) -> None:
        if not text:
            return
        out.write(text)
        out.flush()
        if self.on_output is not None:
            self.on_output(text)


_fresh_workers: set[subprocess.Popen[bytes]] = set()
_fresh_workers_lock = threading.Lock()


def _in_fresh_worker(argv: list[str], log_file: Path, env: dict[str, str], cwd: str) -> int:
    """The exit code of a new `python -m dhmlrun.worker` process doing the request."""
    with log_file.open("w", encoding="utf-8") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", WORKER_MODULE, *argv],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
        )
        with _fresh_workers_lock:
            _fresh_workers.add(worker)
        try:
            return worker.wait()
        finally:
            with _fresh_workers_lock:
                _fresh_workers.discard(worker)


def signal_runs(server: RunServer | None, signum: int) -> None:
    """Send `signum` to every worker executing now (forked by `server` or started fresh)."""
    if server is not None:
        server.signal_children(signum)
    with _fresh_workers_lock:
        workers = list(_fresh_workers)
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signum)


def _in_server(
    server: RunServer | None, argv: list[str], log_file: Path, env: dict[str, str], cwd: str
) -> int | None:
    """The exit code of the worker forked by `server`, or None when it could not take it."""
    if server is None:
        return None
    try:
        return server.execute(argv, log_file, env, cwd)
    except RunServerUnavailable:
        return None
