"""The corpus a server checks against: a base corpus (bundled, a folder or a saved index) plus
the references added through the API.

Framework-free, so the API stays a thin adapter. One service per worker process:

- ``CorpusService`` (embedded): additions are kept in SQLite and indexed in each process's
  memory; it replays the store's change log before every check, so additions made through
  another worker are found at once;
- ``SharedCorpusService`` (``CHACHONG_STORE=redis://``): additions are indexed in Redis itself
  (``RedisIndex``), which every process on every machine reads at each check.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

from app.core import CheckOptions, CheckResult, Reference, ReferenceIndex, check_text
from app.core.combined import CombinedIndex
from app.core.cross import cross_check
from app.core.errors import (
    CorpusError,
    DuplicateReferenceError,
    ReferenceNotFoundError,
    StoreUnavailableError,
)
from app.core.schema import CrossResult, ReportResult
from app.shared_index import RedisIndex
from app.store import ReferenceStore

OnReport = Callable[[int, ReportResult], None] | None  # progress of a batch, report by report


class CorpusService:
    def __init__(self, index: ReferenceIndex, store: ReferenceStore) -> None:
        self.index = index
        self.store = store
        self.base_ids = frozenset(index.ids())
        self._lock = threading.RLock()
        self._seen = 0
        # a shared store that is down at start-up is caught up with once it is back
        with contextlib.suppress(StoreUnavailableError):
            self.sync()

    def ready(self) -> None:
        """Raises StoreUnavailableError while the store cannot be reached."""
        self.store.last_seq()

    def sync(self) -> None:
        """Apply the store's changes this process has not seen yet."""
        with self._lock:
            if self.store.last_seq() < self._seen:
                self._reload()  # the store was emptied or restored from an older backup
                return
            changes = self.store.changes_since(self._seen)
            if not changes:
                return
            latest: dict[str, str] = {}
            for change in changes:
                latest[change.ref_id] = change.op
            for ref_id in latest:
                if ref_id in self.index and ref_id not in self.base_ids:
                    self.index.remove(ref_id)
                stored = self.store.get(ref_id)
                if stored is not None and ref_id not in self.index:
                    self.index.add(stored)
            self._seen = changes[-1].seq

    def _reload(self) -> None:
        seen = self.store.last_seq()
        for ref_id in self.index.ids():
            if ref_id not in self.base_ids:
                self.index.remove(ref_id)
        self.index.add_many(r for r in self.store.all() if r.id not in self.base_ids)
        self._seen = seen

    def check(self, text: str, options: CheckOptions, title: str | None = None) -> CheckResult:
        with self._lock:
            self.sync()
            return check_text(text, self.index, options, title=title)

    def cross_check(self, reports: list[tuple[str, str]], options: CheckOptions,
                    on_report: OnReport = None) -> CrossResult:
        with self._lock:
            self.sync()
            return cross_check(reports, self.index, options, on_report)

    def add(self, ref: Reference) -> None:
        if ref.id in self.base_ids:
            raise DuplicateReferenceError(f"'{ref.id}' is a reference of the base corpus; choose "
                                          "another id")
        self.store.add(ref)
        self.sync()

    def delete(self, ref_id: str) -> None:
        if ref_id in self.base_ids:
            raise CorpusError(f"'{ref_id}' belongs to the base corpus and cannot be deleted over "
                              "the API; start the server with another --corpus")
        self.store.delete(ref_id)
        self.sync()

    def get(self, ref_id: str) -> Reference:
        with self._lock:
            self.sync()
            if ref_id not in self.index:
                raise ReferenceNotFoundError(f"no reference with id '{ref_id}'")
            return self.index.get(ref_id)

    def list(self, offset: int, limit: int) -> tuple[int, list[Reference]]:
        with self._lock:
            self.sync()
            ids = sorted(self.index.ids())
            return len(ids), [self.index.get(i) for i in ids[offset : offset + limit]]

    def size(self) -> int:
        """References in the index, after catching up with the store when it is reachable."""
        with contextlib.suppress(StoreUnavailableError):
            self.sync()
        return len(self.index)


class SharedCorpusService:
    def __init__(self, base: ReferenceIndex, shared: RedisIndex) -> None:
        self.shared = shared
        self.index = CombinedIndex(base, shared)
        self.base_ids = frozenset(base.ids())
        # the shared index keeps per-check state (which documents are live): one check at a time
        self._lock = threading.Lock()

    def ready(self) -> None:
        self.shared.ping()

    def check(self, text: str, options: CheckOptions, title: str | None = None) -> CheckResult:
        with self._lock:
            return check_text(text, self.index, options, title=title)

    def cross_check(self, reports: list[tuple[str, str]], options: CheckOptions,
                    on_report: OnReport = None) -> CrossResult:
        with self._lock:
            return cross_check(reports, self.index, options, on_report)

    def add(self, ref: Reference) -> None:
        if ref.id in self.base_ids:
            raise DuplicateReferenceError(f"'{ref.id}' is a reference of the base corpus; choose "
                                          "another id")
        self.shared.add(ref)

    def delete(self, ref_id: str) -> None:
        if ref_id in self.base_ids:
            raise CorpusError(f"'{ref_id}' belongs to the base corpus and cannot be deleted over "
                              "the API; start the server with another --corpus")
        self.shared.remove(ref_id)

    def get(self, ref_id: str) -> Reference:
        with self._lock:
            return self.index.get(ref_id)

    def list(self, offset: int, limit: int) -> tuple[int, list[Reference]]:
        with self._lock:
            ids = self.index.ids()
            return len(ids), [self.index.get(i) for i in ids[offset : offset + limit]]

    def size(self) -> int:
        with contextlib.suppress(StoreUnavailableError):
            return len(self.index)
        return len(self.index.base)
