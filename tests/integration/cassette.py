"""Recorded HTTP exchanges with a real MLRun API server, and a server that replays them.

Why: MLRun's API server is not on PyPI, so CI cannot start one; yet the MLRun path (apply's
MLRun worker through mlrun's own HTTP client, `platform/mlrun.py` through dhmlrun's transport)
should be exercised on every change against what the real server answered. So the opt-in suite
(`tests/integration/`) is recorded once against a real server (`python -m
tests.integration.record URL`: a cassette per test, with the server's version in it), and CI
replays it: the code under test speaks HTTP to `Replayer`, a loopback server that answers each
request with the recorded answer to the same request, and fails the test, with the difference,
when the code sends a request the recording does not have, or no longer sends one it has.

What "the same request" means: method, path, query and body (JSON compared as values), after
two normalisations that keep the match strict about everything the code decides:

- Known values of the session (the test's temporary folder, the host name, the user, the S3
  endpoint...) are written as placeholders (`<<tmp>>`) in the cassette: `Substitutions`.
- Generated identifiers (hex ids of 16 characters or more, UUIDs) differ on every run: a
  recorded one matches any live one of the same shape, consistently (the recorded id X always
  stands for the same live id, both ways), and answers carry the live id where the recording
  had X. Timestamps match any timestamp, and values under `VOLATILE_KEYS` any value of their
  type: each is listed with the reason it changes between runs.

Repetition is not a difference: a poll or a lease renewal the code sends more often than when
it was recorded gets the latest answer to that request again, and one it sends less often is
not missed. Headers are not compared (mlrun's client sends its version and user agent).
"""

from __future__ import annotations

import base64
import contextlib
import difflib
import getpass
import http.client
import http.server
import importlib.metadata
import json
import re
import socket
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

FORMAT = 1
"""The cassette format's version (a change that old cassettes cannot follow bumps it)."""

CASSETTES = Path(__file__).resolve().parent / "cassettes"

ID = re.compile(
    r"(?<![0-9A-Za-z])(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{16,})(?![0-9A-Za-z])"
)
"""A generated identifier: a UUID, or a run of 16+ lowercase hex digits (uuid4 hex run ids,
DigitalHub entity ids, sha1/sha256 digests over content that carries such ids)."""
TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?")
"""A timestamp (ISO 8601, or Python's `str(datetime)`): when something happened."""
TEMP = re.compile(r"(?<=<<tmpdir>>/)[^/\s\"'<>]+")
"""A name the code under test made in the system's temporary folder (`tempfile.mkdtemp`): the
folder itself is the `tmpdir` placeholder (see `Substitutions.session`)."""
PID = re.compile(r"(?<=<<host>>:)\d+")
"""A process id after the host's name: how a lease names its holder (`platform/lease.py`)."""
TOKEN = re.compile(
    f"(?P<time>{TIME.pattern})|(?P<pid>{PID.pattern})|(?P<id>{ID.pattern})|(?P<temp>{TEMP.pattern})"
)
BOUND = re.compile(f"{ID.pattern}|{TEMP.pattern}")

VOLATILE_KEYS: dict[str, str] = {}
"""JSON keys whose values differ between runs by nature, with why (matched by type only)."""

HOP_HEADERS = {"connection", "content-length", "date", "server", "transfer-encoding", "keep-alive"}


# ---------------------------------------------------------------- bodies


