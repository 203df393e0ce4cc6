"""The write-ahead log shared by several servers, in Redis or a Redis Cluster.

Servers on several machines share one corpus through it. An addition is the reference's prepared
record, written once, by the server that received it; a removal is a mark. Every server copies
what others logged into its own data folder's log (``replicate``) before it answers, and from
there its own flushes and merges write it into local segments, as for additions made locally:
so a check reads no index from Redis at all (one pipelined round trip per Redis node fetches
what is new), and Redis holds each reference once, as one compact record.

Layout (``p`` is the key prefix, ``{n}`` a hash tag: a partition's keys live in one slot, so a
script can change them together), plain bytes and strings only, nothing pickled:

- ``p{n}:log``: a stream of ``op`` (``add`` or ``delete``) and ``id`` entries, in the order they
  were made; ``p{n}:records``: stream entry id -> the prepared record of an addition (removed
  with the reference, so a removed text leaves Redis at once); ``p{n}:ids``: reference id ->
  the stream entry id of its addition. A reference's partition is a hash of its id: 16
  partitions spread the corpus over a cluster's masters.
- ``p:layout``: what the records were made with; a server made otherwise refuses the store.

An addition answers only when a replica has acknowledged it (``WAIT``), when the store has
replicas (a cluster by default; ``?acks=N`` in the URL sets how many), so a master's failure does
not lose it. While Redis is unreachable (a failover in progress) requests answer 503.
"""

from __future__ import annotations

import contextlib
import copy
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from app.core.errors import (
    DuplicateReferenceError,
    IndexFormatError,
    ReferenceNotFoundError,
    StoreUnavailableError,
)
from app.core.index import FINGERPRINT

from .records import LAYOUT_VERSION, Record

PARTITIONS = 16
LAYOUT = ("chachong-shared-log 2; index " + str(LAYOUT_VERSION) + "; "
          + " ".join(f"{k}={v}" for k, v in FINGERPRINT.items()))

# An addition: refuse a taken id, else log it, keep its record and map the id to it.
_ADD = """
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then return false end
local entry = redis.call('XADD', KEYS[1], '*', 'op', 'add', 'id', ARGV[1])
redis.call('HSET', KEYS[2], entry, ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], entry)
return entry
"""
# A removal: the record goes at once; the log says which addition it removes.
_REMOVE = """
local added = redis.call('HGET', KEYS[3], ARGV[1])
if not added then return false end
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[2], added)
return redis.call('XADD', KEYS[1], '*', 'op', 'delete', 'id', ARGV[1], 'target', added)
"""


def partition_of(ref_id: str) -> int:
    return zlib.crc32(ref_id.encode()) % PARTITIONS


def entry_key(entry_id: str) -> tuple[int, int]:
    """A stream entry id (``ms-n``) as a sortable pair."""
    ms, _, n = entry_id.partition("-")
    return int(ms), int(n or 0)


@dataclass(frozen=True)
class Shared:
    """One entry of a partition's log, with the record of an addition."""

    partition: int
    entry: str
    op: str
    ref_id: str
    record: bytes | None


def connect(url: str) -> tuple[Any, int, str]:
    """A client for ``redis://``, ``rediss://`` (one server) or ``redis+cluster://h:p,h:p``
    (a cluster: the nodes given are where to start), the replica acknowledgements an addition
    waits for (``?acks=N``), and the key prefix (``?prefix=...``: several services, or
    collections, on one store)."""
    import redis
    from redis.cluster import ClusterNode, RedisCluster

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    prefix = query.get("prefix", ["chachong:"])[0]
    if parts.scheme in ("redis+cluster", "rediss+cluster"):
        nodes = [ClusterNode(host, int(port or 6379)) for host, _, port in
                 (node.rpartition(":") for node in parts.netloc.rsplit("@", 1)[-1].split(","))]
        client = RedisCluster(startup_nodes=nodes, password=parts.password,
                              ssl=parts.scheme.startswith("rediss"), socket_timeout=5,
                              socket_connect_timeout=2)
        return client, int(query.get("acks", ["1"])[0]), prefix
    return (redis.Redis.from_url(url.split("?", 1)[0], socket_timeout=5,
                                 socket_connect_timeout=2),
            int(query.get("acks", ["0"])[0]), prefix)


