"""Data folders of earlier releases kept added references in ``chachong.sqlite3`` (one row a
reference). At the first start of this release they are added to the data folder's index, in
batches through its log, and the old file is kept beside it renamed, so nothing is lost."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

from app.core.corpus import Reference

from .live import LiveIndex

OLD_STORE = "chachong.sqlite3"
MIGRATED = "chachong.sqlite3.migrated"
_BATCH = 256
log = logging.getLogger("chachong.storage")


def migrate_store(data: Path, live: LiveIndex) -> int:
    """Add the references of an earlier release's store to ``live``; how many were added."""
    old = data / OLD_STORE
    if not old.exists():
        return 0
    conn = sqlite3.connect(f"{old.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT id, title, source, tags, text FROM refs ORDER BY created, id")
        added = 0
        while batch := rows.fetchmany(_BATCH):
            refs = [Reference(id=i, text=text, title=title, source=source, tags=json.loads(tags))
                    for i, title, source, tags, text in batch]
            fresh = [r for r in refs if r.id not in live]  # a migration cut short goes on
            if fresh:
                live.add(fresh)
            added += len(fresh)
    finally:
        conn.close()
    for suffix in ("", "-wal", "-shm"):
        path = data / f"{OLD_STORE}{suffix}"
        if path.exists():
            path.rename(data / f"{MIGRATED}{suffix}")
    log.info("migrated", extra={"references": added, "from": OLD_STORE})
    return added
