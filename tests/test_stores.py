"""The stores: the embedded index's write-ahead log; the same service behaviour embedded and with
the log shared through a real Redis; sharing between servers; Redis going away and coming back;
what earlier releases stored, carried over."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_helpers import isolated_settings
from fastapi.testclient import TestClient
from redis_support import RedisServer, free_port
from support import TEMPLATE_IDS, case_text, template

from app.api.main import create_app
from app.core import (
    CheckOptions,
    Reference,
    ReferenceIndex,
    build_index,
    bundled_corpus_dir,
    load_corpus,
)
from app.core.document import analyse
from app.core.errors import (
    DuplicateReferenceError,
    IndexFormatError,
    ReferenceNotFoundError,
    StoreUnavailableError,
)
from app.core.fingerprint import NUM_PERM, signatures
from app.core.index import LSH_THRESHOLD, MultiIndex, prepare
from app.core.lsh import lsh_params
from app.service import BaseCorpus, CorpusService
from app.settings import Settings
from app.storage import LiveIndex, MergePolicy, build_index_folder
from app.storage.records import Record
from app.storage.shared_log import PARTITIONS, SharedLog
from app.storage.wal import Wal

TEMPLATE = TEMPLATE_IDS[1]
NEW_TEXT = ("今年我们创造性地提出了“红色引擎、绿色发展、蓝色海洋”三色融合党建工作法，"
            "在全系统推广，形成了可复制可推广的机关党建经验。")


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def wal(tmp_path: Path) -> Wal:
    return Wal(tmp_path)


Service = CorpusService


def _service(kind: str, base: ReferenceIndex, tmp_path: Path, url: str | None) -> Service:
    tmp_path.mkdir(parents=True, exist_ok=True)
    if kind == "embedded":
        return CorpusService(BaseCorpus(base), tmp_path / "index")
    assert url is not None
    return CorpusService(BaseCorpus(base), tmp_path / "index", shared=SharedLog(url))


@pytest.fixture(params=["embedded", "redis"])
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Service]:
    """A server's corpus service on the bundled corpus, with either store."""
    base = build_index(load_corpus(bundled_corpus_dir()))
    if request.param == "embedded":
        yield _service("embedded", base, tmp_path, None)
        return
    server = RedisServer()
    server.start()
    try:
        yield _service("redis", base, tmp_path, server.url)
    finally:
        server.stop()


def _ref(ref_id: str, text: str = NEW_TEXT) -> Reference:
    return Reference(ref_id, text, title=f"标题 {ref_id}", source="2024年报送",
                     tags={"unit": "组织部", "year": "2024"})


def _record(ref: Reference) -> Record:
    bands, rows = lsh_params(LSH_THRESHOLD, NUM_PERM)
    return Record.of(prepare(ref, bands, rows))


def test_log_adds_removes_and_catalogues(wal: Wal) -> None:
    """What is logged comes back whole and in order; the catalogue lists it; a removal names
    the addition it removes; truncating drops what a flush wrote."""
    seqs = wal.add([_record(_ref("a")), _record(_ref("b", template(TEMPLATE)))])
    assert seqs == [0, 1]
    assert wal.delete("a") == 0
    flushed, entries = wal.since(-1)
    assert flushed == -1
    assert [(e.seq, e.op, e.ref_id, e.target) for e in entries] == [
        (0, "add", "a", None), (1, "add", "b", None), (2, "delete", "a", 0)]
    assert Record.from_bytes(entries[0].record or b"").ref == _ref("a")
    assert [(s.id, s.title, s.chars) for s in wal.page(0, 10)] == [
        ("b", "标题 b", len(template(TEMPLATE)))]
    assert wal.pending()[0] == 3
    wal.truncate(1)
    assert wal.since(-1) == (1, entries[2:])
    assert wal.next_seq() == 3 and wal.count() == 1


def test_log_refuses_duplicates_and_unknown_ids(wal: Wal) -> None:
    wal.add([_record(_ref("a"))])
    with pytest.raises(DuplicateReferenceError, match="'a'"):
        wal.add([_record(_ref("c")), _record(_ref("a", "别的内容也不行，同一个编号只能有一份。"))])
    with pytest.raises(DuplicateReferenceError, match="'d'"):
        wal.add([_record(_ref("d")), _record(_ref("d"))])
    with pytest.raises(ReferenceNotFoundError):
        wal.delete("missing")
    assert [e.ref_id for e in wal.since(-1)[1]] == ["a"]  # a refused batch adds nothing


