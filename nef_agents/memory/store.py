"""SQLite backend of the memory, on sqlite-utils.

File handling (all failures are :class:`~nef_agents.errors.StoreError`
naming the file; a bad file is never written to):

* missing file: created, with its folder, on first use (not when ``readonly``);
* zero-byte file: initialized as a new store (SQLite treats it as empty;
  refused when ``readonly``);
* a file without the SQLite header, a file whose size is not a whole number
  of pages or smaller than its header says (truncated), a malformed database,
  or an SQLite database that is not a nef store: refused, untouched;
* a store written by a newer schema version: refused (upgrade nef_agents);
* a location that cannot be written: refused (open with ``readonly=True``).

Settings: WAL journal (readers never block the writer), ``synchronous=NORMAL``
(a killed process loses nothing committed; power loss may drop the last
transactions but never corrupts), 30 s busy timeout, foreign keys on, every
write one ``BEGIN IMMEDIATE`` transaction so writers queue on the lock instead
of failing on a read-to-write upgrade.
"""

from __future__ import annotations

import os
import sqlite3
import struct
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from nef_agents.errors import ConfigError, StoreError
from nef_agents.memory.base import BaseStore
from nef_agents.memory.patterns import DEFAULT_ALPHABET, DEFAULT_SEGMENTS
from nef_agents.memory.records import Filters, default_store_path
from nef_agents.memory.rows import STORED_COLUMNS, Selector

__all__ = ["MemoryStore", "SCHEMA_VERSION", "MIGRATIONS"]

_HEADER = b"SQLite format 3\x00"
_REQUIRE = {c: f"{c} IS NOT NULL" for c in ("paa", "sax", "isax", "full")}
_MAX_VARS = 900  # stay well under SQLite's bound-parameter limit


def _migrate_0_to_1(db: Database) -> None:
    """Initial schema: records, tags (FK to records), meta, store_config."""
    db["records"].create(
        {
            "id": int, "path": str, "run_id": str, "created_at": float, "tags": str,
            "payload": str, "labels": str, "levels": str, "length": int,
            "sax": str, "paa": bytes, "health": bytes, "full": bytes, "isax": bytes,
        },
        pk="id",
        not_null={"path", "created_at", "tags", "payload", "labels", "levels", "length"},
    )  # fmt: skip
    db["records"].create_index(["path"])
    db["records"].create_index(["sax"])
    db["records"].create_index(["isax"])
    db["records"].create_index(["run_id"])
    db["records"].create_index(["created_at"])
    db["tags"].create(
        {"tag": str, "record_id": int}, pk=("tag", "record_id"),
        foreign_keys=[("record_id", "records", "id")], not_null={"tag", "record_id"},
    )  # fmt: skip
    db["tags"].create_index(["record_id"])
    db["meta"].create({"key": str, "value": str}, pk="key", not_null={"value"})
    db["store_config"].create({"key": str, "value": str}, pk="key")


# MIGRATIONS[v] upgrades a store from schema version v to v + 1.
MIGRATIONS: list[Callable[[Database], None]] = [_migrate_0_to_1]
SCHEMA_VERSION = len(MIGRATIONS)


