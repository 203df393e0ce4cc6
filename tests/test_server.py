"""Real ``chachong serve`` processes (uvicorn) started by the tests: the scorer's upload, durability
across a SIGKILL, and several workers sharing one store; and what an installed server (a wheel,
the Docker image) needs besides its code."""

from __future__ import annotations

import json
import signal
import threading
import tomllib
import urllib.request
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path

import httpx
import pytest
from api_helpers import (
    AUTH,
    CASES,
    DEV_CORPUS,
    ROOT,
    TRUTH,
    Server,
    dev_index,
    docx_bytes,
    expected,
    provincial_names,
    provincial_sentences,
    running_server,
    scorer_multipart,
    share_of,
    source_ids,
    start_server,
    template_sentences,
)

pytestmark = pytest.mark.slow

TIMEOUT = 30


def post_check(server: Server, text: str) -> dict:
    """A check on a connection of its own (httpx.post opens a new client each call), so the
    operating system may hand it to any worker."""
    response = httpx.post(f"{server.url}/v1/check", json={"text": text}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return response.json()


def matches_of(result: dict) -> list[tuple[int, int, str]]:
    """What shared/eval/score.py reads from an answer."""
    return sorted((m["start"], m["end"], m["source"]["id"])
                  for p in result["paragraphs"] for m in p["matches"])


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Two worker processes on the dev set's corpus, as the scorer's --url mode expects."""
    workdir = tmp_path_factory.mktemp("two-workers")
    with running_server(workdir, workdir / "data", corpus=DEV_CORPUS, workers=2) as server:
        yield server


# --- (a) the scorer's upload ------------------------------------------------------------------

def test_scorer_upload_gives_the_core_matches(two_workers: Server) -> None:
    truths = [json.loads(line) for line in TRUTH.read_text(encoding="utf-8").splitlines()]
    cases = truths[::10]
    assert any(t["spans"] for t in cases) and any(not t["spans"] for t in cases)
    for truth in cases:
        path = CASES / truth["case"]
        data = path.read_bytes()
        body, content_type = scorer_multipart(path.name, data)
        request = urllib.request.Request(f"{two_workers.url}/v1/check", data=body, method="POST",
                                         headers={"Content-Type": content_type})
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            assert response.status == 200
            result = json.loads(response.read())
        want = expected(data.decode(truth["encoding"]), title=path.name, index=dev_index(),
                        upload="txt")
        assert matches_of(result) == matches_of(want), truth["case"]
        assert result == want, truth["case"]
        if truth["spans"]:
            assert source_ids(result) & {span["source"] for span in truth["spans"]}, truth["case"]


# --- (c) two workers, one store -------------------------------------------------------------

def test_two_workers_find_a_new_reference_on_every_request(two_workers: Server) -> None:
    workers = two_workers.worker_pids()
    assert len(workers) == 2, workers

    sentences = provincial_sentences("2025-宁夏")
    text = "".join(sentences[20:30])
    response = httpx.post(f"{two_workers.url}/v1/references", headers=AUTH, timeout=TIMEOUT,
                          json={"id": "nx-2025", "text": text, "title": "宁夏政府工作报告"})
    assert response.status_code == 201, response.text

    copied = "".join(sentences[22:26])
    for n in range(20):
        result = post_check(two_workers, copied)
        assert source_ids(result) == {"nx-2025"}, n
        assert share_of(result, "nx-2025") > 0.9, n
    for n in range(10):
        got = httpx.get(f"{two_workers.url}/v1/references/nx-2025", timeout=TIMEOUT)
        assert got.status_code == 200 and got.json()["text"] == text, n
    assert two_workers.worker_pids() == workers  # neither worker died or was replaced


def test_two_workers_adding_and_checking_at_once(tmp_path: Path) -> None:
    """Three clients each add references and check each one at once on a new connection (so
    either worker may answer), while the workers flush every five additions and merge: every
    check finds the reference just acknowledged, and the index holds them all after."""
    texts = _reference_texts(45)
    missed: list[str] = []

    def client(ids: list[str], server: Server) -> None:
        for ref_id in ids:
            added = httpx.post(f"{server.url}/v1/references", headers=AUTH, timeout=TIMEOUT,
                               json={"id": ref_id, "text": texts[ref_id]})
            assert added.status_code == 201, added.text
            if ref_id not in source_ids(post_check(server, texts[ref_id])):
                missed.append(ref_id)

    with running_server(tmp_path, tmp_path / "data", workers=2,
                        env={"CHACHONG_FLUSH_DOCS": "5"}) as server:
        ids = sorted(texts)
        threads = [threading.Thread(target=client, args=(ids[k::3], server)) for k in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not missed, missed
        page = httpx.get(f"{server.url}/v1/references?limit=100", timeout=TIMEOUT).json()
        assert page["total"] == 5 + len(texts)
    index = tmp_path / "data" / "index"
    manifest = json.loads((index / (index / "CURRENT").read_text()).read_text())
    # flushes ran while clients added and checked (the server is killed, so none ran after):
    # each published a manifest; merges may have joined every segment into one since
    assert manifest["generation"] >= 2, manifest


# --- (b) durability across a crash ------------------------------------------------------------

def _reference_texts(count: int) -> dict[str, str]:
    """Unique texts of real sentences: six host sentences with one template sentence among them."""
    names = provincial_names()
    templates = template_sentences()
    texts = {}
    for n in range(count):
        host = provincial_sentences(names[n % len(names)])
        k = n // len(names)
        body = host[10 + 6 * k: 16 + 6 * k]
        texts[f"durable-{n:02d}"] = "".join(body[:3]) + templates[3 * n][1] + "".join(body[3:])
    assert len(set(texts.values())) == count
    return texts


def test_acknowledged_references_survive_sigkill(tmp_path: Path) -> None:
    data = tmp_path / "data"
    texts = _reference_texts(30)
    server = start_server(tmp_path, data)
    try:
        for n, (ref_id, text) in enumerate(texts.items()):
            if n % 3 == 2:  # every third one uploaded as a Word file with tags
                response = httpx.post(
                    f"{server.url}/v1/references", headers=AUTH, timeout=TIMEOUT,
                    files={"file": (f"{ref_id}.docx", docx_bytes([text]))},
                    data={"id": ref_id, "tags": f"n={n}"})
            else:
                response = httpx.post(f"{server.url}/v1/references", headers=AUTH,
                                      timeout=TIMEOUT,
                                      json={"id": ref_id, "text": text, "tags": {"n": str(n)}})
            assert response.status_code == 201, response.text
        gone = "durable-07"
        assert httpx.delete(f"{server.url}/v1/references/{gone}", headers=AUTH,
                            timeout=TIMEOUT).status_code == 204
        # no graceful shutdown: the process dies right after the last acknowledgement
        server.kill(signal.SIGKILL)
        assert server.proc.returncode == -signal.SIGKILL
    finally:
        server.kill()

    with running_server(tmp_path, data) as again:
        page = httpx.get(f"{again.url}/v1/references?limit=500", timeout=TIMEOUT).json()
        listed = {item["id"]: item for item in page["items"]}
        kept = {ref_id: text for ref_id, text in texts.items() if ref_id != gone}
        assert page["total"] == 5 + len(kept)
        assert gone not in listed
        assert set(kept) <= set(listed)
        assert httpx.get(f"{again.url}/readyz", timeout=TIMEOUT).json()["references"] == (
            5 + len(kept))
        for n, (ref_id, text) in enumerate(texts.items()):
            if ref_id == gone:
                continue
            assert listed[ref_id]["tags"] == {"n": str(n)}
            stored = httpx.get(f"{again.url}/v1/references/{ref_id}", timeout=TIMEOUT).json()
            assert stored["text"] == text, ref_id
            result = post_check(again, text)
            assert ref_id in source_ids(result), ref_id
            assert share_of(result, ref_id) > 0.7, (ref_id, result["sources"])
        assert gone not in source_ids(post_check(again, texts[gone]))


# --- the installed package --------------------------------------------------------------------

def test_package_data_ships_every_data_file() -> None:
    """A non-editable install (a wheel, the Docker image) holds only the .py files and what
    [tool.setuptools.package-data] names: every other file under app/ and reference_corpus/ must
    match one of its patterns, or the installed server fails when it reads that file."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns: dict[str, list[str]] = config["tool"]["setuptools"]["package-data"]
    missing = []
    for top in ("app", "reference_corpus"):
        for path in sorted((ROOT / top).rglob("*")):
            if (not path.is_file() or path.suffix in {".py", ".pyc", ".pyi"}
                    or "__pycache__" in path.parts):
                continue
            package_dir = path.parent  # a data file belongs to the nearest regular package
            while not (package_dir / "__init__.py").is_file():
                package_dir = package_dir.parent
            package = ".".join(package_dir.relative_to(ROOT).parts)
            inside = path.relative_to(package_dir).as_posix()
            if not any(fnmatch(inside, pattern) and inside.count("/") == pattern.count("/")
                       for pattern in patterns.get(package, [])):
                missing.append(f"{path.relative_to(ROOT).as_posix()} (package {package})")
    assert missing == [], f"not in [tool.setuptools.package-data]: {missing}"
