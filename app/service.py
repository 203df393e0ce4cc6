"""The corpus a server checks against: collections of references (``app.collections``). The
``templates`` collection is a base corpus (bundled, a folder or a saved index) plus the
references added to it through the API; every other collection holds only what was added.

Framework-free, so the API stays a thin adapter. One service per worker process. Additions live
in the data folder's indexes (``app.storage``), one per collection: logged at once, written into
segments by a flush, merged in the background; every check first catches up with what any
process added or removed. With ``CHACHONG_STORE=redis://...`` (or a Redis Cluster) each
collection's log is shared by servers on several machines (a key prefix of its own): each copies
in what the others logged before it answers.

A check names the collections it is compared with; their indexes are checked as one, and the
result says which collection each source is in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.collections import (
    FOLDER,
    SLOT_SPAN,
    TEMPLATES,
    FolderRegistry,
    Qualified,
    RedisRegistry,
    label_sources,
    not_found,
    shared_prefix,
    split_key,
)
from app.core import CheckOptions, CheckResult, Reference, ReferenceIndex, check_text
from app.core.cross import cross_check
from app.core.errors import CorpusError, DuplicateReferenceError
from app.core.index import MultiIndex, Part
from app.core.schema import CrossResult, ReportResult
from app.storage import FlushPolicy, LiveIndex, Maintainer, MergePolicy
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
Names = Sequence[str] | None  # collections a check is compared with (None: templates)
INDEXES_KEPT = 64  # combinations of collections whose combined index a process keeps


def _chosen(collections: Names, known: dict[str, int]) -> list[str]:
    """The collections named, known to the registry, in the order of their numbers."""
    names = list(dict.fromkeys(collections if collections is not None else [TEMPLATES]))
    for name in names:
        if name not in known:
            raise not_found(name)
    return sorted(names, key=known.__getitem__)


def _base_clash(base: BaseCorpus, refs: Sequence[Reference]) -> None:
    clash = [r.id for r in refs if r.id in base]
    if clash:
        raise DuplicateReferenceError(f"'{clash[0]}' is a reference of the base corpus; "
                                      "choose another id")


def _base_delete(base: BaseCorpus, ref_id: str) -> None:
    if ref_id in base:
        raise CorpusError(f"'{ref_id}' belongs to the base corpus and cannot be deleted over "
                          "the API; start the server with another --corpus")


class CorpusService:
    """The collections' indexes in the data folder; with a shared log (Redis), each index is
    this server's copy of a collection every server shares."""

    def __init__(self, base: BaseCorpus, data: Path, flush: FlushPolicy | None = None,
                 shared: SharedLog | None = None, merge: MergePolicy | None = None) -> None:
        """``data``: the templates' index folder (``index/`` of the data folder); the other
        collections' folders are beside it, under ``collections/``."""
        self.base = base
        self.root = data.parent
        self.shared = shared
        self.registry: FolderRegistry | RedisRegistry = (
            FolderRegistry(self.root) if shared is None
            else RedisRegistry(shared.client, shared.prefix))
        self.flush = flush or FlushPolicy()
        self.merge = merge or MergePolicy()
        self.live = LiveIndex(data, shared=shared)
        self.maintainer = Maintainer(self.live.folder, self.flush, self.merge)
        self._others: dict[str, tuple[LiveIndex, Maintainer]] = {}
        self._started = False
        self._base_parts = base.parts()
        self._indexes: dict[tuple[str, ...], tuple[tuple[int, ...], MultiIndex]] = {}
        self._lock = threading.RLock()

    def start(self) -> None:
        """Flush and merge in the background (in the one process that takes each folder's
        lock)."""
        with self._lock:
            self._started = True
            self.maintainer.start()
            for _, maintainer in self._others.values():
                maintainer.start()

    def stop(self) -> None:
        """At shutdown: write what the logs hold into segments."""
        with self._lock:
            self._started = False
            self.maintainer.stop(flush=True)
            for _, maintainer in self._others.values():
                maintainer.stop(flush=True)

    def ready(self) -> None:
        with self._lock:
            self.live.sync()

    # -- collections ---------------------------------------------------------------------------

    def collections(self) -> list[str]:
        """Every collection, templates first, then in the order they were made."""
        known = self.registry.numbers()
        return sorted(known, key=known.__getitem__)

    def create_collection(self, name: str) -> bool:
        return self.registry.create(name)

    def _live(self, name: str) -> LiveIndex:
        """The index of ``name`` in this process, opened on first use (call with the lock)."""
        if name == TEMPLATES:
            return self.live
        if name not in self._others:
            number = self.registry.numbers().get(name)
            if number is None:
                raise not_found(name)
            folder = self.root / FOLDER / name
            folder.mkdir(parents=True, exist_ok=True)
            shared = (None if self.shared is None else
                      self.shared.with_prefix(shared_prefix(self.shared.prefix, name)))
            live = LiveIndex(folder, slot_base=(number + 1) * SLOT_SPAN, shared=shared)
            maintainer = Maintainer(live.folder, self.flush, self.merge)
            if self._started:
                maintainer.start()
            self._others[name] = (live, maintainer)
        return self._others[name][0]

    def _current(self, collections: Names) -> MultiIndex:
        """The index of the chosen collections as it is now (call with the lock held)."""
        names = tuple(_chosen(collections, self.registry.numbers()))
        lives = [self._live(name) for name in names]
        for live in lives:
            live.sync()
        versions = tuple(live.version for live in lives)
        cached = self._indexes.get(names)
        if cached is None or cached[0] != versions:
            parts: list[Part] = []
            for name, live in zip(names, lives, strict=True):
                if name == TEMPLATES:
                    parts += [*self._base_parts, *live.parts()]
                else:
                    parts += [Qualified(p, name) for p in live.parts()]
            cached = (versions, MultiIndex(parts))
            self._indexes[names] = cached
            while len(self._indexes) > INDEXES_KEPT:  # the oldest combination goes
                del self._indexes[next(iter(self._indexes))]
        return cached[1]

    # -- checking ------------------------------------------------------------------------------

    def check(self, text: str, options: CheckOptions, title: str | None = None,
              collections: Names = None) -> CheckResult:
        with self._lock:
            return label_sources(check_text(text, self._current(collections), options,
                                            title=title))

    def cross_check(self, reports: list[tuple[str, str]], options: CheckOptions,
                    on_report: OnReport = None, collections: Names = None) -> CrossResult:
        ids = [rid for rid, _ in reports]
        with self._lock:
            cross = cross_check(reports, self._current(collections), options,
                                _labelling(on_report, ids))
        return _labelled(cross, ids)

    # -- the references of a collection --------------------------------------------------------

    def add(self, ref: Reference, collection: str = TEMPLATES) -> None:
        self.add_many([ref], collection)

    def add_many(self, refs: Sequence[Reference], collection: str = TEMPLATES) -> None:
        """Add references, all or none: each is on disk when this returns."""
        if collection == TEMPLATES:
            _base_clash(self.base, refs)
        with self._lock:
            self._live(collection).add(refs)

    def delete(self, ref_id: str, collection: str = TEMPLATES) -> None:
        if collection == TEMPLATES:
            _base_delete(self.base, ref_id)
        with self._lock:
            self._live(collection).remove(ref_id)
            self._forget()

    def _forget(self) -> None:
        """Drop what this process keeps of removed references' texts (the combined indexes
        and their parts' caches are made again from the folders)."""
        self._indexes.clear()

    def get(self, ref_id: str, collection: str = TEMPLATES) -> Reference:
        if collection == TEMPLATES and ref_id in self.base:
            return self.base.get(ref_id)
        with self._lock:
            live = self._live(collection)
            live.sync()
            return live.get(ref_id)

    def get_source(self, key: str) -> Reference:
        """A source of a result by its key (``id`` or ``collection/id``)."""
        collection, ref_id = split_key(key)
        return self.get(ref_id, collection)

    def list(self, offset: int, limit: int, collection: str = TEMPLATES
             ) -> tuple[int, list[Summary]]:
        with self._lock:
            live = self._live(collection)
            live.sync()
            data = [Summary(s.id, s.title, s.source, s.tags, s.chars)
                    for s in live.page(0, offset + limit)]
        if collection != TEMPLATES:
            return live.count(), data[offset : offset + limit]
        return self.size(TEMPLATES), merged_page(self.base.page(0, offset + limit), data,
                                                 offset, limit)

    def size(self, collection: str | None = None) -> int:
        """References in a collection, or in all (the logs' catalogues count what any process
        added)."""
        if collection is None:
            with self._lock:
                return sum(self.size(name) for name in self.collections())
        if collection == TEMPLATES:
            return len(self.base) + self.live.count()
        with self._lock:
            return self._live(collection).count()


def _labelling(on_report: OnReport, batch: list[str]) -> OnReport:
    """``on_report`` given each result with its sources' collections."""
    if on_report is None:
        return None

    def labelled(index: int, done: ReportResult) -> None:
        label_sources(done.result, batch)
        on_report(index, done)

    return labelled


def _labelled(cross: CrossResult, batch: Iterable[str]) -> CrossResult:
    ids = list(batch)
    for report in cross.reports:
        label_sources(report.result, ids)
    return cross