def _preflight(path: Path, readonly: bool) -> None:
    """Refuse bad files before SQLite touches them (so they stay byte-identical)."""
    if path.is_dir():
        raise StoreError(f"memory store {path} is a directory, not a file")
    if not path.exists():
        if readonly:
            raise StoreError(f"memory store {path} does not exist (opened read-only)")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create folder for memory store {path}: {exc}") from exc
        if not os.access(path.parent, os.W_OK):
            raise StoreError(f"cannot create memory store {path}: folder is not writable")
        return
    if not os.access(path, os.R_OK):
        raise StoreError(f"memory store {path} is not readable")
    if not readonly and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
        raise StoreError(
            f"memory store {path} is in a read-only location; open it with readonly=True"
        )
    size = path.stat().st_size
    if size == 0:
        if readonly:
            raise StoreError(f"memory store {path} is empty and cannot be initialized read-only")
        return
    with path.open("rb") as fh:
        head = fh.read(100)
    if not head.startswith(_HEADER):
        raise StoreError(f"{path} is not an SQLite database (bad header); it was left untouched")
    if len(head) < 100:
        raise StoreError(f"SQLite file {path} is truncated ({size} bytes); it was left untouched")
    page_size = struct.unpack_from(">H", head, 16)[0]
    page_size = 65536 if page_size == 1 else page_size
    change, pages = struct.unpack_from(">II", head, 24)
    valid_for = struct.unpack_from(">I", head, 92)[0]
    has_wal = Path(f"{path}-wal").exists()  # a live WAL may legally hold newer pages
    if size % page_size or (valid_for == change and size < pages * page_size and not has_wal):
        raise StoreError(
            f"SQLite file {path} is truncated ({size} bytes, header says "
            f"{pages} pages of {page_size}); it was left untouched"
        )


