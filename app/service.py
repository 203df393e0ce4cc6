"""The corpus a server checks against: a base corpus (bundled, a folder or a saved index) plus
the references added through the API.

Framework-free, so the API stays a thin adapter. One service per worker process. Additions live
in the data folder's index (``app.storage``): logged at once, written into segments by a flush,
merged in the background; every check first catches up with what any process added or removed.
With ``CHACHONG_STORE=redis://...`` (or a Redis Cluster) the log is shared by servers on several
machines: each copies in what the others logged before it answers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.core import CheckOptions, CheckResult, Reference, ReferenceIndex, check_text
from app.core.cross import cross_check
from app.core.errors import (
    CorpusError,
    DuplicateReferenceError,
)
from app.core.index import MultiIndex, Part
from app.core.schema import CrossResult, ReportResult
from app.storage import FlushPolicy, LiveIndex, Maintainer
from app.storage.shared_log import SharedLog


@dataclass(frozen=True)
class Summary:
    """What a listing shows of a reference."""

    id: str
    title: str
    source: str | None
    tags: dict[str, str]
    chars: int

    @classmethod
    def of(cls, ref: Reference) -> Summary:
        return cls(ref.id, ref.display_title, ref.source, ref.tags, len(ref.text))


class BaseCorpus:
    """The corpus every server loads and the API cannot change: references indexed in memory
    (a folder, the bundled templates) or a saved index opened read-only."""

    def __init__(self, index: ReferenceIndex | LiveIndex) -> None:
        self.index = index

    def parts(self) -> list[Part]:
        return [self.index] if isinstance(self.index, ReferenceIndex) else self.index.parts()

    def __contains__(self, ref_id: str) -> bool:
        return ref_id in self.index

    def __len__(self) -> int:
        return len(self.index) if isinstance(self.index, ReferenceIndex) else self.index.count()

    def get(self, ref_id: str) -> Reference:
        return self.index.get(ref_id)

    def page(self, offset: int, limit: int) -> list[Summary]:
        if isinstance(self.index, ReferenceIndex):
            ids = sorted(self.index.ids())[offset : offset + limit]
            return [Summary.of(self.index.get(i)) for i in ids]
        return [Summary(s.id, s.title, s.source, s.tags, s.chars)
                for s in self.index.page(offset, limit)]


def merged_page(first: Sequence[Summary], second: Sequence[Summary], offset: int,
                limit: int) -> list[Summary]:
    """Items offset..offset+limit of two listings sorted by id (each given from its start)."""
    return sorted([*first, *second], key=lambda s: s.id)[offset : offset + limit]

OnReport = Callable[[int, ReportResult], None] | None  # progress of a batch, report by report


class CorpusService:
    """The base corpus plus what was added through the API, in the data folder's index; with a
    shared log (Redis), that index is this server's copy of the corpus every server shares."""

    def __init__(self, base: BaseCorpus, data: Path, flush: FlushPolicy | None = None,
                 shared: SharedLog | None = None) -> None:
        self.base = base
        self.live = LiveIndex(data, shared=shared)
        self.maintainer = Maintainer(self.live.folder, flush or FlushPolicy())
        self._base_parts = base.parts()
        self._index: MultiIndex | None = None
        self._version = -1
        self._lock = threading.RLock()

    def start(self) -> None:
        """Flush and merge in the background (in the one process that takes the lock)."""
        self.maintainer.start()

    def stop(self) -> None:
        """At shutdown: write what the log holds into a segment."""
        self.maintainer.stop(flush=True)

    def ready(self) -> None:
        with self._lock:
            self.live.sync()

    def _current(self) -> MultiIndex:
        """The index as it is now (call with the lock held)."""
        self.live.sync()
        if self._index is None or self._version != self.live.version:
            self._index = MultiIndex([*self._base_parts, *self.live.parts()])
            self._version = self.live.version
        return self._index

    def check(self, text: str, options: CheckOptions, title: str | None = None) -> CheckResult:
        with self._lock:
            return check_text(text, self._current(), options, title=title)

    def cross_check(self, reports: list[tuple[str, str]], options: CheckOptions,
                    on_report: OnReport = None) -> CrossResult:
        with self._lock:
            return cross_check(reports, self._current(), options, on_report)

    def add(self, ref: Reference) -> None:
        self.add_many([ref])

    def add_many(self, refs: Sequence[Reference]) -> None:
        """Add references, all or none: each is on disk when this returns."""
        clash = [r.id for r in refs if r.id in self.base]
        if clash:
            raise DuplicateReferenceError(f"'{clash[0]}' is a reference of the base corpus; "
                                          "choose another id")
        with self._lock:
            self.live.add(refs)

    def delete(self, ref_id: str) -> None:
        if ref_id in self.base:
            raise CorpusError(f"'{ref_id}' belongs to the base corpus and cannot be deleted over "
                              "the API; start the server with another --corpus")
        with self._lock:
            self.live.remove(ref_id)

    def get(self, ref_id: str) -> Reference:
        if ref_id in self.base:
            return self.base.get(ref_id)
        with self._lock:
            self.live.sync()
            return self.live.get(ref_id)

    def list(self, offset: int, limit: int) -> tuple[int, list[Summary]]:
        with self._lock:
            self.live.sync()
            data = [Summary(s.id, s.title, s.source, s.tags, s.chars)
                    for s in self.live.page(0, offset + limit)]
        return self.size(), merged_page(self.base.page(0, offset + limit), data, offset, limit)

    def size(self) -> int:
        """References in the corpus (the log's catalogue counts what any process added)."""
        return len(self.base) + self.live.count()
