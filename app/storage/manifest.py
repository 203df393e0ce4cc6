"""The manifest: which segments make up an index now, which of their documents are removed, and
how far the write-ahead log has been written into them.

An index folder holds numbered manifests and ``CURRENT``, the name of the one in use. A change
(a flush, a merge, an index build) writes a new manifest beside the old ones and then replaces
``CURRENT`` atomically, so a reader sees the old set of segments or the new one, never a mix,
and a crash at any moment leaves one of them.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from app.core.errors import IndexFormatError
from app.core.index import FINGERPRINT, LSH_THRESHOLD
from app.core.lsh import lsh_params

from .segment import READ_LIST, READABLE, VERSION, fsync_folder, rebuild_hint

FORMAT = "chachong-index"
CURRENT = "CURRENT"
SEGMENTS = "segments"
DELETES = "deletes"
_MANIFEST = re.compile(r"^manifest-(\d{12})\.json$")


@dataclass(frozen=True)
class SegmentEntry:
    name: str
    docs: int
    units: int
    deleted: int = 0
    deletes: str | None = None  # file under DELETES marking removed documents
    deleted_since: float | None = None  # when the oldest removal still on disk was made

    @property
    def live(self) -> int:
        return self.docs - self.deleted


@dataclass(frozen=True)
class Manifest:
    generation: int = 0
    flushed_seq: int = -1  # every log entry up to here is in the segments
    segments: tuple[SegmentEntry, ...] = field(default_factory=tuple)
    lsh_threshold: float = LSH_THRESHOLD

    @property
    def file(self) -> str:
        return f"manifest-{self.generation:012d}.json"

    def to_json(self) -> dict:
        bands, rows = lsh_params(self.lsh_threshold, FINGERPRINT["num_perm"])
        return {"format": FORMAT, "version": VERSION, **FINGERPRINT,
                "lsh_threshold": self.lsh_threshold, "bands": bands, "rows": rows,
                "generation": self.generation, "flushed_seq": self.flushed_seq,
                "segments": [vars(s) for s in self.segments]}

    def next(self, **changes: object) -> Manifest:
        return replace(self, generation=self.generation + 1, **changes)  # type: ignore[arg-type]


def read_current(folder: Path) -> Manifest | None:
    """The manifest in use, or None in a folder no index was written to yet."""
    try:
        name = (folder / CURRENT).read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexFormatError(f"{folder}: not a readable chachong index ({exc}); "
                               f"{rebuild_hint(folder)}") from None
    return read_manifest(folder, name)


def read_manifest(folder: Path, name: str) -> Manifest:
    if not _MANIFEST.match(name):
        raise IndexFormatError(f"{folder}: {CURRENT} names no manifest ({name!r}); "
                               f"{rebuild_hint(folder)}")
    try:
        data = json.loads((folder / name).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexFormatError(f"{folder}: the manifest {name} cannot be read ({exc}); "
                               f"{rebuild_hint(folder)}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT \
            or data.get("version") not in READABLE:
        got = data.get("version") if isinstance(data, dict) else None
        raise IndexFormatError(f"{folder}: index format version {got} is not supported "
                               f"(this version reads versions {READ_LIST}); {rebuild_hint(folder)}")
    if any(data.get(k) != v for k, v in FINGERPRINT.items()):
        raise IndexFormatError(f"{folder}: built with other fingerprint parameters; "
                               f"{rebuild_hint(folder)}")
    try:
        return Manifest(int(data["generation"]), int(data["flushed_seq"]),
                        tuple(SegmentEntry(**s) for s in data["segments"]),
                        float(data["lsh_threshold"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexFormatError(f"{folder}: the manifest {name} is incomplete ({exc}); "
                               f"{rebuild_hint(folder)}") from None


def write_synced(path: Path, data: bytes) -> None:
    with path.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def publish(folder: Path, manifest: Manifest) -> None:
    """Write ``manifest`` and make it the one in use, atomically and durably."""
    write_synced(folder / manifest.file, json.dumps(manifest.to_json(), indent=1).encode())
    temporary = folder / f"{CURRENT}.{uuid.uuid4().hex}.tmp"
    write_synced(temporary, manifest.file.encode())
    os.replace(temporary, folder / CURRENT)
    fsync_folder(folder)


def write_deletes(folder: Path, segment: str, generation: int, dead: np.ndarray) -> str:
    """A segment's removal marks as a file of their own (one bit a document); its name."""
    name = f"{DELETES}/{segment}-{generation:012d}.bin"
    (folder / DELETES).mkdir(exist_ok=True)
    write_synced(folder / name, np.packbits(dead, bitorder="little").tobytes())
    return name


def read_deletes(folder: Path, entry: SegmentEntry) -> np.ndarray | None:
    if entry.deletes is None:
        return None
    try:
        data = (folder / entry.deletes).read_bytes()
    except OSError as exc:
        raise IndexFormatError(f"{folder}: {entry.deletes} cannot be read ({exc}); "
                               f"{rebuild_hint(folder)}") from None
    dead = np.unpackbits(np.frombuffer(data, np.uint8), count=entry.docs,
                         bitorder="little").astype(bool)
    if len(dead) != entry.docs or int(dead.sum()) != entry.deleted:
        raise IndexFormatError(f"{folder}: {entry.deletes} does not match its segment; "
                               f"{rebuild_hint(folder)}")
    return dead


def referenced_files(manifest: Manifest) -> set[str]:
    """Paths (relative to the folder) the manifest needs, segments as their folders."""
    out = {manifest.file}
    for s in manifest.segments:
        out.add(f"{SEGMENTS}/{s.name}")
        if s.deletes:
            out.add(s.deletes)
    return out
