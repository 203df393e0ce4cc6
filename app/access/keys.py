"""API keys kept in the data folder (``keys.sqlite3``), each with its scopes, its collections
and its own rate limit.

A key is ``cck_<id>_<secret>``: the id (12 hex digits) names it in lists and in the audit trail,
the secret (32 random bytes) is shown once, when it is made, and only its SHA-256 is kept. A
secret of 256 random bits needs no slow hash: nobody can guess one from its digest. A presented
key is found by its id and its digest compared in constant time; a revoked key stays listed
(with when it was revoked), so the audit trail keeps naming it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

KEYS_FILE = "keys.sqlite3"
PREFIX = "cck_"
_ID_HEX = 12

_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    id TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    collections TEXT NOT NULL,
    rate INTEGER,
    created REAL NOT NULL,
    revoked REAL
);
"""


@dataclass(frozen=True)
class KeyInfo:
    id: str
    name: str
    scopes: list[str]
    collections: list[str]
    rate: int | None
    created: float
    revoked: float | None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(token: str) -> tuple[str, str] | None:
    """(id, secret) of a key in this store's form, or None."""
    if not token.startswith(PREFIX) or len(token) < len(PREFIX) + _ID_HEX + 2:
        return None
    key_id, sep, secret = token[len(PREFIX):].partition("_")
    if len(key_id) != _ID_HEX or not sep or not secret:
        return None
    return key_id, secret


class KeyStore:
    def __init__(self, data: Path) -> None:
        self.path = data / KEYS_FILE
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection | None:
        """None while no key was ever made (the file is made by the first)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if not self.path.exists():
                return None
            conn = self._open()
        return conn

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.executescript(_SCHEMA)
        self._local.conn = conn
        return conn

    def create(self, name: str, scopes: list[str], collections: list[str],
               rate: int | None = None) -> tuple[KeyInfo, str]:
        """A new key: its record and the key itself (shown this once)."""
        conn = self._conn() or self._open()
        key_id = secrets.token_hex(_ID_HEX // 2)
        secret = secrets.token_urlsafe(32)
        now = time.time()
        conn.execute("INSERT INTO keys VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                     (key_id, _digest(secret), name, json.dumps(sorted(set(scopes))),
                      json.dumps(sorted(set(collections))), rate, now))
        info = KeyInfo(key_id, name, sorted(set(scopes)), sorted(set(collections)), rate, now,
                       None)
        return info, f"{PREFIX}{key_id}_{secret}"

    def find(self, token: str) -> KeyInfo | None:
        """The live key ``token`` is, or None (unknown, wrong secret or revoked)."""
        parts = split_token(token)
        conn = self._conn()
        if parts is None or conn is None:
            return None
        key_id, secret = parts
        row = conn.execute("SELECT digest, id, name, scopes, collections, rate, created, revoked "
                           "FROM keys WHERE id = ?", (key_id,)).fetchone()
        if row is None:
            return None
        if not hmac.compare_digest(row[0].encode(), _digest(secret).encode()):
            return None
        info = _info(row[1:])
        return None if info.revoked is not None else info

    def all(self) -> list[KeyInfo]:
        conn = self._conn()
        if conn is None:
            return []
        rows = conn.execute("SELECT id, name, scopes, collections, rate, created, revoked "
                            "FROM keys ORDER BY created, id").fetchall()
        return [_info(row) for row in rows]

    def revoke(self, key_id: str) -> KeyInfo | None:
        """Revoke a key at once (every worker reads the store at each request); None when
        there is no such key."""
        conn = self._conn()
        if conn is None:
            return None
        conn.execute("UPDATE keys SET revoked = ? WHERE id = ? AND revoked IS NULL",
                     (time.time(), key_id))
        row = conn.execute("SELECT id, name, scopes, collections, rate, created, revoked "
                           "FROM keys WHERE id = ?", (key_id,)).fetchone()
        return _info(row) if row else None

    def any_live(self) -> bool:
        conn = self._conn()
        return conn is not None and conn.execute(
            "SELECT 1 FROM keys WHERE revoked IS NULL LIMIT 1").fetchone() is not None


def _info(row: tuple) -> KeyInfo:
    key_id, name, scopes, collections, rate, created, revoked = row
    return KeyInfo(key_id, name, json.loads(scopes), json.loads(collections), rate, created,
                   revoked)