def encode_body(data: bytes, content_type: str | None) -> dict[str, Any] | None:
    """A body as the cassette keeps it: JSON as a value (and whether it was written compact, so
    that the replay sends the same bytes), text as text, anything else base64."""
    if not data:
        return None
    with contextlib.suppress(ValueError):
        if "json" in (content_type or "") or data[:1] in (b"{", b"["):
            value = json.loads(data)
            compact = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode() == data
            return {"json": value, "compact": True} if compact else {"json": value}
    try:
        return {"text": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


def decode_body(body: Mapping[str, Any] | None) -> bytes:
    if not body:
        return b""
    if "json" in body:
        separators = (",", ":") if body.get("compact") else None
        return json.dumps(body["json"], separators=separators, ensure_ascii=False).encode("utf-8")
    if "text" in body:
        return str(body["text"]).encode("utf-8")
    return base64.b64decode(body["base64"])


# ---------------------------------------------------------------- normalising


@dataclass
class Substitutions:
    """Values of this session that a cassette keeps as placeholders: {placeholder: live value}.
    A value is replaced where it stands alone or begins a path (`/tmp` in `/tmp/x`, not in
    `/tmp2`), or, for `whole` ones, only as a whole string (a user named `root` is not the
    `/root` folder)."""

    values: dict[str, str] = field(default_factory=dict)
    whole: set[str] = field(default_factory=set)

    @classmethod
    def session(cls, tmp_path: Path) -> Substitutions:
        """What differs between machines and sessions: the test's folder, the system's temporary
        folder, this repository, the venv, the host (mlrun labels runs with it) and the user."""
        substitutions = cls()
        substitutions.add("tmp", str(tmp_path))
        substitutions.add("tmpdir", tempfile.gettempdir())
        substitutions.add("repo", str(Path(__file__).resolve().parents[2]))
        substitutions.add("python", sys.prefix)
        substitutions.add("host", socket.gethostname())
        substitutions.add("user", getpass.getuser(), whole=True)
        return substitutions

    def add(self, placeholder: str, value: str, whole: bool = False) -> None:
        if value:
            self.values[placeholder] = value
            if whole:
                self.whole.add(placeholder)

    def to_placeholders(self, value: Any) -> Any:
        """Live values → `<<placeholder>>` (longest first, so a path wins over its prefix)."""
        pairs = sorted(self.values.items(), key=lambda item: -len(item[1]))
        patterns = [
            (
                re.compile(
                    rf"\A{re.escape(live)}\Z"
                    if name in self.whole
                    else rf"(?<![\w.-]){re.escape(live)}(?![\w.-])"
                ),
                f"<<{name}>>",
            )
            for name, live in pairs
        ]

        def text(s: str) -> str:
            for pattern, placeholder in patterns:
                s = pattern.sub(placeholder, s)
            return s

        return map_strings(value, text)

    def to_live(self, value: Any) -> Any:
        def text(s: str) -> str:
            for name, live in self.values.items():
                s = s.replace(f"<<{name}>>", live)
            return s

        return map_strings(value, text)


def map_strings(value: Any, fn: Any) -> Any:
    """`value` with `fn` applied to every string in it (dict keys too)."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [map_strings(v, fn) for v in value]
    if isinstance(value, dict):
        return {fn(k): map_strings(v, fn) for k, v in value.items()}
    return value


def request_of(method: str, target: str, body: dict[str, Any] | None) -> dict[str, Any]:
    """The comparable request: method, path, query pairs (sorted by name), body."""
    parts = urlsplit(target)
    query = sorted(parse_qsl(parts.query, keep_blank_values=True), key=lambda pair: pair[0])
    if body and "json" in body:
        body = {"json": body["json"]}  # a request's JSON is compared as a value, however written
    return {"method": method, "path": parts.path, "query": [list(pair) for pair in query], "body": body}


# ---------------------------------------------------------------- matching


class Mismatch(Exception):
    """Where a live request differs from a recorded one (a dotted path and both values)."""


class Bindings:
    """Recorded id ↔ live id, one to one."""

    def __init__(self, forward: dict[str, str] | None = None, backward: dict[str, str] | None = None) -> None:
        self.forward = dict(forward or {})
        self.backward = dict(backward or {})

    def copy(self) -> Bindings:
        return Bindings(self.forward, self.backward)

    def bind(self, recorded: str, live: str, where: str) -> None:
        if self.forward.get(recorded, live) != live or self.backward.get(live, recorded) != recorded:
            raise Mismatch(
                f"{where}: id {live} where the recording has {recorded}, which stands for "
                f"{self.forward.get(recorded) or '(another id)'} in this run"
            )
        self.forward[recorded] = live
        self.backward[live] = recorded

    def to_live(self, value: Any) -> Any:
        if not self.forward:
            return value
        return map_strings(value, lambda s: BOUND.sub(lambda m: self.forward.get(m.group(0), m.group(0)), s))


def match(recorded: Any, live: Any, bindings: Bindings, where: str = "") -> None:
    """Raise `Mismatch` unless `live` is `recorded` up to ids (bound in `bindings`), timestamps and
    volatile keys."""
    if isinstance(recorded, dict) and isinstance(live, dict):
        if recorded.keys() != live.keys():
            missing, extra = sorted(recorded.keys() - live.keys()), sorted(live.keys() - recorded.keys())
            raise Mismatch(f"{where or '.'}: keys missing {missing}, unexpected {extra}")
        for key, value in recorded.items():
            at = f"{where}.{key}"
            if key in VOLATILE_KEYS:
                if type(value) is not type(live[key]):
                    raise Mismatch(f"{at}: {live[key]!r} where the recording has {value!r}")
                continue
            match(value, live[key], bindings, at)
        return
    if isinstance(recorded, list) and isinstance(live, list):
        if len(recorded) != len(live):
            raise Mismatch(f"{where}: {len(live)} items where the recording has {len(recorded)}")
        for i, (r, v) in enumerate(zip(recorded, live, strict=True)):
            match(r, v, bindings, f"{where}[{i}]")
        return
    if isinstance(recorded, str) and isinstance(live, str):
        match_text(recorded, live, bindings, where)
        return
    if type(recorded) is not type(live) or recorded != live:
        raise Mismatch(f"{where}: {live!r} where the recording has {recorded!r}")


def match_text(recorded: str, live: str, bindings: Bindings, where: str) -> None:
    if recorded == live:
        return
    tokens = list(TOKEN.finditer(recorded))
    if not tokens:
        raise Mismatch(f"{where}: {live!r} where the recording has {recorded!r}")
    pattern, ids, last = [], [], 0
    for token in tokens:
        pattern.append(re.escape(recorded[last : token.start()]))
        if token.group("time"):
            pattern.append(f"(?:{TIME.pattern})")
        elif token.group("pid"):
            pattern.append(r"\d+")
        elif token.group("temp"):
            pattern.append(f"({TEMP.pattern})")
            ids.append(token.group(0))
        else:
            text = token.group(0)
            shape = "[0-9a-f-]" if "-" in text else "[0-9a-f]"
            pattern.append(f"({shape}{{{len(text)}}})")
            ids.append(text)
        last = token.end()
    pattern.append(re.escape(recorded[last:]))
    found = re.fullmatch("".join(pattern), live, re.DOTALL)
    if found is None:
        raise Mismatch(f"{where}: {live!r} where the recording has {recorded!r}")
    for recorded_id, live_id in zip(ids, found.groups(), strict=True):
        bindings.bind(recorded_id, live_id, where)


# ---------------------------------------------------------------- cassettes


@dataclass
class Cassette:
    """One test's exchanges, in the order the server received them."""

    path: Path
    server: dict[str, Any] = field(default_factory=dict)
    exchanges: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> Cassette:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"{path}: cassette format {data.get('format')}, this replayer reads {FORMAT}")
        return cls(path, data["server"], data["exchanges"])

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"format": FORMAT, "server": self.server, "exchanges": self.exchanges}
        self.path.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n", encoding="utf-8")


