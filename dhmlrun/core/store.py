"""SQLite persistence for the embedded core: one file, several processes, nothing lost on kill -9.

All entity types share one `entities` table with a `type` column; the identity rule of core (ids
unique per type) is a UNIQUE(type, id) constraint, so duplicate detection is atomic even when two
processes insert at once. The database runs in WAL mode with `synchronous=NORMAL` (a committed
transaction survives the death of any process; only an OS crash can lose the last ones), writes
take the lock up front (`BEGIN IMMEDIATE`) so two writers queue on `busy_timeout` instead of
deadlocking on a lock upgrade, and every transaction is one short request.

This module knows SQL and rows only; the meaning of the rows lives in `service.py`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from dhmlrun.errors import DhmlrunError
from dhmlrun.private import private_dir, private_file

BUSY_TIMEOUT_MS = 30_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entities (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    project TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    ref TEXT,
    body TEXT NOT NULL,
    UNIQUE (type, id)
);
CREATE TABLE IF NOT EXISTS secret_values (
    project TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (project, name)
);
CREATE TABLE IF NOT EXISTS metrics (
    project TEXT NOT NULL, type TEXT NOT NULL, entity_id TEXT NOT NULL, name TEXT NOT NULL,
    value TEXT NOT NULL, PRIMARY KEY (type, entity_id, name)
);
CREATE TABLE IF NOT EXISTS files_info (
    project TEXT NOT NULL, type TEXT NOT NULL, entity_id TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (type, entity_id)
);
CREATE TABLE IF NOT EXISTS run_claims (
    run_id TEXT PRIMARY KEY, project TEXT NOT NULL, owner_pid INTEGER NOT NULL, claimed INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS services (
    run_id TEXT PRIMARY KEY, project TEXT NOT NULL, kind TEXT NOT NULL, pid INTEGER NOT NULL,
    process_start TEXT, port INTEGER NOT NULL, second_port INTEGER, directory TEXT NOT NULL,
    launched INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS shares (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, user TEXT NOT NULL, owner TEXT NOT NULL,
    issued INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS buckets (name TEXT PRIMARY KEY, created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL, key TEXT NOT NULL, blob TEXT NOT NULL, size INTEGER NOT NULL,
    etag TEXT NOT NULL, content_type TEXT NOT NULL, modified INTEGER NOT NULL, metadata TEXT NOT NULL,
    PRIMARY KEY (bucket, key)
);
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL, content_type TEXT NOT NULL,
    metadata TEXT NOT NULL, created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS upload_parts (
    upload_id TEXT NOT NULL, part INTEGER NOT NULL, blob TEXT NOT NULL, size INTEGER NOT NULL,
    etag TEXT NOT NULL, PRIMARY KEY (upload_id, part)
);
CREATE TABLE IF NOT EXISTS relationships (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, relationship TEXT NOT NULL,
    source_type TEXT NOT NULL, source_id TEXT NOT NULL, source_key TEXT NOT NULL,
    dest_type TEXT NOT NULL, dest_id TEXT NOT NULL, dest_key TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS labels (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, label TEXT NOT NULL, UNIQUE (project, label)
);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, user TEXT NOT NULL, name TEXT NOT NULL,
    digest TEXT NOT NULL, body TEXT NOT NULL, issued INTEGER NOT NULL
);
"""

# The indexes behind "latest per name", the default `created,DESC` listing and reference lookups
# (tasks of a function, runs of a task, logs of a run). `bench/bench_core.py` measures them.
_INDEXES = """
CREATE INDEX IF NOT EXISTS ix_entities_name ON entities (project, type, name, created, seq);
CREATE INDEX IF NOT EXISTS ix_entities_created ON entities (project, type, created, seq);
CREATE INDEX IF NOT EXISTS ix_entities_ref ON entities (project, type, ref);
CREATE INDEX IF NOT EXISTS ix_metrics_project ON metrics (project);
CREATE INDEX IF NOT EXISTS ix_files_project ON files_info (project);
CREATE INDEX IF NOT EXISTS ix_relationships_source ON relationships (project, source_type, source_id);
CREATE INDEX IF NOT EXISTS ix_relationships_dest ON relationships (project, dest_type, dest_id);
"""

