"""`dhmlrun import`: a declaration written from a live platform project, so a team can adopt
dhmlrun on a project it already runs.

Follows what the SDK's own `project.export()` carries (the project, then the latest version of
each function, workflow and dataitem), but writes dhmlrun's format: one `dhmlrun.yaml` plus each
function's and workflow's code, decoded from the platform's base64 spec into `src/` (a python
serve function keeps its `init_function`; a workflow's `build` is the platform's), so the code is reviewed
and diffed as files. Entities dhmlrun cannot declare are listed as comments, never dropped
silently: functions of other kinds, dataitems a run produced (outputs are never declared), and
runs (declare them by hand; importing one would re-run it).

An export, and a platform, may come from strangers: import writes only what they hold (decoded
code, inline content) and never reads a file of this machine on their word. A dataitem whose
`spec.path` is a local path is not copied: it is declared at the path dhmlrun recorded for it in
its old repository when there is one (so adopting a managed project does not plan its deletion;
the plan asks for the file), else left out, and either way listed. An export's entity files are
read only from the export's own folder. Everything written into the comments of `dhmlrun.yaml`
has its line breaks and other invisible characters escaped, so no name or kind can add YAML.

`build_import` is pure (DTOs in, text and files out); `read_project` reads a live project,
`read_export` the YAML files `project.export()` wrote; `write_import` writes, refusing to
overwrite files unless forced.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from dhmlrun.config.yaml_loader import load_yaml
from dhmlrun.errors import DhmlrunError
from dhmlrun.platform import labels as L
from dhmlrun.vocabulary import urls
from dhmlrun.vocabulary.kinds import FUNCTION_KINDS, HERA_KIND, PYTHON_KIND

DATAITEM_KINDS = ("table", "dataitem")
SOURCE_DIR = "src"
RECORDED_DATA = f"{L.LOCAL_PATH}:path"
RECORDED_SOURCE = f"{L.LOCAL_PATH}:source.source"
MAX_STORED_FILE = 256 * 1024 * 1024
"""The largest declared data file import brings back from the platform's files store."""


@dataclass
class ProjectExport:
    """What was read from the platform: the project and its latest function/dataitem DTOs."""

    project: str
    description: str | None
    endpoint: str
    functions: list[dict[str, Any]] = field(default_factory=list)
    dataitems: list[dict[str, Any]] = field(default_factory=list)
    workflows: list[dict[str, Any]] = field(default_factory=list)
    stored: dict[str, bytes] = field(default_factory=dict)
    """The bytes of declared files apply uploaded to the files store (store path → content),
    read back from the platform so the new repo holds them again."""


@dataclass
class ImportResult:
    """The files to write (relative path -> bytes) and what was left out, with why."""

    project: str
    files: dict[str, bytes] = field(default_factory=dict)
    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    not_copied: list[str] = field(default_factory=list)
    """Declared entities whose local file stayed where it was: put in place before planning."""
    managed: list[str] = field(default_factory=list)
    """Imported addresses dhmlrun already manages (the rest will plan as `adopt`)."""

    @property
    def to_adopt(self) -> list[str]:
        return [a for a in self.imported if a not in self.managed]


def read_project(platform: Any, project: str) -> ProjectExport:
    """Read the project through the Platform interface (three list requests)."""
    if not platform.project_exists(project):
        hint = (
            " (no endpoint is configured, so this looked in the embedded core of the output "
            "directory: pass --endpoint URL or --profile NAME)"
            if platform.embedded
            else ""
        )
        raise DhmlrunError.single(f"project {project} not found on {platform.endpoint}{hint}")
    dataitems = sorted(
        (d for d in platform.list_latest(project, "dataitems") if d.get("id") != L.lock_id(project)),
        key=_name,
    )
    return ProjectExport(
        project=project,
        description=platform.project_description(project),
        endpoint=platform.endpoint,
        functions=sorted(platform.list_latest(project, "functions"), key=_name),
        workflows=sorted(platform.list_latest(project, "workflows"), key=_name),
        dataitems=dataitems,
        stored={
            path: platform.read_file(project, path, MAX_STORED_FILE)
            for path in filter(None, (_uploaded_path(d) for d in dataitems))
        },
    )


def _uploaded_path(dto: dict[str, Any]) -> str | None:
    """The store path of a declared local file that apply uploaded (its labels record the file)."""
    path = (dto.get("spec") or {}).get("path")
    recorded = L.decode((dto.get("metadata") or {}).get("labels"))[1].get(RECORDED_DATA)
    return str(path) if recorded and isinstance(path, str) and path.startswith("s3://") else None


