"""A caller as an access decision sees it: which scopes it holds on which collections."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.collections import TEMPLATES

SCOPES = ("check", "read", "write", "admin")
ALL = "*"  # every collection, also those made later


@dataclass(frozen=True)
class Principal:
    """``key_id`` None is a caller without a key. ``admin`` holds every scope on every
    collection, and manages keys, collections and the audit trail."""

    key_id: str | None
    scopes: frozenset[str]
    collections: frozenset[str]
    rate: int | None = None  # requests a minute; None: the server's default

    @property
    def anonymous(self) -> bool:
        return self.key_id is None

    @property
    def admin(self) -> bool:
        return "admin" in self.scopes

    def given(self, collection: str) -> bool:
        """The collection is one this caller was given (whatever the scopes)."""
        return self.admin or ALL in self.collections or collection in self.collections

    def may(self, scope: str, collection: str) -> bool:
        return self.given(collection) and (self.admin or scope in self.scopes)

    def usable(self, scope: str, known: Iterable[str]) -> list[str]:
        """Of the ``known`` collections, those this caller may use with ``scope``."""
        return [name for name in known if self.may(scope, name)]


ANONYMOUS = Principal(None, frozenset(), frozenset())
OPEN_READER = Principal(None, frozenset({"check", "read"}), frozenset({TEMPLATES}))


def admin_key(number: int) -> Principal:
    """A key of CHACHONG_API_KEYS: an admin key, named by its place in the list."""
    return Principal(f"env-{number}", frozenset({"admin"}), frozenset({ALL}))
