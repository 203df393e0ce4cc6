"""The reference index kept in Redis, shared by every server process on every machine.

Layout (``p`` is the key prefix), plain bytes and strings only, nothing pickled:

- ``p:band:<8-byte band key>``: 12-byte records (doc slot, normalised start, end), little-endian
  uint32, appended; one key per LSH band key, so a report's lookups are one ``MGET``;
- ``p:seed:<8-byte window hash>``: 8-byte records (doc slot, position) of the sampled windows;
- ``p:doc:<slot>``: a hash with the reference and its normalised text, and ``live`` = 1 once
  the reference is published; ``p:ids``: id -> slot; ``p:slots``: a counter;
- ``p:layout``: what the keys were made with (fingerprint and LSH parameters), written by the
  first addition; a process made otherwise refuses the store rather than misread it.

A check sends the seed and band lookups of the whole report in one pipelined round trip, then
reads the documents it needs in a second one. An addition writes its records and document first
and publishes the id last, atomically, in a script that refuses a taken id; records of a removed
or never-published document are skipped by every reader (a rebuild drops them).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import numpy as np

from app.core.corpus import Reference
from app.core.document import Document, source_document
from app.core.errors import (
    DuplicateReferenceError,
    IndexFormatError,
    ReferenceNotFoundError,
    StoreUnavailableError,
)
from app.core.fingerprint import NUM_PERM
from app.core.index import FINGERPRINT, LSH_THRESHOLD, Prepared, Progress, UnitPlaces, prepared
from app.core.lsh import MAX_BAND_POSTINGS, band_keys, lsh_params
from app.core.seeds import MAX_POSTINGS, STRIDE, Hits, window_hashes

_CACHE_SIZE = 2048
_DOC_FIELDS = ("id", "title", "source", "tags", "text", "norm")

# Publish an added document: refuse a taken id, else map the id to the slot and mark it live.
_PUBLISH = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], 'live', '1')
return 1
"""
_REMOVE = """
local slot = redis.call('HGET', KEYS[1], ARGV[1])
if not slot then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2] .. slot)
return 1
"""


def _ints(blob: bytes | None, width: int) -> np.ndarray:
    if not blob:
        return np.empty((0, width), dtype=np.int64)
    return np.frombuffer(blob, dtype="<u4").reshape(-1, width).astype(np.int64)