def read_export(path: Path) -> ProjectExport:
    """Read the YAML the SDK's `project.export()` writes (`projects-NAME.yaml`), whose entity
    entries are embedded or point by `metadata.ref` at the entity's own exported YAML file."""
    data = _load_export_file(path)
    if not isinstance(data, dict) or data.get("kind") != "project" or not data.get("name"):
        raise DhmlrunError.single(f"{path} is not a project export (written by the SDK's project.export())")
    spec = data.get("spec") or {}
    return ProjectExport(
        project=str(data["name"]),
        description=(data.get("metadata") or {}).get("description"),
        endpoint=f"the export {path.name}",
        functions=sorted(_exported(path, spec.get("functions")), key=_name),
        workflows=sorted(_exported(path, spec.get("workflows")), key=_name),
        dataitems=sorted(_exported(path, spec.get("dataitems")), key=_name),
    )


def _load_export_file(path: Path) -> Any:
    """One YAML file of an export, with the declaration loader's bounds (size, aliases, depth)."""
    loaded = load_yaml(path)
    if loaded.problems:
        raise DhmlrunError(loaded.problems)
    return loaded.data


def _exported(project_file: Path, entries: Any) -> list[dict[str, Any]]:
    """Each entity entry in full: embedded (it has a spec) or loaded from its `ref` file, which
    the SDK writes next to the project file. A ref is read only inside the export's folder (after
    symlinks): `ref: /home/me/.kube/config` must not make import read this machine's files."""
    folder = project_file.resolve().parent
    found = []
    for entry in entries or ():
        if not isinstance(entry, dict):
            continue
        ref = (entry.get("metadata") or {}).get("ref")
        if "spec" not in entry and isinstance(ref, str) and "://" not in ref:
            target = (folder / ref).resolve()
            if not target.is_relative_to(folder):
                raise DhmlrunError.single(
                    f"{project_file}: {_name(entry)!r} refers to {ref!r}, outside the "
                    "export's folder: not read"
                )
            if not target.is_file():
                raise DhmlrunError.single(
                    f"{project_file}: {_name(entry)!r} refers to {ref!r}, which is missing"
                )
            entry = _load_export_file(target)
        if isinstance(entry, dict):
            found.append(entry)
    return found


def _name(dto: dict[str, Any]) -> str:
    return str(dto.get("name"))


def build_import(export: ProjectExport) -> ImportResult:
    """The declaration and source files for `export` (pure)."""
    result = ImportResult(project=export.project)
    functions: dict[str, Any] = {}
    for dto in export.functions:
        declared = _function(dto, result)
        if declared is not None:
            functions[_name(dto)] = declared
            _record(result, f"functions.{_name(dto)}", dto)
    workflows: dict[str, Any] = {}
    for dto in export.workflows:
        declared = _workflow(dto, result)
        if declared is not None:
            workflows[_name(dto)] = declared
            _record(result, f"workflows.{_name(dto)}", dto)
    dataitems: dict[str, Any] = {}
    for dto in export.dataitems:
        declared = _dataitem(dto, result, export.stored)
        if declared is not None:
            dataitems[_name(dto)] = declared
            _record(result, f"dataitems.{_name(dto)}", dto)
    document: dict[str, Any] = {"version": 1, "project": {"name": export.project}}
    if export.description:
        document["project"]["description"] = export.description
    if dataitems:
        document["dataitems"] = dataitems
    if functions:
        document["functions"] = functions
    if workflows:
        document["workflows"] = workflows
    result.files["dhmlrun.yaml"] = _yaml_text(export, document, result).encode("utf-8")
    return result


def _record(result: ImportResult, address: str, dto: dict[str, Any]) -> None:
    result.imported.append(address)
    if L.decode((dto.get("metadata") or {}).get("labels"))[0]:
        result.managed.append(address)


def _metadata(dto: dict[str, Any]) -> dict[str, Any]:
    """Description and the user's own labels (dhmlrun's bookkeeping labels are not declared)."""
    metadata = dto.get("metadata") or {}
    out: dict[str, Any] = {}
    if metadata.get("description"):
        out["description"] = str(metadata["description"])
    user_labels = L.decode(metadata.get("labels"))[2]
    if user_labels:
        out["labels"] = user_labels
    return out


