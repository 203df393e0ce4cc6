"""Security: API keys on every write path, writes refused when no key is configured, request size
limits, no code execution from data (pickle, eval, exec), no request reaching the filesystem outside
the data folder, CORS closed by default, keys kept out of answers and logs, a non-root container.
See SECURITY.md for the threat model these tests pin down."""

from __future__ import annotations

import ast
import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from api_helpers import (
    ROOT,
    Server,
    TestClient,
    docx_bytes,
    isolated_settings,
    running_server,
    template_paragraph,
)

from app.api.main import create_app
from app.settings import Settings

KEY = "s3cret-key-0123456789abcdef"
OTHER_KEY = "second-key-fedcba9876543210"
APP_DIR = ROOT / "app"
MiB = 1024 * 1024


pytestmark = pytest.mark.usefixtures("collect_garbage")  # leaks fail the test that leaked


def settings(data: Path, **overrides: Any) -> Settings:
    return isolated_settings(data, **{"api_keys": f"{KEY},{OTHER_KEY}", **overrides})


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        data = overrides.pop("data", tmp_path / f"data{len(clients)}")
        c = TestClient(create_app(settings(data, **overrides)), raise_server_exceptions=False)
        c.__enter__()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def assert_error(response: Any, status: int, code: str) -> dict:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    return body["error"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- API keys on every write path -----------------------------------------------------------------

TEXT = template_paragraph("jianshe-ju")[::-1]  # a text of its own, found only in what we add


def write(c: TestClient, what: str, ref_id: str, headers: dict[str, str]) -> Any:
    """One write request of the kind ``what`` for ``ref_id`` (an id that exists for delete)."""
    if what == "add-json":
        return c.post("/v1/references", headers=headers, json={"id": ref_id, "text": TEXT})
    if what == "add-upload":
        return c.post("/v1/references", headers=headers, data={"id": ref_id},
                      files={"file": (f"{ref_id}.docx", docx_bytes([TEXT]))})
    if what == "check-and-store":
        return c.post(f"/v1/check?store=true&id={ref_id}", headers=headers, json={"text": TEXT})
    if what == "delete":
        return c.delete(f"/v1/references/{ref_id}", headers=headers)
    raise AssertionError(what)


WRITES = ["add-json", "add-upload", "check-and-store", "delete"]
SUCCESS = {"add-json": 201, "add-upload": 201, "check-and-store": 200, "delete": 204}
BAD_CREDENTIALS = {
    "wrong-key": (bearer("not-the-key"), 403, "forbidden"),
    "key-prefix": (bearer(KEY[:-1]), 403, "forbidden"),
    "key-with-suffix": (bearer(KEY + "x"), 403, "forbidden"),
    "key-other-case": (bearer(KEY.upper()), 403, "forbidden"),
    "basic-scheme": ({"Authorization": f"Basic {KEY}"}, 403, "forbidden"),
    "bare-key": ({"Authorization": KEY}, 403, "forbidden"),
    "bearer-without-token": ({"Authorization": "Bearer "}, 403, "forbidden"),
    "key-in-other-header": ({"X-API-Key": KEY}, 401, "unauthorized"),
    "no-header": ({}, 401, "unauthorized"),
}


def _present(c: TestClient, ref_id: str) -> bool:
    return c.get(f"/v1/references/{ref_id}").status_code == 200


@pytest.mark.parametrize("what", WRITES)
@pytest.mark.parametrize("credentials", list(BAD_CREDENTIALS))
def test_write_without_a_valid_key_is_refused_and_changes_nothing(
        make_client: Callable[..., TestClient], what: str, credentials: str) -> None:
    c = make_client()
    ref_id = f"sec-{what}"
    if what == "delete":  # something to (fail to) delete
        assert write(c, "add-json", ref_id, bearer(KEY)).status_code == 201
    headers, status, code = BAD_CREDENTIALS[credentials]
    response = write(c, what, ref_id, headers)
    assert_error(response, status, code)
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    assert _present(c, ref_id) == (what == "delete"), "a refused write changed the corpus"
    assert KEY not in response.text and OTHER_KEY not in response.text


@pytest.mark.parametrize("what", WRITES)
@pytest.mark.parametrize("key", [KEY, OTHER_KEY])
def test_write_with_a_valid_key_succeeds(make_client: Callable[..., TestClient], what: str,
                                         key: str) -> None:
    c = make_client()
    ref_id = f"sec-{what}"
    if what == "delete":
        assert write(c, "add-json", ref_id, bearer(key)).status_code == 201
    response = write(c, what, ref_id, bearer(key))
    assert response.status_code == SUCCESS[what], response.text[:300]
    assert _present(c, ref_id) == (what != "delete")


@pytest.mark.parametrize("what", WRITES)
@pytest.mark.parametrize("headers", [{}, bearer(KEY), bearer("")], ids=["none", "key", "empty"])
def test_without_configured_keys_writes_are_disabled(make_client: Callable[..., TestClient],
                                                     what: str, headers: dict[str, str]) -> None:
    c = make_client(api_keys="")
    error = assert_error(write(c, what, "sec-disabled", headers), 403, "writes_disabled")
    assert "CHACHONG_API_KEYS" in error["message"]
    assert not _present(c, "sec-disabled")
    # checking and reading need no key
    assert c.post("/v1/check", json={"text": TEXT}).status_code == 200
    assert c.get("/v1/references").status_code == 200


@pytest.mark.parametrize("api_keys", [" , ,", ",", "   "])
def test_blank_key_lists_configure_no_key(make_client: Callable[..., TestClient],
                                          api_keys: str) -> None:
    """A list of blanks is no key at all: an empty bearer token never matches it."""
    c = make_client(api_keys=api_keys)
    for headers in ({}, bearer(""), {"Authorization": "Bearer  "}):
        assert_error(write(c, "add-json", "blank", headers), 403, "writes_disabled")


def test_keys_are_compared_in_constant_time() -> None:
    """Every comparison of a presented key goes through hmac.compare_digest (no ==, no 'in'):
    with the admin keys, and a stored key's digest with the presented one's."""
    stored = (APP_DIR / "access" / "keys.py").read_text(encoding="utf-8")
    assert "hmac.compare_digest(row[0].encode(), _digest(secret).encode())" in stored
    source = (APP_DIR / "api" / "access.py").read_text(encoding="utf-8")
    assert "hmac.compare_digest" in source
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            names = {n.attr if isinstance(n, ast.Attribute) else getattr(n, "id", "")
                     for n in ast.walk(node)}
            assert not names & {"keys", "token", "api_keys"}, ast.unparse(node)


# --- request size limits --------------------------------------------------------------------------

LIMIT = 4096


@pytest.mark.parametrize("path, auth", [("/v1/check", {}), ("/v1/check/batch", {}),
                                        ("/v1/references", bearer(KEY)),
                                        ("/v1/check?store=true", bearer(KEY))])
def test_bodies_over_the_limit_are_refused(make_client: Callable[..., TestClient], path: str,
                                           auth: dict[str, str]) -> None:
    c = make_client(max_body_bytes=LIMIT)
    big = "政" * LIMIT
    bodies: list[dict[str, Any]] = [
        {"json": {"id": "big", "text": big, "reports": [{"id": "a", "text": big}]}},
        {"files": {"file": ("big.txt", big.encode())}, "data": {"id": "big"}},
        {"files": {"files": ("big.txt", big.encode())}},
        # no Content-Length: the limit counts the bytes as they arrive
        {"content": iter([b'{"text": "', big.encode(), b'"}']),
         "headers": {"Content-Type": "application/json"}},
        # a declared length over the limit is refused before the body is read
        {"content": b"{}", "headers": {"Content-Type": "application/json",
                                       "Content-Length": str(10 * MiB)}},
    ]
    for kwargs in bodies:
        headers = {**auth, **kwargs.pop("headers", {})}
        assert_error(c.post(path, headers=headers, **kwargs), 413, "too_large")
    assert c.get("/v1/references").json()["total"] == 5, "an oversized body was stored"


def test_default_limit_is_ten_megabytes(make_client: Callable[..., TestClient]) -> None:
    c = make_client(max_body_bytes=Settings.model_fields["max_body_bytes"].default)
    assert Settings.model_fields["max_body_bytes"].default == 10 * MiB
    over = {"Content-Type": "application/json", "Content-Length": str(10 * MiB + 1)}
    assert_error(c.post("/v1/check", content=b"{}", headers=over), 413, "too_large")


def test_body_limit_cannot_be_configured_below_a_kilobyte() -> None:
    with pytest.raises(ValueError, match="max_body_bytes"):
        Settings(max_body_bytes=10)


# --- no code execution from data ------------------------------------------------------------------

# modules that turn bytes into code or objects, and calls that run strings as code
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "shelve", "marshal",
                  "joblib"}