class RedisIndex:
    def __init__(self, url: str, prefix: str = "chachong:index:",
                 lsh_threshold: float = LSH_THRESHOLD) -> None:
        import redis

        self.url = url
        self._errors: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)
        self._redis = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=2,
                                           health_check_interval=10)
        self._p = prefix.encode()
        self.bands, self.rows = lsh_params(lsh_threshold, NUM_PERM)
        made = {**FINGERPRINT, "bands": self.bands, "rows": self.rows}
        self.layout = ("chachong-redis-index 2; " + " ".join(f"{k}={v}" for k, v in made.items())
                       ).encode()
        self._publish = self._redis.register_script(_PUBLISH)
        self._remove = self._redis.register_script(_REMOVE)
        # documents never change under a slot (slots are not reused); liveness can, so it is
        # read again by every prefetch
        self._cache: OrderedDict[int, tuple[Reference, str]] = OrderedDict()
        self._docs: OrderedDict[int, Document] = OrderedDict()
        self._live: set[int] = set()

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self._errors as exc:
            raise StoreUnavailableError(
                f"the Redis index at {self.url} cannot be reached ({exc}); the request can be "
                "retried when it is back") from exc

    def _key(self, kind: bytes, raw: bytes) -> bytes:
        return self._p + kind + b":" + raw

    def _doc_key(self, slot: int) -> bytes:
        return self._key(b"doc", str(slot).encode())

    # -- reading -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self._call(self._redis.hlen, self._key(b"ids", b"")))

    def __contains__(self, doc_id: str) -> bool:
        return bool(self._call(self._redis.hexists, self._key(b"ids", b""), doc_id))

    def ping(self) -> bool:
        """Reachable, and holding keys this process can read; whether its layout is recorded."""
        pipe = self._redis.pipeline(transaction=False)
        self._layout_reads(pipe)
        found, written = self._call(pipe.execute)
        self._check_layout(found, written)
        return found is not None

    def _layout_reads(self, pipe: Any) -> None:
        pipe.get(self._key(b"layout", b""))
        pipe.exists(self._key(b"slots", b""))

    def _check_layout(self, found: bytes | None, written: int) -> None:
        """An empty store has no layout yet; any other must have been made as this process
        makes keys, or its band and seed keys would silently match nothing."""
        if found == self.layout or (found is None and not written):
            return
        made = found.decode(errors="replace") if found is not None else \
            "an earlier release of chachong"
        raise IndexFormatError(
            f"the Redis index at {self.url} was written by {made}, not as this server writes "
            f"({self.layout.decode()}); delete its keys ({self._p.decode()}*) and add the "
            "references again")

    def ids(self) -> list[str]:
        return sorted(k.decode() for k in self._call(self._redis.hkeys, self._key(b"ids", b"")))

    def lookup(self, chars: str, sigs: np.ndarray,
               per_unit: int) -> tuple[Hits, list[UnitPlaces]]:
        windows = window_hashes(chars)
        keys = band_keys(sigs, self.bands, self.rows).ravel()
        pipe = self._redis.pipeline(transaction=False)
        pipe.mget([self._key(b"seed", k.tobytes()) for k in windows] or [b"-"])
        pipe.mget([self._key(b"band", k.tobytes()) for k in keys] or [b"-"])
        self._layout_reads(pipe)
        seed_values, band_values, *layout = self._call(pipe.execute)
        self._check_layout(*layout)
        return self._hits(seed_values[: len(windows)]), self._places(band_values[: len(keys)],
                                                                     len(sigs), per_unit)

    @staticmethod
    def _hits(values: list[bytes | None]) -> Hits:
        crowded = np.zeros(len(values), dtype=np.int64)
        at, slots, pos = [], [], []
        for i, blob in enumerate(values):
            records = _ints(blob, 2)
            if len(records) > MAX_POSTINGS:
                crowded[i] = len(records)
            elif len(records):
                at.append(np.full(len(records), i))
                slots.append(records[:, 0])
                pos.append(records[:, 1])
        if not at:
            empty = np.empty(0, np.int64)
            return Hits(empty, empty, empty, crowded)
        return Hits(np.concatenate(at), np.concatenate(slots), np.concatenate(pos), crowded)

    def _places(self, values: list[bytes | None], n_units: int,
                per_unit: int) -> list[UnitPlaces]:
        out = []
        for unit in range(n_units):
            blobs = values[unit * self.bands : (unit + 1) * self.bands]
            parts = [r for r in (_ints(b, 3) for b in blobs) if len(r) <= MAX_BAND_POSTINGS]
            records = np.concatenate(parts) if parts else np.empty((0, 3), np.int64)
            found, votes = np.unique(records, axis=0, return_counts=True)
            out.append(UnitPlaces(found[:, 0], found[:, 1], found[:, 2], votes)
                       .strongest(per_unit))
        return out

    def prefetch(self, slots: set[int]) -> None:
        """Liveness of ``slots`` and the documents not cached yet, in one round trip."""
        wanted = sorted(slots)
        pipe = self._redis.pipeline(transaction=False)
        for slot in wanted:
            if slot in self._cache:
                pipe.hget(self._doc_key(slot), "live")
            else:
                pipe.hmget(self._doc_key(slot), ["live", *_DOC_FIELDS])
        answers = self._call(pipe.execute) if wanted else []
        self._live = set()
        for slot, answer in zip(wanted, answers, strict=True):
            live = answer[0] if isinstance(answer, list) else answer
            if live != b"1":
                self._cache.pop(slot, None)  # removed: its text leaves this process too
                self._docs.pop(slot, None)
                continue
            self._live.add(slot)
            if isinstance(answer, list):
                self._remember(slot, answer[1:])

    def _remember(self, slot: int, fields: list[bytes]) -> None:
        doc_id, title, source, tags, text, norm = fields
        ref = Reference(id=doc_id.decode(), text=text.decode(), title=title.decode(),
                        source=source.decode() or None, tags=json.loads(tags))
        self._cache[slot] = (ref, norm.decode())
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)

    def alive(self, slot: int) -> bool:
        return slot in self._live

    def _entry(self, slot: int) -> tuple[Reference, str]:
        if slot not in self._cache:
            self.prefetch({slot})
            if slot not in self._live:
                raise ReferenceNotFoundError(f"reference number {slot} was removed")
        self._cache.move_to_end(slot)
        return self._cache[slot]

    def ref(self, slot: int) -> Reference:
        return self._entry(slot)[0]

    def doc(self, slot: int) -> Document:
        if slot not in self._docs:
            self._docs[slot] = source_document(self._entry(slot)[0].text)
            if len(self._docs) > _CACHE_SIZE:
                self._docs.popitem(last=False)
        return self._docs[slot]

    def chars(self, slot: int) -> str:
        return self._entry(slot)[1]

    def get(self, doc_id: str) -> Reference:
        slot = self._call(self._redis.hget, self._key(b"ids", b""), doc_id)
        if slot is None:
            raise ReferenceNotFoundError(f"no reference with id '{doc_id}'")
        self.prefetch({int(slot)})
        if int(slot) not in self._live:
            raise ReferenceNotFoundError(f"no reference with id '{doc_id}'")
        return self.ref(int(slot))

    # -- changes -----------------------------------------------------------------------------

    def add(self, ref: Reference, *, replace: bool = False) -> None:
        self.add_many([ref], replace=replace)

    def add_many(self, refs: Iterable[Reference], *, replace: bool = False, workers: int = 1,
                 progress: Progress | None = None) -> None:
        if not self.ping() and not self._call(self._redis.set, self._key(b"layout", b""),
                                              self.layout, nx=True):
            self.ping()  # another process wrote the layout since: it must be this one
        items: Iterable[Prepared] = prepared(refs, self.bands, self.rows, workers)
        for item in items:
            if replace and item.ref.id in self:
                self.remove(item.ref.id)
            slot = int(self._call(self._redis.incr, self._key(b"slots", b"")))
            ref = item.ref
            pipe = self._redis.pipeline(transaction=False)
            pipe.hset(self._doc_key(slot), mapping={
                "id": ref.id, "title": ref.title, "source": ref.source or "",
                "tags": json.dumps(ref.tags, ensure_ascii=False), "text": ref.text,
                "norm": item.chars})
            unit_records = np.stack([np.full(len(item.unit_start), slot), item.unit_start,
                                     item.unit_end], axis=1).astype("<u4")
            for u, keys in enumerate(item.band_keys):
                record = unit_records[u].tobytes()
                for key in keys:
                    pipe.append(self._key(b"band", key.tobytes()), record)
            seed_pos = np.arange(len(item.seed_keys)) * STRIDE
            seed_records = np.stack([np.full(len(seed_pos), slot), seed_pos],
                                    axis=1).astype("<u4")
            for key, record in zip(item.seed_keys, seed_records, strict=True):
                pipe.append(self._key(b"seed", key.tobytes()), record.tobytes())
            self._call(pipe.execute)
            if not self._call(self._publish, keys=[self._key(b"ids", b""), self._doc_key(slot)],
                              args=[item.ref.id, slot]):
                self._call(self._redis.delete, self._doc_key(slot))
                raise DuplicateReferenceError(
                    f"a reference with id '{item.ref.id}' is already indexed; delete it first "
                    "or choose another id")
            if progress:
                progress(1)

    def remove(self, doc_id: str) -> None:
        if not self._call(self._remove, keys=[self._key(b"ids", b""), self._key(b"doc", b"")],
                          args=[doc_id]):
            raise ReferenceNotFoundError(f"no reference with id '{doc_id}'")
        for slot in [s for s, (ref, _) in self._cache.items() if ref.id == doc_id]:
            self._cache.pop(slot)
            self._docs.pop(slot, None)
