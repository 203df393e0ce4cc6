"""Two indexes answering as one, each with its own lookups: an index and a private batch (a
cross-check adds its reports beside the corpus so that no other request sees them), or a
server's local corpus and the references shared in Redis. Slots of the second are shifted above
every slot of the first (nested combinations included), so they never collide and keep their
order: the corpus, then the additions, then a batch.
"""

from __future__ import annotations

import numpy as np

from .corpus import Reference
from .document import Document
from .errors import ReferenceNotFoundError
from .index import Index, UnitPlaces
from .seeds import Hits

SHIFT = 1 << 42  # above every slot of a local index (a stored reference's is 2**32 + its number)


class CombinedIndex:
    def __init__(self, base: Index, changes: Index) -> None:
        self.base = base
        self.changes = changes
        self.shift: int = base.shift * 2 if isinstance(base, CombinedIndex) else SHIFT

    def _part(self, slot: int) -> tuple[Index, int]:
        return (self.changes, slot - self.shift) if slot >= self.shift else (self.base, slot)

    def __len__(self) -> int:
        return len(self.base) + len(self.changes)

    def __contains__(self, doc_id: str) -> bool:
        return doc_id in self.base or doc_id in self.changes

    def lookup(self, chars: str, sigs: np.ndarray,
               per_unit: int) -> tuple[Hits, list[UnitPlaces]]:
        hits_a, places_a = self.base.lookup(chars, sigs, per_unit)
        hits_b, places_b = self.changes.lookup(chars, sigs, per_unit)
        hits = Hits(np.concatenate([hits_a.qpos, hits_b.qpos]),
                    np.concatenate([hits_a.docs, hits_b.docs + self.shift]),
                    np.concatenate([hits_a.dpos, hits_b.dpos]), hits_a.crowded + hits_b.crowded)
        places = [UnitPlaces(np.concatenate([a.docs, b.docs + self.shift]),
                             np.concatenate([a.starts, b.starts]), np.concatenate([a.ends, b.ends]),
                             np.concatenate([a.votes, b.votes])).strongest(per_unit)
                  for a, b in zip(places_a, places_b, strict=True)]
        return hits, places

    def prefetch(self, slots: set[int]) -> dict[int, str]:
        texts = self.base.prefetch({s for s in slots if s < self.shift})
        texts.update((s + self.shift, chars) for s, chars in self.changes.prefetch(
            {s - self.shift for s in slots if s >= self.shift}).items())
        return texts

    def alive(self, slot: int) -> bool:
        part, own = self._part(slot)
        return part.alive(own)

    def alive_many(self, slots: np.ndarray) -> np.ndarray:
        slots = np.asarray(slots, np.int64)
        changes = slots >= self.shift
        out = np.empty(len(slots), bool)
        out[~changes] = self.base.alive_many(slots[~changes])
        out[changes] = self.changes.alive_many(slots[changes] - self.shift)
        return out

    def ref(self, slot: int) -> Reference:
        part, own = self._part(slot)
        return part.ref(own)

    def doc(self, slot: int) -> Document:
        part, own = self._part(slot)
        return part.doc(own)

    def chars(self, slot: int) -> str:
        part, own = self._part(slot)
        return part.chars(own)

    def get(self, doc_id: str) -> Reference:
        for part in (self.base, self.changes):
            if doc_id in part:
                return part.get(doc_id)
        raise ReferenceNotFoundError(f"no reference with id '{doc_id}'")
