"""Indexing many references at once: ``chachong index build`` and ``chachong index add``.

A build prepares references in worker processes and writes them into segments of at most
``segment_docs`` documents as they come, then merges the segments as the merge policy says (as
it merges a quiet index: nothing changes the index after its build): the same machinery as a
server's flushes and merges, so its memory is one segment's tables however large the corpus.
It writes into a new folder beside the target and moves it into place at the end, so a failed
or interrupted build leaves the old index (or none). An addition to an existing index goes
through its write-ahead log, like additions over the API; a server running on the index
flushes them, or this process does when no server holds the index.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from app.core.corpus import Reference
from app.core.errors import DuplicateReferenceError, IndexFormatError
from app.core.fingerprint import NUM_PERM
from app.core.index import LSH_THRESHOLD, prepared
from app.core.lsh import lsh_params

from .folder import IndexFolder
from .maintain import Maintainer
from .manifest import CURRENT, SegmentEntry
from .merge import MergePolicy
from .records import Record
from .segment import MAX_DOCS, MAX_UNITS, SegmentWriter
from .shared_log import SharedLog
from .wal import Summary

Progress = Callable[[int], None]
SEGMENT_DOCS = 25_000  # documents a build writes into one segment before merging (~1 GB)
ADD_BATCH = 256  # additions logged in one transaction


def build_index_folder(refs: Iterable[Reference], path: Path, *, workers: int = 1,
                       progress: Progress | None = None, segment_docs: int = SEGMENT_DOCS,
                       policy: MergePolicy | None = None) -> int:
    """A new index of ``refs`` at ``path`` (an index there is replaced); how many it holds."""
    path = Path(path)
    if path.exists() and not (path / CURRENT).exists() and (
            not path.is_dir() or any(path.iterdir())):
        raise IndexFormatError(f"{path} exists and is not an index folder; choose another path")
    if not path.parent.is_dir():
        raise IndexFormatError(f"{path.parent}: no such folder")
    staging = path.parent / f".{path.name}.building-{uuid.uuid4().hex[:8]}"
    try:
        folder = IndexFolder(staging)
        folder.maintainer_lock.acquire()
        count = _write_segments(folder, refs, workers, progress, segment_docs)
        maintainer = Maintainer(folder, merge_policy=policy or MergePolicy())
        while maintainer.merge(quiet=True):
            pass
        folder.cleanup()
        folder.maintainer_lock.release()
        assert folder.wal is not None
        folder.wal.close()
        _swap(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return count


def _write_segments(folder: IndexFolder, refs: Iterable[Reference], workers: int,
                    progress: Progress | None, segment_docs: int) -> int:
    bands, rows = lsh_params(LSH_THRESHOLD, NUM_PERM)
    assert folder.wal is not None
    seq = 0
    writer: SegmentWriter | None = None
    target = folder.path
    rows_out: list[Summary] = []

    def finish() -> None:
        nonlocal writer, rows_out
        if writer is None:
            return
        header = writer.finish()
        name = folder.install(writer.folder)
        assert folder.wal is not None
        folder.wal.catalogue(rows_out, seq)  # refuses an id met before
        manifest = folder.manifest()
        folder.publish(manifest.next(
            flushed_seq=seq - 1,
            segments=(*manifest.segments, SegmentEntry(name, header["docs"], header["units"]))))
        writer, rows_out = None, []

    records: Iterable[Record] = prepared(refs, bands, rows, workers, finish=Record.of)
    try:
        for record in records:
            if writer is not None and (writer.docs >= min(segment_docs, MAX_DOCS)
                                       or writer.units + record.units > MAX_UNITS):
                finish()
            if writer is None:
                writer = SegmentWriter(folder.new_segment_dir(), bands)
            if record.units > MAX_UNITS:
                raise IndexFormatError(f"{target}: reference '{record.ref.id}' is too long to "
                                       "index")
            writer.add(seq, record)
            rows_out.append(Summary(record.ref.id, seq, record.ref.display_title,
                                    record.ref.source, record.ref.tags, len(record.ref.text)))
            seq += 1
            if progress:
                progress(1)
        finish()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    return seq


def _swap(staging: Path, path: Path) -> None:
    """Move the new index into place; an old one there goes (a server that has its files open
    keeps reading them until it restarts)."""
    old = None
    if path.exists():
        old = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(path, old)
    os.replace(staging, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def add_to_folder(refs: Iterable[Reference], path: Path, *, workers: int = 1,
                  progress: Progress | None = None, ids: list[str] | None = None) -> int:
    """Add ``refs`` to the index at ``path`` through its log; ``ids`` (when known up front) are
    checked against the index before anything is added. How many were added."""
    folder = IndexFolder(Path(path), create=False)
    bands, rows = lsh_params(folder.manifest().lsh_threshold, NUM_PERM)
    records: Iterable[Record] = prepared(refs, bands, rows, workers, finish=Record.of)
    return add_records(folder, records, progress, ids)


def add_records(folder: IndexFolder, records: Iterable[Record], progress: Progress | None,
                ids: list[str] | None = None) -> int:
    """Log prepared records in batches; flush and merge them here when no server holds the
    index (else that server does)."""
    assert folder.wal is not None
    if ids is not None:
        taken = folder.wal.taken(ids)
        if taken:
            raise DuplicateReferenceError(
                f"{len(taken)} id(s) are already in the index or repeated: "
                f"{', '.join(repr(t) for t in taken[:5])}; remove them first or rename")
    maintainer = Maintainer(folder)
    holding = folder.maintainer_lock.acquire()  # no server holds the index: flush here
    count = 0
    batch: list[Record] = []
    try:
        if holding:
            maintainer.recover()
        for record in records:
            batch.append(record)
            if len(batch) >= ADD_BATCH:
                count += _log(folder, batch, progress)
                batch = []
                if holding and maintainer.flush_due():
                    maintainer.flush()
        count += _log(folder, batch, progress)
        if holding:
            maintainer.flush_all()
            while maintainer.merge(quiet=True):
                pass
    finally:
        folder.maintainer_lock.release()
    return count


def fold_shared(shared: SharedLog, path: Path, progress: Progress | None = None) -> int:
    """Add every reference the shared store holds to the saved index at ``path`` (as their
    records: nothing is prepared again), then drop them from the store, which then holds only
    what is added after. How many were folded."""
    folder = IndexFolder(Path(path), create=False)
    upto: dict[int, str] = {}

    def held() -> Iterator[Record]:  # read a thousand entries a partition at a time
        while True:
            _, entries = shared.since(upto, 1000)
            if not entries:
                return
            for entry in entries:
                upto[entry.partition] = entry.entry
                if entry.op == "add" and entry.record is not None:  # not removed since
                    yield Record.from_bytes(entry.record)

    count = add_records(folder, held(), progress)
    shared.trim(upto)
    return count


def _log(folder: IndexFolder, batch: list[Record], progress: Progress | None) -> int:
    if not batch:
        return 0
    assert folder.wal is not None
    folder.wal.add(batch)
    if progress:
        progress(len(batch))
    return len(batch)