UNSAFE_CALLS = {"eval", "exec", "compile", "__import__", "execfile"}


def _unsafe_uses(path: Path, root: Path = ROOT) -> list[str]:
    """Imports of unpickling modules, calls of eval/exec/compile/__import__, yaml.load,
    allow_pickle=True, shell=True and os.system in one file, as 'file:line: what'."""
    source = path.read_text(encoding="utf-8")
    found = []
    for node in ast.walk(ast.parse(source)):
        where = f"{path.relative_to(root)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            names = {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names = {(node.module or "").split(".")[0]}
        else:
            names = set()
        found += [f"{where}: imports {name}" for name in names & UNSAFE_MODULES]
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        # the builtins themselves (re.compile and the like are fine)
        builtin = func.id if isinstance(func, ast.Name) else (
            func.attr if isinstance(func, ast.Attribute)
            and ast.unparse(func.value) == "builtins" else "")
        if builtin in UNSAFE_CALLS:
            found.append(f"{where}: calls {builtin}()")
        if isinstance(func, ast.Attribute) and func.attr in {"load", "loads", "system", "popen"} \
                and ast.unparse(func.value) in {"yaml", "pickle", "marshal", "os"}:
            found.append(f"{where}: calls {ast.unparse(func)}()")
        for keyword in node.keywords:
            if keyword.arg in {"allow_pickle", "shell"} and not (
                    isinstance(keyword.value, ast.Constant) and keyword.value.value is False):
                found.append(f"{where}: {keyword.arg}={ast.unparse(keyword.value)}")
    return found