_COLUMNS = "seq, type, id, project, name, kind, state, created_by, created, updated, ref, body"


@dataclass(frozen=True)
class ServiceRow:
    """One served run's process (`services.py`): where it listens and how to know it is still it."""

    run_id: str
    project: str
    kind: str
    pid: int
    process_start: str | None
    """The process's start time as the OS tells it (`processes.process_start`): a pid reused by
    another process does not pass for the service."""
    port: int
    second_port: int | None
    directory: str
    launched: int


_SERVICE_COLUMNS = "run_id, project, kind, pid, process_start, port, second_port, directory, launched"


class DuplicateError(Exception):
    """An insert hit UNIQUE(type, id): the caller turns it into core's `Duplicated entity`."""


def stored_json(body: dict[str, Any], state: str) -> str:
    """The stored form of a DTO: its state merged into `status`, keys sorted, compact.

    Storing exactly what is served lets a list answer splice stored bodies into the page without
    parsing them (a 1,000-entity page is mostly `json.loads` + `json.dumps` otherwise).
    """
    if isinstance(body.get("status"), dict):
        body = {**body, "status": {**body["status"], "state": state}}
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


@dataclass
class Row:
    """One stored entity: indexed columns plus the DTO as served (`raw`, parsed lazily as `body`)."""

    seq: int
    type: str
    id: str
    project: str
    name: str
    kind: str
    state: str
    created_by: str
    created: int
    updated: int
    ref: str | None
    raw: str

    @cached_property
    def body(self) -> dict[str, Any]:
        """The DTO (its `status.state` equals the `state` column)."""
        return json.loads(self.raw)


@dataclass
class Query:
    """A list request in SQL terms: WHERE fragments with their parameters, order, page window."""

    entity_type: str
    project: str | None
    latest_only: bool = False
    where: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=lambda: [("created", False)])
    limit: int = 25
    offset: int = 0


def _row(values: tuple[Any, ...]) -> Row:
    return Row(*values)