def _function(dto: dict[str, Any], result: ImportResult) -> dict[str, Any] | None:
    name, kind = _name(dto), str(dto.get("kind"))
    if kind not in FUNCTION_KINDS:
        result.skipped.append(f"functions.{name}: kind {kind} (dhmlrun declares {', '.join(FUNCTION_KINDS)})")
        return None
    spec = dto.get("spec") or {}
    source = dict(spec.get("source") or {})
    if kind == PYTHON_KIND and not (spec.get("python_version") and source.get("handler")):
        result.skipped.append(f"functions.{name}: a python function without python_version or a handler")
        return None
    declared_source = _function_source(dto, source, result)
    if declared_source is None:
        result.skipped.append(f"functions.{name}: no code in its spec (source, code or base64)")
        return None
    declared: dict[str, Any] = {"kind": kind, "source": declared_source}
    if source.get("handler"):
        declared["source"]["handler"] = str(source["handler"])
    for key in ("handler", "init_function", "image", "tag", "python_version", "base_image"):  # as it has them
        if spec.get(key):
            declared[key] = str(spec[key])
    if spec.get("requirements"):
        declared["requirements"] = [str(r) for r in spec["requirements"]]
    declared.update(_metadata(dto))
    return declared


def _workflow(dto: dict[str, Any], result: ImportResult) -> dict[str, Any] | None:
    """A hera workflow: its code into `src/`, its handler; its `build` is the platform's."""
    name, kind = _name(dto), str(dto.get("kind"))
    if kind != HERA_KIND:
        result.skipped.append(f"workflows.{name}: kind {kind} (dhmlrun declares {HERA_KIND})")
        return None
    spec = dto.get("spec") or {}
    source = dict(spec.get("source") or {})
    declared_source = _function_source(dto, source, result)
    if declared_source is None or not source.get("handler"):
        result.skipped.append(f"workflows.{name}: no code or no handler in its spec")
        return None
    declared_source["handler"] = str(source["handler"])
    declared: dict[str, Any] = {"kind": kind, "source": declared_source}
    for key in ("image", "tag"):
        if spec.get(key):
            declared[key] = str(spec[key])
    declared.update(_metadata(dto))
    return declared


def _function_source(
    dto: dict[str, Any], source: dict[str, Any], result: ImportResult
) -> dict[str, Any] | None:
    """`{source: src/FILE}` for code the platform holds (base64 or inline), else the URL."""
    content: bytes | None = None
    if source.get("base64"):
        try:
            content = base64.b64decode(str(source["base64"]), validate=False)
        except (binascii.Error, ValueError):
            content = None
    if content is None and source.get("code"):
        content = str(source["code"]).encode("utf-8")
    if content is not None:
        return {"source": _place_file(_file_name(dto, source), content, result)}
    remote = str(source.get("source") or "")
    if urls.is_url(remote):
        return {"source": remote}
    return None


def _file_name(dto: dict[str, Any], source: dict[str, Any]) -> str:
    """The code's original file name when it is a plain `.py` name, else `<function>.py`."""
    recorded = L.decode((dto.get("metadata") or {}).get("labels"))[1].get(RECORDED_SOURCE)
    original = PurePosixPath(str(recorded or source.get("source") or "").replace("\\", "/")).name
    if re.fullmatch(r"[A-Za-z0-9_.-]+\.py", original or ""):
        return original
    return f"{re.sub(r'[^A-Za-z0-9_-]', '_', _name(dto))}.py"


def _place_file(file_name: str, content: bytes, result: ImportResult) -> str:
    """`src/NAME`, shared by functions with the same code, renamed when the code differs."""
    stem, suffix = file_name[: -len(".py")], ".py"
    candidate, n = f"{SOURCE_DIR}/{file_name}", 1
    while candidate in result.files and result.files[candidate] != content:
        n += 1
        candidate = f"{SOURCE_DIR}/{stem}_{n}{suffix}"
    result.files[candidate] = content
    return candidate