def server_version(url: str) -> str:
    """The MLRun API server's version, as its client reads it (`GET /api/v1/client-spec`)."""
    with urllib.request.urlopen(f"{url}/api/v1/client-spec", timeout=30) as answer:
        return str(json.loads(answer.read())["version"])


# ---------------------------------------------------------------- the HTTP side


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    exchange: Any  # set on the subclass: (method, target, headers, body) -> (status, headers, body)

    def _handle(self) -> None:
        data = self._body()
        status, headers, body = self.exchange(self.command, self.path, dict(self.headers.items()), data)
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in HOP_HEADERS:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

    def log_message(self, format: str, *args: object) -> None:
        return


@contextlib.contextmanager
def serving(exchange: Any) -> Iterator[str]:
    """A threaded HTTP/1.1 server on 127.0.0.1 (a free port) answering with `exchange`; its URL."""
    handler = type("Handler", (_Handler,), {"exchange": staticmethod(exchange)})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="cassette-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class Recorder:
    """A proxy in front of the real server that keeps every exchange (with placeholders)."""

    def __init__(self, upstream: str, cassette: Cassette, substitutions: Substitutions) -> None:
        self.upstream = upstream.rstrip("/")
        self.cassette = cassette
        self.substitutions = substitutions
        self.lock = threading.Lock()

    def __call__(self, method: str, target: str, headers: dict[str, str], data: bytes) -> tuple:
        with self.lock:
            slot = len(self.cassette.exchanges)
            self.cassette.exchanges.append({})
        forwarded = {k: v for k, v in headers.items() if k.lower() not in HOP_HEADERS | {"host"}}
        status, reply_headers, reply = self._forward(method, target, forwarded, data)
        kept_headers = {k: v for k, v in reply_headers.items() if k.lower() not in HOP_HEADERS}
        to_cassette = self.substitutions.to_placeholders
        self.cassette.exchanges[slot] = {
            "request": to_cassette(
                request_of(method, target, encode_body(data, headers.get("Content-Type")))
            ),
            "response": to_cassette(
                {
                    "status": status,
                    "headers": kept_headers,
                    "body": encode_body(reply, reply_headers.get("Content-Type")),
                }
            ),
        }
        return status, kept_headers, reply

    def _forward(self, method: str, target: str, headers: dict[str, str], data: bytes) -> tuple:
        """The request as the client sent it (http.client adds no header of its own, unlike
        urllib, whose form content type on a bare body the server would then obey)."""
        parts = urlsplit(self.upstream)
        connection = http.client.HTTPConnection(parts.netloc, timeout=120)
        try:
            connection.request(method, f"{parts.path}{target}", body=data or None, headers=headers)
            answer = connection.getresponse()
            return answer.status, dict(answer.getheaders()), answer.read()
        finally:
            connection.close()


