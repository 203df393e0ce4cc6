"""The embedded reference store, with a change log that keeps every worker's index in step.

SQLite in WAL mode in the data folder: every addition or deletion is one transaction that writes
the reference row and a log entry, committed (synchronous=FULL) before the API answers, so an
acknowledged reference survives a crash. Each worker keeps its own index of the additions and
replays the log entries it has not seen before answering. Plain strings only (JSON for tags);
nothing stored is ever unpickled or evaluated. (Servers that share one corpus across machines
use ``app.shared_index.RedisIndex`` instead.)
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from app.core.corpus import Reference
from app.core.errors import (
    DuplicateReferenceError,
    ReferenceNotFoundError,
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
