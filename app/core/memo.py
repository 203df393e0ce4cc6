"""A dict that computes a missing value on first lookup and stays bounded."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Memo(dict[K, V], Generic[K, V]):
    """``memo[key]`` is ``fn(key)``, computed once: lookups of keys seen before run at dict speed
    (also from C, as a ``str.translate`` table).

    At ``limit`` entries it starts a new generation: the last one is kept aside, and its keys
    move back when they are looked up again. Keys in steady use stay, keys seen once (a rare
    word, random text) go, and it never holds more than twice ``limit``. (A memo of words
    filled until a large limit grew with everything a process read: a build's workers held
    more the larger the corpus.)"""

    def __init__(self, fn: Callable[[K], V], limit: int) -> None:
        super().__init__()
        self.fn = fn
        self.limit = limit
        self._previous: dict[K, V] = {}

    def __missing__(self, key: K) -> V:
        value = self._previous[key] if key in self._previous else self.fn(key)
        if len(self) >= self.limit:
            self._previous = dict(self)
            self.clear()
        self[key] = value
        return value
