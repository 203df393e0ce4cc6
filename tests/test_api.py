"""The HTTP API in process (FastAPI's TestClient): inputs, the result, every error, the reference
corpus, authentication, operations endpoints, OpenAPI and CORS."""

from __future__ import annotations

import gc
import json
import os
import re
import subprocess
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from api_helpers import (
    AUTH,
    CASES,
    PROVINCIAL,
    TestClient,
    blank_pdf,
    clean_env,
    docx_bytes,
    expected,
    host_report,
    isolated_settings,
    provincial_names,
    provincial_paragraphs,
    scorer_multipart,
    serve_command,
    share_of,
    source_ids,
    template_paragraph,
    text_pdf,
)
from fastapi.routing import APIRoute
from redis_support import RedisCluster, RedisServer

from app.api import routers
from app.api.main import create_app
from app.core import read_document
from app.settings import Settings

BASE_REFS = 5
MiB = 1024 * 1024


pytestmark = pytest.mark.usefixtures("collect_garbage")  # leaks fail the test that leaked


def settings(data: Path, **overrides: Any) -> Settings:
    return isolated_settings(data, **{"api_keys": "k1,k2", **overrides})


@pytest.fixture(scope="module", autouse=True)
def _no_settings_from_the_environment() -> Iterator[None]:
    """No CHACHONG_* variable of the shell or CI may change the apps these tests build."""
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("CHACHONG_")]:
            mp.delenv(name)
        yield


