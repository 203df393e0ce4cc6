"""A prepared reference as bytes: what the write-ahead log keeps and a segment is written from.

A reference is prepared (segmented, fingerprinted) once, by the process that receives it; the
record carries the result, so no other process prepares it again: a worker replaying the log
and the flush that writes it into a segment only decode it. Layout: a 4-byte length, a JSON
header (the reference's id, title, source, tags and the sizes below), then the zstandard-
compressed text (UTF-8) and normalised text (UTF-16-LE), the unit offsets (uint32), the band
keys (units x bands) and the sampled window keys, each key as its 5 significant bytes (keys are
40-bit: the low bits below them are zero). Plain bytes: nothing pickled.
"""

from __future__ import annotations

import json
import struct
import threading
from dataclasses import dataclass

import numpy as np
import zstandard

from app.core.corpus import Reference
from app.core.index import Prepared
from app.core.table import POSTING_BITS

_LEVEL = 9  # decompression costs the same at any level; 9 packs a report 3 % better than 3
_NORM_ENCODING = "utf-16-le"  # what a str of Chinese text holds already: the fastest decode
_HEADER = struct.Struct("<I")
KEY_BYTES = (64 - POSTING_BITS) // 8  # a key's significant bytes
LAYOUT_VERSION = 8  # a record's bytes: the same since index version 8
_SHIFT = np.uint64(POSTING_BITS)


def _pack_keys(keys: np.ndarray) -> bytes:
    top = (np.asarray(keys, np.uint64).ravel() >> _SHIFT).astype("<u8")
    return top.view(np.uint8).reshape(-1, 8)[:, :KEY_BYTES].tobytes()


def _unpack_keys(data: bytes) -> np.ndarray:
    grid = np.zeros((len(data) // KEY_BYTES, 8), np.uint8)
    grid[:, :KEY_BYTES] = np.frombuffer(data, np.uint8).reshape(-1, KEY_BYTES)
    return grid.view("<u8").ravel().astype(np.uint64) << _SHIFT


def compress(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=_LEVEL).compress(data)


_OWN = threading.local()  # a decompressor per thread: one may not be shared, and a new one
# costs a quarter of what decompressing a report does (a check reads hundreds)


def decompress(data: bytes) -> bytes:
    decompressor = getattr(_OWN, "decompressor", None)
    if decompressor is None:
        decompressor = _OWN.decompressor = zstandard.ZstdDecompressor()
    return decompressor.decompress(data)


def encode_chars(chars: str) -> bytes:
    return compress(chars.encode(_NORM_ENCODING))


def decode_chars(data: bytes) -> str:
    return decompress(data).decode(_NORM_ENCODING)


def chars_from_bytes(data: bytes) -> str:
    """A normalised text as a segment keeps it (uncompressed)."""
    return data.decode(_NORM_ENCODING)


def encode_text(text: str) -> bytes:
    return compress(text.encode("utf-8"))


def decode_text(data: bytes) -> str:
    return decompress(data).decode("utf-8")


@dataclass
class Record:
    """One reference as the storage engine keeps it."""

    ref: Reference
    text_z: bytes
    chars_z: bytes
    unit_start: np.ndarray  # uint32
    unit_end: np.ndarray  # uint32
    band_keys: np.ndarray  # uint64 (units, bands)
    seed_keys: np.ndarray  # uint64

    @classmethod
    def of(cls, item: Prepared) -> Record:
        return cls(item.ref, encode_text(item.ref.text), encode_chars(item.chars),
                   np.asarray(item.unit_start, np.uint32), np.asarray(item.unit_end, np.uint32),
                   np.asarray(item.band_keys, np.uint64), np.asarray(item.seed_keys, np.uint64))

    @property
    def units(self) -> int:
        return len(self.unit_start)

    def chars_bytes(self) -> bytes:
        """The normalised text as a segment keeps it (see segment.py)."""
        return decompress(self.chars_z)

    def prepared(self) -> Prepared:
        """As the in-memory index takes it (the analysis is made again only if a check
        reports this reference)."""
        return Prepared(self.ref, decode_chars(self.chars_z), self.unit_start, self.unit_end,
                        self.band_keys, self.seed_keys)

    def to_bytes(self) -> bytes:
        header = json.dumps({
            "id": self.ref.id, "title": self.ref.title, "source": self.ref.source,
            "tags": self.ref.tags, "text": len(self.text_z), "chars": len(self.chars_z),
            "units": self.units, "bands": int(self.band_keys.shape[1]) if self.units else 0,
            "seeds": len(self.seed_keys)}, ensure_ascii=False).encode()
        return b"".join([_HEADER.pack(len(header)), header, self.text_z, self.chars_z,
                         self.unit_start.astype("<u4").tobytes(),
                         self.unit_end.astype("<u4").tobytes(),
                         _pack_keys(self.band_keys), _pack_keys(self.seed_keys)])

    @classmethod
    def from_bytes(cls, data: bytes) -> Record:
        (size,) = _HEADER.unpack_from(data)
        head = json.loads(data[_HEADER.size : _HEADER.size + size])
        at = _HEADER.size + size

        def take(n: int) -> bytes:
            nonlocal at
            at += n
            if at > len(data):
                raise ValueError("a stored record is cut short")
            return data[at - n : at]

        text_z, chars_z = take(head["text"]), take(head["chars"])
        units, bands = head["units"], head["bands"]
        unit_start = np.frombuffer(take(4 * units), "<u4")
        unit_end = np.frombuffer(take(4 * units), "<u4")
        band_keys = _unpack_keys(take(KEY_BYTES * units * bands)).reshape(units, bands)
        seed_keys = _unpack_keys(take(KEY_BYTES * head["seeds"]))
        ref = Reference(id=head["id"], text=decode_text(text_z), title=head["title"],
                        source=head["source"], tags=head["tags"])
        return cls(ref, text_z, chars_z, unit_start, unit_end, band_keys, seed_keys)
