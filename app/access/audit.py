"""The audit trail: one entry for every write, deletion, key change and check, and for every
request refused for want of access, appended to ``audit.sqlite3`` in the data folder.

An entry names who (the key's id, never the key), when, what (the action and its outcome), where
(the collection and the ids concerned) and from which client address; never a text. It is
committed (SQLite WAL, synchronous=FULL) before the answer leaves, so an acknowledged request
has its entry on disk even if the server is killed the next moment. Entries are only appended:
nothing in the service changes or removes one.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

AUDIT_FILE = "audit.sqlite3"
_COLUMNS = "seq, time, key, action, outcome, status, collection, target, client"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    key TEXT,
    action TEXT NOT NULL,
    outcome TEXT NOT NULL,
    status INTEGER NOT NULL,
    collection TEXT,
    target TEXT,
    client TEXT
);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit (time);
"""


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    time: float
    key: str | None  # the key's id; None for a caller without a key
    action: str
    outcome: str  # "ok", or "denied" for a request refused for want of access
    status: int
    collection: str | None
    target: str | None  # the ids concerned (a reference, a check, a key), comma-separated
    client: str | None

    def as_dict(self) -> dict[str, object]:
        """Its fields, the time in ISO 8601 (UTC, microseconds)."""
        return {**asdict(self), "time": datetime.fromtimestamp(self.time, UTC).isoformat()}


@dataclass(frozen=True)
class AuditFilter:
    since: float | None = None
    until: float | None = None
    key: str | None = None
    action: str | None = None
    collection: str | None = None

    def where(self) -> tuple[str, list[object]]:
        terms: list[str] = []
        args: list[object] = []
        for column, op, value in (("time", ">=", self.since), ("time", "<", self.until),
                                  ("key", "=", self.key), ("action", "=", self.action),
                                  ("collection", "=", self.collection)):
            if value is not None:
                terms.append(f"{column} {op} ?")
                args.append(value)
        return (" WHERE " + " AND ".join(terms)) if terms else "", args


class AuditLog:
    def __init__(self, data: Path) -> None:
        self.path = data / AUDIT_FILE
        self._local = threading.local()
        data.mkdir(parents=True, exist_ok=True)
        self._conn().executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # on disk before the answer goes out
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    def record(self, *, key: str | None, action: str, outcome: str = "ok", status: int = 200,
               collection: str | None = None, target: str | None = None,
               client: str | None = None) -> None:
        self._conn().execute(
            "INSERT INTO audit (time, key, action, outcome, status, collection, target, client)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (time.time(), key, action, outcome, status, collection,
             target[:4000] if target else target, client))

    def page(self, offset: int, limit: int, where: AuditFilter | None = None
             ) -> tuple[int, list[AuditEntry]]:
        """Entries in the order they were made."""
        sql, args = (where or AuditFilter()).where()
        conn = self._conn()
        total = conn.execute(f"SELECT COUNT(*) FROM audit{sql}", args).fetchone()[0]
        rows = conn.execute(f"SELECT {_COLUMNS} FROM audit{sql} ORDER BY seq LIMIT ? OFFSET ?",
                            [*args, limit, offset]).fetchall()
        return int(total), [AuditEntry(*row) for row in rows]

    def entries(self, where: AuditFilter | None = None, chunk: int = 1000
                ) -> Iterator[AuditEntry]:
        """Every entry that matches, oldest first, read a chunk at a time (for exports)."""
        sql, args = (where or AuditFilter()).where()
        after = -1
        joiner = " AND " if sql else " WHERE "
        while True:
            rows = self._conn().execute(
                f"SELECT {_COLUMNS} FROM audit{sql}{joiner}seq > ? ORDER BY seq LIMIT ?",
                [*args, after, chunk]).fetchall()
            if not rows:
                return
            for row in rows:
                yield AuditEntry(*row)
            after = rows[-1][0]


def ndjson_line(entry: AuditEntry) -> str:
    return json.dumps(entry.as_dict(), ensure_ascii=False) + "\n"