@pytest.fixture(scope="module", params=["embedded", "redis", "cluster"])
def redis(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer | RedisCluster | None]:
    """The whole module runs three times: on the embedded store, with the log shared through
    one Redis, and through a Redis Cluster of 3 masters and 3 replicas."""
    if request.param == "embedded":
        yield None
        return
    server = RedisServer() if request.param == "redis" else \
        RedisCluster(tmp_path_factory.mktemp("cluster"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory,
           redis: RedisServer | RedisCluster | None) -> Iterator[TestClient]:
    """One app for the tests that add nothing to its corpus (so it is the bundled one)."""
    store = redis.url if redis else None
    with TestClient(create_app(settings(tmp_path_factory.mktemp("data"), store=store))) as c:
        yield c
        # results from this app are compared with the bundled corpus's: nothing may be added
        assert c.get("/v1/references").json()["total"] == BASE_REFS


@pytest.fixture
def make_client(tmp_path: Path, redis: RedisServer | RedisCluster | None
                ) -> Iterator[Callable[..., TestClient]]:
    """A fresh app with its own store (and given settings), for tests that count references;
    apps made with the same ``data`` folder share their store, as after a restart."""
    clients: list[TestClient] = []
    stores: dict[Path, str] = {}

    def make(data: Path | None = None, **overrides: Any) -> TestClient:
        data = data or tmp_path / f"data{len(clients)}"
        if redis and "store" not in overrides:
            if data not in stores:  # a new store: keys of its own
                stores[data] = f"{redis.url}?prefix={tmp_path.name}-{len(stores)}:"
            overrides["store"] = stores[data]
        c = TestClient(create_app(settings(data, **overrides)))
        c.__enter__()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def upload(c: TestClient, name: str, data: bytes, path: str = "/v1/check", *,
           fields: dict[str, str] | None = None, **kwargs: Any) -> Any:
    return c.post(path, files={"file": (name, data, "application/octet-stream")},
                  data=fields or {}, **kwargs)


def assert_error(response: Any, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"].strip()
    return body["error"]


def host(name: str, first: int, count: int) -> list[str]:
    return list(provincial_paragraphs(name)[first:first + count])


# --- checking: inputs and the result ------------------------------------------------------------

def test_check_json_gives_the_core_result(client: TestClient) -> None:
    text = host_report()
    response = client.post("/v1/check", json={"text": text, "title": "2024年度述职报告"})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result == expected(text, title="2024年度述职报告")
    assert source_ids(result) == {"jianshe-ju"}
    paragraph = template_paragraph("jianshe-ju")
    for p in result["paragraphs"]:
        for m in p["matches"]:
            assert text[m["start"]:m["end"]] == m["text"]
            assert m["text"] in paragraph


def test_check_json_options_override_the_defaults(client: TestClient) -> None:
    text = host_report()
    response = client.post("/v1/check",
                           json={"text": text, "threshold": 0.9, "min_match_chars": 20})
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["threshold"], result["min_match_chars"]) == (0.9, 20)
    assert result == expected(text, threshold=0.9, min_match_chars=20)


def test_check_defaults_come_from_the_settings(make_client: Callable[..., TestClient]) -> None:
    c = make_client(threshold=0.05, min_match_chars=30)
    text = host_report()
    result = c.post("/v1/check", json={"text": text}).json()
    assert (result["threshold"], result["min_match_chars"]) == (0.05, 30)
    assert result == expected(text, threshold=0.05, min_match_chars=30)
    assert result["verdict"] == "fail"


@pytest.mark.parametrize("encoding, data_of", [
    pytest.param("utf-8", lambda t: t.encode("utf-8"), id="utf-8"),
    pytest.param("utf-8-sig", lambda t: t.encode("utf-8-sig"), id="utf-8-bom"),
    pytest.param("gb18030", lambda t: t.encode("gb18030"), id="gb18030"),
    pytest.param("utf-16", lambda t: t.encode("utf-16"), id="utf-16-bom"),
    pytest.param("utf-16-le", lambda t: t.encode("utf-16-le"), id="utf-16-le-no-bom"),
])
def test_check_upload_of_text_in_any_common_encoding(client: TestClient, encoding: str,
                                                     data_of: Callable[[str], bytes]) -> None:
    text = host_report()
    name = f"述职报告-{encoding}.txt"
    response = upload(client, name, data_of(text))
    assert response.status_code == 200, response.text
    result = response.json()
    # offsets are code points into the decoded text (without any byte-order mark)
    assert result == expected(text, title=name, upload="txt")
    assert "jianshe-ju" in source_ids(result)


def test_check_upload_of_markdown(client: TestClient) -> None:
    text = "\n".join(["# 2024年度基层党建工作述职报告", "", "## 一、履行职责情况", "",
                      template_paragraph("jiguan-gongwei"), "",
                      "- " + provincial_paragraphs("2025-上海市")[3]])
    result = upload(client, "report.md", text.encode()).json()
    assert result == expected(text, title="report.md", upload="md")
    assert "jiguan-gongwei" in source_ids(result)


def test_check_upload_of_a_word_document(client: TestClient) -> None:
    paragraphs = [*host("2025-天津市", 2, 2), template_paragraph("jituan-gongsi"),
                  *host("2025-天津市", 4, 1)]
    response = upload(client, "述职报告.docx", docx_bytes(paragraphs))
    assert response.status_code == 200, response.text
    result = response.json()
    assert result == expected("\n".join(paragraphs), title="述职报告.docx", upload="docx")
    assert "jituan-gongsi" in source_ids(result)


def test_check_upload_of_a_real_provincial_report(client: TestClient) -> None:
    data = (PROVINCIAL / "2025-吉林省.docx").read_bytes()
    response = upload(client, "2025-吉林省.docx", data)
    assert response.status_code == 200, response.text
    text = read_document(data, "2025-吉林省.docx")
    result = response.json()
    document = result.pop("document")
    assert document["format"] == "docx" and document["parts"][0] == "body"
    assert result == {k: v for k, v in expected(text, title="2025-吉林省.docx").items()
                      if k != "document"}
    assert result["chars"] > 10_000


def test_check_upload_of_a_pdf_with_a_text_layer(client: TestClient) -> None:
    lines = [provincial_paragraphs("2025-北京市")[2], template_paragraph("gongshang-ju")]
    data = text_pdf(lines)
    response = upload(client, "述职报告.pdf", data)
    assert response.status_code == 200, response.text
    result = response.json()
    want = expected(read_document(data, "述职报告.pdf"), title="述职报告.pdf", upload="pdf")
    want["document"]["pages"] = 1
    assert result == want
    assert source_ids(result) == {"gongshang-ju"}
    assert share_of(result, "gongshang-ju") > 0.4


def test_check_upload_of_a_pdf_without_text_layer_is_refused(client: TestClient) -> None:
    error = assert_error(upload(client, "scan.pdf", blank_pdf()), 422, "needs_ocr")
    assert "OCR" in error["message"]


def test_check_upload_title_field_overrides_the_file_name(client: TestClient) -> None:
    text = host_report()
    response = upload(client, "a.txt", text.encode(), fields={"title": "我的报告",
                                                              "threshold": "0.8"})
    assert response.json() == expected(text, title="我的报告", threshold=0.8, upload="txt")


def test_check_upload_in_the_scorers_form(client: TestClient) -> None:
    """shared/eval/score.py --url: one part 'file' with Content-Type text/plain, no other field."""
    data = (CASES / "case-000.txt").read_bytes()
    body, content_type = scorer_multipart("case-000.txt", data)
    response = client.post("/v1/check", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 200, response.text
    assert response.json() == expected(data.decode("utf-8"), title="case-000.txt", upload="txt")


@pytest.mark.parametrize("path", ["/v1/check", "/v1/references"])
def test_upload_is_read_from_the_file_not_from_a_text_field(
        make_client: Callable[..., TestClient], path: str) -> None:
    """A form field named 'text' (as a web form might send) must not replace the uploaded file."""
    c = make_client()
    text = host_report()
    response = upload(c, "report.txt", text.encode(), path, headers=AUTH,
                      fields={"text": "另一段文字", "id": "from-file"})
    assert response.status_code in (200, 201), response.text
    if path == "/v1/check":
        assert response.json() == expected(text, title="report.txt", upload="txt")
    else:
        assert c.get("/v1/references/from-file").json()["text"] == text


def test_upload_with_a_long_file_name(client: TestClient) -> None:
    """The title taken from a file name is not user input to validate: a long name still works."""
    name = "关于" + "二〇二四年度基层党建工作述职报告" * 15 + ".txt"
    assert len(name) > 200
    response = upload(client, name, host_report().encode())
    assert response.status_code == 200, response.text
    assert "jianshe-ju" in source_ids(response.json())


@pytest.mark.slow
def test_upload_answers_what_the_cli_prints(client: TestClient) -> None:
    """The API and `chachong check --format json` give one result for one file."""
    path = CASES / "case-000.txt"
    cli = subprocess.run([*serve_command(), "check", "--format", "json", str(path)],
                         capture_output=True, timeout=120, env=clean_env(), check=False)
    assert cli.returncode in (0, 1), cli.stderr.decode(errors="replace")
    response = upload(client, path.name, path.read_bytes())
    assert response.json() == json.loads(cli.stdout)


@pytest.mark.parametrize("path", ["/v1/check", "/v1/references"])
def test_multipart_upload_closes_its_temporary_file(make_client: Callable[..., TestClient],
                                                    path: str) -> None:
    """Uploaded files are spooled to SpooledTemporaryFile objects; the app must close them (as
    FastAPI does for the forms it parses itself), not leave them to the garbage collector."""
    client = make_client()
    fields = {"id": "leak-probe"} if path == "/v1/references" else {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        response = upload(client, "report.txt", host_report().encode(), path, fields=fields,
                          headers=AUTH)
        gc.collect()
    assert response.status_code in (200, 201), response.text
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == [], leaks


# --- every error, with its status and stable code --------------------------------------------

def _big_chunks() -> Iterator[bytes]:
    yield b'{"text": "'
    for _ in range(10):
        yield "政府工作报告".encode() * 50
    yield b'"}'


def _big_multipart_chunks() -> Iterator[bytes]:
    yield b'--B0\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\n'
    for _ in range(10):
        yield "政府工作报告".encode() * 50
    yield b"\r\n--B0--\r\n"


ERROR_CASES: list[Any] = [
    # client fixture, method, path, request kwargs, status, code
    pytest.param("small", "post", "/v1/check", {"json": {"text": "政" * 2000}}, 413, "too_large",
                 id="413-json-content-length"),
    pytest.param("small", "post", "/v1/check",
                 {"content": _big_chunks, "headers": {"Content-Type": "application/json"}},
                 413, "too_large", id="413-json-chunked"),
    pytest.param("small", "post", "/v1/check",
                 {"files": {"file": ("a.txt", "政".encode() * 2000)}}, 413, "too_large",
                 id="413-upload"),
    pytest.param("small", "post", "/v1/references",
                 {"json": {"id": "big", "text": "政" * 2000}, "headers": AUTH}, 413, "too_large",
                 id="413-reference"),
    pytest.param("small", "post", "/v1/check",
                 {"content": _big_multipart_chunks,
                  "headers": {"Content-Type": "multipart/form-data; boundary=B0"}},
                 413, "too_large", id="413-upload-chunked"),
    pytest.param("client", "post", "/v1/check",
                 {"files": {"file": ("report.exe", b"MZ\x90\x00\x03")}}, 415,
                 "unsupported_format", id="415-exe-upload"),
    pytest.param("client", "post", "/v1/references",
                 {"files": {"file": ("ref.exe", b"MZ\x90\x00")}, "data": {"id": "exe"},
                  "headers": AUTH}, 415, "unsupported_format", id="415-exe-reference"),
    pytest.param("client", "post", "/v1/check",
                 {"content": "根据会议安排".encode(), "headers": {"Content-Type": "text/plain"}},
                 415, "unsupported_media_type", id="415-text-plain-body"),
    pytest.param("client", "post", "/v1/check", {"content": b"abc"}, 415,
                 "unsupported_media_type", id="415-no-content-type"),
    pytest.param("client", "post", "/v1/references",
                 {"content": b"abc", "headers": {**AUTH, "Content-Type": "text/plain"}}, 415,
                 "unsupported_media_type", id="415-reference-text-plain"),
    pytest.param("client", "post", "/v1/check",
                 {"files": {"file": ("a.txt", bytes(range(256)) * 8)}}, 422, "undecodable",
                 id="422-binary-bytes"),
    pytest.param("client", "post", "/v1/check",
                 {"files": {"file": ("a.txt", b"\xef\xbb\xbf\xff\xfe\xfa\xc3")}}, 422,
                 "undecodable", id="422-broken-utf8-after-bom"),
    pytest.param("client", "post", "/v1/check",
                 {"files": {"file": ("a.docx", "不是Word文件".encode())}}, 422, "undecodable",
                 id="422-docx-not-a-zip"),
    pytest.param("client", "post", "/v1/check", {"files": {"file": ("a.txt", b"")}}, 422,
                 "empty_text", id="422-empty-upload"),
    pytest.param("client", "post", "/v1/check",
                 {"files": {"file": ("a.txt", " \r\n\t\u3000\n".encode())}}, 422, "empty_text",
                 id="422-whitespace-upload"),
    pytest.param("client", "post", "/v1/check", {"json": {"text": " \n\t\u3000 "}}, 422,
                 "empty_text", id="422-whitespace-json"),
    pytest.param("client", "post", "/v1/check", {"json": {"text": ""}}, 422,
                 "empty_text", id="422-empty-json"),
    pytest.param("client", "post", "/v1/check", {"json": {"title": "no text"}}, 422,
                 "invalid_request", id="422-json-without-text"),
    pytest.param("client", "post", "/v1/check", {"json": {"text": "报告", "threshold": 1.5}},
                 422, "invalid_request", id="422-threshold-1.5"),
    pytest.param("client", "post", "/v1/check", {"json": {"text": "报告", "threshold": -1}},
                 422, "invalid_request", id="422-threshold-minus-1"),
    pytest.param("client", "post", "/v1/check",
                 {"files": {"file": ("a.txt", "报告".encode())}, "data": {"threshold": "1.5"}},
                 422, "invalid_request", id="422-upload-threshold-1.5"),
    pytest.param("client", "post", "/v1/check",
                 {"json": {"text": "报告", "min_match_chars": 3}}, 422, "invalid_request",
                 id="422-min-match-chars-3"),
    pytest.param("client", "post", "/v1/check",
                 {"files": {"other": ("a.txt", "报告".encode())}, "data": {"title": "t"}}, 422,
                 "missing_file", id="422-missing-file-field"),
    pytest.param("client", "post", "/v1/references",
                 {"data": {"id": "no-file"}, "files": {"other": ("a.txt", b"x")},
                  "headers": AUTH}, 422, "missing_file", id="422-reference-missing-file"),
    pytest.param("client", "post", "/v1/references",
                 {"json": {"id": "../etc/passwd", "text": "报告正文"}, "headers": AUTH}, 422,
                 "invalid_request", id="422-reference-bad-id"),
    pytest.param("client", "post", "/v1/references",
                 {"json": {"id": "blank", "text": " \n "}, "headers": AUTH}, 422, "empty_text",
                 id="422-reference-whitespace-text"),
    pytest.param("client", "get", "/v1/references?limit=0", {}, 422, "invalid_request",
                 id="422-limit-0"),
    pytest.param("client", "get", "/v1/references?limit=501", {}, 422, "invalid_request",
                 id="422-limit-501"),
    pytest.param("client", "post", "/v1/check",
                 {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
                 400, "invalid_json", id="400-invalid-json"),
    pytest.param("client", "get", "/v1/references/no-such-ref", {}, 404, "not_found",
                 id="404-unknown-reference"),
    pytest.param("client", "delete", "/v1/references/no-such-ref", {"headers": AUTH}, 404,
                 "not_found", id="404-delete-unknown-reference"),
    pytest.param("client", "get", "/v2/nothing", {}, 404, "not_found", id="404-unknown-route"),
    pytest.param("client", "put", "/v1/check", {}, 405, "method_not_allowed", id="405-put"),
    pytest.param("client", "post", "/v1/references", {"json": {"id": "x", "text": "报告"}},
                 401, "unauthorized", id="401-add-without-key"),
    pytest.param("client", "delete", "/v1/references/jianshe-ju", {}, 401, "unauthorized",
                 id="401-delete-without-key"),
    pytest.param("client", "post", "/v1/check?store=true", {"json": {"text": "报告正文"}},
                 401, "unauthorized", id="401-store-without-key"),
    pytest.param("client", "post", "/v1/references",
                 {"json": {"id": "x", "text": "报告"}, "headers": {"Authorization": "Bearer k3"}},
                 403, "forbidden", id="403-wrong-key"),
    pytest.param("client", "post", "/v1/references",
                 {"json": {"id": "x", "text": "报告"}, "headers": {"Authorization": "Basic k1"}},
                 403, "forbidden", id="403-not-bearer"),
    pytest.param("nokeys", "post", "/v1/references", {"json": {"id": "x", "text": "报告"},
                                                       "headers": AUTH},
                 403, "writes_disabled", id="403-writes-disabled-add"),
    pytest.param("nokeys", "delete", "/v1/references/x", {}, 403, "writes_disabled",
                 id="403-writes-disabled-delete"),
    pytest.param("nokeys", "post", "/v1/check?store=true", {"json": {"text": "报告正文"}},
                 403, "writes_disabled", id="403-writes-disabled-store"),
    pytest.param("client", "post", "/v1/references",
                 {"json": {"id": "jianshe-ju", "text": "报告"}, "headers": AUTH}, 409,
                 "duplicate_reference", id="409-base-corpus-id"),
    pytest.param("client", "delete", "/v1/references/jianshe-ju", {"headers": AUTH}, 409,
                 "corpus_error", id="409-delete-base-reference"),
]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = create_app(settings(tmp_path_factory.mktemp("small"), max_body_bytes=2048))
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def nokeys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with TestClient(create_app(settings(tmp_path_factory.mktemp("nokeys"), api_keys=""))) as c:
        yield c


@pytest.mark.parametrize("which, method, path, kwargs, status, code", ERROR_CASES)
@pytest.mark.usefixtures("redis")  # the clients are chosen by name: both stores, like the rest
def test_errors_have_a_status_and_a_stable_code(request: pytest.FixtureRequest, which: str,
                                                method: str, path: str, kwargs: dict,
                                                status: int, code: str) -> None:
    c: TestClient = request.getfixturevalue(which)
    kwargs = {k: v() if callable(v) else v for k, v in kwargs.items()}
    assert_error(c.request(method.upper(), path, **kwargs), status, code)


def test_body_limit_is_inclusive(small: TestClient) -> None:
    def body(size: int) -> bytes:
        data = json.dumps({"text": "x" * size}).encode()
        return json.dumps({"text": "x" * (size - (len(data) - size))}).encode()

    headers = {"Content-Type": "application/json"}
    assert len(body(2048)) == 2048
    assert small.post("/v1/check", content=body(2048), headers=headers).status_code == 200
    assert_error(small.post("/v1/check", content=body(2049), headers=headers), 413, "too_large")


def test_too_large_says_which_setting_to_raise(small: TestClient) -> None:
    error = assert_error(small.post("/v1/check", json={"text": "政" * 2000}), 413, "too_large")
    assert "CHACHONG_MAX_BODY_BYTES" in error["message"]


def test_missing_key_asks_for_a_bearer_token(client: TestClient) -> None:
    response = client.post("/v1/references", json={"id": "x", "text": "报告"})
    assert_error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


def test_writes_disabled_says_how_to_configure_a_key(nokeys: TestClient) -> None:
    error = assert_error(nokeys.post("/v1/references", json={"id": "x", "text": "报告"}),
                         403, "writes_disabled")
    assert "CHACHONG_API_KEYS" in error["message"]
    # reading and checking still work without any key
    assert nokeys.post("/v1/check", json={"text": host_report()}).status_code == 200
    assert nokeys.get("/v1/references").json()["total"] == BASE_REFS


def test_every_configured_key_may_write(make_client: Callable[..., TestClient]) -> None:
    c = make_client(api_keys=" k1 , k2 ")
    for n, key in enumerate(["k1", "k2"]):
        response = c.post("/v1/references", json={"id": f"by-{key}", "text": host_report()},
                          headers={"Authorization": f"bearer {key}"})
        assert response.status_code == 201, (n, response.text)


def test_duplicate_id_is_a_conflict(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    body = {"id": "dup-2025", "text": "\n".join(host("2025-河北省", 2, 2))}
    assert client.post("/v1/references", json=body, headers=AUTH).status_code == 201
    error = assert_error(client.post("/v1/references", json=body, headers=AUTH), 409,
                         "duplicate_reference")
    assert "dup-2025" in error["message"]


# --- the reference corpus ---------------------------------------------------------------------

def test_added_reference_is_found_at_once(make_client: Callable[..., TestClient]) -> None:
    c = make_client()
    paragraphs = host("2025-吉林省", 0, 5)
    text = "\n".join(paragraphs)
    body = {"id": "jilin-2025", "text": text, "title": "吉林省政府工作报告",
            "source": "2025年省政府工作报告", "tags": {"province": "吉林", "year": "2025"}}
    response = c.post("/v1/references", json=body, headers=AUTH)
    assert response.status_code == 201, response.text
    assert response.json() == {"id": "jilin-2025", "title": "吉林省政府工作报告",
                               "source": "2025年省政府工作报告",
                               "tags": {"province": "吉林", "year": "2025"}, "chars": len(text)}
    assert c.get("/readyz").json()["references"] == BASE_REFS + 1

    copied = paragraphs[1] + paragraphs[2]
    result = c.post("/v1/check", json={"text": copied}).json()
    assert source_ids(result) == {"jilin-2025"}
    assert share_of(result, "jilin-2025") > 0.9
    match = result["paragraphs"][0]["matches"][0]
    assert match["source"]["title"] == "吉林省政府工作报告"
    assert match["source"]["text"] == text[match["source"]["start"]:match["source"]["end"]]

    stored = c.get("/v1/references/jilin-2025").json()
    assert stored == {**response.json(), "text": text}


@pytest.mark.parametrize("tags, parsed", [
    pytest.param("province=天津, year=2025", {"province": "天津", "year": "2025"}, id="pairs"),
    pytest.param('{"province": "天津", "year": "2025"}', {"province": "天津", "year": "2025"},
                 id="json"),
])
def test_added_reference_from_an_uploaded_word_file(make_client: Callable[..., TestClient],
                                                    tags: str, parsed: dict) -> None:
    c = make_client()
    data = (PROVINCIAL / "2025-天津市.docx").read_bytes()
    response = upload(c, "2025-天津市.docx", data, "/v1/references", headers=AUTH,
                      fields={"id": "天津-2025", "title": "天津市政府工作报告", "tags": tags})
    assert response.status_code == 201, response.text
    summary = response.json()
    assert (summary["id"], summary["title"], summary["tags"]) == (
        "天津-2025", "天津市政府工作报告", parsed)
    assert summary["chars"] == len(read_document(data, "2025-天津市.docx"))

    paragraph = provincial_paragraphs("2025-天津市")[5]
    result = c.post("/v1/check", json={"text": paragraph}).json()
    assert source_ids(result) == {"天津-2025"}
    assert share_of(result, "天津-2025") > 0.9
    assert c.get("/v1/references/天津-2025").json()["text"] == read_document(
        data, "2025-天津市.docx")


def test_reference_list_is_paged(make_client: Callable[..., TestClient]) -> None:
    c = make_client()
    for n in range(7):
        text = "\n".join(host("2025-广东省", 2 + 2 * n, 2))
        assert c.post("/v1/references", json={"id": f"gd-{n:02d}", "text": text},
                      headers=AUTH).status_code == 201
    everything = sorted([*(f"gd-{n:02d}" for n in range(7)), "gongshang-ju", "jianshe-ju",
                         "jiguan-gongwei", "jituan-gongsi", "minzheng-ju"])
    default = c.get("/v1/references").json()
    assert (default["total"], default["offset"], default["limit"]) == (12, 0, 50)
    assert [r["id"] for r in default["items"]] == everything

    seen = []
    for offset in range(0, 15, 5):
        page = c.get(f"/v1/references?offset={offset}&limit=5").json()
        assert (page["total"], page["offset"], page["limit"]) == (12, offset, 5)
        assert len(page["items"]) == min(5, 12 - offset)
        seen += [r["id"] for r in page["items"]]
    assert seen == everything
    beyond = c.get("/v1/references?offset=100&limit=5").json()
    assert (beyond["total"], beyond["items"]) == (12, [])
    item = next(r for r in default["items"] if r["id"] == "jianshe-ju")
    assert item["title"] == "基层党建工作述职报告（建设局）"
    assert item["tags"] == {"kind": "template"}
    assert "text" not in item


def test_base_reference_can_be_read(client: TestClient) -> None:
    ref = client.get("/v1/references/minzheng-ju").json()
    assert ref["text"] == (Path(__file__).resolve().parents[1] / "reference_corpus" /
                           "minzheng-ju.txt").read_text(encoding="utf-8")
    assert ref["chars"] == len(ref["text"])


def test_a_batch_of_references_is_added_at_once(make_client: Callable[..., TestClient]) -> None:
    """POST /v1/references/batch adds every reference of the batch, each found by the next
    check, as JSON or as files whose names are their ids."""
    c = make_client()
    names = provincial_names()[:4]
    texts = {name: "\n".join(provincial_paragraphs(name)[2:5]) for name in names}
    added = c.post("/v1/references/batch", headers=AUTH, json={"references": [
        {"id": f"p-{i}", "text": texts[name], "tags": {"kind": "submission"}}
        for i, name in enumerate(names[:3])]})
    assert added.status_code == 201, added.text
    assert added.json() == {"added": 3, "ids": ["p-0", "p-1", "p-2"]}
    uploaded = c.post("/v1/references/batch", headers=AUTH, files=[
        ("files", ("省报告-4.txt", texts[names[3]].encode(), "text/plain"))])
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["ids"] == ["省报告-4"]
    assert c.get("/v1/references").json()["total"] == BASE_REFS + 4
    for i, name in enumerate(names):
        ref_id = f"p-{i}" if i < 3 else "省报告-4"
        paragraph = provincial_paragraphs(name)[3]
        assert ref_id in source_ids(c.post("/v1/check", json={"text": paragraph}).json())
    assert c.get("/v1/references/p-1").json()["tags"] == {"kind": "submission"}


def test_a_batch_is_added_whole_or_not_at_all(make_client: Callable[..., TestClient]) -> None:
    """A batch with an id that exists (or repeats, or belongs to the base corpus) is refused
    whole: nothing of it is added. Batches need a key and hold at most 1,000 references."""
    c = make_client()
    text = "\n".join(provincial_paragraphs(provincial_names()[5])[1:3])
    assert c.post("/v1/references", headers=AUTH, json={"id": "taken", "text": text}
                  ).status_code == 201
    for ids, code in ((["fresh-1", "taken"], "duplicate_reference"),
                      (["fresh-1", "fresh-1"], "duplicate_reference"),
                      (["fresh-1", "minzheng-ju"], "duplicate_reference")):
        refused = c.post("/v1/references/batch", headers=AUTH, json={
            "references": [{"id": i, "text": text} for i in ids]})
        assert_error(refused, 409, code)
    assert_error(c.post("/v1/references/batch", json={"references": [{"id": "x", "text": text}]}),
                 401, "unauthorized")
    too_many = [{"id": f"n{i}", "text": "报告"} for i in range(1001)]
    assert_error(c.post("/v1/references/batch", headers=AUTH, json={"references": too_many}),
                 422, "invalid_request")
    assert c.get("/v1/references").json()["total"] == BASE_REFS + 1
    assert_error(c.get("/v1/references/fresh-1"), 404, "not_found")


def test_deleted_reference_is_no_longer_found(make_client: Callable[..., TestClient]) -> None:
    c = make_client()
    paragraphs = host("2025-江苏省", 1, 3)
    c.post("/v1/references", json={"id": "js-2025", "text": "\n".join(paragraphs)},
           headers=AUTH)
    assert "js-2025" in source_ids(c.post("/v1/check", json={"text": paragraphs[1]}).json())

    response = c.delete("/v1/references/js-2025", headers=AUTH)
    assert response.status_code == 204 and response.content == b""
    result = c.post("/v1/check", json={"text": paragraphs[1]}).json()
    assert "js-2025" not in source_ids(result)
    assert result == expected(paragraphs[1])
    assert_error(c.get("/v1/references/js-2025"), 404, "not_found")
    assert_error(c.delete("/v1/references/js-2025", headers=AUTH), 404, "not_found")
    assert c.get("/v1/references").json()["total"] == BASE_REFS
    assert c.get("/readyz").json()["references"] == BASE_REFS


def test_id_can_be_reused_after_delete(make_client: Callable[..., TestClient]) -> None:
    c = make_client()
    old, new = host("2025-浙江省", 2, 1)[0], host("2025-山东省", 3, 1)[0]
    c.post("/v1/references", json={"id": "reused", "text": old}, headers=AUTH)
    c.delete("/v1/references/reused", headers=AUTH)
    assert c.post("/v1/references", json={"id": "reused", "text": new},
                  headers=AUTH).status_code == 201
    assert c.get("/v1/references/reused").json()["text"] == new
    # the two reports share only officialese (贯彻党的二十大和二十届二中、三中全会精神), so the old
    # text, were it still indexed, would be found whole rather than by that one phrase
    assert share_of(c.post("/v1/check", json={"text": old}).json(), "reused") < 0.15
    assert share_of(c.post("/v1/check", json={"text": new}).json(), "reused") > 0.9


def test_stored_report_with_a_chinese_id_gets_an_encoded_location(
        make_client: Callable[..., TestClient]) -> None:
    """Ids may be Chinese; the Location header (latin-1 only) carries the path percent-encoded,
    and following it finds the stored report."""
    c = make_client()
    text = "\n".join(host("2025-四川省", 0, 3))
    response = c.post("/v1/check?store=true&id=四川-2025", json={"text": text}, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.headers["location"] == "/v1/references/%E5%9B%9B%E5%B7%9D-2025"
    assert c.get(response.headers["location"]).json()["id"] == "四川-2025"


def test_check_with_store_adds_the_report(make_client: Callable[..., TestClient]) -> None:
    c = make_client()
    first = "\n".join(host("2025-四川省", 0, 6))
    # without a key nothing is checked or stored
    assert_error(c.post("/v1/check?store=true&id=sc-2025", json={"text": first}), 401,
                 "unauthorized")
    assert c.get("/readyz").json()["references"] == BASE_REFS

    response = c.post("/v1/check?store=true&id=sc-2025",
                      json={"text": first, "title": "四川初稿"}, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json() == expected(first, title="四川初稿")  # not found against itself
    stored = c.get("/v1/references/sc-2025").json()
    assert (stored["text"], stored["title"], stored["source"]) == (
        first, "四川初稿", "checked report")

    # a second report that reuses two of its paragraphs is found against it
    second = "\n".join([*host("2025-河南省", 2, 2), *host("2025-四川省", 2, 2)])
    result = c.post("/v1/check", json={"text": second}).json()
    assert "sc-2025" in source_ids(result)
    assert 0.3 < share_of(result, "sc-2025") < 0.8

    # without an id it is stored under a new one
    third = "\n".join(host("2025-海南省", 2, 3))
    assert c.post("/v1/check?store=true", json={"text": third}, headers=AUTH).status_code == 200
    ids = [r["id"] for r in c.get("/v1/references").json()["items"]]
    assert len(ids) == BASE_REFS + 2
    generated = [i for i in ids if i.startswith("report-")]
    assert len(generated) == 1
    assert generated[0] in source_ids(c.post("/v1/check", json={"text": third}).json())


def test_check_upload_with_store(make_client: Callable[..., TestClient]) -> None:
    c = make_client()
    paragraphs = host("2025-山西省", 2, 3)
    response = upload(c, "山西.docx", docx_bytes(paragraphs), "/v1/check?store=true&id=sx-2025",
                      headers=AUTH)
    assert response.status_code == 200, response.text
    assert c.get("/v1/references/sx-2025").json()["title"] == "山西.docx"
    assert "sx-2025" in source_ids(c.post("/v1/check", json={"text": paragraphs[1]}).json())


def test_store_refuses_a_duplicate_id(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    text = "\n".join(host("2025-安徽省", 2, 2))
    assert client.post("/v1/check?store=true&id=ah-2025", json={"text": text},
                       headers=AUTH).status_code == 200
    assert_error(client.post("/v1/check?store=true&id=ah-2025", json={"text": text},
                             headers=AUTH), 409, "duplicate_reference")


def test_protect_reads_puts_checks_and_reads_behind_a_key(
        make_client: Callable[..., TestClient]) -> None:
    c = make_client(protect_reads=True)
    text = host_report()
    reads = [("POST", "/v1/check", {"json": {"text": text}}),
             ("GET", "/v1/references", {}),
             ("GET", "/v1/references/jianshe-ju", {})]
    for method, path, kwargs in reads:
        assert_error(c.request(method, path, **kwargs), 401, "unauthorized")
        assert_error(c.request(method, path, headers={"Authorization": "Bearer nope"}, **kwargs),
                     403, "forbidden")
        assert c.request(method, path, headers=AUTH, **kwargs).status_code == 200
    assert_error(upload(c, "a.txt", text.encode()), 401, "unauthorized")
    assert upload(c, "a.txt", text.encode(), headers=AUTH).json() == expected(
        text, title="a.txt", upload="txt")
    # probes stay open, so an orchestrator needs no key
    for path in ("/healthz", "/readyz"):
        assert c.get(path).status_code == 200


# --- several workers on one store (two apps in one process stand for two worker processes) ----

def test_a_change_through_one_worker_is_seen_by_another(
        make_client: Callable[..., TestClient], tmp_path: Path) -> None:
    a, b = make_client(tmp_path / "shared"), make_client(tmp_path / "shared")
    paragraphs = host("2025-江西省", 2, 3)
    assert a.post("/v1/references", json={"id": "jx-2025", "text": "\n".join(paragraphs)},
                  headers=AUTH).status_code == 201
    assert "jx-2025" in source_ids(b.post("/v1/check", json={"text": paragraphs[1]}).json())
    assert b.get("/v1/references/jx-2025").status_code == 200
    assert b.delete("/v1/references/jx-2025", headers=AUTH).status_code == 204
    assert "jx-2025" not in source_ids(a.post("/v1/check", json={"text": paragraphs[1]}).json())
    assert_error(a.get("/v1/references/jx-2025"), 404, "not_found")


def _corpus_size_from(c: TestClient, path: str) -> float:
    if path == "/readyz":
        return float(c.get(path).json()["references"])
    for line in c.get(path).text.splitlines():
        if line.startswith("chachong_corpus_references "):
            return float(line.split()[1])
    raise AssertionError("no chachong_corpus_references in /metrics")


@pytest.mark.parametrize("path", ["/readyz", "/metrics"])
def test_corpus_size_counts_references_added_through_another_worker(
        make_client: Callable[..., TestClient], tmp_path: Path, path: str) -> None:
    a, b = make_client(tmp_path / "shared"), make_client(tmp_path / "shared")
    assert _corpus_size_from(b, path) == BASE_REFS
    text = "\n".join(host("2025-广西", 2, 2))
    assert a.post("/v1/references", json={"id": "gx-2025", "text": text},
                  headers=AUTH).status_code == 201
    # worker b answers before it has checked or listed anything since the addition
    assert _corpus_size_from(b, path) == BASE_REFS + 1


# --- operations ---------------------------------------------------------------------------------

def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_counts_the_references(make_client: Callable[..., TestClient]) -> None:
    c = make_client()
    readers = {"ocr": "off", "missing": {}}  # this machine has LibreOffice and the OCR extra
    assert c.get("/readyz").json() == {"status": "ready", "references": BASE_REFS,
                                       "readers": readers}
    c.post("/v1/references", json={"id": "ready-1", "text": host_report()}, headers=AUTH)
    assert c.get("/readyz").json() == {"status": "ready", "references": BASE_REFS + 1,
                                       "readers": readers}


def test_metrics_in_prometheus_text(make_client: Callable[..., TestClient]) -> None:
    c = make_client()
    assert c.post("/v1/check", json={"text": host_report()}).status_code == 200
    response = c.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    assert any(line.startswith('chachong_requests_total{method="POST",route="/v1/check",'
                               'status="200"}') for line in lines)
    assert f"chachong_corpus_references {float(BASE_REFS)}" in lines
    assert any(line.startswith("chachong_checks_total ") for line in lines)


# --- OpenAPI --------------------------------------------------------------------------------------

ENDPOINTS = {("/healthz", "get"), ("/readyz", "get"), ("/metrics", "get"), ("/v1/check", "post"),
             ("/v1/check/batch", "post"), ("/v1/references", "get"), ("/v1/references", "post"),
             ("/v1/references/{ref_id}", "get"), ("/v1/references/{ref_id}", "delete"),
             ("/v1/references/archive", "post"), ("/v1/checks", "get"),
             ("/v1/checks/{check_id}", "get"), ("/v1/checks/{check_id}", "delete"),
             ("/v1/collections", "get"), ("/v1/collections", "post"),
             ("/v1/collections/{name}", "get"), ("/v1/collections/{name}/references", "get"),
             ("/v1/collections/{name}/references", "post"),
             ("/v1/collections/{name}/references/batch", "post"),
             ("/v1/collections/{name}/references/archive", "post"),
             ("/v1/collections/{name}/references/{ref_id}", "get"),
             ("/v1/collections/{name}/references/{ref_id}", "delete"),
             ("/v1/keys", "get"), ("/v1/keys", "post"), ("/v1/keys/{key_id}", "delete"),
             ("/v1/audit", "get")}


@pytest.fixture(scope="module")
def openapi(client: TestClient) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def _resolve(spec: dict, schema: dict) -> dict:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    node: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        assert part in node, f"dangling $ref {ref}"
        node = node[part]
    return node


def test_openapi_lists_every_endpoint(openapi: dict) -> None:
    """Every route of every resource router is documented with a summary, a tag and a short,
    unique operation id (what a generated client names its functions after)."""
    routes = {(route.path, method.lower())
              for module in (routers.checks, routers.history, routers.references,
                             routers.collections, routers.keys, routers.audit,
                             routers.operations, routers.pages)
              for route in module.router.routes
              if isinstance(route, APIRoute) and route.include_in_schema
              for method in route.methods}
    assert routes >= ENDPOINTS
    listed = {(path, method) for path, ops in openapi["paths"].items() for method in ops}
    assert listed == routes
    ids = []
    for path, method in listed:
        operation = openapi["paths"][path][method]
        assert operation.get("summary") and operation.get("tags"), (path, method)
        ids.append(operation["operationId"])
        assert re.fullmatch(r"[a-z_]{4,20}", ids[-1]), (path, method, ids[-1])
    assert len(set(ids)) == len(ids), sorted(ids)


def test_openapi_references_all_resolve(openapi: dict) -> None:
    text = json.dumps(openapi)
    refs = {part.split('"')[0] for part in text.split('"$ref": "')[1:]}
    missing = [ref for ref in sorted(refs)
               if ref.removeprefix("#/components/schemas/") not in openapi["components"]["schemas"]]
    assert missing == []


@pytest.mark.parametrize("path", ["/v1/check", "/v1/references"])
def test_openapi_request_bodies_have_schemas_with_examples(openapi: dict, path: str) -> None:
    body = openapi["paths"][path]["post"].get("requestBody")
    assert body is not None, f"POST {path} documents no request body"
    schema = _resolve(openapi, body["content"]["application/json"]["schema"])
    assert "text" in schema["properties"], schema
    examples = {k for k, v in schema["properties"].items() if v.get("examples")}
    assert "text" in examples, schema
    assert "multipart/form-data" in body["content"]


# --- CORS -----------------------------------------------------------------------------------------

def test_no_cors_headers_without_configured_origins(client: TestClient) -> None:
    origin = {"Origin": "https://elsewhere.example"}
    preflight = client.options("/v1/check", headers={
        **origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert "access-control-allow-origin" not in preflight.headers
    simple = client.get("/v1/references", headers=origin)
    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers


def test_cors_allows_only_the_configured_origins(make_client: Callable[..., TestClient]) -> None:
    c = make_client(cors_origins="https://review.example, https://other.example")
    request = {"Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "content-type, authorization"}
    ok = c.options("/v1/check", headers={"Origin": "https://review.example", **request})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://review.example"
    refused = c.options("/v1/check", headers={"Origin": "https://elsewhere.example", **request})
    assert "access-control-allow-origin" not in refused.headers
    simple = c.get("/healthz", headers={"Origin": "https://other.example"})
    assert simple.headers["access-control-allow-origin"] == "https://other.example"


def test_test_settings_ignore_the_environment(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    """The app under test is configured by the test alone: CHACHONG_* variables of the machine
    running the suite change nothing."""
    defaults = isolated_settings(tmp_path)
    for name, value in {"CHACHONG_THRESHOLD": "0.9", "CHACHONG_API_KEYS": "leaked",
                        "CHACHONG_EXCLUDE_QUOTES": "true", "CHACHONG_COMMON_SHARE": "0.1",
                        "CHACHONG_PROTECT_READS": "true", "CHACHONG_DATA": "/elsewhere"}.items():
        monkeypatch.setenv(name, value)
    assert Settings().threshold == 0.9  # the variables are seen by plain Settings
    assert isolated_settings(tmp_path) == defaults
    assert isolated_settings(tmp_path).keys == []