def test_service_adds_gets_lists_and_deletes(service: Service) -> None:
    """The same answers from both stores: what is added comes back whole and is found by the
    next check, ids are unique, base references stay, what is deleted is gone."""
    base = service.size()
    service.add(_ref("a"))
    assert service.get("a") == _ref("a")
    total, page = service.list(0, 100)
    assert total == base + 1 and "a" in [r.id for r in page]
    found = service.check(NEW_TEXT, options=CheckOptions())
    assert {m.source.id for p in found.paragraphs for m in p.matches} == {"a"}
    with pytest.raises(DuplicateReferenceError):
        service.add(_ref("a", "别的内容也不行，同一个编号只能有一份。"))
    with pytest.raises(DuplicateReferenceError):
        service.add(_ref("minzheng-ju"))
    service.delete("a")
    with pytest.raises(ReferenceNotFoundError):
        service.get("a")
    with pytest.raises(ReferenceNotFoundError):
        service.delete("a")
    assert not service.check(NEW_TEXT, options=CheckOptions()).sources
    assert service.size() == base


def test_both_stores_give_the_same_results(redis_server: RedisServer, tmp_path: Path) -> None:
    """Real reports against the bundled corpus plus added references: the JSON from the Redis
    index equals the embedded one, cross-checks included."""
    added = [Reference("sub-1", case_text("case-000.txt"), "2024 报告", "报送", {"unit": "x"}),
             Reference("sub-2", template("jianshe-ju")[:1500])]
    results = []
    for kind in ("embedded", "redis"):
        service = _service(kind, build_index(load_corpus(bundled_corpus_dir())),
                           tmp_path / kind, redis_server.url)
        for ref in added:
            service.add(ref)
        texts = [case_text(f"case-{i:03d}.txt") for i in (0, 2, 3, 9, 41)]
        checks = [service.check(t, options=CheckOptions()).model_dump(mode="json")
                  for t in texts]
        cross = service.cross_check([("r1", texts[0]), ("r2", texts[0][:800])],
                                    CheckOptions()).model_dump(mode="json")
        results.append((checks, cross))
    assert results[0] == results[1]
    assert any(c["copy_ratio"] > 0 for c in results[0][0])


def test_two_services_share_one_redis(redis_server: RedisServer, tmp_path: Path) -> None:
    """A reference added through one server's service (its own data folder) is found by
    another's next check, and a removal too."""
    base = load_corpus(bundled_corpus_dir())
    first = _service("redis", build_index(base), tmp_path / "one", redis_server.url)
    second = _service("redis", build_index(base), tmp_path / "two", redis_server.url)
    first.add(_ref("shared-1"))
    result = second.check(NEW_TEXT[:40], options=CheckOptions())
    assert {m.source.id for p in result.paragraphs for m in p.matches} == {"shared-1"}
    assert second.get("shared-1") == _ref("shared-1")
    first.delete("shared-1")
    result = second.check(NEW_TEXT[:40], options=CheckOptions())
    assert not [m for p in result.paragraphs for m in p.matches]


def test_two_servers_share_a_collection_under_its_own_prefix(redis_server: RedisServer,
                                                            tmp_path: Path) -> None:
    """A collection made and filled through one server is known to another (the registry is in
    the store), which copies it into its own collections/<name>/ and finds its references; the
    collection's log is under its own key prefix, apart from templates', and a removal takes
    its record out of Redis at once."""
    url = f"{redis_server.url}?prefix=svc:"
    base = load_corpus(bundled_corpus_dir())
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
    first = CorpusService(BaseCorpus(build_index(base)), tmp_path / "one" / "index",
                          shared=SharedLog(url))
    second = CorpusService(BaseCorpus(build_index(base)), tmp_path / "two" / "index",
                           shared=SharedLog(url))
    assert first.create_collection("zuzhibu")
    assert not second.create_collection("zuzhibu")  # the same collection, made once
    assert second.collections() == ["templates", "zuzhibu"]
    first.add_many([_ref("sub-1"), _ref("sub-2", case_text("case-001.txt"))], "zuzhibu")
    first.add(_ref("sub-1", template(TEMPLATE)[:800]))  # the same id in templates

    found = second.check(NEW_TEXT[:40], CheckOptions(), collections=["zuzhibu"])
    assert {(s.id, s.collection) for s in found.sources} == {("zuzhibu/sub-1", "zuzhibu")}
    assert second.get("sub-1", "zuzhibu") == _ref("sub-1")
    assert second.list(0, 10, "zuzhibu")[0] == 2
    assert (tmp_path / "two" / "collections" / "zuzhibu").is_dir()

    client = first.live.shared.client  # type: ignore[union-attr]

    def ids_under(pattern: bytes) -> set[str]:
        return {Record.from_bytes(v).ref.id for k in client.scan_iter(pattern)
                for v in client.hvals(k)}
    assert ids_under(b"svc:collection:zuzhibu:{*}:records") == {"sub-1", "sub-2"}
    assert ids_under(b"svc:{*}:records") == {"sub-1"}  # templates' own
    assert not list(client.scan_iter(b"chachong:*"))  # the prefix is the store's
    assert client.hgetall(b"svc:{collections}") == {b"zuzhibu": b"1"}

    first.delete("sub-1", "zuzhibu")
    assert ids_under(b"svc:collection:zuzhibu:{*}:records") == {"sub-2"}
    again = second.check(NEW_TEXT[:40], CheckOptions(), collections=["zuzhibu"])
    assert not again.sources
    assert second.get("sub-1").text == template(TEMPLATE)[:800]  # templates' sub-1 stays
    with pytest.raises(ReferenceNotFoundError):
        second.get("sub-1", "zuzhibu")


