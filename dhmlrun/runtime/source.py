"""Materialise a function's source into a directory and locate the handler's file and function.

The forms a source can take, and how each is fetched, are the table of `dhmlrun.sources`, which
`validate` reads too; this module fetches them. `local=True` mlrun runs never unpack archives or
clone repositories, so the runtime does: embedded code (`code`, or `base64` of Python text or of
an archive, told by its first bytes) is written or unpacked, git sources are cloned at their ref
with the `git` CLI, http(s) and s3 files are downloaded, and archives are unpacked by
`dhmlrun.archive` (members escaping the target, links pointing outside, and archives over its
limits are refused whole, before anything is unpacked).
"""

from __future__ import annotations

import base64
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from dhmlrun import archive
from dhmlrun.runtime.download import download_url, url_file_name
from dhmlrun.runtime.errors import ExecutionError
from dhmlrun.sources import Fetch, SourceForm, UnsupportedSource, classify_source

GIT_TIMEOUT_SECONDS = 300
DEFAULT_SOURCE_FILE = "main.py"
MAX_DOWNLOAD_BYTES = archive.LIMITS.unpacked_bytes
"""A downloaded source bigger than what an archive may unpack to is refused as it arrives."""


@dataclass(frozen=True)
class MaterialisedSource:
    """The file mlrun loads, the handler function inside it, and the root put on `sys.path`."""

    file: Path
    function: str
    root: Path


def source_form(uri: str) -> SourceForm:
    """How a `source.source` URI is fetched; an unsupported one is a user error."""
    try:
        return classify_source(uri)
    except UnsupportedSource as exc:
        raise ExecutionError(str(exc)) from exc


def local_path(uri: str) -> Path:
    """The filesystem path of a local source URI (plain path or file://)."""
    return Path(urlparse(uri).path) if uri.startswith("file://") else Path(uri)


def materialise(source: dict, handler: str, target: Path) -> MaterialisedSource:
    """Write, unpack or fetch the source into `target` and return where the handler lives.

    Embedded code wins over `source.source` (a local file was embedded as `base64` when the
    function was created, so any executor has the code even without the file).
    """
    target.mkdir(parents=True, exist_ok=True)
    uri = source.get("source")
    embedded = _embedded(source)
    if embedded is not None:
        return _from_bytes(embedded, uri, handler, target)
    if not uri:
        raise ExecutionError("the function has no source: give source.source, source.code or source.base64")
    form = source_form(uri)
    root = target / "src"
    if form.fetch is Fetch.LOCAL:
        return _local(local_path(uri), handler, target)
    if form.fetch is Fetch.GIT:
        clone_git(uri, root)
        return locate_handler(root, handler)
    if form.archive:
        fetched = target / "source.archive"
        _download(form, fetched)
        safe_unpack(fetched, root)
        return locate_handler(root, handler)
    file = root / url_file_name(form.location, DEFAULT_SOURCE_FILE)
    _download(form, file)
    return MaterialisedSource(file, _function_name(handler), root)


def _embedded(source: dict) -> bytes | None:
    """The bytes of `code` or `base64`, or None when neither is set."""
    if source.get("code") is not None:
        return str(source["code"]).encode("utf-8")
    if source.get("base64") is not None:
        try:
            return base64.b64decode(source["base64"], validate=True)
        except ValueError as exc:
            raise ExecutionError(f"source.base64 is not valid base64: {exc}") from exc
    return None


def _from_bytes(content: bytes, uri: str | None, handler: str, target: Path) -> MaterialisedSource:
    """Embedded code: an archive is unpacked, text is written to a file."""
    if archive.archive_format(content[:512]) is not None:
        root = target / "src"
        safe_unpack(content, root)
        return locate_handler(root, handler)
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ExecutionError("source.base64 is neither UTF-8 text nor a zip or tar archive") from exc
    path = target / _inline_file_name(uri)
    path.write_text(text, encoding="utf-8")
    return MaterialisedSource(path, _function_name(handler), target)


def _inline_file_name(uri: str | None) -> str:
    """Keep the original file name when known, so tracebacks and module names read naturally."""
    if uri and uri.endswith(".py") and not urlparse(uri).netloc:
        return local_path(uri).name
    return DEFAULT_SOURCE_FILE


def _local(path: Path, handler: str, target: Path) -> MaterialisedSource:
    """A local file, used where it is, or a local archive, unpacked (told by its first bytes)."""
    path = path.resolve()
    if not path.is_file():
        raise ExecutionError(f"source file {str(path)!r} does not exist")
    with path.open("rb") as stream:
        head = stream.read(512)
    if archive.archive_format(head) is not None:
        root = target / "src"
        safe_unpack(path, root)
        return locate_handler(root, handler)
    return MaterialisedSource(path, _function_name(handler), path.parent)


def _function_name(handler: str) -> str:
    """`module:function`, `module.function` or `function` → `function` (single-file sources)."""
    return handler.replace(":", ".").rsplit(".", 1)[-1]


def locate_handler(root: Path, handler: str) -> MaterialisedSource:
    """Find `module:function` / `pkg.module.function` / `path/file.py:function` under `root`."""
    if ":" in handler:
        module, function = handler.rsplit(":", 1)
    elif "." in handler:
        module, function = handler.rsplit(".", 1)
    else:
        candidates = sorted(root.glob("*.py"))
        if len(candidates) != 1:
            raise ExecutionError(
                f"handler {handler!r} does not name its module; use 'module:{handler}' "
                "for sources with several files"
            )
        return MaterialisedSource(candidates[0], handler, root)
    relative = module if module.endswith(".py") else module.replace(".", "/") + ".py"
    file = (root / relative).resolve()
    if not file.is_relative_to(root.resolve()) or not file.is_file():
        raise ExecutionError(f"handler module {module!r} not found in the source (looked for {relative})")
    return MaterialisedSource(file, function, root)


