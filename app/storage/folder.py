"""An index folder: manifests and ``CURRENT``, ``segments/``, removal marks under ``deletes/``,
the write-ahead log (``wal.sqlite3``), a lock file for the one process that flushes and merges,
and ``tmp/`` for segments being written (moved into ``segments/`` whole, so a half-written
segment is never visible).
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from pathlib import Path

import numpy as np

from app.core.errors import IndexFormatError
from app.core.index import LSH_THRESHOLD

from .locks import FileLock
from .manifest import (
    CURRENT,
    DELETES,
    SEGMENTS,
    Manifest,
    SegmentEntry,
    publish,
    read_current,
    read_deletes,
    read_manifest,
    referenced_files,
)
from .segment import Segment, SegmentPart, fsync_folder
from .wal import WAL_FILE, Wal

TMP = "tmp"
MAINTAINER_LOCK = "maintainer.lock"
_RETRIES = 20


class IndexFolder:
    def __init__(self, path: Path, *, create: bool = True, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        if not (self.path / CURRENT).exists():
            if readonly or not create:
                what = "no such index" if not self.path.exists() else "not a chachong index"
                raise IndexFormatError(f"{self.path}: {what}; build one with 'chachong index "
                                       "build DIR --out PATH'")
            if self.path.exists() and not self.path.is_dir():
                raise IndexFormatError(f"{self.path} exists and is not an index folder; choose "
                                       "another path")
            self.path.mkdir(exist_ok=True)  # its parent must exist: a typo should not grow trees
        for sub in (SEGMENTS, DELETES, TMP):
            if not readonly:
                (self.path / sub).mkdir(exist_ok=True)
        self.wal = Wal(self.path, readonly=readonly or not os.access(self.path, os.W_OK)) \
            if not readonly or (self.path / WAL_FILE).exists() else None
        if not (self.path / CURRENT).exists():
            publish(self.path, Manifest())
        self.maintainer_lock = FileLock(self.path / MAINTAINER_LOCK)
        # a manifest change and a clean-up are never at the same time (a clean-up would take a
        # manifest being published, or a segment installed for it, for garbage)
        self.publishing = threading.RLock()
        self._segments: dict[str, Segment] = {}
        self._lock = threading.Lock()
        self._writing: set[Path] = set()
        self._unpublished: set[str] = set()  # installed segments no manifest names yet

    # -- reading -------------------------------------------------------------------------------

    def manifest(self) -> Manifest:
        """The manifest in use (read again if a writer replaced it while we read)."""
        for _ in range(_RETRIES):
            name = self.current_name()
            try:
                return read_manifest(self.path, name)
            except IndexFormatError:
                if self.current_name() == name:
                    raise
        raise IndexFormatError(f"{self.path}: the manifest keeps changing under us")

    def current_name(self) -> str:
        try:
            return (self.path / CURRENT).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise IndexFormatError(f"{self.path}: not a readable chachong index ({exc})") \
                from None

    def segment(self, name: str) -> Segment:
        with self._lock:
            found = self._segments.get(name)
        if found is None:
            found = Segment(self.path / SEGMENTS / name)
            with self._lock:
                found = self._segments.setdefault(name, found)
        return found

    def parts(self, manifest: Manifest, slot_base: int,
              extra_dead: dict[str, np.ndarray] | None = None) -> list[SegmentPart]:
        """The manifest's segments as parts of an index; ``extra_dead`` adds removals per
        segment. Segments no longer named are closed once no part uses them."""
        parts = []
        for entry in manifest.segments:
            dead = read_deletes(self.path, entry)
            more = (extra_dead or {}).get(entry.name)
            if more is not None:
                dead = more if dead is None else dead | more
            parts.append(SegmentPart(self.segment(entry.name), slot_base, dead))
        self._forget_all_but({e.name for e in manifest.segments})
        return parts

    def _forget_all_but(self, names: set[str]) -> None:
        """Drop other segments from the cache (a part or merge holding one keeps it open)."""
        with self._lock:
            for name in [n for n in self._segments if n not in names]:
                del self._segments[name]

    def deletes(self, entry: SegmentEntry) -> np.ndarray | None:
        return read_deletes(self.path, entry)

    # -- writing (the maintainer) ---------------------------------------------------------------

    def new_segment_dir(self) -> Path:
        """An empty folder to write a segment in (``install`` moves it into place)."""
        folder = self.path / TMP / uuid.uuid4().hex
        folder.mkdir()
        self._writing.add(folder)
        return folder

    def install(self, folder: Path) -> str:
        """Move a finished segment folder into ``segments/``; its name."""
        name = f"s-{uuid.uuid4().hex[:16]}"
        with self.publishing:
            os.replace(folder, self.path / SEGMENTS / name)
            self._writing.discard(folder)
            self._unpublished.add(name)
        fsync_folder(self.path / SEGMENTS)
        return name

    def discard(self, folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        self._writing.discard(folder)

    def publish(self, manifest: Manifest) -> None:
        with self.publishing:
            publish(self.path, manifest)
            self._unpublished -= {e.name for e in manifest.segments}

    def cleanup(self) -> None:
        """Remove what the manifest in use no longer names: older manifests, merged-away
        segments, old removal marks, and segments a crashed writer left half-written. Open
        files stay readable to the processes that have them (they move to the new manifest at
        their next check)."""
        with self.publishing:
            self._cleanup()

    def _cleanup(self) -> None:
        manifest = read_current(self.path)
        if manifest is None:
            return
        keep = referenced_files(manifest) | {f"{SEGMENTS}/{n}" for n in self._unpublished}
        # a build merges dozens of segments, each holding its filters and fences while cached
        self._forget_all_but({e.name for e in manifest.segments} | self._unpublished)
        for path in self.path.glob("manifest-*.json"):
            if path.name not in keep:
                path.unlink(missing_ok=True)
        for path in (self.path / SEGMENTS).iterdir():
            if f"{SEGMENTS}/{path.name}" not in keep:
                shutil.rmtree(path, ignore_errors=True)
        for path in (self.path / DELETES).iterdir():
            if f"{DELETES}/{path.name}" not in keep:
                path.unlink(missing_ok=True)
        for path in (self.path / TMP).iterdir():
            if path not in self._writing:
                shutil.rmtree(path, ignore_errors=True)
        for path in self.path.glob(f"{CURRENT}.*.tmp"):
            path.unlink(missing_ok=True)

    def size_on_disk(self) -> int:
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())


def empty_manifest() -> Manifest:
    return Manifest(lsh_threshold=LSH_THRESHOLD)
