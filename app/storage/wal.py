"""The write-ahead log and the catalogue of an index folder, in SQLite (WAL mode, synchronous=FULL).

- ``log``: every addition (with its prepared record) and every removal not yet written into the
  segments, by sequence number. An addition or removal is one transaction, committed before the
  API answers, so an acknowledged change survives a crash; a flush writes the log into a segment
  and then drops what it wrote.
- ``catalog``: every reference of the index (flushed or not): id, sequence number, title,
  source, tags and size. It keeps ids unique across processes and answers listings and searches
  without reading any segment.
- ``pulled``: with a shared store, how far each of its partitions was copied in here.
- ``meta``: the next sequence number, and how far the log was flushed (``flushed_seq``), which a
  reader compares with its manifest's.

The file gives back what a flush drops (``auto_vacuum``), and a removed record's bytes are
overwritten (``secure_delete``): the log holds only what no segment holds yet.

Plain strings, numbers and record bytes only: nothing stored is ever unpickled or evaluated.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.core.errors import DuplicateReferenceError, ReferenceNotFoundError

from .records import Record
from .shared_log import Shared, entry_key

WAL_FILE = "wal.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS catalog (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL UNIQUE,
    title TEXT NOT NULL,
    source TEXT,
    tags TEXT NOT NULL,
    chars INTEGER NOT NULL,
    added REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS log (
    seq INTEGER PRIMARY KEY,
    op TEXT NOT NULL CHECK (op IN ('add', 'delete')),
    id TEXT NOT NULL,
    target INTEGER,
    record BLOB,
    added REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pulled (partition INTEGER PRIMARY KEY, entry TEXT NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('next_seq', 0), ('flushed_seq', -1);
"""


@dataclass(frozen=True)
class Entry:
    """One log entry: an addition (``record`` set) or a removal of the reference added as
    ``target``."""

    seq: int
    op: str
    ref_id: str
    target: int | None
    record: bytes | None


@dataclass(frozen=True)
class Summary:
    """A catalogue row: what a listing shows of a reference."""

    id: str
    seq: int
    title: str
    source: str | None
    tags: dict[str, str]
    chars: int