def clone_git(uri: str, dest: Path) -> None:
    """Clone `git+https://host/repo.git#ref` into `dest` and check out `ref` (default branch if none).

    Credentials in the URL (`git+https://user:token@host/...`) never reach git's command line,
    which every user of the machine can read (`ps`), nor the clone's `.git/config`: git gets the
    URL without them, and an `Authorization` header for that host through its environment
    (`_credentials_environment`)."""
    parsed = urlparse(uri)
    url = parsed._replace(scheme=parsed.scheme.removeprefix("git+"), fragment="").geturl()
    if parsed.scheme == "git":
        url = parsed._replace(fragment="").geturl()
    ref = parsed.fragment
    if ref.startswith("-"):
        raise ExecutionError(f"git ref {ref!r} is not a valid ref")
    url, credentials = _credentials_environment(url)
    _git(["clone", "--quiet", url, str(dest)], f"cannot clone {url}", credentials)
    if ref:
        commit = _resolve_ref(dest, ref)
        if commit is None:
            raise ExecutionError(f"git ref {ref!r} not found in {url}")
        _git(
            ["-C", str(dest), "checkout", "--quiet", "--detach", commit], f"cannot check out {ref!r} of {url}"
        )


def _resolve_ref(repo: Path, ref: str) -> str | None:
    """The commit a branch, tag or (abbreviated) commit names, looking at remote branches too."""
    for candidate in (ref, f"origin/{ref}"):
        done = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}"],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip()
    return None


def _credentials_environment(url: str) -> tuple[str, dict[str, str]]:
    """`url` without its user and password, and the environment that gives git an HTTP Basic
    `Authorization` header for that scheme and host only (git's `GIT_CONFIG_COUNT`/`KEY_n`/
    `VALUE_n` settings, read from the environment since git 2.31)."""
    parsed = urlparse(url)
    if parsed.username is None and parsed.password is None:
        return url, {}
    host = parsed.netloc.rpartition("@")[2]
    pair = f"{unquote(parsed.username or '')}:{unquote(parsed.password or '')}"
    header = "Authorization: Basic " + base64.b64encode(pair.encode()).decode("ascii")
    index = int(os.environ.get("GIT_CONFIG_COUNT") or 0)
    return parsed._replace(netloc=host).geturl(), {
        "GIT_CONFIG_COUNT": str(index + 1),
        f"GIT_CONFIG_KEY_{index}": f"http.{parsed.scheme}://{host}/.extraHeader",
        f"GIT_CONFIG_VALUE_{index}": header,
    }


def _git(args: list[str], failure: str, extra_env: dict[str, str] | None = None) -> None:
    """Run git without prompts (a prompt would hang a worker forever) and with a timeout."""
    env = {**os.environ, **(extra_env or {}), "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}
    try:
        proc = subprocess.run(
            ["git", *args], capture_output=True, text=True, env=env, timeout=GIT_TIMEOUT_SECONDS, check=False
        )
    except FileNotFoundError as exc:
        raise ExecutionError("the git command is not installed; it is needed for git+https sources") from exc
    except subprocess.TimeoutExpired as exc:
        raise ExecutionError(f"{failure}: git timed out after {GIT_TIMEOUT_SECONDS}s") from exc
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise ExecutionError(f"{failure}: {detail[-1] if detail else 'git exited ' + str(proc.returncode)}")


def _download(form: SourceForm, dest: Path) -> None:
    """Download the file at `form.location` to `dest`: s3 through the SDK's store, http(s) streamed."""
    if form.fetch is Fetch.S3:
        try:
            from digitalhub.stores.data.api import get_store

            get_store(form.location).download(form.location, dest, overwrite=True)
        except Exception as exc:
            raise ExecutionError(f"cannot download source {form.location}: {exc}") from exc
        if dest.stat().st_size > MAX_DOWNLOAD_BYTES:
            raise ExecutionError(
                f"cannot use source {form.location}: it is larger than {MAX_DOWNLOAD_BYTES:,} bytes"
            )
        return
    download_url(form.location, dest, max_bytes=MAX_DOWNLOAD_BYTES)


def safe_unpack(source: Path | bytes, dest: Path) -> None:
    """Unpack a zip or tar archive (a file or its bytes) into `dest`, within `dhmlrun.archive`'s
    limits; an unsafe or oversized archive is refused whole."""
    try:
        archive.unpack(source, dest)
    except archive.ArchiveRefused as exc:
        raise ExecutionError(f"refusing source archive: {exc}") from exc


def check_handler_defined(code: MaterialisedSource) -> None:
    """Fail clearly when the handler is not a top-level name of its file (before mlrun, which
    would only say "Failed on pre-loading")."""
    import ast

    try:
        tree = ast.parse(code.file.read_text(encoding="utf-8"), filename=code.file.name)
    except SyntaxError as exc:
        raise ExecutionError(
            f"source {code.file.name} has a syntax error at line {exc.lineno}: {exc.msg}"
        ) from exc
    names = _top_level_names(tree)
    if code.function not in names and "*" not in names:
        raise ExecutionError(f"handler {code.function!r} not found in {code.file.name}")


def _top_level_names(tree: Any) -> set[str]:
    """Names the module may define (any depth: defs under `if`/`try` count); a star import
    could define anything, so it yields a wildcard."""
    import ast

    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                names.add(alias.asname or alias.name.split(".")[0])
    return names
