"""Collections, scoped keys, private text, deletion everywhere, the audit trail through the API and
limits per key: on the embedded store and on a real Redis, like the rest of the API tests.

The references are paragraphs of the real provincial reports (``tests/fixtures``): each
collection holds another province's, so what a check finds says which collection it searched.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from api_helpers import TestClient, isolated_settings, provincial_paragraphs
from redis import Redis
from redis_support import RedisServer

from app.api.main import create_app

ADMIN = "admin-key-0123456789abcdef"
A, B = "zuzhibu", "xuanchuanbu"  # two departments' collections


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


ADMIN_AUTH = bearer(ADMIN)


@pytest.fixture(scope="module", params=["embedded", "redis"])
def redis(request: pytest.FixtureRequest) -> Iterator[RedisServer | None]:
    if request.param == "embedded":
        yield None
        return
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_client(tmp_path: Path, redis: RedisServer | None) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        data = overrides.pop("data", tmp_path / f"data{len(clients)}")
        if redis is not None:
            with Redis.from_url(redis.url) as db:
                db.flushdb()
            overrides["store"] = redis.url
        c = TestClient(create_app(isolated_settings(data, api_keys=ADMIN, **overrides)))
        c.__enter__()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def new_key(c: TestClient, scopes: list[str], collections: list[str], **extra: Any) -> str:
    response = c.post("/v1/keys", headers=ADMIN_AUTH, json={
        "name": f"{'+'.join(scopes)} on {','.join(collections)}", "scopes": scopes,
        "collections": collections, **extra})
    assert response.status_code == 201, response.text
    return response.json()["key"]


def paragraph(province: str, n: int) -> str:
    return provincial_paragraphs(province)[n]


def add(c: TestClient, collection: str, ref_id: str, text: str, key: str = ADMIN) -> None:
    response = c.post(f"/v1/collections/{collection}/references", headers=bearer(key),
                      json={"id": ref_id, "text": text, "title": f"{collection} {ref_id}"})
    assert response.status_code == 201, response.text


def sources(result: dict) -> dict[str, str | None]:
    """Source id -> collection, as the result names them."""
    return {s["id"]: s["collection"] for s in result["sources"]}


# --- collections -------------------------------------------------------------------------------

def test_collections_keep_their_references_apart(make_client: Callable[..., TestClient]) -> None:
    """The same id in two collections is two references; a check finds each in its own
    collection, names the other collection's as collection/id, and says each one's collection;
    templates is what it was before collections (the bundled corpus and /v1/references)."""
    c = make_client()
    for name in (A, B):
        assert c.post("/v1/collections", headers=ADMIN_AUTH, json={"name": name}
                      ).status_code == 201
    assert c.post("/v1/collections", headers=ADMIN_AUTH, json={"name": A}).json()["error"][
        "code"] == "collection_exists"
    add(c, A, "report-1", "\n".join(provincial_paragraphs("2025-河北省")[2:6]))
    add(c, B, "report-1", "\n".join(provincial_paragraphs("2025-山西省")[2:6]))
    listed = c.get("/v1/collections", headers=ADMIN_AUTH).json()["items"]
    assert [(i["name"], i["references"]) for i in listed] == [("templates", 5), (A, 1), (B, 1)]
    assert c.get("/v1/references").json()["total"] == 5  # templates, as before

    text = "\n".join([paragraph("2025-河北省", 3), paragraph("2025-山西省", 4)])
    both = c.post("/v1/check", params={"collections": [A, B]}, headers=ADMIN_AUTH,
                  json={"text": text}).json()
    assert sources(both) == {f"{A}/report-1": A, f"{B}/report-1": B}
    for p in both["paragraphs"]:
        for m in p["matches"]:
            assert m["source"]["collection"] == m["source"]["id"].split("/")[0]
            assert m["text"] in text
    only_a = c.post("/v1/check", params={"collections": [A]}, headers=ADMIN_AUTH,
                    json={"text": text}).json()
    assert sources(only_a) == {f"{A}/report-1": A}
    # a source of another collection is excluded by the name the result gives it
    excluded = c.post("/v1/check", params={"collections": [A, B]}, headers=ADMIN_AUTH,
                      json={"text": text, "exclude_sources": [f"{B}/report-1"]}).json()
    assert excluded["copy_ratio"] < both["copy_ratio"]
    assert excluded["excluded_chars"]["source"] > 0
    # each collection reads its own report-1
    for name, province in ((A, "2025-河北省"), (B, "2025-山西省")):
        got = c.get(f"/v1/collections/{name}/references/report-1", headers=ADMIN_AUTH).json()
        assert got["text"].startswith(paragraph(province, 2))
    # a template found through the default collection is labelled templates
    template = c.get("/v1/references/jianshe-ju").json()["text"]
    found = c.post("/v1/check", json={"text": template[:600]}).json()
    assert set(sources(found).values()) == {"templates"}


def test_a_check_defaults_to_every_collection_the_key_may_check(
        make_client: Callable[..., TestClient]) -> None:
    c = make_client()
    key_a = new_key(c, ["check"], ["templates", A])
    new_key(c, ["check"], [B])  # makes B
    add(c, A, "a1", paragraph("2025-河北省", 2))
    add(c, B, "b1", paragraph("2025-山西省", 2))
    text = "\n".join([paragraph("2025-河北省", 2), paragraph("2025-山西省", 2)])
    assert sources(c.post("/v1/check", headers=bearer(key_a), json={"text": text}).json()) == {
        f"{A}/a1": A}
    assert sources(c.post("/v1/check", headers=ADMIN_AUTH, json={"text": text}).json()) == {
        f"{A}/a1": A, f"{B}/b1": B}
    # asking for a collection the key was not given: as if it did not exist
    refused = c.post("/v1/check", params={"collections": [B]}, headers=bearer(key_a),
                     json={"text": text})
    assert refused.status_code == 404 and refused.json()["error"] == {
        "code": "not_found", "message": f"no collection '{B}'"}
    missing = c.post("/v1/check", params={"collections": ["nowhere"]}, headers=bearer(key_a),
                     json={"text": text})
    assert missing.status_code == 404 and missing.json()["error"] == {
        "code": "not_found", "message": "no collection 'nowhere'"}


def test_a_settings_default_narrows_the_collections(make_client: Callable[..., TestClient]
                                                     ) -> None:
    c = make_client(check_collections="templates")
    new_key(c, ["check"], [A])
    add(c, A, "a1", paragraph("2025-河北省", 2))
    text = paragraph("2025-河北省", 2)
    assert c.post("/v1/check", headers=ADMIN_AUTH, json={"text": text}).json()["sources"] == []
    asked = c.post("/v1/check", params={"collections": [A]}, headers=ADMIN_AUTH,
                   json={"text": text}).json()
    assert sources(asked) == {f"{A}/a1": A}


def test_batch_and_archive_and_store_go_to_the_named_collection(
        make_client: Callable[..., TestClient]) -> None:
    c = make_client()
    writer = new_key(c, ["check", "write", "read"], [A])
    added = c.post(f"/v1/collections/{A}/references/batch", headers=bearer(writer), json={
        "references": [{"id": f"r{i}", "text": paragraph("2025-河北省", i)} for i in (2, 3)]})
    assert added.status_code == 201, added.text
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("z1.txt", paragraph("2025-河北省", 4))
    imported = c.post(f"/v1/collections/{A}/references/archive", headers=bearer(writer),
                      files={"file": ("refs.zip", archive.getvalue())})
    assert imported.status_code == 201, imported.text
    stored = c.post("/v1/check", params={"store": "true", "id": "s1", "store_in": A,
                                         "collections": [A]},
                    headers=bearer(writer), json={"text": paragraph("2025-河北省", 5)})
    assert stored.status_code == 200, stored.text
    assert stored.headers["location"] == f"/v1/collections/{A}/references/s1"
    listing = c.get(f"/v1/collections/{A}/references", headers=bearer(writer)).json()
    assert [i["id"] for i in listing["items"]] == ["r2", "r3", "s1", "z1"]
    assert c.get("/v1/references").json()["total"] == 5, "templates got something"
    found = c.get(f"/v1/collections/{A}/references", params={"q": "z1"},
                  headers=bearer(writer)).json()
    assert [i["id"] for i in found["items"]] == ["z1"]


# --- private text ------------------------------------------------------------------------------

def test_a_source_the_key_may_not_read_shows_the_passage_only(
        make_client: Callable[..., TestClient]) -> None:
    """A key that may check against B but not read it sees the copied passage, the source's id,
    title and place, and nothing more of it: not through the reference routes, not through its
    kept check, not through the side-by-side page."""
    c = make_client()
    checker = new_key(c, ["check", "read"], [A])
    secret = "\n".join(provincial_paragraphs("2025-山西省")[2:8])
    new_key(c, ["check"], [B])
    add(c, B, "private-1", secret)
    # widen the checker to B without read: a new key with check on both, read on A only
    both = new_key(c, ["check"], [A, B])
    copied = paragraph("2025-山西省", 5)
    response = c.post("/v1/check", params={"collections": [B]}, headers=bearer(both),
                      json={"text": "本单位今年工作情况如下。\n" + copied})
    assert response.status_code == 200, response.text
    result = response.json()
    assert sources(result) == {f"{B}/private-1": B}
    passages = [m["source"] for p in result["paragraphs"] for m in p["matches"]]
    assert passages and all(s["text"] in secret and s["text"] in copied for s in passages)
    assert all(secret[s["start"]:s["end"]] == s["text"] for s in passages)
    rest = secret.replace(copied, "")
    assert rest[:40] not in response.text
    for path in (f"/v1/collections/{B}/references/private-1", f"/v1/collections/{B}/references"):
        assert c.get(path, headers=bearer(both)).status_code == 403
        assert c.get(path, headers=bearer(checker)).status_code == 404
    kept = response.headers["content-location"]
    record = c.get(kept, headers=bearer(both))
    assert record.status_code == 200 and rest[:40] not in record.text
    assert c.get(kept, headers=bearer(checker)).status_code == 404  # someone else's check
    assert c.get(kept).status_code == 404
    # the kept check holds the passages, not the source: even an admin finds no more in it
    assert rest[:40] not in c.get(kept, headers=ADMIN_AUTH).text


# --- deleting a reference everywhere -----------------------------------------------------------

def test_a_deleted_reference_leaves_the_kept_checks(make_client: Callable[..., TestClient]
                                                    ) -> None:
    c = make_client()
    writer = new_key(c, ["check", "read", "write"], [A])
    text = "\n".join(provincial_paragraphs("2025-河北省")[2:6])
    add(c, A, "gone", text, writer)
    copied = paragraph("2025-河北省", 3)
    checked = c.post("/v1/check", params={"collections": [A]}, headers=bearer(writer),
                     json={"text": copied})
    kept = checked.headers["content-location"]
    before = c.get(kept, headers=bearer(writer)).json()
    assert sources(before["result"]) == {f"{A}/gone": A}
    # the report itself stored as a reference: its check goes with it
    stored = c.post("/v1/check", params={"store": "true", "id": "mine", "store_in": A,
                                         "collections": [A]},
                    headers=bearer(writer), json={"text": paragraph("2025-河北省", 9)})
    stored_check = stored.headers["content-location"]
    assert c.get(stored_check, headers=bearer(writer)).status_code == 200

    assert c.delete(f"/v1/collections/{A}/references/gone", headers=bearer(writer)
                    ).status_code == 204
    after = c.get(kept, headers=bearer(writer)).json()
    assert copied not in str(after["result"]["paragraphs"][0]["matches"][0]["source"])
    assert {m["source"]["text"] for p in after["result"]["paragraphs"] for m in p["matches"]} == {
        "（已删除）"}
    assert after["text"] == copied  # the report checked is the caller's own, and stays
    assert c.get(f"/v1/collections/{A}/references/gone", headers=bearer(writer)
                 ).status_code == 404
    again = c.post("/v1/check", params={"collections": [A]}, headers=bearer(writer),
                   json={"text": copied}).json()
    assert again["sources"] == []

    assert c.delete(f"/v1/collections/{A}/references/mine", headers=bearer(writer)
                    ).status_code == 204
    assert c.get(stored_check, headers=bearer(writer)).status_code == 404


def test_deleted_text_leaves_the_history_file(make_client: Callable[..., TestClient],
                                              tmp_path: Path) -> None:
    data = tmp_path / "wiped"
    c = make_client(data=data)
    assert c.post("/v1/collections", headers=ADMIN_AUTH, json={"name": A}).status_code == 201
    add(c, A, "wiped", "\n".join(provincial_paragraphs("2025-河南省")[2:5]))
    c.post("/v1/check", params={"collections": [A]}, headers=ADMIN_AUTH,
           json={"text": paragraph("2025-河南省", 3)})
    # the kept check holds the whole source (the admin may read it): a paragraph the report
    # did not copy is in the history's files
    uncopied = paragraph("2025-河南省", 2)[:30].encode()

    def on_disk() -> bool:
        return any(uncopied in p.read_bytes() for p in data.glob("history.sqlite3*"))

    assert on_disk()
    assert c.delete(f"/v1/collections/{A}/references/wiped", headers=ADMIN_AUTH
                    ).status_code == 204
    assert not on_disk()


# --- the history follows the keys --------------------------------------------------------------

def test_each_key_lists_and_deletes_its_own_checks(make_client: Callable[..., TestClient]
                                                   ) -> None:
    c = make_client()
    one, two = new_key(c, ["check"], ["templates"]), new_key(c, ["check"], ["templates"])
    text = paragraph("2025-河北省", 2)
    made = {key: c.post("/v1/check", headers=bearer(key), json={"text": text}
                        ).headers["content-location"] for key in (one, two)}
    anonymous = c.post("/v1/check", json={"text": text}).headers["content-location"]
    for key in (one, two):
        listed = [i["id"] for i in c.get("/v1/checks", headers=bearer(key)).json()["items"]]
        assert listed == [made[key].rsplit("/", 1)[1]]
    assert c.get("/v1/checks").json()["total"] == 1
    assert c.get("/v1/checks", headers=ADMIN_AUTH).json()["total"] == 3
    assert c.delete(made[one], headers=bearer(two)).status_code == 404
    assert c.delete(anonymous, headers=bearer(one)).status_code == 404
    assert c.delete(made[one], headers=bearer(one)).status_code == 204
    assert c.delete(anonymous, headers=ADMIN_AUTH).status_code == 204


# --- keys --------------------------------------------------------------------------------------

def test_a_revoked_key_is_refused_at_once(make_client: Callable[..., TestClient]) -> None:
    c = make_client()
    created = c.post("/v1/keys", headers=ADMIN_AUTH, json={
        "name": "temp", "scopes": ["read"], "collections": ["templates"]}).json()
    key, key_id = created["key"], created["id"]
    assert key.startswith(f"cck_{key_id}_")
    assert c.get("/v1/references/jianshe-ju", headers=bearer(key)).status_code == 200
    listed = c.get("/v1/keys", headers=ADMIN_AUTH).json()["items"]
    assert [k["id"] for k in listed] == [key_id] and "key" not in listed[0]
    assert key not in c.get("/v1/keys", headers=ADMIN_AUTH).text
    assert c.delete(f"/v1/keys/{key_id}", headers=ADMIN_AUTH).status_code == 204
    assert c.get("/v1/references/jianshe-ju", headers=bearer(key)).json()["error"][
        "code"] == "forbidden"
    assert c.get("/v1/keys", headers=ADMIN_AUTH).json()["items"][0]["revoked"] is not None
    # a key with the right id and a wrong secret is no key
    forged = f"cck_{key_id}_{'A' * 43}"
    assert c.get("/v1/references", headers=bearer(forged)).status_code == 403
    assert c.delete("/v1/keys/nope", headers=ADMIN_AUTH).status_code == 404


def test_keys_are_kept_as_digests(make_client: Callable[..., TestClient], tmp_path: Path) -> None:
    data = tmp_path / "keyed"
    c = make_client(data=data)
    key = new_key(c, ["check"], ["templates"])
    secret = key.split("_", 2)[2]
    stored = b"".join(p.read_bytes() for p in data.glob("keys.sqlite3*"))
    assert secret.encode() not in stored and key.encode() not in stored
    assert key not in c.get("/v1/audit", params={"format": "ndjson"}, headers=ADMIN_AUTH).text


# --- the audit trail ---------------------------------------------------------------------------

def test_the_audit_trail_names_who_did_what_and_never_the_text(
        make_client: Callable[..., TestClient]) -> None:
    c = make_client()
    writer = new_key(c, ["check", "write"], [A])
    writer_id = writer.split("_")[1]
    text = paragraph("2025-河北省", 2)
    add(c, A, "a1", text, writer)
    checked = c.post("/v1/check", params={"collections": [A]}, headers=bearer(writer),
                     json={"text": text})
    check_id = checked.headers["content-location"].rsplit("/", 1)[1]
    assert c.delete(f"/v1/collections/{A}/references/a1", headers=bearer(writer)
                    ).status_code == 204
    assert c.get(f"/v1/collections/{B}/references", headers=bearer(writer)).status_code == 404
    entries = c.get("/v1/audit", headers=ADMIN_AUTH).json()["items"]
    mine = [(e["key"], e["action"], e["outcome"], e["status"], e["collection"], e["target"])
            for e in entries if e["key"] == writer_id]
    assert mine == [
        (writer_id, "add_to_collection", "ok", 201, A, "a1"),
        (writer_id, "check", "ok", 200, A, check_id),
        (writer_id, "delete_in_collection", "ok", 204, A, "a1"),
        (writer_id, "list_in_collection", "denied", 404, B, None),
    ]
    assert entries[0]["action"] == "create_key" and entries[0]["key"] == "env-1"
    assert all(e["client"] == "testclient" for e in entries)
    exported = c.get("/v1/audit", params={"format": "ndjson"}, headers=ADMIN_AUTH)
    assert exported.text.count("\n") == len(entries)
    assert text[:20] not in exported.text
    csv = c.get("/v1/audit", params={"format": "csv", "key": writer_id}, headers=ADMIN_AUTH)
    assert csv.text.splitlines()[0] == "seq,time,key,action,outcome,status,collection,target," \
                                       "client"
    assert len(csv.text.splitlines()) == 5
    assert c.get("/v1/audit", headers=bearer(writer)).status_code == 403


# --- requests a minute -------------------------------------------------------------------------

def test_a_key_over_its_rate_gets_429_with_retry_after(make_client: Callable[..., TestClient]
                                                       ) -> None:
    c = make_client(rate_per_minute=5)
    slow = new_key(c, ["read"], ["templates"], rate=3)
    statuses = [c.get("/v1/references", headers=bearer(slow)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = c.get("/v1/references", headers=bearer(slow))
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    # another key (which made the first one: 1 of its 5), and callers without a key (by
    # address), count on their own
    assert [c.get("/v1/references", headers=ADMIN_AUTH).status_code for _ in range(4)] == [200] * 4
    assert c.get("/v1/references", headers=ADMIN_AUTH).status_code == 429
    assert c.get("/v1/references").status_code == 200
