"""What earlier releases stored, carried over at the first start, so nothing is lost.

- A data folder kept added references in ``chachong.sqlite3`` (one row a reference): they are
  added to the data folder's index in batches through its log, and the old file is kept beside
  it renamed.
- A shared Redis store kept references and their index as per-key records under
  ``chachong:index:``: their documents are added to the shared log, and the old keys are left
  for the operator to delete (``chachong:index:*``) once the new store is checked.
"""

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


OLD_REDIS = "chachong:index:"
MIGRATED_KEY = "chachong:migrated-from-index"


def migrate_redis(live: LiveIndex) -> int:
    """Add the references of an earlier release's Redis store to the shared log, once."""
    shared = live.shared
    if shared is None or shared.cluster:  # the earlier release did not run on a cluster
        return 0
    shared.reach()  # unreachable: StoreUnavailableError, as every use of the store
    client = shared.client
    if client.exists(MIGRATED_KEY) or not client.exists(f"{OLD_REDIS}ids:"):
        return 0
    added = 0
    slots = sorted(int(s) for s in client.hvals(f"{OLD_REDIS}ids:"))
    for a in range(0, len(slots), _BATCH):
        pipe = client.pipeline(transaction=False)
        for slot in slots[a : a + _BATCH]:
            pipe.hmget(f"{OLD_REDIS}doc:{slot}", ["id", "title", "source", "tags", "text"])
        refs = [Reference(id=i.decode(), text=text.decode(), title=title.decode(),
                          source=source.decode() or None, tags=json.loads(tags))
                for i, title, source, tags, text in pipe.execute() if i is not None]
        fresh = [r for r in refs if r.id not in live]  # a migration cut short goes on
        if fresh:
            live.add(fresh)
        added += len(fresh)
    client.set(MIGRATED_KEY, added)
    log.info("migrated", extra={"references": added, "from": f"{OLD_REDIS}*"})
    return added