def test_requests_a_minute_are_counted_in_the_store_under_its_prefix(
        redis_server: RedisServer, tmp_path: Path) -> None:
    """A store address with options (?acks=, ?prefix=) also serves the rate limiter, whose
    counts are kept under the store's prefix: two servers on one store count together."""
    url = f"{redis_server.url}?acks=0&prefix=svc:"
    apps = [create_app(isolated_settings(tmp_path / name, store=url, rate_per_minute=2))
            for name in ("one", "two")]
    with TestClient(apps[0]) as first, TestClient(apps[1]) as second:
        assert first.get("/v1/references").status_code == 200
        assert second.get("/v1/references").status_code == 200
        limited = first.get("/v1/references")
        assert limited.status_code == 429
        assert limited.json()["error"]["code"] == "rate_limited"
        client = apps[0].state.service.live.shared.client
        assert [k for k in client.scan_iter(b"*limits*")]
        assert all(k.startswith(b"svc:limits") for k in client.scan_iter(b"*limits*"))


def test_the_shared_log_keeps_plain_bytes_and_forgets_removed_texts(
        redis_server: RedisServer, tmp_path: Path) -> None:
    """Redis holds streams, hashes of records and ids, and two strings: nothing pickled, each
    reference once as one record; a removed reference's record leaves Redis at once."""
    service = _service("redis", build_index(load_corpus(bundled_corpus_dir())), tmp_path,
                       redis_server.url)
    service.add_many([_ref("plain"), _ref("other", case_text("case-001.txt"))])
    client = service.live.shared.client  # type: ignore[union-attr]
    kinds = {key: client.type(key).decode() for key in client.scan_iter(b"chachong:*")}
    assert {k.split(b"}:")[-1] for k, t in kinds.items() if t != "string"} == {
        b"log", b"records", b"ids"}
    assert sorted(k for k, t in kinds.items() if t == "string") == [
        b"chachong:identity", b"chachong:layout"]
    records = [v for k in client.scan_iter(b"chachong:*:records")
               for v in client.hvals(k)]
    assert len(records) == 2
    assert {Record.from_bytes(r).ref.id for r in records} == {"plain", "other"}
    assert not any(r.startswith(b"\x80") for r in records)  # pickle's opcode
    service.delete("other")
    assert [Record.from_bytes(v).ref.id for k in client.scan_iter(b"chachong:*:records")
            for v in client.hvals(k)] == ["plain"]
    assert sum(client.xlen(k) for k in client.scan_iter(b"chachong:*:log")) == 3
    assert len({k.split(b"}")[0] for k in client.scan_iter(b"chachong:{*")}) <= PARTITIONS