def test_no_pickle_eval_or_exec_in_the_app() -> None:
    files = sorted(APP_DIR.rglob("*.py"))
    assert len(files) > 10, files
    found = [use for path in files for use in _unsafe_uses(path)]
    assert found == []


def test_the_source_check_sees_what_it_looks_for(tmp_path: Path) -> None:
    """The checker itself finds each kind of unsafe use (so an empty answer means something)."""
    sample = tmp_path / "app" / "bad.py"
    sample.parent.mkdir()
    sample.write_text("import pickle\nfrom marshal import loads\nimport yaml, os, subprocess\n"
                      "eval('1')\nexec('x = 1')\nbuiltins.compile('1', 'f', 'eval')\n"
                      "yaml.load(s)\nnp.load(f, allow_pickle=True)\nos.system('ls')\n"
                      "subprocess.run('ls', shell=True)\nre.compile('x')\n", encoding="utf-8")
    found = _unsafe_uses(sample, tmp_path)
    assert len(found) == 9, found
    assert not any("re.compile" in f for f in found)


def test_saved_index_loads_without_pickle(tmp_path: Path, saved_index: Path) -> None:
    """An index is plain arrays, JSON, SQLite, block-encoded runs and zstandard frames: numpy
    refuses to unpickle any array in it."""
    import numpy as np

    segment = next((saved_index / "segments").iterdir())
    arrays = sorted(segment.glob("*.npy"))
    # fence, page table and key filter of 2 tables; 2 unit columns; per document its sequence
    # number, first unit and where its text and normalised text start
    assert len(arrays) == 12
    for file in arrays:
        assert np.load(file, allow_pickle=False).dtype != object, file.name


# --- no request reaches the filesystem ------------------------------------------------------------

TRAVERSAL_IDS = ["../../etc/passwd", "..", ".", "../escape", "a/../../b", "/etc/passwd",
                 "C:\\Windows\\win.ini", "..\\..\\x", "a\x00b", "%2e%2e%2fetc", "~root",
                 "data/chachong.sqlite3", "-rf", ".hidden", "a" * 200, "name with space",
                 "line\nbreak", "ok/", "\u202eevil"]