class SharedLog:
    def __init__(self, url: str) -> None:
        import redis
        from redis.cluster import RedisCluster

        self.url = url
        self.client, self.acks, self.prefix = connect(url)
        self.cluster = isinstance(self.client, RedisCluster)
        self._errors: tuple[type[Exception], ...] = (
            redis.ConnectionError, redis.TimeoutError, redis.exceptions.ClusterDownError,
            redis.exceptions.TryAgainError, redis.exceptions.MasterDownError,
            redis.exceptions.ClusterError)
        self._moved: type[Exception] = redis.exceptions.ResponseError  # MOVED, ASK: a slot moved
        self._add = self.client.register_script(_ADD)
        self._remove = self.client.register_script(_REMOVE)
        self._layout_checked = False

    def with_prefix(self, prefix: str) -> SharedLog:
        """The log kept under another key prefix of the same store (a collection's), on the
        same connections."""
        other = copy.copy(self)
        other.prefix = prefix
        other._layout_checked = False
        return other

    def _keys(self, partition: int) -> list[str]:
        tag = f"{self.prefix}{{{partition}}}"
        return [f"{tag}:log", f"{tag}:records", f"{tag}:ids"]

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self._errors as exc:
            raise StoreUnavailableError(
                f"the shared store at {self.url} cannot be reached ({exc}); retry the request "
                "in a few seconds") from exc

    # -- the layout ----------------------------------------------------------------------------

    def check_layout(self) -> None:
        """Record the layout on first use; refuse a store written otherwise."""
        if self._layout_checked:
            return
        key = f"{self.prefix}layout"
        self._call(self.client.set, key, LAYOUT, nx=True)
        self._call(self.client.set, f"{self.prefix}identity", uuid.uuid4().hex, nx=True)
        found = self._call(self.client.get, key)
        if found is not None and found.decode() != LAYOUT:
            raise IndexFormatError(
                f"the shared store at {self.url} was written by {found.decode()!r}, not as this "
                f"server writes ({LAYOUT!r}); fold it into an index with the release that wrote "
                f"it, then delete its keys ({self.prefix}*)")
        self._layout_checked = True

    def forget_layout(self) -> None:
        self._layout_checked = False

    def ping(self) -> None:
        self.check_layout()
        self.reach()

    def reach(self) -> None:
        """StoreUnavailableError unless the store answers (its layout unchecked)."""
        self._call(self.client.ping)

    # -- changes -------------------------------------------------------------------------------

    def taken(self, ids: Sequence[str]) -> list[str]:
        pipe = self.client.pipeline(transaction=False)
        for ref_id in ids:
            pipe.hexists(self._keys(partition_of(ref_id))[2], ref_id)
        found = self._call(pipe.execute) if ids else []
        return [ref_id for ref_id, there in zip(ids, found, strict=True) if there]

    def add(self, records: Sequence[Record]) -> None:
        """All or none: ids are checked first, each addition waits for its acknowledgement, and
        what was added before a clash or a failure is removed again."""
        self.check_layout()
        ids = [r.ref.id for r in records]
        taken = sorted({i for i in ids if ids.count(i) > 1} | set(self.taken(ids)))
        if taken:
            raise DuplicateReferenceError(
                f"a reference with id {', '.join(repr(t) for t in taken[:5])} already exists "
                "(or repeats); delete it first or choose another id: nothing was added")
        added: list[str] = []
        try:
            for record in records:
                added.append(record.ref.id)  # removed again below if this one fails
                if self._write(self._add, record.ref.id, record.to_bytes()) is None:
                    added.pop()
                    raise DuplicateReferenceError(
                        f"a reference with id '{record.ref.id}' already exists; delete it first "
                        "or choose another id: nothing was added")
        except BaseException:
            for ref_id in added:
                try:
                    self._write(self._remove, ref_id)
                except StoreUnavailableError:
                    break  # the store is gone: what was written stays, unacknowledged
            raise

    def remove(self, ref_id: str) -> None:
        self.check_layout()
        if self._write(self._remove, ref_id) is None:
            raise ReferenceNotFoundError(f"no stored reference with id '{ref_id}'")

    def _write(self, script: Any, ref_id: str, *args: bytes) -> Any:
        """Run ``script`` on the reference's partition and, on the same connection, wait until
        ``acks`` replicas hold it (``WAIT`` counts what its own connection wrote)."""
        keys = self._keys(partition_of(ref_id))
        try:
            if self.cluster:
                node = self.client.get_node_from_key(keys[0])
                target = self.client.get_redis_connection(node)
            else:
                target = self.client
            pipe = target.pipeline(transaction=False)
            script(keys=keys, args=[ref_id, *args], client=pipe)
            if self.acks:
                pipe.execute_command("WAIT", self.acks, 2000)
            result, *acked = pipe.execute()
        except (*self._errors, self._moved) as exc:
            if isinstance(exc, self._moved) and not str(exc).startswith(("MOVED", "ASK")):
                raise
            if self.cluster:  # the slots may have moved (a failover): learn where, next time
                with contextlib.suppress(*self._errors):
                    self.client.nodes_manager.initialize()
            raise StoreUnavailableError(
                f"the shared store at {self.url} cannot be reached ({exc}); retry the request "
                "in a few seconds") from exc
        if acked and int(acked[0]) < self.acks:
            raise StoreUnavailableError(
                f"the shared store at {self.url} did not confirm the change on a replica "
                "within 2 s (a failover may be in progress); retry the request")
        return result

    # -- reading -------------------------------------------------------------------------------

    def since(self, after: dict[int, str], count: int = 1000) -> tuple[str | None, list[Shared]]:
        """The store's identity, and what each partition logged after ``after[partition]`` (at
        most ``count`` each) with the records of additions: two pipelined round trips (one per
        node in a cluster)."""
        self.check_layout()
        pipe = self.client.pipeline(transaction=False)
        pipe.get(f"{self.prefix}identity")
        for partition in range(PARTITIONS):
            start = after.get(partition)
            pipe.xrange(self._keys(partition)[0], f"({start}" if start else "-", "+",
                        count=count)
        identity, *logged = self._call(pipe.execute)
        entries: list[tuple[int, str, str, str]] = []
        for partition, rows in enumerate(logged):
            for entry_id, fields in rows:
                entries.append((partition, entry_id.decode(), fields[b"op"].decode(),
                                fields[b"id"].decode()))
        wanted = [(p, e) for p, e, op, _ in entries if op == "add"]
        records: list[bytes | None] = []
        if wanted:
            pipe = self.client.pipeline(transaction=False)
            for partition, entry_id in wanted:
                pipe.hget(self._keys(partition)[1], entry_id)
            records = self._call(pipe.execute)
        found = dict(zip(wanted, records, strict=True))
        return (identity.decode() if identity is not None else None,
                [Shared(p, e, op, ref_id, found.get((p, e))) for p, e, op, ref_id in entries])

    def count(self) -> int:
        pipe = self.client.pipeline(transaction=False)
        for partition in range(PARTITIONS):
            pipe.hlen(self._keys(partition)[2])
        return int(sum(self._call(pipe.execute)))

    def trim(self, upto: dict[int, str]) -> int:
        """Forget what ``upto`` covers (folded into a base index): the records, the ids and the
        log up to those entries; how many references were forgotten."""
        forgotten = 0
        for partition, last in upto.items():
            log_key, records_key, ids_key = self._keys(partition)
            rows = self._call(self.client.xrange, log_key, "-", last)
            adds = {e.decode(): f[b"id"].decode() for e, f in rows if f[b"op"] == b"add"}
            if adds:
                # an id removed and added again later maps to its later entry: kept
                now = self._call(self.client.hmget, ids_key, list(adds.values()))
                folded = [i for (e, i), at in zip(adds.items(), now, strict=True)
                          if at is not None and at.decode() == e]
                pipe = self.client.pipeline(transaction=False)
                pipe.hdel(records_key, *adds)
                if folded:
                    pipe.hdel(ids_key, *folded)
                self._call(pipe.execute)
                forgotten += len(folded)
            next_ms, next_n = entry_key(last)
            self._call(self.client.xtrim, log_key, minid=f"{next_ms}-{next_n + 1}")
        return forgotten
