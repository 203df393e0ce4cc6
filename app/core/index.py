"""The reference index: documents, their sentence units, the LSH band table and the seed table.

Saved as one ``.npz`` file of plain arrays (``allow_pickle=False``) plus a JSON header with a
format version, so a saved index loads the same in every process and never executes stored data.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .corpus import Reference
from .document import Document, analyse
from .errors import DuplicateReferenceError, IndexFormatError, ReferenceNotFoundError
from .fingerprint import NUM_PERM, SCHEME, SEED, signatures
from .lsh import BandTable, lsh_params
from .seeds import K, SeedTable

FORMAT = "chachong-index"
VERSION = 1
LSH_THRESHOLD = 0.3  # units this similar (Jaccard of shingles) are candidates; all are verified
_ARRAYS = ("header", "band_keys", "band_units", "seed_hashes", "seed_docs", "seed_pos",
           "unit_doc", "unit_start", "unit_end")


class ReferenceIndex:
    def __init__(self, lsh_threshold: float = LSH_THRESHOLD) -> None:
        self.lsh_threshold = lsh_threshold
        bands, rows = lsh_params(lsh_threshold, NUM_PERM)
        self.bands = BandTable(bands, rows)
        self.seeds = SeedTable()
        self.refs: list[Reference | None] = []  # slot = internal doc number; None once removed
        self.docs: list[Document | None] = []
        self.by_id: dict[str, int] = {}
        self.unit_doc = np.empty(0, dtype=np.uint32)
        self.unit_start = np.empty(0, dtype=np.uint32)
        self.unit_end = np.empty(0, dtype=np.uint32)
        self._common: dict[tuple[float, int], np.ndarray] = {}  # cleared whenever docs change

    def __len__(self) -> int:
        return len(self.by_id)

    def __contains__(self, doc_id: str) -> bool:
        return doc_id in self.by_id

    def references(self) -> list[Reference]:
        return [r for r in self.refs if r is not None]

    def get(self, doc_id: str) -> Reference:
        try:
            ref = self.refs[self.by_id[doc_id]]
        except KeyError:
            raise ReferenceNotFoundError(f"no reference with id '{doc_id}'") from None
        assert ref is not None
        return ref

    def add(self, ref: Reference, *, replace: bool = False) -> None:
        self.add_many([ref], replace=replace)

    def add_many(self, refs: Iterable[Reference], *, replace: bool = False) -> None:
        batch_units: list[str] = []
        for ref in refs:
            if ref.id in self.by_id:
                if not replace:
                    raise DuplicateReferenceError(
                        f"a reference with id '{ref.id}' is already indexed; delete it first or "
                        "choose another id")
                self.remove(ref.id)
            doc_no = len(self.refs)
            doc = analyse(ref.text)
            self.refs.append(ref)
            self.docs.append(doc)
            self.by_id[ref.id] = doc_no
            self.seeds.add(doc_no, doc.norm.chars)
            batch_units.extend(doc.unit_chars(unit) for unit in doc.units)
            self._append_units(doc_no, doc)
        self._common.clear()
        if batch_units:
            ids = np.arange(len(self.unit_doc) - len(batch_units), len(self.unit_doc))
            self.bands.add(ids, signatures(batch_units))

    def _append_units(self, doc_no: int, doc: Document) -> None:
        n = len(doc.units)
        self.unit_doc = np.concatenate([self.unit_doc, np.full(n, doc_no, dtype=np.uint32)])
        self.unit_start = np.concatenate(
            [self.unit_start, np.array([u.start for u in doc.units], dtype=np.uint32)])
        self.unit_end = np.concatenate(
            [self.unit_end, np.array([u.end for u in doc.units], dtype=np.uint32)])

    def remove(self, doc_id: str) -> None:
        doc_no = self.by_id.pop(doc_id, None)
        if doc_no is None:
            raise ReferenceNotFoundError(f"no reference with id '{doc_id}'")
        self.refs[doc_no] = None
        self.docs[doc_no] = None
        self._common.clear()
        self.seeds.remove(doc_no)
        self.bands.remove(np.flatnonzero(self.unit_doc == doc_no))

    def common_hashes(self, share: float, min_docs: int) -> np.ndarray:
        """Hashes of the K-character windows found in more than ``share`` of the documents
        (and in at least ``min_docs``): the corpus's own stock phrases. Cached until it changes."""
        key = (share, min_docs)
        if key not in self._common:
            hashes, docs, _ = self.seeds.arrays()
            pairs = np.unique(np.stack([hashes, docs.astype(np.uint64)], axis=1), axis=0)
            values, counts = np.unique(pairs[:, 0], return_counts=True)
            needed = max(min_docs, int(share * len(self)) + 1)
            self._common[key] = values[counts >= needed]
        return self._common[key]

    def doc(self, doc_no: int) -> Document:
        doc = self.docs[doc_no]
        assert doc is not None
        return doc

    def ref(self, doc_no: int) -> Reference:
        ref = self.refs[doc_no]
        assert ref is not None
        return ref

    # -- persistence -------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write atomically: a crash leaves the old file or the new one, never half of one."""
        keys, units = self.bands.arrays()
        hashes, seed_docs, seed_pos = self.seeds.arrays()
        header = {
            "format": FORMAT, "version": VERSION, "num_perm": NUM_PERM, "seed": SEED,
            "scheme": SCHEME, "k": K, "lsh_threshold": self.lsh_threshold,
            "bands": self.bands.bands, "rows": self.bands.rows,
            "refs": [asdict(r) if r is not None else None for r in self.refs],
        }
        path = Path(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez_compressed(
                    fh, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
                    band_keys=keys, band_units=units, seed_hashes=hashes, seed_docs=seed_docs,
                    seed_pos=seed_pos, unit_doc=self.unit_doc, unit_start=self.unit_start,
                    unit_end=self.unit_end)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> ReferenceIndex:
        try:
            # our own handle, so that a file numpy cannot open is still closed
            with Path(path).open("rb") as fh, np.load(fh, allow_pickle=False) as data:
                arrays = {name: data[name] for name in _ARRAYS}
        except FileNotFoundError:
            raise IndexFormatError(f"{path}: no such index file; build one with 'chachong "
                                   "index build DIR --out FILE'") from None
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, TypeError) as exc:
            raise IndexFormatError(f"{path}: not a readable chachong index file ({exc}); rebuild "
                                   "it with 'chachong index build DIR --out FILE'") from None
        try:
            header = json.loads(bytes(arrays["header"]).decode())
        except (ValueError, UnicodeDecodeError):
            header = None
        if not isinstance(header, dict):
            raise IndexFormatError(f"{path}: the index header is damaged; rebuild the index")
        if header.get("format") != FORMAT or header.get("version") != VERSION:
            raise IndexFormatError(f"{path}: index format {header.get('format')} version "
                                   f"{header.get('version')} is not supported (expected version "
                                   f"{VERSION}); rebuild it with 'chachong index build'")
        expected = {"num_perm": NUM_PERM, "seed": SEED, "scheme": SCHEME, "k": K}
        if any(header.get(k) != v for k, v in expected.items()):
            raise IndexFormatError(f"{path}: built with other fingerprint parameters; rebuild it")
        try:
            return cls._from_parts(header, arrays)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise IndexFormatError(f"{path}: the index is inconsistent ({exc}); rebuild it") \
                from None

    @classmethod
    def _from_parts(cls, header: dict, arrays: dict[str, np.ndarray]) -> ReferenceIndex:
        index = cls(header["lsh_threshold"])
        index.bands = BandTable.from_arrays(header["bands"], header["rows"], arrays["band_keys"],
                                            arrays["band_units"])
        index.seeds = SeedTable.from_arrays(arrays["seed_hashes"], arrays["seed_docs"],
                                            arrays["seed_pos"])
        index.unit_doc = arrays["unit_doc"]
        index.unit_start = arrays["unit_start"]
        index.unit_end = arrays["unit_end"]
        for doc_no, raw in enumerate(header["refs"]):
            if raw is None:
                index.refs.append(None)
                index.docs.append(None)
                continue
            ref = Reference(**raw)
            index.refs.append(ref)
            index.docs.append(analyse(ref.text))
            index.by_id[ref.id] = doc_no
        return index


def build_index(refs: Iterable[Reference], lsh_threshold: float = LSH_THRESHOLD) -> ReferenceIndex:
    index = ReferenceIndex(lsh_threshold)
    index.add_many(refs)
    return index