def _files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_reference_ids_cannot_name_paths(make_client: Callable[..., TestClient],
                                         tmp_path: Path) -> None:
    """Ids that look like paths are refused by validation on every way in; the only files that
    exist afterwards are the store's own, inside the data folder."""
    data = tmp_path / "sandbox" / "data"
    c = make_client(data=data)
    before = _files_under(tmp_path)
    for ref_id in TRAVERSAL_IDS:
        response = c.post("/v1/references", headers=bearer(KEY),
                          json={"id": ref_id, "text": TEXT})
        assert_error(response, 422, "invalid_request")
        upload = c.post("/v1/references", headers=bearer(KEY), data={"id": ref_id},
                        files={"file": ("../../../escape.txt", TEXT.encode())})
        assert_error(upload, 422, "invalid_request")
        stored = c.post("/v1/check", params={"store": "true", "id": ref_id},
                        headers=bearer(KEY), json={"text": TEXT})
        assert_error(stored, 422, "invalid_request")
        for method in ("GET", "DELETE"):
            response = c.request(method, "/v1/references/" + quote(ref_id, safe=""),
                                 headers=bearer(KEY))
            assert "root:" not in response.text
            if ref_id in {".", ".."}:  # the client resolves these: /v1/references or /v1
                assert response.status_code in (200, 404, 405), (method, ref_id)
                continue
            assert response.status_code in (404, 405), (method, ref_id, response.text)
    assert c.get("/v1/references").json()["total"] == 5
    created = _files_under(tmp_path) - before
    assert all(data in p.parents for p in created), sorted(map(str, created))
    assert not (tmp_path / "sandbox" / "escape.txt").exists()
    # the data folder holds the indexes of added references, the check history, the registry of
    # collections, the keys and the audit trail, nothing else
    assert {p.relative_to(data).parts[0] for p in _files_under(data)} <= {
        "index", "collections", *(f"{name}.sqlite3{suffix}" for suffix in ("", "-wal", "-shm")
                                  for name in ("history", "collections", "keys", "audit"))}
    assert {p.name for p in (data / "index").iterdir()} <= {
        "CURRENT", "manifest-000000000000.json", "segments", "deletes", "tmp", "maintainer.lock",
        "wal.sqlite3", "wal.sqlite3-wal", "wal.sqlite3-shm"}


def test_upload_file_names_are_only_titles(make_client: Callable[..., TestClient],
                                           tmp_path: Path) -> None:
    """A file name with a path in it is never opened or written: it only titles the report."""
    c = make_client(data=tmp_path / "data")
    before = _files_under(tmp_path)
    for name in ("../../../../etc/passwd.txt", "/etc/passwd.txt", "..\\..\\boot.ini.txt",
                 "/proc/self/environ.txt"):
        response = c.post("/v1/check", files={"file": (name, TEXT.encode())})
        assert response.status_code == 200, response.text
        assert "root:" not in response.text
        assert response.json()["chars"] == len(TEXT.replace(" ", ""))
    assert _files_under(tmp_path) - before <= {tmp_path / "data" / "chachong.sqlite3-wal",
                                               tmp_path / "data" / "chachong.sqlite3-shm"}


def test_sql_in_stored_fields_is_kept_as_text(make_client: Callable[..., TestClient]) -> None:
    """The store binds every value as a parameter: SQL in a title, a source, tags or the text is
    stored and read back verbatim, and the store still answers afterwards."""
    c = make_client()
    sql = "x'); DROP TABLE refs; --"
    body = {"id": "sql-1", "text": f"{TEXT}{sql}", "title": sql, "source": sql,
            "tags": {sql: sql, "unit": "'; DELETE FROM log; --"}}
    assert c.post("/v1/references", headers=bearer(KEY), json=body).status_code == 201
    stored = c.get("/v1/references/sql-1").json()
    assert (stored["text"], stored["title"], stored["source"], stored["tags"]) == (
        body["text"], body["title"], body["source"], body["tags"])
    assert c.get("/v1/references").json()["total"] == 6
    assert c.delete("/v1/references/sql-1", headers=bearer(KEY)).status_code == 204


# --- CORS -----------------------------------------------------------------------------------------

PREFLIGHT = {"Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization, content-type"}


def _cors_headers(response: Any) -> set[str]:
    return {h for h in response.headers if h.lower().startswith("access-control-")}


def test_cors_is_closed_by_default(make_client: Callable[..., TestClient]) -> None:
    c = make_client()
    for origin in ("https://evil.example", "null", "http://127.0.0.1:8000"):
        for path in ("/v1/check", "/v1/references", "/v1/references/jianshe-ju"):
            preflight = c.options(path, headers={"Origin": origin, **PREFLIGHT})
            assert "access-control-allow-origin" not in preflight.headers, (origin, path)
            assert "access-control-allow-credentials" not in preflight.headers
        simple = c.get("/v1/references", headers={"Origin": origin})
        assert simple.status_code == 200 and not _cors_headers(simple)
        posted = c.post("/v1/check", headers={"Origin": origin}, json={"text": TEXT})
        assert posted.status_code == 200 and not _cors_headers(posted)