def test_redis_down_gives_503_and_recovers(redis_server: RedisServer, tmp_path: Path) -> None:
    """With Redis stopped, checks and writes answer 503 store_unavailable; when it is back
    empty (another store), the server drops its copy of the old one and answers again without
    a restart."""
    app = create_app(isolated_settings(tmp_path, store=redis_server.url, api_keys="k"))
    auth = {"Authorization": "Bearer k"}
    with TestClient(app) as client:
        assert client.post("/v1/references", json={"id": "r1", "text": NEW_TEXT},
                           headers=auth).status_code == 201
        redis_server.stop()
        for response in (client.post("/v1/check", json={"text": NEW_TEXT}),
                         client.post("/v1/references", json={"id": "r2", "text": NEW_TEXT},
                                     headers=auth),
                         client.get("/readyz")):
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "store_unavailable"
        redis_server.start()  # empty again: the service resynchronises from it
        assert client.get("/readyz").status_code == 200
        response = client.post("/v1/check", json={"text": NEW_TEXT})
        assert response.status_code == 200
        assert not response.json()["sources"]  # r1 went with the old Redis data
        assert client.post("/v1/references", json={"id": "r3", "text": NEW_TEXT},
                           headers=auth).status_code == 201
        found = {m["source"]["id"] for p in client.post("/v1/check", json={"text": NEW_TEXT})
                 .json()["paragraphs"] for m in p["matches"]}
        assert found == {"r3"}


def test_a_server_started_while_redis_is_down_serves_once_it_is_back(
        redis_server: RedisServer, tmp_path: Path) -> None:
    """Starting needs no store: until Redis is up, checks and readiness answer 503 and the
    metrics are served; then collections and references work without a restart."""
    redis_server.stop()
    app = create_app(isolated_settings(tmp_path, store=redis_server.url, api_keys="k"))
    auth = {"Authorization": "Bearer k"}
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 503
        assert client.post("/v1/check", json={"text": NEW_TEXT}).status_code == 503
        assert client.get("/v1/collections", headers=auth).status_code == 503
        assert client.get("/metrics").status_code == 200
        redis_server.start()
        assert client.get("/readyz").status_code == 200
        assert client.post("/v1/collections", headers=auth,
                           json={"name": "later"}).status_code == 201
        assert client.post("/v1/collections/later/references", headers=auth,
                           json={"id": "r1", "text": NEW_TEXT}).status_code == 201
        found = client.post("/v1/check", headers=auth, params={"collections": ["later"]},
                            json={"text": NEW_TEXT}).json()
        assert [s["id"] for s in found["sources"]] == ["later/r1"]


def test_redis_written_otherwise_is_refused(redis_server: RedisServer, tmp_path: Path) -> None:
    """The first use records how the records were made; a store written otherwise (another
    release) is refused with a clear error instead of misread."""
    log = SharedLog(redis_server.url)
    log.ping()
    log.client.set("chachong:layout", "chachong-shared-log 0; an older layout")
    with pytest.raises(IndexFormatError, match="delete its keys"):
        SharedLog(redis_server.url).ping()
    with TestClient(create_app(isolated_settings(tmp_path, store=redis_server.url))) as client:
        response = client.post("/v1/check", json={"text": NEW_TEXT})
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "index_format"
        assert client.get("/readyz").status_code == 409


def test_an_earlier_releases_redis_store_is_migrated(redis_server: RedisServer,
                                                     tmp_path: Path) -> None:
    """References an earlier release kept in Redis (documents as hashes under chachong:index:)
    are in the shared log after the first start, once."""
    import redis as redis_client

    with redis_client.Redis.from_url(redis_server.url) as old:
        for slot, ref in enumerate([_ref("old-a"), _ref("old-b", template(TEMPLATE)[:600])], 1):
            old.hset(f"chachong:index:doc:{slot}", mapping={
                "id": ref.id, "title": ref.title, "source": ref.source or "",
                "tags": json.dumps(ref.tags, ensure_ascii=False), "text": ref.text,
                "norm": "", "live": "1"})
            old.hset("chachong:index:ids:", ref.id, slot)
    for _ in range(2):  # the second start adds nothing again
        settings = isolated_settings(tmp_path / "data", store=redis_server.url)
        with TestClient(create_app(settings)) as client:
            assert client.get("/v1/references").json()["total"] == 5 + 2
            assert client.get("/v1/references/old-a").json()["text"] == NEW_TEXT


