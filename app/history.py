"""The check history: the result of every check, kept in the data folder for a set time.

Its own SQLite file (``history.sqlite3`` beside the reference store), WAL mode, synchronous=FULL:
a check that got an id is on disk before the answer leaves. One row per check, its body plain
JSON (nothing pickled): a report keeps its text, its result, the options it was checked with and
the full text of every source it copied from, so its permalink and its side-by-side view stay
what they were when it was checked, whatever happens to the corpus later; a batch keeps its
pairs, and its reports are rows of their own that point at it (deleted with it).

Rows past their expiry read as missing and are dropped at the next write; past ``max_checks``
checks the oldest go first.

Each check names its owner (the id of the key that made it; none for a caller without a key),
which decides who sees it, and the sources it copied from (``check_sources``), so that a deleted
reference leaves every kept result: its text and passages are blanked in the checks that copied
from it, and a check whose report was stored as that reference goes with it. Deleted rows are
overwritten in the file (``secure_delete``).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.core.schema import CheckResult, CrossResult, Pair, ReportResult

HISTORY_FILE = "history.sqlite3"
CHECK_ID_PATTERN = r"^[A-Za-z0-9_-]{16}$"
DAY = 86_400.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS checks (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('report', 'batch')),
    batch TEXT REFERENCES checks (id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL NOT NULL,
    copy_ratio REAL NOT NULL,
    verdict TEXT NOT NULL,
    reports INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS checks_by_created ON checks (batch, created);
CREATE INDEX IF NOT EXISTS checks_by_expiry ON checks (expires);
CREATE INDEX IF NOT EXISTS checks_of_batch ON checks (batch);
CREATE TABLE IF NOT EXISTS check_sources (
    check_id TEXT NOT NULL REFERENCES checks (id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    PRIMARY KEY (source, check_id)
);
CREATE INDEX IF NOT EXISTS check_sources_of_check ON check_sources (check_id);
"""
# columns added since the first release, made on opening an older file
_ADDED = {"owner": "TEXT", "stored": "TEXT"}
_SUMMARY = "id, kind, batch, title, created, expires, copy_ratio, verdict, reports, owner"
DELETED = "（已删除）"  # what a deleted source's passage reads as in kept results


class SourceText(BaseModel):
    title: str
    text: str


class ReportBody(BaseModel):
    """What a report's row keeps."""

    text: str
    result: CheckResult
    sources: dict[str, SourceText] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
    report_id: str | None = None  # its id inside its batch


class BatchBody(BaseModel):
    pairs: list[Pair]
    checks: list[str]  # the check ids of its reports, in the batch's order
    options: dict[str, Any] = Field(default_factory=dict)


class CheckSummary(BaseModel):
    id: str = Field(examples=["a8Zr3kQm0xYp1cV7"])
    kind: Literal["report", "batch"]
    batch: str | None = Field(None, description="The batch this report was checked in.")
    title: str
    created: datetime
    expires: datetime
    copy_ratio: float = Field(description="The report's ratio; for a batch, its highest.")
    verdict: Literal["pass", "fail"] = Field(description="For a batch: 'fail' if any failed.")
    reports: int = Field(description="Reports checked (1, or the size of the batch).")
    owner: str | None = Field(None, description="The id of the key that made the check (null: "
                              "made without a key).")


class StoredReport(BaseModel):
    summary: CheckSummary
    body: ReportBody


class StoredBatch(BaseModel):
    summary: CheckSummary
    body: BatchBody
    reports: list[StoredReport]

    def cross(self) -> CrossResult:
        return CrossResult(reports=[ReportResult(id=r.body.report_id or r.summary.title,
                                                 result=r.body.result) for r in self.reports],
                           pairs=self.body.pairs)


class Everyone:
    """``recent(owner=EVERYONE)``: the checks of every owner."""


EVERYONE = Everyone()


class PartOfBatchError(Exception):
    """A report of a batch is deleted with its batch, not alone."""

    def __init__(self, batch: str) -> None:
        super().__init__(batch)
        self.batch = batch


def new_check_id() -> str:
    """16 URL-safe characters, 96 random bits: a permalink nobody can guess."""
    return secrets.token_urlsafe(12)


