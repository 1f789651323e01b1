"""Materialise a function's source into a directory and locate the handler's file and function.

`local=True` mlrun runs never unpack archives or clone repositories, so the runtime does it:
inline code (`code` / `base64`) is written to a file, `git+https://host/repo.git#ref` is cloned at
that ref with the `git` CLI, and zips (`zip+s3://`, `zip+https://`, or an http(s) URL ending in
`.zip`) are downloaded and unpacked, refusing any member that would land outside the target dir.
"""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import zipfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

from dhmlrun.runtime.download import download_url
from dhmlrun.runtime.errors import ExecutionError

GIT_TIMEOUT_SECONDS = 300
DEFAULT_SOURCE_FILE = "main.py"


class SourceKind(StrEnum):
    """How a `source.source` string is fetched."""

    LOCAL = "local"
    GIT = "git"
    ZIP_S3 = "zip+s3"
    ZIP_HTTP = "zip+http"


@dataclass(frozen=True)
class MaterialisedSource:
    """The file mlrun loads, the handler function inside it, and the root put on `sys.path`."""

    file: Path
    function: str
    root: Path


def classify_source(uri: str) -> str:
    """Tell how a `source.source` URI is fetched; unknown schemes are a user error."""
    scheme = urlparse(uri).scheme.lower()
    if scheme in ("", "file") or len(scheme) == 1:  # one letter: a Windows drive
        return SourceKind.LOCAL
    if scheme in ("git+https", "git+http", "git"):
        return SourceKind.GIT
    if scheme == "zip+s3":
        return SourceKind.ZIP_S3
    if scheme in ("zip+https", "zip+http"):
        return SourceKind.ZIP_HTTP
    if scheme in ("http", "https") and urlparse(uri).path.lower().endswith(".zip"):
        return SourceKind.ZIP_HTTP
    raise ExecutionError(
        f"unsupported source {uri!r}: use a local file, code/base64, git+https://…#ref, "
        "zip+s3://… or an http(s) .zip"
    )


def local_path(uri: str) -> Path:
    """The filesystem path of a local source URI (plain path or file://)."""
    return Path(urlparse(uri).path) if uri.startswith("file://") else Path(uri)


def materialise(source: dict, handler: str, target: Path) -> MaterialisedSource:
    """Write or fetch the source into `target` and return where the handler lives.

    Inline code wins over `source.source` (a local file was already read into `base64` when
    the function was created, so any executor has the code even without the file).
    """
    target.mkdir(parents=True, exist_ok=True)
    uri = source.get("source")
    inline = _inline_code(source)
    if inline is not None:
        name = _inline_file_name(uri)
        path = target / name
        path.write_text(inline, encoding="utf-8")
        return MaterialisedSource(path, _function_name(handler), target)
    if not uri:
        raise ExecutionError("the function has no source: give source.source, source.code or source.base64")
    kind = classify_source(uri)
    root = target / "src"
    if kind == SourceKind.LOCAL and uri.lower().endswith(".zip"):
        safe_unzip(local_path(uri), root)
        return locate_handler(root, handler)
    if kind == SourceKind.LOCAL:
        return _local_file(uri, handler)
    if kind == SourceKind.GIT:
        clone_git(uri, root)
    else:
        archive = target / "source.zip"
        _fetch_zip(uri, kind, archive)
        safe_unzip(archive, root)
    return locate_handler(root, handler)


def _inline_code(source: dict) -> str | None:
    """The source text from `code` or `base64`, or None when neither is set."""
    if source.get("code") is not None:
        return str(source["code"])
    if source.get("base64") is not None:
        try:
            return base64.b64decode(source["base64"], validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ExecutionError(f"source.base64 is not valid base64-encoded UTF-8 text: {exc}") from exc
    return None


def _inline_file_name(uri: str | None) -> str:
    """Keep the original file name when known, so tracebacks and module names read naturally."""
    if uri and classify_source(uri) == SourceKind.LOCAL and uri.endswith(".py"):
        return local_path(uri).name
    return DEFAULT_SOURCE_FILE


def _local_file(uri: str, handler: str) -> MaterialisedSource:
    path = local_path(uri).resolve()
    if not path.is_file():
        raise ExecutionError(f"source file {uri!r} does not exist")
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
    """Clone `git+https://host/repo.git#ref` into `dest` and check out `ref` (default branch if none)."""
    parsed = urlparse(uri)
    url = parsed._replace(scheme=parsed.scheme.removeprefix("git+"), fragment="").geturl()
    if parsed.scheme == "git":
        url = parsed._replace(fragment="").geturl()
    ref = parsed.fragment
    if ref.startswith("-"):
        raise ExecutionError(f"git ref {ref!r} is not a valid ref")
    _git(["clone", "--quiet", url, str(dest)], f"cannot clone {url}")
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


def _git(args: list[str], failure: str) -> None:
    """Run git without prompts (a prompt would hang a worker forever) and with a timeout."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}
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


def _fetch_zip(uri: str, kind: str, archive: Path) -> None:
    """Download the zip at `uri` to `archive`: s3 through the SDK's store, http(s) streamed."""
    if kind == SourceKind.ZIP_S3:
        s3_uri = uri.removeprefix("zip+")
        try:
            from digitalhub.stores.data.api import get_store

            get_store(s3_uri).download(s3_uri, archive, overwrite=True)
        except Exception as exc:
            raise ExecutionError(f"cannot download source archive {uri}: {exc}") from exc
        return
    download_url(uri.removeprefix("zip+"), archive)


def safe_unzip(archive: Path, dest: Path) -> None:
    """Unpack `archive` into `dest`, refusing members that would escape it.

    A member escapes when its name is absolute or climbs with `..`, or when it is a symlink
    whose target resolves outside `dest`; the whole archive is refused before anything is written.
    """
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            for member in members:
                _check_member(zf, member, dest)
            dest.mkdir(parents=True, exist_ok=True)
            zf.extractall(dest)
    except zipfile.BadZipFile as exc:
        raise ExecutionError(f"source archive is not a valid zip file: {exc}") from exc
    except FileNotFoundError as exc:
        raise ExecutionError(f"source archive {archive} does not exist") from exc


def _check_member(zf: zipfile.ZipFile, member: zipfile.ZipInfo, dest: Path) -> None:
    name = member.filename
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or (len(name) > 1 and name[1] == ":") or ".." in pure.parts:
        raise ExecutionError(f"refusing source archive: member {name!r} escapes the target directory")
    if stat.S_ISLNK(member.external_attr >> 16):
        link = zf.read(member).decode("utf-8", "replace")
        resolved = (dest / pure.parent / link).resolve()
        if PurePosixPath(link).is_absolute() or not resolved.is_relative_to(dest.resolve()):
            raise ExecutionError(
                f"refusing source archive: symlink {name!r} -> {link!r} points outside the target directory"
            )


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