def test_cors_opens_only_to_the_configured_origin(make_client: Callable[..., TestClient]) -> None:
    allowed = "https://review.example"
    c = make_client(cors_origins=allowed)
    ok = c.options("/v1/references", headers={"Origin": allowed, **PREFLIGHT})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == allowed
    assert "authorization" in ok.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in ok.headers  # keys go in a header, no cookies
    simple = c.get("/v1/references", headers={"Origin": allowed})
    assert simple.headers["access-control-allow-origin"] == allowed
    for origin in ("https://evil.example", "https://review.example.evil.example",
                   "http://review.example", "null"):
        refused = c.options("/v1/references", headers={"Origin": origin, **PREFLIGHT})
        assert "access-control-allow-origin" not in refused.headers, origin
        assert "access-control-allow-origin" not in c.get(
            "/v1/references", headers={"Origin": origin}).headers, origin
    # the writes a browser may make cross-origin are the documented ones
    delete = c.options("/v1/references/x", headers={
        "Origin": allowed, "Access-Control-Request-Method": "DELETE"})
    assert "DELETE" not in delete.headers.get("access-control-allow-methods", "")


# --- the container --------------------------------------------------------------------------------

def test_container_runs_as_a_user_without_privileges() -> None:
    dockerfile = ROOT / "Dockerfile"
    assert dockerfile.is_file(), "the Dockerfile at the repository root is gone"
    lines = [ln.strip() for ln in dockerfile.read_text(encoding="utf-8").splitlines()]
    instructions = [ln for ln in lines if ln and not ln.startswith("#")]
    users = [ln.split(None, 1)[1].strip() for ln in instructions if ln.upper().startswith("USER ")]
    assert users, "no USER line: the container would run as root"
    final = users[-1].split(":")[0]
    assert final not in {"root", "0"}, final
    # the USER line comes after the last RUN, so the service itself runs as that user
    last_run = max(i for i, ln in enumerate(instructions) if ln.upper().startswith("RUN "))
    last_user = max(i for i, ln in enumerate(instructions) if ln.upper().startswith("USER "))
    assert last_user > last_run


# --- on a real server: raw paths, and keys kept out of the logs -----------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("security-server")
    with running_server(workdir, workdir / "data", keys=f"{KEY},{OTHER_KEY}") as running:
        yield running


def _raw_get(server: Server, target: str) -> tuple[int, str]:
    """A request line sent byte for byte (clients normalise '..' away; attackers do not)."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode("utf-8", errors="replace")


@pytest.mark.slow
@pytest.mark.parametrize("target", [
    "/../../../../etc/passwd", "/v1/references/../../../../etc/passwd",
    "/v1/references/..%2F..%2F..%2F..%2Fetc%2Fpasswd", "/%2e%2e/%2e%2e/etc/passwd",
    "/static/../../../etc/passwd", "//etc/passwd", "/..%5c..%5cetc%5cpasswd",
    "/v1/references/%00", "/web/static/index.html/../../../../../etc/passwd",
])
def test_raw_paths_never_reach_the_filesystem(server: Server, target: str) -> None:
    status, body = _raw_get(server, target)
    assert status in (400, 404), (target, status, body[:200])
    assert "root:" not in body


@pytest.mark.slow
def test_keys_stay_out_of_answers_and_logs(server: Server) -> None:
    for headers in (bearer(KEY), bearer(OTHER_KEY), bearer("wrong-" + KEY)):
        response = httpx.post(f"{server.url}/v1/references", headers=headers, timeout=30,
                              json={"id": "log-check", "text": TEXT})
        assert KEY not in response.text and OTHER_KEY not in response.text
        httpx.delete(f"{server.url}/v1/references/log-check", headers=headers, timeout=30)
    metrics = httpx.get(f"{server.url}/metrics", timeout=30).text
    log = server.log.read_text(encoding="utf-8", errors="replace")
    for text in (metrics, log, json.dumps(httpx.get(f"{server.url}/openapi.json").json())):
        assert KEY not in text and OTHER_KEY not in text
