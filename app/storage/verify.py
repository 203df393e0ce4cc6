"""``chachong index verify``: every file of an index folder against what was recorded of it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from app.core.errors import IndexFormatError

from .folder import IndexFolder
from .records import Record
from .segment import rebuild_hint


def verify_folder(path: Path) -> dict[str, int]:
    """Check the manifest, every segment file's SHA-256, the removal marks and the log (every
    record decodes); raises IndexFormatError naming what is wrong. Returns what was checked."""
    folder = IndexFolder(Path(path), readonly=True)
    manifest = folder.manifest()
    docs = 0
    for entry in manifest.segments:
        segment = folder.segment(entry.name)
        segment.verify()
        if segment.docs != entry.docs or segment.units != entry.units:
            raise IndexFormatError(f"{path}: segment {entry.name} does not hold what the "
                                   f"manifest says; {rebuild_hint(Path(path))}")
        folder.deletes(entry)
        docs += entry.live
    pending = 0
    if folder.wal is not None:
        try:
            check = folder.wal._conn().execute("PRAGMA integrity_check").fetchone()[0]
            if check != "ok":
                raise IndexFormatError(f"{path}: the write-ahead log is damaged ({check})")
            _, entries = folder.wal.since(manifest.flushed_seq)
        except sqlite3.Error as exc:
            raise IndexFormatError(f"{path}: the write-ahead log cannot be read ({exc})") \
                from None
        for logged in entries:
            if logged.record is not None:
                try:
                    Record.from_bytes(logged.record)
                except (ValueError, KeyError, TypeError) as exc:
                    raise IndexFormatError(f"{path}: log entry {logged.seq} is damaged "
                                           f"({exc})") from None
                pending += 1
    return {"segments": len(manifest.segments), "documents": docs, "pending": pending}