@dataclass
class _Slot:
    exchange: dict[str, Any]
    used: bool = False


class Replayer:
    """Answers each request with the recorded answer to the same request (see the module)."""

    def __init__(self, cassette: Cassette, substitutions: Substitutions) -> None:
        self.cassette = cassette
        self.substitutions = substitutions
        self.slots = [_Slot(exchange) for exchange in cassette.exchanges]
        self.bindings = Bindings()
        self.lock = threading.Lock()
        self.problems: list[str] = []

    def __call__(self, method: str, target: str, headers: dict[str, str], data: bytes) -> tuple:
        live = request_of(method, target, encode_body(data, headers.get("Content-Type")))
        response = self.answer(self.substitutions.to_placeholders(live))
        if response is None:
            message = f"not in the cassette {self.cassette.path.name}: {method} {target}"
            return 599, {"Content-Type": "text/plain"}, message.encode()
        response = self.substitutions.to_live(response)
        return response["status"], response["headers"], decode_body(response["body"])

    def answer(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """The recorded response to `request` (with placeholders) carrying this run's ids, or
        None when the recording has no such request (the difference is kept for `check`)."""
        with self.lock:
            slot, bindings = self._find(request)
            if slot is None:
                self.problems.append(self._difference(request))
                return None
            self.bindings = bindings
            slot.used = True
            return bindings.to_live(slot.exchange["response"])

    def _find(self, live: dict[str, Any]) -> tuple[_Slot | None, Bindings]:
        """The first unused recorded exchange matching `live`, else the last used one (a repeat)."""
        repeat: tuple[_Slot | None, Bindings] = (None, self.bindings)
        for slot in self.slots:
            bindings = self.bindings.copy()
            try:
                match(slot.exchange["request"], live, bindings)
            except Mismatch:
                continue
            if not slot.used:
                return slot, bindings
            repeat = (slot, bindings)
        return repeat

    def _difference(self, live: dict[str, Any]) -> str:
        """The request beside the closest recorded one (same route first), as a diff in which
        timestamps are masked and live ids already bound are shown as their recorded ones."""
        seen = self._as_recorded(live)
        recorded = [self._as_recorded(s.exchange["request"]) for s in self.slots]
        route = (seen["method"], ID.sub("<id>", seen["path"]))
        candidates = [r for r in recorded if (r["method"], ID.sub("<id>", r["path"])) == route] or recorded
        if not candidates:
            return f"{live['method']} {live['path']}: the cassette is empty"
        seen_text = _pretty(seen)
        closest = max(candidates, key=lambda r: difflib.SequenceMatcher(None, _pretty(r), seen_text).ratio())
        reason = ""
        try:
            match(closest, seen, self.bindings.copy())
        except Mismatch as exc:
            reason = f" ({exc})"
        diff = difflib.unified_diff(
            _pretty(closest).splitlines(), seen_text.splitlines(), "recorded", "sent", lineterm="", n=2
        )
        return f"{live['method']} {live['path']} is not in the recording{reason}:\n" + "\n".join(diff)

    def _as_recorded(self, request: dict[str, Any]) -> dict[str, Any]:
        backward = self.bindings.backward

        def text(s: str) -> str:
            s = TIME.sub("<time>", s)
            return BOUND.sub(lambda m: backward.get(m.group(0), m.group(0)), s)

        return map_strings(request, text)

    def differences(self) -> list[str]:
        """Requests not recorded, then recorded requests never sent (repeats aside)."""
        unsent = [
            s.exchange["request"]
            for s in self.slots
            if not s.used and not any(t.used and _same_request(s, t) for t in self.slots)
        ]
        problems = list(self.problems)
        return problems + [f"recorded but never sent: {r['method']} {r['path']} {r['query']}" for r in unsent]

    def check(self) -> None:
        """Fail with every difference (`differences`)."""
        problems = self.differences()
        if problems:
            raise AssertionError(
                f"the MLRun exchanges differ from {self.cassette.path.name} "
                f"(recorded against MLRun {self.cassette.server.get('version')}; re-record with "
                "`python -m tests.integration.record URL` if the change is meant):\n\n"
                + "\n\n".join(problems)
            )


def _same_request(a: _Slot, b: _Slot) -> bool:
    """Two recorded requests that differ at most in when they were sent (a poll, a lease beat)."""
    return _timeless(a.exchange["request"]) == _timeless(b.exchange["request"])


def _timeless(value: Any) -> Any:
    return map_strings(value, lambda s: PID.sub("<pid>", TIME.sub("<time>", s)))


def _pretty(request: Mapping[str, Any]) -> str:
    return json.dumps(request, indent=1, sort_keys=True)


def compare(old: Cassette, new: Cassette) -> list[str]:
    """What changed from one recording of a test to the next: `new`'s requests, in order, as the
    replay of `old` would report them (ids, timestamps and repeats aside, as in CI)."""
    replayer = Replayer(old, Substitutions())
    for exchange in new.exchanges:
        replayer.answer(exchange["request"])
    return replayer.differences()


@contextlib.contextmanager
def recording(upstream: str, path: Path, substitutions: Substitutions) -> Iterator[str]:
    """A recording proxy's URL for the block; the cassette is written when it ends."""
    cassette = Cassette(
        path,
        {
            "url": "<<mlrun>>",
            "version": server_version(upstream),
            "client": f"mlrun {importlib.metadata.version('mlrun')}",
            "recorded": datetime.now(UTC).strftime("%Y-%m-%d"),
        },
    )
    recorder = Recorder(upstream, cassette, substitutions)
    with serving(recorder) as url:
        substitutions.add("mlrun", url)
        yield url
    cassette.save()


@contextlib.contextmanager
def replaying(path: Path, substitutions: Substitutions) -> Iterator[str]:
    """A replaying server's URL for the block; fails at its end on any difference."""
    replayer = Replayer(Cassette.load(path), substitutions)
    with serving(replayer) as url:
        substitutions.add("mlrun", url)
        yield url
    replayer.check()
