"""Flushing the log into segments and merging segments, by one process of those sharing a folder.

Every server process starts a ``Maintainer``; the one that takes the folder's lock does the work
and the others try again from time to time, so when it exits another takes over. A flush writes
the log's additions into a new segment and its removals into the segments' marks, publishes the
manifest, and only then drops what it wrote from the log. A merge runs in a thread of its own
(a long one must not hold flushes back); it publishes its segment in place of the ones it read,
carrying over the removals made while it ran. A crash at any step leaves the last published
manifest, whose files are all whole, and the log entries it does not hold.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from app.core.fingerprint import NUM_PERM
from app.core.lsh import lsh_params

from .folder import IndexFolder
from .manifest import Manifest, SegmentEntry, write_deletes
from .merge import MergePolicy, merge_segments
from .records import Record
from .segment import SegmentWriter

log = logging.getLogger("chachong.storage")
MERGE_NICENESS = 10


@dataclass(frozen=True)
class FlushPolicy:
    docs: int = 1000  # a flush when this many log entries wait...
    seconds: float = 30.0  # ...or the oldest has waited this long
    batch: int = 5000  # entries written into one segment at most


@dataclass
class Maintainer:
    folder: IndexFolder
    flush_policy: FlushPolicy = field(default_factory=FlushPolicy)
    merge_policy: MergePolicy = field(default_factory=MergePolicy)
    poll: float = 0.5  # seconds between looks at the log
    # test hooks: called with the name of each step as it is reached (crash injection)
    step: Callable[[str], None] = lambda _: None

    def __post_init__(self) -> None:
        self.bands = lsh_params(self.folder.manifest().lsh_threshold, NUM_PERM)[0]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._changed_at = time.monotonic()  # the last flush (or this start): quiet since

    # -- running in the background --------------------------------------------------------------

    def start(self) -> None:
        for name, work in (("flush", self._flush_loop), ("merge", self._merge_loop)):
            thread = threading.Thread(target=work, name=f"chachong-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, *, flush: bool = True) -> None:
        """Stop the threads; with ``flush``, write what the log holds first (at shutdown)."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._threads = []
        if flush and self._holding():  # else the process holding the lock flushes
            self.flush_all()
        self.folder.maintainer_lock.release()

    def _holding(self) -> bool:
        if not self.folder.maintainer_lock.held and self.folder.maintainer_lock.acquire():
            self.recover()
        return self.folder.maintainer_lock.held

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                if self._holding() and self.flush_due():
                    self.flush()
            except Exception:
                log.exception("flush failed; the log keeps every entry, retrying")
                self._stop.wait(5 * self.poll)

    def _merge_loop(self) -> None:
        # a merge is background work: on Linux a thread has its own nice value, so checks and
        # additions in this process go first
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), MERGE_NICENESS)
        while not self._stop.wait(self.poll):
            try:
                while self._holding() and not self._stop.is_set() and self.merge():
                    pass
            except Exception:
                log.exception("merge failed; the segments are unchanged, retrying")
                self._stop.wait(10 * self.poll)

    def recover(self) -> None:
        """On taking over: drop from the log what a published manifest holds (a crash between
        publishing and dropping), and what a crashed writer left behind."""
        assert self.folder.wal is not None
        flushed = self.folder.manifest().flushed_seq
        if self.folder.wal.flushed_seq() < flushed:
            self.folder.wal.truncate(flushed)
        self.folder.cleanup()

    # -- flushing ------------------------------------------------------------------------------

    def flush_due(self) -> bool:
        assert self.folder.wal is not None
        waiting, oldest = self.folder.wal.pending()
        return waiting >= self.flush_policy.docs or (
            oldest is not None and time.time() - oldest >= self.flush_policy.seconds)

    def flush_all(self) -> None:
        while self.flush():
            pass

    def flush(self) -> bool:
        """Write up to a batch of the log into the index; False when the log was empty."""
        assert self.folder.wal is not None and self.folder.maintainer_lock.held
        with self.folder.publishing:
            manifest = self.folder.manifest()
            _, entries = self.folder.wal.since(manifest.flushed_seq, self.flush_policy.batch)
            if not entries:
                return False
            upto = entries[-1].seq
            removed = {e.target for e in entries if e.op == "delete" and e.target is not None}
            segments = list(manifest.segments)
            additions = [(e.seq, e.record) for e in entries
                         if e.op == "add" and e.seq not in removed]
            if additions:
                self.step("flush:write")
                segments.append(self._write(additions))
                self.step("flush:installed")
            segments = self._mark(segments, manifest.generation + 1,
                                  np.array(sorted(removed), np.int64))
            self.step("flush:publish")
            self.folder.publish(manifest.next(flushed_seq=upto, segments=tuple(segments)))
        self.step("flush:published")
        self.folder.wal.truncate(upto)
        self.step("flush:truncated")
        self._changed_at = time.monotonic()
        self.folder.cleanup()
        return True

    def _write(self, additions: list[tuple[int, bytes | None]]) -> SegmentEntry:
        folder = self.folder.new_segment_dir()
        writer = SegmentWriter(folder, self.bands)
        try:
            for seq, data in additions:
                assert data is not None
                writer.add(seq, Record.from_bytes(data))
            header = writer.finish()
        except BaseException:
            writer.abort()
            self.folder.discard(folder)
            raise
        return SegmentEntry(self.folder.install(folder), header["docs"], header["units"])

    def _mark(self, segments: list[SegmentEntry], generation: int,
              targets: np.ndarray) -> list[SegmentEntry]:
        """Segments with the removals of ``targets`` (sequence numbers) marked."""
        if not len(targets):
            return segments
        out = []
        now = time.time()
        for entry in segments:
            seq = self.folder.segment(entry.name).seq
            hit = np.isin(seq, targets)
            if not hit.any():
                out.append(entry)
                continue
            old = self.folder.deletes(entry)
            dead = hit if old is None else old | hit
            out.append(SegmentEntry(entry.name, entry.docs, entry.units, int(dead.sum()),
                                    write_deletes(self.folder.path, entry.name, generation, dead),
                                    entry.deleted_since or now))
        return out

    # -- merging -------------------------------------------------------------------------------

    def merge(self, *, quiet: bool = False) -> bool:
        """Run the merge the policy chooses, if any; whether there was one. ``quiet``: as the
        policy merges an index nothing changes any more (a build or an addition from the
        command line, at its end), rather than after the time it takes to be quiet."""
        with self.folder.publishing:
            manifest = self.folder.manifest()
            chosen = self.merge_policy.select(
                manifest.segments, quiet_for=float("inf") if quiet else self._quiet_for())
            if chosen is None:
                return False
            inputs = manifest.segments[chosen[0] : chosen[1]]
            before = [self.folder.deletes(e) for e in inputs]
        segments = [self.folder.segment(e.name) for e in inputs]
        folder = self.folder.new_segment_dir()
        self.step("merge:write")
        try:
            header, renumbered = merge_segments(list(zip(segments, before, strict=True)), folder,
                                                self.bands)
        except BaseException:
            self.folder.discard(folder)
            raise
        name = self.folder.install(folder)
        self.step("merge:installed")
        with self.folder.publishing:
            manifest = self.folder.manifest()
            self._publish_merge(manifest, inputs, before, renumbered, name, header)
        self.step("merge:published")
        self.folder.cleanup()
        return True

    def _quiet_for(self) -> float:
        """Seconds since the index last changed, 0 while the log holds changes to flush (the
        log is asked only once the clock says quiet: the merge thread asks twice a second)."""
        quiet = time.monotonic() - self._changed_at
        if quiet < self.merge_policy.quiet_seconds:
            return quiet
        if self.folder.wal is not None and self.folder.wal.pending()[0]:
            return 0.0
        return quiet

    def _publish_merge(self, manifest: Manifest, inputs: tuple[SegmentEntry, ...],
                       before: list[np.ndarray | None], renumbered: list[np.ndarray],
                       name: str, header: dict) -> None:
        """The merged segment in place of its inputs, with the removals made meanwhile."""
        names = [e.name for e in inputs]
        at = [i for i, e in enumerate(manifest.segments) if e.name in names]
        assert len(at) == len(names) and at == list(range(at[0], at[0] + len(at))), \
            "only the merge thread removes segments"
        dead = np.zeros(header["docs"], bool)
        since = None
        for entry, then, mapping in zip(manifest.segments[at[0] : at[-1] + 1], before,
                                        renumbered, strict=True):
            now_dead = self.folder.deletes(entry)
            if now_dead is None:
                continue
            newly = now_dead & ~then if then is not None else now_dead
            dead[mapping[newly]] = True
            if newly.any():
                since = min(since or time.time(), entry.deleted_since or time.time())
        generation = manifest.generation + 1
        entry = SegmentEntry(name, header["docs"], header["units"], int(dead.sum()),
                             write_deletes(self.folder.path, name, generation, dead)
                             if dead.any() else None, since)
        segments = (*manifest.segments[: at[0]], entry, *manifest.segments[at[-1] + 1 :])
        self.step("merge:publish")
        self.folder.publish(manifest.next(segments=segments))