def _when(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class CheckHistory:
    def __init__(self, data_dir: Path, days: float, max_checks: int) -> None:
        self.days = days
        self.max_checks = max_checks
        self.path = data_dir / HISTORY_FILE
        self._local = threading.local()
        if self.enabled:
            data_dir.mkdir(parents=True, exist_ok=True)
            conn = self._conn()
            conn.executescript(_SCHEMA)
            have = {row[1] for row in conn.execute("PRAGMA table_info(checks)")}
            for column, kind in _ADDED.items():
                if column not in have:
                    try:
                        conn.execute(f"ALTER TABLE checks ADD COLUMN {column} {kind}")
                    except sqlite3.OperationalError as exc:  # another worker starting added it
                        if "duplicate column" not in str(exc):
                            raise
            if conn.execute("PRAGMA user_version").fetchone()[0] < 1:
                self._index_sources(conn)

    @property
    def enabled(self) -> bool:
        """With 0 days nothing is kept and no file is made."""
        return self.days > 0

    @staticmethod
    def _index_sources(conn: sqlite3.Connection) -> None:
        """The sources of checks kept by a release that did not list them."""
        conn.execute("BEGIN IMMEDIATE")
        for check_id, raw in conn.execute("SELECT id, body FROM checks WHERE kind = 'report'"
                                          ).fetchall():
            sources = json.loads(raw).get("result", {}).get("sources", [])
            conn.executemany("INSERT OR IGNORE INTO check_sources VALUES (?, ?)",
                             [(check_id, s["id"]) for s in sources])
        conn.execute("PRAGMA user_version = 1")
        conn.execute("COMMIT")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA secure_delete=ON")  # a deleted check leaves the file
            self._local.conn = conn
        return conn

    # --- writing ---------------------------------------------------------------------------

    def save_report(self, check_id: str, title: str, body: ReportBody,
                    now: float | None = None, owner: str | None = None,
                    stored: str | None = None) -> CheckSummary:
        """``stored``: the source key of the reference the report was also stored as."""
        now = time.time() if now is None else now
        summary = self._summary(check_id, "report", None, title, now, body.result, owner)
        self._write([(summary, body)], now, stored)
        return summary

    def save_batch(self, batch_id: str, title: str, reports: list[tuple[str, str, ReportBody]],
                   pairs: list[Pair], options: dict[str, Any],
                   now: float | None = None, owner: str | None = None) -> CheckSummary:
        """``reports``: (check id, title, body) of each report, in order."""
        now = time.time() if now is None else now
        results = [body.result for _, _, body in reports]
        batch = CheckSummary(
            id=batch_id, kind="batch", title=title, created=_when(now),
            expires=_when(now + self.days * DAY),
            copy_ratio=max((r.copy_ratio for r in results), default=0.0),
            verdict="fail" if any(r.verdict == "fail" for r in results) else "pass",
            reports=len(reports), owner=owner)
        rows: list[tuple[CheckSummary, BaseModel]] = [
            (batch, BatchBody(pairs=pairs, checks=[cid for cid, _, _ in reports],
                              options=options))]
        rows += [(self._summary(cid, "report", batch_id, name, now, body.result, owner), body)
                 for cid, name, body in reports]
        self._write(rows, now)
        return batch

    def _summary(self, check_id: str, kind: Literal["report", "batch"], batch: str | None,
                 title: str, now: float, result: CheckResult,
                 owner: str | None = None) -> CheckSummary:
        return CheckSummary(id=check_id, kind=kind, batch=batch, title=title,
                            created=_when(now), expires=_when(now + self.days * DAY),
                            copy_ratio=result.copy_ratio, verdict=result.verdict, reports=1,
                            owner=owner)

    def _write(self, rows: list[tuple[CheckSummary, BaseModel]], now: float,
               stored: str | None = None) -> None:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for summary, body in rows:
                conn.execute(
                    f"INSERT INTO checks ({_SUMMARY}, body, stored) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (summary.id, summary.kind, summary.batch, summary.title,
                     summary.created.timestamp(), summary.expires.timestamp(),
                     summary.copy_ratio, summary.verdict, summary.reports, summary.owner,
                     body.model_dump_json(), stored if summary.kind == "report" else None))
                if isinstance(body, ReportBody):
                    # a report of the same batch (no collection) is no reference
                    conn.executemany("INSERT OR IGNORE INTO check_sources VALUES (?, ?)",
                                     [(summary.id, s.id) for s in body.result.sources
                                      if s.collection is not None])
            self._purge(conn, now)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _purge(self, conn: sqlite3.Connection, now: float) -> None:
        conn.execute("DELETE FROM checks WHERE expires <= ?", (now,))
        # counted on an index first: the rows are large, and every kept check writes here
        count = conn.execute("SELECT count(*) FROM checks WHERE batch IS NULL").fetchone()[0]
        if count > self.max_checks:
            conn.execute("DELETE FROM checks WHERE id IN (SELECT id FROM checks WHERE batch IS "
                         "NULL ORDER BY created, id DESC LIMIT ?)", (count - self.max_checks,))

    def purge(self, now: float | None = None) -> None:
        """Drop what has expired (writes do this too)."""
        if not self.enabled:
            return
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._purge(conn, time.time() if now is None else now)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def delete(self, check_id: str) -> bool:
        """False when there is no such check; PartOfBatchError for a report of a batch."""
        if not self.enabled:
            return False
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT batch FROM checks WHERE id = ? AND expires > ?",
                               (check_id, time.time())).fetchone()
            if row is not None and row[0] is not None:
                raise PartOfBatchError(row[0])
            gone = conn.execute("DELETE FROM checks WHERE id = ?", (check_id,)).rowcount
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if gone:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # its pages leave the log file too
        return row is not None and gone > 0

    def forget_source(self, source: str) -> int:
        """A reference was deleted: the checks that were it (stored as it) go, and the others
        that copied from it keep their results without its text. How many checks changed."""
        if not self.enabled:
            return 0
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            gone = conn.execute("DELETE FROM checks WHERE stored = ?", (source,)).rowcount
            rows = conn.execute("SELECT c.id, c.body FROM checks c JOIN check_sources s ON "
                                "s.check_id = c.id WHERE s.source = ?", (source,)).fetchall()
            for check_id, raw in rows:
                body = _scrubbed(ReportBody.model_validate_json(raw), source)
                conn.execute("UPDATE checks SET body = ? WHERE id = ?",
                             (body.model_dump_json(), check_id))
            conn.execute("DELETE FROM check_sources WHERE source = ?", (source,))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        # the old pages leave the log file too
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return gone + len(rows)

    # --- reading ---------------------------------------------------------------------------

    def recent(self, offset: int, limit: int, owner: str | Everyone | None = EVERYONE
               ) -> tuple[int, list[CheckSummary]]:
        """Checks made on their own and batches (not the reports inside a batch), newest first;
        those of one ``owner`` (None: made without a key), or everyone's."""
        if not self.enabled:
            return 0, []
        where, args = "batch IS NULL AND expires > ?", [time.time()]
        if not isinstance(owner, Everyone):
            where += " AND owner IS ?"
            args.append(owner)  # type: ignore[arg-type]
        conn = self._conn()
        total = conn.execute(f"SELECT COUNT(*) FROM checks WHERE {where}", args).fetchone()[0]
        rows = conn.execute(f"SELECT {_SUMMARY} FROM checks WHERE {where} "
                            "ORDER BY created DESC, id LIMIT ? OFFSET ?",
                            [*args, limit, offset]).fetchall()
        return int(total), [_summary_of(row) for row in rows]

    def get(self, check_id: str) -> StoredReport | StoredBatch | None:
        if not self.enabled:
            return None
        row = self._conn().execute(f"SELECT {_SUMMARY}, body FROM checks WHERE id = ? AND "
                                   "expires > ?", (check_id, time.time())).fetchone()
        if row is None:
            return None
        summary, body = _summary_of(row[:-1]), json.loads(row[-1])
        if summary.kind == "report":
            return StoredReport(summary=summary, body=ReportBody.model_validate(body))
        batch = BatchBody.model_validate(body)
        return StoredBatch(summary=summary, body=batch, reports=self._reports(batch.checks))

    def _reports(self, check_ids: list[str]) -> list[StoredReport]:
        if not check_ids:
            return []
        marks = ",".join("?" * len(check_ids))
        rows = self._conn().execute(f"SELECT {_SUMMARY}, body FROM checks WHERE id IN ({marks})",
                                    check_ids).fetchall()
        found = {row[0]: StoredReport(summary=_summary_of(row[:-1]),
                                      body=ReportBody.model_validate_json(row[-1]))
                 for row in rows}
        return [found[c] for c in check_ids if c in found]


def _summary_of(row: tuple) -> CheckSummary:
    check_id, kind, batch, title, created, expires, ratio, verdict, reports, owner = row
    return CheckSummary(id=check_id, kind=kind, batch=batch, title=title, created=_when(created),
                        expires=_when(expires), copy_ratio=ratio, verdict=verdict,
                        reports=reports, owner=owner)


def _scrubbed(body: ReportBody, source: str) -> ReportBody:
    """``body`` without the text of ``source``: its full text dropped, its passages blanked."""
    body.sources.pop(source, None)
    for paragraph in body.result.paragraphs:
        for match in paragraph.matches:
            if match.source.id == source:
                match.source.text = DELETED
    return body