def test_unreachable_redis_is_a_clear_error() -> None:
    log = SharedLog(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(StoreUnavailableError, match="cannot be reached"):
        log.add([_record(_ref("x"))])


def test_store_url_is_validated() -> None:
    with pytest.raises(ValueError, match="redis"):
        Settings(store="http://localhost:6379")


@pytest.mark.parametrize("kind", ["memory", "segments"])
def test_crowded_band_keys_give_no_candidates(kind: str, monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    """A sentence in more references than MAX_BAND_POSTINGS gets no LSH candidates (its band
    keys say nothing about a source), in memory and in segments on disk alike, counted over
    every segment; below the cap it gets all."""
    import app.core.index
    import app.storage.segment

    for module in (app.core.index, app.storage.segment):
        monkeypatch.setattr(module, "MAX_BAND_POSTINGS", 2)
    sentence = NEW_TEXT.split("，", maxsplit=1)[0]
    query = analyse(sentence)
    sigs = signatures([query.unit_chars(u) for u in query.units])
    found = []
    for copies in (2, 3):
        refs = [Reference(f"r{i}", sentence) for i in range(copies)]
        if kind == "memory":
            index: Any = build_index(refs)
        else:  # one segment a reference: the cap applies to their sum
            path = tmp_path / f"idx{copies}"
            build_index_folder(refs, path, segment_docs=1,
                               policy=MergePolicy(floor_docs=1000, factor=1000))
            live = LiveIndex(path, slot_base=0, readonly=True)
            assert len(live.manifest.segments) == copies
            index = MultiIndex(live.parts())
        _, places = index.lookup(query.norm.chars, sigs, 10)
        found.append(len(places[0].docs))
    assert found == [2, 0]


def test_a_data_folder_of_an_earlier_release_is_migrated(tmp_path: Path) -> None:
    """References an earlier release kept in data/chachong.sqlite3 are in the index after the
    first start (found by checks, listed, readable), and the old file is kept renamed."""
    import sqlite3

    data = tmp_path / "data"
    data.mkdir()
    old = [_ref("old-1"), _ref("old-2", case_text("case-001.txt")),
           Reference("old-3", template(TEMPLATE)[:900], "", None, {})]
    with sqlite3.connect(data / "chachong.sqlite3") as conn:  # the earlier release's schema
        conn.executescript("CREATE TABLE refs (id TEXT PRIMARY KEY, title TEXT NOT NULL, "
                           "source TEXT, tags TEXT NOT NULL, text TEXT NOT NULL, "
                           "created REAL NOT NULL); CREATE TABLE log (seq INTEGER PRIMARY KEY "
                           "AUTOINCREMENT, op TEXT NOT NULL, id TEXT NOT NULL);")
        conn.executemany("INSERT INTO refs VALUES (?,?,?,?,?,?)", [
            (r.id, r.title, r.source, json.dumps(r.tags, ensure_ascii=False), r.text, n)
            for n, r in enumerate(old)])
    with TestClient(create_app(isolated_settings(data))) as client:
        listed = client.get("/v1/references", params={"limit": 100}).json()
        assert listed["total"] == 5 + 3
        for ref in old:
            got = client.get(f"/v1/references/{ref.id}").json()
            assert (got["text"], got["tags"], got["source"]) == (ref.text, ref.tags, ref.source)
        found = client.post("/v1/check", json={"text": NEW_TEXT}).json()
        assert {s["id"] for s in found["sources"]} == {"old-1"}
    assert not (data / "chachong.sqlite3").exists()
    assert (data / "chachong.sqlite3.migrated").exists()
    with TestClient(create_app(isolated_settings(data))) as client:  # nothing twice
        assert client.get("/v1/references").json()["total"] == 5 + 3


def test_folding_the_shared_store_into_a_base_index(redis_server: RedisServer,
                                                    tmp_path: Path) -> None:
    """`chachong index fold` moves what servers added to the store into a saved index (removed
    references left out): a server on that base with an empty store answers as before."""
    from typer.testing import CliRunner

    from app.cli import app as cli

    base = tmp_path / "base.idx"
    build_index_folder(load_corpus(bundled_corpus_dir()), base)
    first = _service("redis", build_index(load_corpus(bundled_corpus_dir())), tmp_path / "one",
                     redis_server.url)
    texts = {f"s-{i}": case_text(f"case-{i:03d}.txt") for i in (1, 8, 16)}
    first.add_many([Reference(i, t) for i, t in texts.items()])
    first.delete("s-8")
    before = first.check(texts["s-16"], CheckOptions()).model_dump(mode="json")
    done = CliRunner().invoke(cli, ["index", "fold", "--store", redis_server.url,
                                    "--index", str(base)])
    assert done.exit_code == 0, done.output
    assert "folded 2 references" in done.stderr
    assert SharedLog(redis_server.url).count() == 0
    settings = isolated_settings(tmp_path / "after", store=redis_server.url, index=base)
    with TestClient(create_app(settings)) as client:
        ids = {item["id"] for item in client.get("/v1/references").json()["items"]}
        assert ids == {*TEMPLATE_IDS, "s-1", "s-16"}
        after = client.post("/v1/check", json={"text": texts["s-16"]}).json()
    assert after == before