class Tx:
    """The operations of one transaction on one connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    # entities ---------------------------------------------------------------------------------

    def insert(
        self, entity_type: str, body: dict[str, Any], *, state: str, created: int, ref: str | None
    ) -> None:
        """Insert a DTO; raises DuplicateError when (type, id) exists."""
        try:
            self.conn.execute(
                "INSERT INTO entities (type, id, project, name, kind, state, created_by, created, updated,"
                " ref, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entity_type,
                    body["id"],
                    body["project"],
                    body["name"],
                    body.get("kind", entity_type),
                    state,
                    body.get("user", ""),
                    created,
                    created,
                    ref,
                    stored_json(body, state),
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise DuplicateError(f"{entity_type}:{body['id']}") from exc

    def replace(
        self, entity_type: str, entity_id: str, body: dict[str, Any], *, state: str, updated: int
    ) -> None:
        """Overwrite a stored DTO and its state (identity columns never change)."""
        self.conn.execute(
            "UPDATE entities SET body = ?, state = ?, updated = ? WHERE type = ? AND id = ?",
            (stored_json(body, state), state, updated, entity_type, entity_id),
        )

    def get(self, entity_type: str, entity_id: str) -> Row | None:
        """One entity by type and id."""
        found = self.conn.execute(
            f"SELECT {_COLUMNS} FROM entities WHERE type = ? AND id = ?", (entity_type, entity_id)
        ).fetchone()
        return _row(found) if found else None

    def find(
        self, entity_type: str, project: str, *, name: str | None = None, ref: str | None = None
    ) -> list[Row]:
        """All rows of a type in a project with this name and/or reference string."""
        sql = f"SELECT {_COLUMNS} FROM entities WHERE project = ? AND type = ?"
        params: list[Any] = [project, entity_type]
        if name is not None:
            sql += " AND name = ?"
            params.append(name)
        if ref is not None:
            sql += " AND ref = ?"
            params.append(ref)
        return [_row(r) for r in self.conn.execute(sql + " ORDER BY seq", params)]

    def find_projects_of(self, user: str) -> list[Row]:
        """The projects a user created (their owner: `listByUser`)."""
        sql = f"SELECT {_COLUMNS} FROM entities WHERE type = 'project' AND created_by = ? ORDER BY name"
        return [_row(r) for r in self.conn.execute(sql, (user,))]

    def latest(self, entity_type: str, project: str) -> list[Row]:
        """The latest version of every name of a type in a project (greatest created, then seq)."""
        query = Query(entity_type, project, latest_only=True, order=[("name", True)], limit=-1)
        return self.select(query)

    def delete(self, entity_type: str, entity_id: str) -> None:
        """Remove one entity and the side data keyed by it (metrics, files info)."""
        self.conn.execute("DELETE FROM entities WHERE type = ? AND id = ?", (entity_type, entity_id))
        self.conn.execute("DELETE FROM metrics WHERE type = ? AND entity_id = ?", (entity_type, entity_id))
        self.conn.execute("DELETE FROM files_info WHERE type = ? AND entity_id = ?", (entity_type, entity_id))

    def delete_project_contents(self, project: str) -> None:
        """Remove everything a project owns, the project row included."""
        tables = (
            "entities",
            "secret_values",
            "metrics",
            "files_info",
            "shares",
            "run_claims",
            "relationships",
            "labels",
        )
        for table in tables:
            self.conn.execute(f"DELETE FROM {table} WHERE project = ?", (project,))

    def _where(self, query: Query) -> tuple[str, list[Any]]:
        clauses = ["e.type = ?"]
        params: list[Any] = [query.entity_type]
        if query.project is not None:
            clauses.append("e.project = ?")
            params.append(query.project)
        if query.latest_only:
            clauses.append(
                "e.seq = (SELECT l.seq FROM entities l WHERE l.project = e.project AND l.type = e.type"
                " AND l.name = e.name ORDER BY l.created DESC, l.seq DESC LIMIT 1)"
            )
        clauses.extend(query.where)
        params.extend(query.params)
        return " AND ".join(clauses), params

    def select(self, query: Query) -> list[Row]:
        """One page of a list query (filters apply after the latest-version step)."""
        where, params = self._where(query)
        order = ", ".join(f"e.{col} {'ASC' if asc else 'DESC'}" for col, asc in query.order)
        tie = "ASC" if query.order[0][1] else "DESC"
        sql = (
            f"SELECT {_COLUMNS} FROM entities e WHERE {where} ORDER BY {order}, e.seq {tie} LIMIT ? OFFSET ?"
        )
        return [_row(r) for r in self.conn.execute(sql, [*params, query.limit, query.offset])]

    def count(self, query: Query) -> int:
        """How many rows match a list query in total (for `totalElements`/`totalPages`)."""
        where, params = self._where(query)
        return self.conn.execute(f"SELECT COUNT(*) FROM entities e WHERE {where}", params).fetchone()[0]

    # secrets, metrics, files, shares ----------------------------------------------------------

    def secret_values(self, project: str, names: list[str]) -> dict[str, str]:
        """Stored values for these secret names (unknown names omitted)."""
        marks = ",".join("?" * len(names))
        rows = self.conn.execute(
            f"SELECT name, value FROM secret_values WHERE project = ? AND name IN ({marks})",
            [project, *names],
        )
        return dict(rows.fetchall())

    def put_secret_value(self, project: str, name: str, value: str) -> None:
        """Insert or replace one secret value."""
        self.conn.execute(
            "INSERT OR REPLACE INTO secret_values (project, name, value) VALUES (?, ?, ?)",
            (project, name, value),
        )

    def delete_secret_value(self, project: str, name: str) -> None:
        """Forget a secret's value (its entity went away)."""
        self.conn.execute("DELETE FROM secret_values WHERE project = ? AND name = ?", (project, name))

    def metrics(self, entity_type: str, entity_id: str) -> dict[str, Any]:
        """All metrics of a run or model."""
        rows = self.conn.execute(
            "SELECT name, value FROM metrics WHERE type = ? AND entity_id = ? ORDER BY name",
            (entity_type, entity_id),
        )
        return {name: json.loads(value) for name, value in rows}

    def put_metric(self, project: str, entity_type: str, entity_id: str, name: str, value: Any) -> None:
        """Replace one metric's value (the SDK sends the full merged list)."""
        self.conn.execute(
            "INSERT OR REPLACE INTO metrics (project, type, entity_id, name, value) VALUES (?, ?, ?, ?, ?)",
            (project, entity_type, entity_id, name, json.dumps(value)),
        )

    def files_info(self, entity_type: str, entity_id: str) -> list[Any]:
        """The stored file list of a material ([] when none)."""
        found = self.conn.execute(
            "SELECT body FROM files_info WHERE type = ? AND entity_id = ?", (entity_type, entity_id)
        ).fetchone()
        return json.loads(found[0]) if found else []

    def put_files_info(self, project: str, entity_type: str, entity_id: str, files: list[Any]) -> None:
        """Replace the file list of a material."""
        self.conn.execute(
            "INSERT OR REPLACE INTO files_info (project, type, entity_id, body) VALUES (?, ?, ?, ?)",
            (project, entity_type, entity_id, json.dumps(files)),
        )

    def shares(self, project: str) -> list[tuple[str, str, str, int]]:
        """(id, user, owner, issued) of every share of a project."""
        return self.conn.execute(
            "SELECT id, user, owner, issued FROM shares WHERE project = ? ORDER BY issued", (project,)
        ).fetchall()

    def add_share(self, share_id: str, project: str, user: str, owner: str, issued: int) -> None:
        """Record that `user` may see `project`."""
        self.conn.execute(
            "INSERT INTO shares (id, project, user, owner, issued) VALUES (?, ?, ?, ?, ?)",
            (share_id, project, user, owner, issued),
        )

    def delete_share(self, project: str, share_id: str) -> int:
        """Remove a share; returns how many rows went."""
        return self.conn.execute(
            "DELETE FROM shares WHERE project = ? AND id = ?", (project, share_id)
        ).rowcount

    # relationships and labels (DHCore's EntityRelationshipsService and LabelService) ---------

    def relationships_of(self, project: str, entity_type: str, entity_id: str) -> list[tuple[str, str, str]]:
        """(relationship, source key, dest key) of every relationship with the entity at one end
        (RelationshipRepository.findByProjectAndEntityId), oldest first."""
        return self.conn.execute(
            "SELECT relationship, source_key, dest_key FROM relationships WHERE project = ?"
            " AND ((source_type = ? AND source_id = ?) OR (dest_type = ? AND dest_id = ?)) ORDER BY rowid",
            (project, entity_type, entity_id, entity_type, entity_id),
        ).fetchall()

    def project_relationships(self, project: str) -> list[tuple[str, str, str]]:
        return self.conn.execute(
            "SELECT relationship, source_key, dest_key FROM relationships WHERE project = ? ORDER BY rowid",
            (project,),
        ).fetchall()

    def replace_relationships(
        self, project: str, source: tuple[str, str, str], relationships: list[tuple[str, str, str, str]]
    ) -> None:
        """The relationships a source entity (type, id, key) declares: (name, dest type, dest id,
        dest key) each, replacing what it declared before."""
        source_type, source_id, source_key = source
        self.conn.execute(
            "DELETE FROM relationships WHERE project = ? AND source_type = ? AND source_id = ?",
            (project, source_type, source_id),
        )
        for name, dest_type, dest_id, dest_key in relationships:
            self.conn.execute(
                "INSERT INTO relationships (id, project, relationship, source_type, source_id, source_key,"
                " dest_type, dest_id, dest_key) VALUES (lower(hex(randomblob(16))), ?, ?, ?, ?, ?, ?, ?, ?)",
                (project, name, source_type, source_id, source_key, dest_type, dest_id, dest_key),
            )

    def clear_relationships(self, project: str, entity_type: str, entity_id: str) -> None:
        """An entity went away: every relationship with it at either end goes too."""
        self.conn.execute(
            "DELETE FROM relationships WHERE project = ? AND ((source_type = ? AND source_id = ?)"
            " OR (dest_type = ? AND dest_id = ?))",
            (project, entity_type, entity_id, entity_type, entity_id),
        )

    def add_labels(self, project: str, labels: list[str]) -> None:
        """Register labels used in a project (lower-cased, trimmed; kept once)."""
        for label in labels:
            self.conn.execute(
                "INSERT OR IGNORE INTO labels (id, project, label) VALUES (lower(hex(randomblob(16))), ?, ?)",
                (project, label.strip().lower()),
            )

    def labels(
        self, project: str, prefix: str | None, limit: int, offset: int
    ) -> tuple[list[tuple[str, str]], int]:
        """(id, label) of a page of a project's labels (starting with `prefix`, any case), and how
        many match in all."""
        where, params = "project = ?", [project]
        if prefix:
            where += " AND substr(label, 1, ?) = ?"
            params += [len(prefix), prefix.strip().lower()]
        total = self.conn.execute(f"SELECT COUNT(*) FROM labels WHERE {where}", params).fetchone()[0]
        rows = self.conn.execute(
            f"SELECT id, label FROM labels WHERE {where} ORDER BY rowid LIMIT ? OFFSET ?",
            [*params, limit, offset],
        ).fetchall()
        return rows, total

    # tokens (DHCore's TokenService: personal access and refresh tokens) ----------------------

    def add_token(
        self, token_id: str, kind: str, user: str, name: str, digest: str, body: str, issued: int
    ) -> None:
        self.conn.execute(
            "INSERT INTO tokens (id, kind, user, name, digest, body, issued) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (token_id, kind, user, name, digest, body, issued),
        )

    def tokens(self, kind: str, user: str) -> list[str]:
        """The stored bodies (JSON) of a user's tokens of one kind, oldest first."""
        rows = self.conn.execute(
            "SELECT body FROM tokens WHERE kind = ? AND user = ? ORDER BY issued, id", (kind, user)
        )
        return [row[0] for row in rows]

    def token(self, kind: str, user: str, token_id: str) -> str | None:
        found = self.conn.execute(
            "SELECT body FROM tokens WHERE kind = ? AND user = ? AND id = ?", (kind, user, token_id)
        ).fetchone()
        return found[0] if found else None

    def token_by_digest(self, kind: str, digest: str) -> tuple[str, str] | None:
        """(id, user) of the token of `kind` whose secret has this digest."""
        return self.conn.execute(
            "SELECT id, user FROM tokens WHERE kind = ? AND digest = ?", (kind, digest)
        ).fetchone()

    def delete_token(self, kind: str, user: str, token_id: str) -> None:
        self.conn.execute("DELETE FROM tokens WHERE kind = ? AND user = ? AND id = ?", (kind, user, token_id))

    # the files store's index (objects.py; the bytes are files under its directory) -----------

    def bucket_exists(self, name: str) -> bool:
        return self.conn.execute("SELECT 1 FROM buckets WHERE name = ?", (name,)).fetchone() is not None

    def add_bucket(self, name: str, created: int) -> bool:
        """Create a bucket; False when it existed."""
        return bool(
            self.conn.execute(
                "INSERT OR IGNORE INTO buckets (name, created) VALUES (?, ?)", (name, created)
            ).rowcount
        )

    def buckets(self) -> list[tuple[str, int]]:
        return self.conn.execute("SELECT name, created FROM buckets ORDER BY name").fetchall()

    def delete_bucket(self, name: str) -> None:
        self.conn.execute("DELETE FROM buckets WHERE name = ?", (name,))

    def object_row(self, bucket: str, key: str) -> tuple[Any, ...] | None:
        """(blob, size, etag, content_type, modified, metadata JSON) of one object."""
        return self.conn.execute(
            "SELECT blob, size, etag, content_type, modified, metadata FROM objects"
            " WHERE bucket = ? AND key = ?",
            (bucket, key),
        ).fetchone()

    def put_object_row(self, bucket: str, key: str, values: tuple[Any, ...]) -> str | None:
        """Insert or replace an object (values as `object_row` returns them); the blob it
        replaced, for the caller to remove once committed."""
        old = self.object_row(bucket, key)
        self.conn.execute(
            "INSERT OR REPLACE INTO objects (bucket, key, blob, size, etag, content_type, modified, metadata)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (bucket, key, *values),
        )
        return old[0] if old else None

    def delete_object_row(self, bucket: str, key: str) -> str | None:
        """Remove an object; its blob (None when there was no such object)."""
        old = self.object_row(bucket, key)
        self.conn.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, key))
        return old[0] if old else None

    def object_keys(self, bucket: str, prefix: str, after: str, limit: int) -> list[tuple[Any, ...]]:
        """(key, size, etag, modified) of objects whose key starts with `prefix` and sorts after
        `after`, in key order (SQLite's BINARY order of UTF-8 text: S3's order)."""
        return self.conn.execute(
            "SELECT key, size, etag, modified FROM objects WHERE bucket = ? AND key > ?"
            " AND substr(key, 1, ?) = ? ORDER BY key LIMIT ?",
            (bucket, after, len(prefix), prefix, limit),
        ).fetchall()

    def count_objects(self, bucket: str) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM objects WHERE bucket = ?", (bucket,)).fetchone()[0]

    def add_upload(
        self, upload_id: str, bucket: str, key: str, content_type: str, metadata: str, now: int
    ) -> None:
        self.conn.execute(
            "INSERT INTO uploads (id, bucket, key, content_type, metadata, created)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (upload_id, bucket, key, content_type, metadata, now),
        )

    def upload_row(self, upload_id: str) -> tuple[Any, ...] | None:
        """(bucket, key, content_type, metadata JSON) of a multipart upload in progress."""
        return self.conn.execute(
            "SELECT bucket, key, content_type, metadata FROM uploads WHERE id = ?", (upload_id,)
        ).fetchone()

    def put_part_row(self, upload_id: str, part: int, blob: str, size: int, etag: str) -> str | None:
        """Record one part (replacing a part of the same number); the blob it replaced."""
        old = self.conn.execute(
            "SELECT blob FROM upload_parts WHERE upload_id = ? AND part = ?", (upload_id, part)
        ).fetchone()
        self.conn.execute(
            "INSERT OR REPLACE INTO upload_parts (upload_id, part, blob, size, etag) VALUES (?, ?, ?, ?, ?)",
            (upload_id, part, blob, size, etag),
        )
        return old[0] if old else None

    def part_rows(self, upload_id: str) -> list[tuple[Any, ...]]:
        """(part, blob, size, etag) of every part of an upload, by number."""
        return self.conn.execute(
            "SELECT part, blob, size, etag FROM upload_parts WHERE upload_id = ? ORDER BY part", (upload_id,)
        ).fetchall()

    def delete_upload(self, upload_id: str) -> list[str]:
        """Forget an upload and its parts; the parts' blobs."""
        blobs = [row[1] for row in self.part_rows(upload_id)]
        self.conn.execute("DELETE FROM upload_parts WHERE upload_id = ?", (upload_id,))
        self.conn.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))
        return blobs

    # run claims (see executor.py) ------------------------------------------------------------

    def claim(self, run_id: str, project: str, owner_pid: int, claimed: int) -> None:
        """Record that process `owner_pid` will execute `run_id`."""
        self.conn.execute(
            "INSERT OR REPLACE INTO run_claims (run_id, project, owner_pid, claimed) VALUES (?, ?, ?, ?)",
            (run_id, project, owner_pid, claimed),
        )

    def release(self, run_id: str) -> None:
        """The run is done with (final, deleted, or handed back)."""
        self.conn.execute("DELETE FROM run_claims WHERE run_id = ?", (run_id,))

    def claims(self) -> list[tuple[str, str, int]]:
        """(run id, project, owner pid) of every claim."""
        return self.conn.execute(
            "SELECT run_id, project, owner_pid FROM run_claims ORDER BY claimed"
        ).fetchall()

    # served runs (see services.py) ---------------------------------------------------------

    def put_service(self, row: ServiceRow) -> None:
        """Record (or replace) the process serving a run."""
        self.conn.execute(
            f"INSERT OR REPLACE INTO services ({_SERVICE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.run_id,
                row.project,
                row.kind,
                row.pid,
                row.process_start,
                row.port,
                row.second_port,
                row.directory,
                row.launched,
            ),
        )

    def service(self, run_id: str) -> ServiceRow | None:
        found = self.conn.execute(
            f"SELECT {_SERVICE_COLUMNS} FROM services WHERE run_id = ?", (run_id,)
        ).fetchone()
        return ServiceRow(*found) if found else None

    def services(self, project: str | None = None) -> list[ServiceRow]:
        """Every recorded service (of one project when given), oldest first."""
        if project is None:
            rows = self.conn.execute(f"SELECT {_SERVICE_COLUMNS} FROM services ORDER BY launched")
        else:
            rows = self.conn.execute(
                f"SELECT {_SERVICE_COLUMNS} FROM services WHERE project = ? ORDER BY launched", (project,)
            )
        return [ServiceRow(*values) for values in rows.fetchall()]

    def delete_service(self, run_id: str) -> None:
        self.conn.execute("DELETE FROM services WHERE run_id = ?", (run_id,))