def _dataitem(dto: dict[str, Any], result: ImportResult, stored: dict[str, bytes]) -> dict[str, Any] | None:
    name, kind = _name(dto), str(dto.get("kind"))
    metadata = dto.get("metadata") or {}
    produced_by = [
        r.get("dest") for r in metadata.get("relationships") or () if r.get("type") == "produced_by"
    ]
    if produced_by:
        result.skipped.append(f"dataitems.{name}: an output of run {_run_id(produced_by[0])}")
        return None
    if kind not in DATAITEM_KINDS:
        result.skipped.append(f"dataitems.{name}: kind {kind} (dhmlrun declares {', '.join(DATAITEM_KINDS)})")
        return None
    path = (dto.get("spec") or {}).get("path")
    if not path:
        result.skipped.append(f"dataitems.{name}: no path in its spec")
        return None
    declared = str(path)
    if declared in stored:  # a declared local file apply uploaded: the platform holds its bytes
        target = _recorded_data_path(dto)
        if target is None:
            result.skipped.append(f"dataitems.{name}: no safe path recorded for its uploaded file")
            return None
        result.files[target] = stored[declared]
        return {"kind": kind, "path": target, **_metadata(dto)}
    if urls.is_url(declared) and urls.scheme(declared) != "file":
        return {"kind": kind, "path": declared, **_metadata(dto)}
    recorded = _recorded_data_path(dto)
    if recorded is None:
        result.skipped.append(
            f"dataitems.{name}: its path {declared!r} is a local file of the machine that made it, not copied"
        )
        return None
    result.not_copied.append(
        f"dataitems.{name}: {recorded} (a local file where it was applied, "
        f"{declared!r}): not copied, put it there before dhmlrun plan"
    )
    return {"kind": kind, "path": recorded, **_metadata(dto)}


def _recorded_data_path(dto: dict[str, Any]) -> str | None:
    """The path, relative to its old repository, that dhmlrun recorded for a dataitem's local
    file (a label of the entities it applied), when it is a plain relative path."""
    recorded = L.decode((dto.get("metadata") or {}).get("labels"))[1].get(RECORDED_DATA)
    if not isinstance(recorded, str) or not recorded or not recorded.isprintable():
        return None
    target = PurePosixPath(recorded.replace("\\", "/"))
    if target.is_absolute() or ".." in target.parts or not target.parts or ":" in recorded:
        return None
    return str(target)


def _run_id(key: Any) -> str:
    return str(key).rsplit(":", 1)[-1] if key else "?"


def _yaml_text(export: ProjectExport, document: dict[str, Any], result: ImportResult) -> str:
    header = [
        "# yaml-language-server: $schema=.dhmlrun/schema.json",
        f"# Imported by `dhmlrun import` from project {export.project} on {export.endpoint}.",
        "# `dhmlrun plan` shows these entities as `adopt`: the first apply labels them as managed by",
        "# dhmlrun (in place when nothing differs). Runs are not imported: declare them under `runs:`.",
    ]
    if result.not_copied:
        header.append("# Not copied (import never reads a local file):")
        header.extend(f"#   {line}" for line in result.not_copied)
    if result.skipped:
        header.append("# Not imported:")
        header.extend(f"#   {line}" for line in result.skipped)
    header = [_comment_line(line) for line in header]
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)
    return "\n".join(header) + "\n" + body


def _comment_line(text: str) -> str:
    """A YAML comment line whatever the platform's names hold: every character that is not
    printable (line breaks YAML knows, `\\r`, NEL, U+2028, bidi controls...) escaped."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def write_import(result: ImportResult, out: Path, *, force: bool = False) -> list[str]:
    """Write the files under `out` (plus the editor schema and .gitignore); the paths written.

    Refuses, before writing anything, when a file exists and differs, unless `force`; when a
    write fails half-way, removes what this call created (files and folders) before raising."""
    from dhmlrun.scaffold import SCHEMA_FILE, schema_text

    files = dict(result.files)
    files[SCHEMA_FILE] = schema_text().encode("utf-8")
    if not (out / ".gitignore").exists():
        files[".gitignore"] = b".dhmlrun/\n"
    clashes = [
        rel
        for rel, content in files.items()
        if rel != SCHEMA_FILE and (out / rel).exists() and (out / rel).read_bytes() != content
    ]
    if clashes and not force:
        raise DhmlrunError.single(
            f"refusing to overwrite {', '.join(sorted(clashes))} in {out}: "
            "choose another --out directory or pass --force"
        )
    created: list[Path] = []
    try:
        for rel, content in files.items():
            _new_parents(out / rel, created)
            (out / rel).write_bytes(content)
    except OSError as exc:
        _remove(created)
        raise DhmlrunError.single(f"cannot write the import into {out}: {exc}") from exc
    return sorted(files)


def _new_parents(target: Path, created: list[Path]) -> None:
    """Create `target`'s missing folders, and note them and `target` itself if it is new."""
    missing = [p for p in reversed(target.parents) if not p.exists()]
    for folder in missing:
        folder.mkdir()
        created.append(folder)
    if not target.exists():
        created.append(target)


def _remove(created: list[Path]) -> None:
    for path in reversed(created):
        with contextlib.suppress(OSError):
            path.rmdir() if path.is_dir() else path.unlink()