class MemoryStore(BaseStore):
    """The SQLite memory store. See :class:`BaseStore` for the contract.

    ``path``: explicit file > ``$NEF_MEMORY`` > ``memory/nef.sqlite`` in the
    current directory; ``":memory:"`` for a private in-memory database.
    ``segments``/``alphabet`` fix the PAA/SAX parameters when a store is
    created; reopening with different values is a :class:`ConfigError`.
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, readonly: bool = False,
        segments: int | None = None, alphabet: int | None = None, timeout: float = 30.0,
    ) -> None:  # fmt: skip
        super().__init__()
        target = default_store_path(path)
        self.path: Path | None = None if target == ":memory:" else Path(target)
        self.readonly = bool(readonly) and self.path is not None
        self.timeout = float(timeout)
        self._writes = 0
        self._closed = False
        if self.path is not None:
            _preflight(self.path, self.readonly)
        self._pid = os.getpid()
        self._connect()
        try:
            with self._guard():
                self._open_schema(segments, alphabet)
        except BaseException:
            self.conn.close()
            raise

    def __repr__(self) -> str:
        return f"MemoryStore({str(self.path) if self.path else ':memory:'!r})"

    # ---- connection ---------------------------------------------------------------
    def _connect(self) -> None:
        try:
            if self.path is None:
                conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            elif self.readonly:
                uri = f"{self.path.resolve().as_uri()}?mode=ro"
                conn = sqlite3.connect(uri, uri=True, timeout=self.timeout,
                                       isolation_level=None, check_same_thread=False)  # fmt: skip
            else:
                conn = sqlite3.connect(str(self.path), timeout=self.timeout,
                                       isolation_level=None, check_same_thread=False)  # fmt: skip
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            # Queries read scattered rows; mmap avoids a read() syscall and copy per page.
            conn.execute("PRAGMA mmap_size = 268435456")
            conn.execute("PRAGMA synchronous = NORMAL")
            self.db = Database(conn, execute_plugins=False)
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"cannot open memory store {self.path}: {exc}; the file was left untouched"
            ) from exc
        self.conn = conn

    def _enable_wal(self) -> None:
        if self.db.journal_mode != "wal":
            self.db.execute("PRAGMA journal_mode = WAL")

    def _retry(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn``, retrying "locked"/"busy" errors the busy handler did not absorb."""
        deadline = time.monotonic() + self.timeout
        delay = 0.001
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                msg = str(exc).lower()
                if ("locked" not in msg and "busy" not in msg) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.05)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"{self!r} is closed")
        if os.getpid() != self._pid and self.path is not None:
            # A forked child must not share the parent's SQLite handle.
            self._pid = os.getpid()
            self._connect()

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"memory store {self.path or ':memory:'}: {exc}") from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self._check_writable()
        conn = self.conn
        with self._guard():
            self._retry(lambda: conn.execute("BEGIN IMMEDIATE"))
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        self._writes += 1

    # ---- schema -------------------------------------------------------------------
    def _read_version(self) -> int:
        tables = set(self.db.table_names())
        if "schema_version" not in tables:
            if tables - {"sqlite_sequence", "sqlite_stat1"}:
                raise StoreError(
                    f"{self.path} is an SQLite database but not a nef memory store "
                    f"(tables: {', '.join(sorted(tables))}); it was left untouched"
                )
            return 0
        row = self.conn.execute("SELECT max(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    def _open_schema(self, segments: int | None, alphabet: int | None) -> None:
        version = self._read_version()
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"memory store {self.path} has schema version {version}, newer than the "
                f"{SCHEMA_VERSION} this nef_agents reads; upgrade nef_agents"
            )
        if self.path is not None and not self.readonly:
            # Only now that the file is known to be ours (or empty): switching to
            # WAL rewrites the header, which a refused file must never see.
            self._retry(self._enable_wal)
        if version < SCHEMA_VERSION:
            if self.readonly:
                raise StoreError(
                    f"memory store {self.path} has schema version {version} < {SCHEMA_VERSION}; "
                    "open it once writable to upgrade"
                )
            with self._write():
                version = self._read_version()  # another process may have migrated meanwhile
                if version > SCHEMA_VERSION:
                    raise StoreError(f"memory store {self.path} has newer schema version {version}")
                if version == 0:
                    self.db["schema_version"].create({"version": int})
                for v in range(version, SCHEMA_VERSION):
                    MIGRATIONS[v](self.db)
                    self.conn.execute("INSERT INTO schema_version (version) VALUES (?)", (v + 1,))
        config = dict(self.conn.execute("SELECT key, value FROM store_config").fetchall())
        if not {"segments", "alphabet"} <= config.keys() and not self.readonly:
            with self._write() as conn:
                for key, val, dflt in (("segments", segments, DEFAULT_SEGMENTS),
                                       ("alphabet", alphabet, DEFAULT_ALPHABET)):  # fmt: skip
                    conn.execute("INSERT OR IGNORE INTO store_config VALUES (?, ?)",
                                 (key, str(val if val is not None else dflt)))  # fmt: skip
            config = dict(self.conn.execute("SELECT key, value FROM store_config").fetchall())
        self.segments = int(config.get("segments", DEFAULT_SEGMENTS))
        self.alphabet = int(config.get("alphabet", DEFAULT_ALPHABET))
        for name, want in (("segments", segments), ("alphabet", alphabet)):
            if want is not None and int(want) != getattr(self, name):
                raise ConfigError(
                    f"{name}={want} requested but {self!r} was created with {name}={getattr(self, name)}"
                )
        self.schema_version = SCHEMA_VERSION

    # ---- primitives ---------------------------------------------------------------
    _INSERT_COLS = ("id", *STORED_COLUMNS)

    def _insert_rows(self, rows: list[dict[str, Any]]) -> list[int]:
        cols = self._INSERT_COLS
        sql = f"INSERT INTO records ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        with self._write() as conn:
            # We hold the write lock, so max(id) + 1... cannot be taken by anyone else.
            start = int(conn.execute("SELECT coalesce(max(id), 0) FROM records").fetchone()[0]) + 1
            ids = list(range(start, start + len(rows)))
            conn.executemany(
                sql, ([i] + [r[c] for c in cols[1:]] for i, r in zip(ids, rows, strict=True))
            )
            conn.executemany(
                "INSERT INTO tags (tag, record_id) VALUES (?, ?)",
                ((t, i) for i, r in zip(ids, rows, strict=True) for t in r["_tags"]),
            )
        return ids

    def _where(self, prefix: str, flt: Filters, require: Sequence[str]) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        if prefix:
            # '0' follows '/' in ASCII, so [p/, p0) is exactly the strict subtree.
            clauses.append("(path = ? OR (path >= ? AND path < ?))")
            args += [prefix, prefix + "/", prefix + "0"]
        if flt.run_id is not None:
            clauses.append("run_id = ?")
            args.append(flt.run_id)
        if flt.tag is not None:
            clauses.append("id IN (SELECT record_id FROM tags WHERE tag = ?)")
            args.append(flt.tag)
        for name, value in flt.labels:
            clauses.append("json_extract(labels, ?) = ?")
            args += [f'$."{name}"', value]
        if flt.created_after is not None:
            clauses.append("created_at >= ?")
            args.append(flt.created_after)
        if flt.created_before is not None:
            clauses.append("created_at < ?")
            args.append(flt.created_before)
        clauses += [_REQUIRE[c] for c in require]
        return (" AND ".join(clauses) or "1"), args

    def _select(self, sel: Selector, columns: Sequence[str]) -> list[tuple[Any, ...]]:
        where, args = self._where(sel.prefix, sel.filters, sel.require)
        order = "id" if sel.order == "id" else "created_at DESC, id DESC"
        limit = "" if sel.limit is None else f" LIMIT {int(sel.limit)}"
        head = f"SELECT {', '.join(columns)} FROM records WHERE {where}"
        with self._guard():
            if sel.ids is None and sel.words is None:
                return self.conn.execute(f"{head} ORDER BY {order}{limit}", args).fetchall()
            col, keys = ("id", sel.ids) if sel.ids is not None else (sel.word_col, sel.words)
            if col not in ("id", "sax", "isax"):
                raise ConfigError(f"cannot select by column {col!r}")
            out: list[tuple[Any, ...]] = []
            for s in range(0, len(keys), _MAX_VARS):
                part = keys[s : s + _MAX_VARS]
                sql = f"{head} AND {col} IN ({', '.join('?' * len(part))})"
                out += self.conn.execute(sql, args + list(part)).fetchall()
        return out

    def _word_counts(self, prefix: str, flt: Filters, column: str) -> list[tuple[Any, int]]:
        if column not in ("sax", "isax"):
            raise ConfigError(f"no word index on column {column!r}")
        where, args = self._where(prefix, flt, (column,))
        sql = f"SELECT {column}, count(*) FROM records WHERE {where} GROUP BY {column}"
        with self._guard():
            return self.conn.execute(sql, args).fetchall()

    def _path_counts(self) -> dict[str, int]:
        with self._guard():
            return dict(
                self.conn.execute("SELECT path, count(*) FROM records GROUP BY path").fetchall()
            )

    def _meta_get(self, key: str) -> str | None:
        with self._guard():
            row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def _meta_put(self, key: str, text: str) -> None:
        with self._write() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, text))

    @contextmanager
    def _snapshot(self) -> Iterator[None]:
        """A read transaction: every read inside sees the same committed state (WAL)."""
        if self.conn.in_transaction:
            yield
            return
        with self._guard():
            self.conn.execute("BEGIN")
            try:
                self.conn.execute("SELECT 1 FROM schema_version LIMIT 1").fetchall()  # pin it
                yield
            finally:
                if self.conn.in_transaction:
                    self.conn.execute("COMMIT")

    def _version_token(self) -> Hashable:
        with self._guard():
            # data_version changes when another connection commits; _writes counts ours.
            return (self.conn.execute("PRAGMA data_version").fetchone()[0], self._writes)

    # ---- maintenance --------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Base counts plus file sizes (bytes, WAL included) and the schema version."""
        out = super().stats()
        size = 0
        if self.path is not None:
            size = sum(
                p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists()
            )
        out.update(file_bytes=size, schema_version=self.schema_version,
                   bytes_per_record=round(size / out["records"], 1) if out["records"] else 0.0)  # fmt: skip
        return out

    def vacuum(self) -> None:
        """``VACUUM`` and truncate the WAL (not inside a transaction)."""
        with self._lock:
            self._check_open()
            self._check_writable()
            with self._guard():
                self._retry(lambda: self.conn.execute("VACUUM"))
                if self.path is not None:
                    self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` result (``"ok"`` when healthy)."""
        with self._lock, self._guard():
            self._check_open()
            return str(self.conn.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self.conn.close()
