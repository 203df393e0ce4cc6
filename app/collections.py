"""Collections: named sets of references that a server keeps apart (one organisation's
submissions each, and the shared ``templates``).

``templates`` is the collection every server has: its read-only part is the base corpus (the
bundled templates, ``--corpus`` or ``--index``) and what is added to it over the API goes to the
data folder's ``index/`` (the one index of earlier releases). Every other collection is an index
of its own: a folder ``collections/<name>/`` beside it, with its own segments, log and merges;
with a shared store (Redis), that folder copies the collection's own shared log, whose keys are
under a prefix of their own (``<prefix>collection:<name>:``). A registry (SQLite in the data
folder, or a hash in the shared store) gives each collection a number, fixed when it is made,
which places its references' slots: the slots of collection ``n`` start at ``(n + 1) * 2**32``,
so a check over several collections sees disjoint slot ranges and breaks ties the same way in
every process (templates first, then collections in the order they were made).

Inside a check, a reference of another collection than ``templates`` is named
``<collection>/<id>`` (``/`` is in no id), so two collections may hold the same id and a result
still tells their sources apart; the result also says each source's collection.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from app.core import CheckResult, Reference
from app.core.errors import CorpusError, ReferenceNotFoundError

TEMPLATES = "templates"
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
SLOT_SPAN = 1 << 32  # slots of one collection's additions
MAX_NUMBER = 510  # (510 + 1) * 2**32 + 2**32 stays below 2**41, the slots a table can hold
REGISTRY_FILE = "collections.sqlite3"
FOLDER = "collections"

_NAME = re.compile(NAME_PATTERN)


class CollectionNotFoundError(ReferenceNotFoundError):
    """No such collection, or one the caller was not given (the same answer for both)."""


class CollectionLimitError(CorpusError):
    code = "too_many_collections"


def valid_name(name: str) -> bool:
    return bool(_NAME.match(name))


def not_found(name: str) -> CollectionNotFoundError:
    return CollectionNotFoundError(f"no collection '{name}'")


def source_key(collection: str, ref_id: str) -> str:
    """How a check names a reference: its id in ``templates``, else ``collection/id``."""
    return ref_id if collection == TEMPLATES else f"{collection}/{ref_id}"


def split_key(key: str) -> tuple[str, str]:
    """(collection, id) of a source key."""
    collection, sep, ref_id = key.partition("/")
    return (collection, ref_id) if sep else (TEMPLATES, key)


def label_sources(result: CheckResult, batch: Iterable[str] = ()) -> CheckResult:
    """Each source of ``result`` told its collection (None for a report of the same batch)."""
    batch_ids = set(batch)

    def collection_of(key: str) -> str | None:
        return None if key in batch_ids else split_key(key)[0]

    for paragraph in result.paragraphs:
        for match in paragraph.matches:
            match.source.collection = collection_of(match.source.id)
    for share in result.sources:
        share.collection = collection_of(share.id)
    return result


class Qualified:
    """A collection's part of an index (or its shared index in Redis) whose references are
    named ``collection/id``; everything else is the inner one's."""

    def __init__(self, inner: Any, collection: str) -> None:
        self.inner = inner
        self.prefix = f"{collection}/"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __len__(self) -> int:
        return len(self.inner)

    def _own(self, key: str) -> str | None:
        return key[len(self.prefix):] if key.startswith(self.prefix) else None

    def __contains__(self, key: str) -> bool:
        own = self._own(key)
        return own is not None and own in self.inner

    def slot_of(self, key: str) -> int | None:
        own = self._own(key)
        return None if own is None else self.inner.slot_of(own)

    def _named(self, ref: Reference) -> Reference:
        return replace(ref, id=self.prefix + ref.id)

    def ref(self, slot: int) -> Reference:
        return self._named(self.inner.ref(slot))

    def get(self, key: str) -> Reference:
        own = self._own(key)
        if own is None:
            raise ReferenceNotFoundError(f"no reference with id '{key}'")
        return self._named(self.inner.get(own))


# --- registries -------------------------------------------------------------------------------

class FolderRegistry:
    """The collections of a data folder, in SQLite beside their folders: one row each, made in
    one transaction, so two processes making the same collection agree on its number."""

    def __init__(self, root: Path) -> None:
        self.path = root / REGISTRY_FILE
        self._local = threading.local()
        root.mkdir(parents=True, exist_ok=True)
        self._conn().execute("CREATE TABLE IF NOT EXISTS collections (name TEXT PRIMARY KEY, "
                             "number INTEGER NOT NULL UNIQUE, created REAL NOT NULL)")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    def numbers(self) -> dict[str, int]:
        rows = self._conn().execute("SELECT name, number FROM collections").fetchall()
        return {TEMPLATES: 0, **{name: number for name, number in rows}}

    def create(self, name: str) -> bool:
        """Make ``name``; False when it exists already."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            if name == TEMPLATES or conn.execute(
                    "SELECT 1 FROM collections WHERE name = ?", (name,)).fetchone():
                conn.execute("ROLLBACK")
                return False
            number = conn.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM collections"
                                  ).fetchone()[0]
            if number > MAX_NUMBER:
                raise CollectionLimitError(f"a server keeps at most {MAX_NUMBER} collections "
                                           "besides templates")
            conn.execute("INSERT INTO collections VALUES (?, ?, ?)", (name, number, time.time()))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return True


_CREATE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
local n = redis.call('INCR', KEYS[2])
if n > tonumber(ARGV[2]) then redis.call('DECR', KEYS[2]) return -1 end
redis.call('HSET', KEYS[1], ARGV[1], n)
return n
"""


class RedisRegistry:
    """The collections of a shared store (Redis or a Redis Cluster): a hash of name -> number,
    numbers from a counter, made by one script so that two servers agree; both keys carry the
    store's prefix and one hash tag (one cluster slot)."""

    def __init__(self, client: Any, prefix: str) -> None:
        import redis

        self.key = f"{prefix}{{collections}}"
        self._redis = client
        self._create = client.register_script(_CREATE)
        self._errors: tuple[type[Exception], ...] = (
            redis.ConnectionError, redis.TimeoutError, redis.exceptions.ClusterError)

    @classmethod
    def of(cls, url: str) -> RedisRegistry:
        """The registry of the store at ``url`` (as ``CHACHONG_STORE`` gives it)."""
        from app.storage.shared_log import connect

        client, _, prefix = connect(url)
        return cls(client, prefix)

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from app.core.errors import StoreUnavailableError

        try:
            return fn(*args, **kwargs)
        except self._errors as exc:
            raise StoreUnavailableError(f"Redis cannot be reached ({exc})") from exc

    def numbers(self) -> dict[str, int]:
        found = self._call(self._redis.hgetall, self.key)
        return {TEMPLATES: 0, **{(k.decode() if isinstance(k, bytes) else k): int(v)
                                 for k, v in found.items()}}

    def create(self, name: str) -> bool:
        if name == TEMPLATES:
            return False
        number = int(self._call(self._create, keys=[self.key, f"{self.key}:next"],
                                args=[name, MAX_NUMBER]))
        if number < 0:
            raise CollectionLimitError(f"a server keeps at most {MAX_NUMBER} collections "
                                       "besides templates")
        return number > 0


def shared_prefix(prefix: str, name: str) -> str:
    """The key prefix of a collection's log in a shared store whose own prefix is ``prefix``
    (templates keeps the store's prefix)."""
    return prefix if name == TEMPLATES else f"{prefix}collection:{name}:"
