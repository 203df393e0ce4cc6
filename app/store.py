"""Durable reference stores, with a change log that keeps every worker's index in step.

The default is SQLite in WAL mode in the data folder: every addition or deletion is one
transaction that writes the reference row and a log entry, committed (synchronous=FULL) before
the API answers, so an acknowledged reference survives a crash. ``RedisStore`` keeps the same
rows and log in Redis, so server processes on several machines share one corpus. Each worker
keeps its own in-memory index and replays the log entries it has not seen before answering.
Both hold plain strings only (JSON for tags); nothing stored is ever unpickled or evaluated.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from app.core.corpus import Reference
from app.core.errors import (
    DuplicateReferenceError,
    ReferenceNotFoundError,
    StoreUnavailableError,
)

DB_FILE = "chachong.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS refs (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    source TEXT,
    tags TEXT NOT NULL,
    text TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    op TEXT NOT NULL CHECK (op IN ('add', 'delete')),
    id TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Change:
    seq: int
    op: str
    ref_id: str


class ReferenceStore(Protocol):
    def add(self, ref: Reference) -> None: ...
    def delete(self, ref_id: str) -> None: ...
    def get(self, ref_id: str) -> Reference | None: ...
    def all(self) -> list[Reference]: ...
    def last_seq(self) -> int: ...
    def changes_since(self, seq: int) -> list[Change]: ...


def open_store(url: str | None, data_dir: Path) -> ReferenceStore:
    """``redis://host:port/db`` for a shared Redis store, else SQLite in ``data_dir``."""
    if url:
        return RedisStore(url)
    return SqliteStore(data_dir)


class SqliteStore:
    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / DB_FILE
        self._local = threading.local()
        with self._conn() as conn:
            conn.executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    def add(self, ref: Reference) -> None:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO refs (id, title, source, tags, text, created) VALUES (?,?,?,?,?,?)",
                (ref.id, ref.title, ref.source, json.dumps(ref.tags, ensure_ascii=False),
                 ref.text, time.time()))
            conn.execute("INSERT INTO log (op, id) VALUES ('add', ?)", (ref.id,))
            conn.execute("COMMIT")
        except sqlite3.IntegrityError:
            conn.execute("ROLLBACK")
            raise DuplicateReferenceError(
                f"a reference with id '{ref.id}' already exists; delete it first or choose "
                "another id") from None
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def delete(self, ref_id: str) -> None:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            gone = conn.execute("DELETE FROM refs WHERE id = ?", (ref_id,)).rowcount
            if not gone:
                raise ReferenceNotFoundError(f"no stored reference with id '{ref_id}'")
            conn.execute("INSERT INTO log (op, id) VALUES ('delete', ?)", (ref_id,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def get(self, ref_id: str) -> Reference | None:
        row = self._conn().execute(
            "SELECT id, title, source, tags, text FROM refs WHERE id = ?", (ref_id,)).fetchone()
        return _reference(row) if row else None

    def all(self) -> list[Reference]:
        rows = self._conn().execute(
            "SELECT id, title, source, tags, text FROM refs ORDER BY id").fetchall()
        return [_reference(r) for r in rows]

    def last_seq(self) -> int:
        row = self._conn().execute("SELECT COALESCE(MAX(seq), 0) FROM log").fetchone()
        return int(row[0])

    def changes_since(self, seq: int) -> list[Change]:
        rows = self._conn().execute(
            "SELECT seq, op, id FROM log WHERE seq > ? ORDER BY seq", (seq,)).fetchall()
        return [Change(int(s), str(op), str(i)) for s, op, i in rows]


def _reference(row: tuple) -> Reference:
    ref_id, title, source, tags, text = row
    return Reference(id=ref_id, title=title, source=source, tags=json.loads(tags), text=text)


# Adds and deletes are atomic scripts: the row and its log entry are written together or not
# at all. The log is a stream; an entry's sequence number is its own counter value.
_ADD = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'title', ARGV[2], 'source', ARGV[3], 'tags', ARGV[4],
           'text', ARGV[5], 'created', ARGV[6])
local seq = redis.call('INCR', KEYS[3])
redis.call('XADD', KEYS[2], seq .. '-1', 'op', 'add', 'id', ARGV[1])
return seq
"""
_DELETE = """
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
local seq = redis.call('INCR', KEYS[3])
redis.call('XADD', KEYS[2], seq .. '-1', 'op', 'delete', 'id', ARGV[1])
return seq
"""


class RedisStore:
    """References as Redis hashes ``<prefix>ref:<id>``, the change log as a stream."""

    def __init__(self, url: str, prefix: str = "chachong:") -> None:
        import redis

        self._errors: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)
        self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2,
                                           health_check_interval=10, decode_responses=True)
        self._prefix = prefix
        self._log = f"{prefix}log"
        self._seq = f"{prefix}seq"
        self._add = self._redis.register_script(_ADD)
        self._delete = self._redis.register_script(_DELETE)
        self.url = url

    def _key(self, ref_id: str) -> str:
        return f"{self._prefix}ref:{ref_id}"

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self._errors as exc:
            raise StoreUnavailableError(
                f"the Redis store at {self.url} cannot be reached ({exc}); the request can be "
                "retried when it is back") from exc

    def add(self, ref: Reference) -> None:
        seq = self._call(self._add, keys=[self._key(ref.id), self._log, self._seq], args=[
            ref.id, ref.title, ref.source or "", json.dumps(ref.tags, ensure_ascii=False),
            ref.text, str(time.time())])
        if not seq:
            raise DuplicateReferenceError(f"a reference with id '{ref.id}' already exists; "
                                          "delete it first or choose another id")

    def delete(self, ref_id: str) -> None:
        seq = self._call(self._delete, keys=[self._key(ref_id), self._log, self._seq],
                         args=[ref_id])
        if not seq:
            raise ReferenceNotFoundError(f"no stored reference with id '{ref_id}'")

    def get(self, ref_id: str) -> Reference | None:
        row = self._call(self._redis.hgetall, self._key(ref_id))
        if not row:
            return None
        return Reference(id=ref_id, title=row["title"], source=row["source"] or None,
                         tags=json.loads(row["tags"]), text=row["text"])

    def all(self) -> list[Reference]:
        ids = sorted(k[len(self._key("")):] for k in
                     self._call(lambda: list(self._redis.scan_iter(self._key("*")))))
        return [ref for ref_id in ids if (ref := self.get(ref_id)) is not None]

    def last_seq(self) -> int:
        return int(self._call(self._redis.get, self._seq) or 0)

    def changes_since(self, seq: int) -> list[Change]:
        entries = self._call(self._redis.xrange, self._log, min=f"({seq}-1", max="+")
        return [Change(int(entry_id.split("-")[0]), fields["op"], fields["id"])
                for entry_id, fields in entries]