class Wal:
    def __init__(self, folder: Path, *, readonly: bool = False) -> None:
        self.path = folder / WAL_FILE
        self.readonly = readonly
        self._local = threading.local()
        if not readonly:
            self._conn().executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self.readonly:
                conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                       timeout=30, isolation_level=None)
            else:
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                conn.execute("PRAGMA auto_vacuum=FULL")  # before anything creates the file
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                # a removed reference's record leaves the file, not just the table
                conn.execute("PRAGMA secure_delete=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    def _write(self) -> _Transaction:
        return _Transaction(self._conn(), "BEGIN IMMEDIATE")

    def _read(self) -> _Transaction:
        return _Transaction(self._conn(), "BEGIN")

    # -- changes -------------------------------------------------------------------------------

    def add(self, records: Iterable[Record]) -> list[int]:
        """Log additions in one transaction (all or none); their sequence numbers."""
        records = list(records)
        with self._write() as conn:
            taken = _taken(conn, [r.ref.id for r in records])
            if taken:
                raise DuplicateReferenceError(
                    f"a reference with id {', '.join(repr(t) for t in taken)} already exists "
                    "(or repeats); delete it first or choose another id: nothing was added")
            first = _meta(conn, "next_seq")
            now = time.time()
            seqs = list(range(first, first + len(records)))
            conn.executemany("INSERT INTO catalog VALUES (?,?,?,?,?,?,?)", [
                (r.ref.id, seq, r.ref.display_title, r.ref.source,
                 json.dumps(r.ref.tags, ensure_ascii=False), len(r.ref.text), now)
                for seq, r in zip(seqs, records, strict=True)])
            conn.executemany("INSERT INTO log VALUES (?, 'add', ?, NULL, ?, ?)", [
                (seq, r.ref.id, r.to_bytes(), now) for seq, r in zip(seqs, records, strict=True)])
            conn.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'",
                         (first + len(records),))
        return seqs

    def delete(self, ref_id: str) -> int:
        """Log the removal of ``ref_id``; the sequence number it was added under."""
        with self._write() as conn:
            row = conn.execute("SELECT seq FROM catalog WHERE id = ?", (ref_id,)).fetchone()
            if row is None:
                raise ReferenceNotFoundError(f"no stored reference with id '{ref_id}'")
            seq = _meta(conn, "next_seq")
            conn.execute("DELETE FROM catalog WHERE id = ?", (ref_id,))
            conn.execute("INSERT INTO log VALUES (?, 'delete', ?, ?, NULL, ?)",
                         (seq, ref_id, row[0], time.time()))
            conn.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (seq + 1,))
        return int(row[0])

    def pulled(self) -> dict[int, str]:
        """How far each partition of a shared log was copied in here."""
        return {int(p): str(e) for p, e in
                self._conn().execute("SELECT partition, entry FROM pulled "
                                     "WHERE partition >= 0").fetchall()}

    def follow(self, identity: str) -> None:
        """Copy from the shared store ``identity`` from now on: what was copied from another
        (a store emptied or replaced) is removed here, through the log like any removal."""
        with self._write() as conn:
            found = conn.execute("SELECT entry FROM pulled WHERE partition = -1").fetchone()
            if found is not None and found[0] == identity:
                return
            seq = _meta(conn, "next_seq")
            now = time.time()
            if found is not None:
                rows = conn.execute("SELECT id, seq FROM catalog ORDER BY seq").fetchall()
                conn.executemany("INSERT INTO log VALUES (?, 'delete', ?, ?, NULL, ?)", [
                    (seq + k, ref_id, target, now) for k, (ref_id, target) in enumerate(rows)])
                conn.execute("DELETE FROM catalog")
                conn.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'",
                             (seq + len(rows),))
            conn.execute("DELETE FROM pulled")
            conn.execute("INSERT INTO pulled VALUES (-1, ?)", (identity,))

    def ingest(self, entries: Sequence[Shared]) -> int:
        """Copy a shared log's entries in, in one transaction, each once however many processes
        copy at the same time; how many were new."""
        taken = 0
        with self._write() as conn:
            done = {int(p): entry_key(e) for p, e in
                    conn.execute("SELECT partition, entry FROM pulled WHERE partition >= 0")}
            seq = _meta(conn, "next_seq")
            now = time.time()
            for entry in entries:
                if entry_key(entry.entry) <= done.get(entry.partition, (-1, -1)):
                    continue
                done[entry.partition] = entry_key(entry.entry)
                conn.execute("INSERT OR REPLACE INTO pulled VALUES (?, ?)",
                             (entry.partition, entry.entry))
                here = conn.execute("SELECT seq FROM catalog WHERE id = ?",
                                    (entry.ref_id,)).fetchone()
                if entry.op == "add" and entry.record is not None and here is None:
                    ref = Record.from_bytes(entry.record).ref
                    conn.execute("INSERT INTO catalog VALUES (?,?,?,?,?,?,?)", (
                        ref.id, seq, ref.display_title, ref.source,
                        json.dumps(ref.tags, ensure_ascii=False), len(ref.text), now))
                    conn.execute("INSERT INTO log VALUES (?, 'add', ?, NULL, ?, ?)",
                                 (seq, ref.id, entry.record, now))
                elif entry.op == "delete" and here is not None:
                    conn.execute("DELETE FROM catalog WHERE id = ?", (entry.ref_id,))
                    conn.execute("INSERT INTO log VALUES (?, 'delete', ?, ?, NULL, ?)",
                                 (seq, entry.ref_id, here[0], now))
                else:
                    continue  # removed before it was copied here, or already here
                seq += 1
                taken += 1
            conn.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (seq,))
        return taken

    def catalogue(self, rows: Iterable[Summary], next_seq: int) -> None:
        """Record references written straight into segments (an index build), in one
        transaction, and move the sequence on past them."""
        now = time.time()
        with self._write() as conn:
            try:
                conn.executemany("INSERT INTO catalog VALUES (?,?,?,?,?,?,?)", (
                    (r.id, r.seq, r.title, r.source, json.dumps(r.tags, ensure_ascii=False),
                     r.chars, now) for r in rows))
            except sqlite3.IntegrityError:
                raise DuplicateReferenceError(
                    f"an id occurs twice ({_repeated(conn, rows)}); rename one of them") \
                    from None
            conn.execute("UPDATE meta SET value = max(value, ?) WHERE key = 'next_seq'",
                         (next_seq,))
            conn.execute("UPDATE meta SET value = max(value, ?) WHERE key = 'flushed_seq'",
                         (next_seq - 1,))

    def taken(self, ids: list[str]) -> list[str]:
        """Those of ``ids`` the catalogue holds, or that repeat in ``ids``."""
        with self._read() as conn:
            return _taken(conn, ids)

    def truncate(self, upto: int) -> None:
        """Drop the log up to ``upto``: a published manifest holds it now. The SQLite journal is
        emptied too, so the records' bytes are gone from disk."""
        with self._write() as conn:
            conn.execute("DELETE FROM log WHERE seq <= ?", (upto,))
            conn.execute("UPDATE meta SET value = max(value, ?) WHERE key = 'flushed_seq'",
                         (upto,))
        self._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- reading -------------------------------------------------------------------------------

    def since(self, seq: int, limit: int = -1) -> tuple[int, list[Entry]]:
        """(flushed_seq, the log entries after ``seq``: at most ``limit``), read in one
        snapshot."""
        with self._read() as conn:
            flushed = _meta(conn, "flushed_seq")
            rows = conn.execute("SELECT seq, op, id, target, record FROM log WHERE seq > ? "
                                "ORDER BY seq LIMIT ?", (seq, limit)).fetchall()
        return flushed, [Entry(int(s), op, i, t, r) for s, op, i, t, r in rows]

    def pending(self) -> tuple[int, float | None]:
        """(log entries not flushed yet, when the oldest was made: None if there is none), for
        the flush policy."""
        with self._read() as conn:
            flushed = _meta(conn, "flushed_seq")
            count, oldest = conn.execute("SELECT count(*), min(added) FROM log WHERE seq > ?",
                                         (flushed,)).fetchone()
        return int(count), oldest

    def next_seq(self) -> int:
        with self._read() as conn:
            return _meta(conn, "next_seq")

    def flushed_seq(self) -> int:
        with self._read() as conn:
            return _meta(conn, "flushed_seq")

    def seq_of(self, ref_id: str) -> int | None:
        row = self._conn().execute("SELECT seq FROM catalog WHERE id = ?", (ref_id,)).fetchone()
        return None if row is None else int(row[0])

    def count(self) -> int:
        return int(self._conn().execute("SELECT count(*) FROM catalog").fetchone()[0])

    def page(self, offset: int, limit: int, search: str | None = None) -> list[Summary]:
        """Catalogue rows by id; ``search`` matches the id, title, source or tags."""
        sql, args = "SELECT id, seq, title, source, tags, chars FROM catalog", []
        if search:
            like = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") \
                + "%"
            sql += (" WHERE id LIKE ? ESCAPE '\\' OR title LIKE ? ESCAPE '\\' OR source LIKE ? "
                    "ESCAPE '\\' OR tags LIKE ? ESCAPE '\\'")
            args = [like] * 4
        rows = self._conn().execute(sql + " ORDER BY id LIMIT ? OFFSET ?",
                                    [*args, limit, offset]).fetchall()
        return [Summary(i, int(s), t, src, json.loads(tags), int(n))
                for i, s, t, src, tags, n in rows]

    def ids_before(self, ref_id: str) -> int:
        """How many catalogued ids sort before ``ref_id`` (for merging listings)."""
        return int(self._conn().execute("SELECT count(*) FROM catalog WHERE id < ?",
                                        (ref_id,)).fetchone()[0])

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class _Transaction:
    def __init__(self, conn: sqlite3.Connection, begin: str) -> None:
        self.conn = conn
        self.begin = begin

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute(self.begin)
        return self.conn

    def __exit__(self, kind: object, *_: object) -> None:
        if kind is None:
            self.conn.execute("COMMIT")
        elif self.conn.in_transaction:
            self.conn.execute("ROLLBACK")


def _meta(conn: sqlite3.Connection, key: str) -> int:
    return int(conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0])


def _taken(conn: sqlite3.Connection, ids: list[str]) -> list[str]:
    seen: set[str] = set()
    repeated = [i for i in ids if i in seen or seen.add(i)]  # type: ignore[func-returns-value]
    found = []
    for a in range(0, len(ids), 500):
        chunk = ids[a : a + 500]
        found += [r[0] for r in conn.execute(
            f"SELECT id FROM catalog WHERE id IN ({','.join('?' * len(chunk))})", chunk)]
    return sorted(set(found) | set(repeated))


def _repeated(conn: sqlite3.Connection, rows: Iterable[Summary]) -> str:
    ids = [r.id for r in rows]
    return ", ".join(repr(i) for i in _taken(conn, ids)[:5])
