"""``chachong keys create|list|revoke`` and ``chachong audit export``: the data folder's API keys
and its audit trail, for the operator at the server's console (every change is in the audit
trail, by the key ``cli``)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from app.access import SCOPES, AuditLog, KeyInfo, KeyStore
from app.access.audit import AuditFilter, ndjson_line
from app.collections import NAME_PATTERN, FolderRegistry, RedisRegistry, valid_name

from .common import err, fail, settings

CLI_KEY = "cli"


def _data(data: Path | None) -> Path:
    return data if data is not None else settings().data


def _when(epoch: float | None) -> str:
    return "" if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M")


def create(name: str, scopes: list[str], collections: list[str], rate: int | None,
           data: Path | None) -> None:
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise fail(f"unknown scope '{unknown[0]}' (scopes: {', '.join(SCOPES)})")
    bad = [c for c in collections if c != "*" and not valid_name(c)]
    if bad:
        raise fail(f"'{bad[0]}' is not a collection name ({NAME_PATTERN})")
    if "admin" not in scopes and not collections:
        raise fail("name the collections the key may use (--collection NAME, or '*' for all)")
    folder = _data(data)
    store = settings().store
    registry = RedisRegistry.of(store) if store else FolderRegistry(folder)
    for collection in collections:
        if collection != "*" and registry.create(collection):
            err().print(f"made collection {collection}")
    info, secret = KeyStore(folder).create(name, scopes, collections, rate)
    AuditLog(folder).record(key=CLI_KEY, action="create_key", status=201, target=info.id)
    err().print(f"key {info.id} ({', '.join(info.scopes)} on "
                f"{', '.join(info.collections) or 'every collection'}); it is shown this once:")
    print(secret)


def list_keys(data: Path | None, as_json: bool) -> None:
    keys = KeyStore(_data(data)).all()
    if as_json:
        json.dump([_record(k) for k in keys], sys.stdout, ensure_ascii=False, indent=1)
        print()
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "name", "scopes", "collections", "rate", "created", "revoked")
    for k in keys:
        table.add_row(k.id, k.name, ",".join(k.scopes), ",".join(k.collections),
                      str(k.rate or ""), _when(k.created), _when(k.revoked))
    Console().print(table)


def _record(key: KeyInfo) -> dict[str, object]:
    return {"id": key.id, "name": key.name, "scopes": key.scopes,
            "collections": key.collections, "rate": key.rate, "created": key.created,
            "revoked": key.revoked}


def revoke(key_id: str, data: Path | None) -> None:
    folder = _data(data)
    info = KeyStore(folder).revoke(key_id)
    if info is None:
        raise fail(f"no key '{key_id}' in {folder}")
    AuditLog(folder).record(key=CLI_KEY, action="revoke_key", status=204, target=key_id)
    err().print(f"key {key_id} revoked")


def export(data: Path | None, since: datetime | None, output: Path | None) -> None:
    folder = _data(data)
    where = AuditFilter(since=since.timestamp() if since else None)
    lines = (ndjson_line(e) for e in AuditLog(folder).entries(where))
    if output is None:
        sys.stdout.writelines(lines)
        return
    with output.open("w", encoding="utf-8") as out:
        out.writelines(lines)