class DatabaseUnusable(DhmlrunError):
    """The database file cannot be used as it is (damaged, on a full or failing disk, not
    writable); the message says what to do. Never a raw sqlite error: `dhmlrun plan` on a core.db
    damaged in the middle, or an apply on a full disk, printed sqlite tracebacks."""


DAMAGED = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
UNWRITABLE_DISK = frozenset({sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR})
NOT_PERMITTED = frozenset({sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM})


def unusable(path: str, exc: sqlite3.Error) -> DatabaseUnusable | None:
    """What to tell the user when `exc` means the file itself cannot be used, by SQLite's primary
    result code; None for every other error (a constraint, a busy database), which callers handle."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code in DAMAGED:
        return DatabaseUnusable.single(
            f"the embedded core's database {path} is damaged ({exc}); move it away (with its -wal and "
            "-shm files) and run the command again: an empty one is started (what it held is lost)"
        )
    if code in UNWRITABLE_DISK:
        return DatabaseUnusable.single(
            f"cannot write the embedded core's database {path} ({exc}): the disk is full or failing; "
            "free space there (or check the disk) and run the command again (the failed write was "
            "rolled back)"
        )
    if code in NOT_PERMITTED:
        return DatabaseUnusable.single(
            f"cannot open or write the embedded core's database {path} ({exc}): check that "
            f"{Path(path).parent} and the files in it are yours and writable"
        )
    return None


class Store:
    """The database file: one connection per thread, opened on first use. Errors that mean the
    file cannot be used are raised as `DatabaseUnusable` (`unusable`)."""

    def __init__(self, path: Path | str, *, wal: bool = True, indexes: bool = True) -> None:
        self.path = str(path)
        self.wal = wal
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        if self.path != ":memory:":
            # the database holds the whole project: its folder and files are the user's only
            # (SQLite gives the -wal and -shm files the main file's permissions)
            private_dir(Path(self.path).parent)
            private_file(Path(self.path))
            for companion in ("-wal", "-shm"):
                if Path(self.path + companion).exists():
                    private_file(Path(self.path + companion))
        try:
            with self.write() as tx:
                # executescript() would commit on its own; statements one by one stay in this
                # transaction.
                for statement in (_SCHEMA + (_INDEXES if indexes else "")).split(";"):
                    if statement.strip():
                        tx.conn.execute(statement)
        except DatabaseUnusable:
            self.close()
            raise
        except sqlite3.DatabaseError as exc:  # not what a core's database holds: say so
            self.close()
            raise DatabaseUnusable.single(
                f"{self.path} is not a usable embedded-core database ({exc}); move it away "
                "(with its -wal and -shm files) to start with an empty one"
            ) from exc

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA secure_delete = ON")  # replaced or deleted values are overwritten
            if self.wal:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
            else:
                conn.execute("PRAGMA journal_mode = DELETE")
                conn.execute("PRAGMA synchronous = FULL")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @staticmethod
    @contextmanager
    def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def _usable(self) -> Iterator[None]:
        """For the block: an error meaning the file cannot be used becomes `DatabaseUnusable`."""
        try:
            yield
        except sqlite3.Error as exc:
            failure = unusable(self.path, exc)
            if failure is None:
                raise
            raise failure from exc

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """A short write transaction holding the database write lock from its first statement."""
        with self._usable():
            conn = self._connection()
            with self._immediate(conn):
                yield Tx(conn)

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A read transaction: several queries (a page and its count) see one snapshot."""
        with self._usable():
            conn = self._connection()
            conn.execute("BEGIN")
            try:
                yield Tx(conn)
            finally:
                conn.execute("COMMIT")

    def close(self) -> None:
        """Close every connection this store opened (any thread)."""
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()
