"""A dict that computes a missing value on first lookup and stays bounded."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Memo(dict[K, V], Generic[K, V]):
    """``memo[key]`` is ``fn(key)``, computed once: lookups of keys seen before run at dict speed
    (also from C, as a ``str.translate`` table). Past ``limit`` entries it starts over, so text
    of random keys cannot grow it without end."""

    def __init__(self, fn: Callable[[K], V], limit: int) -> None:
        super().__init__()
        self.fn = fn
        self.limit = limit

    def __missing__(self, key: K) -> V:
        if len(self) >= self.limit:
            self.clear()
        self[key] = value = self.fn(key)
        return value
