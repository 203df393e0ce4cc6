"""Bad input never breaks the service: every file of the bad-input corpus (tests/badinput/) gets a
clear 4xx JSON error or a correct result, markup and control characters come out escaped, and the
server keeps serving — in process (TestClient) and on a real ``chachong serve`` for the big inputs
(a 50 MB body, a 1 MB line, 100,000 one-character lines, a zip bomb) with their time bounded."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from api_helpers import (
    AUTH,
    KEYS,
    Server,
    TestClient,
    expected,
    host_report,
    isolated_settings,
    running_server,
    source_ids,
)

from app.api.main import create_app
from app.settings import Settings

BADINPUT = Path(__file__).resolve().parent / "badinput"
MiB = 1024 * 1024
# A bound that only a blow-up can break (a quadratic step took minutes on these inputs); how long
# they really take is measured by bench/bad_input_times.py, not asserted by a timed test.
BOUND = 60.0
TIMEOUT = 90  # the client waits longer than the bound, so an overrun is measured, not hung on


def _load_maker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_badinput", BADINPUT / "make_badinput.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_badinput"] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


maker = _load_maker()
CASES = {case.name: case for case in maker.SMALL}
UPLOAD_OK = maker.UPLOAD_OK
UPLOADS = [name for name, case in CASES.items() if case.send == "upload"]


pytestmark = pytest.mark.usefixtures("collect_garbage")  # leaks fail the test that leaked


def settings(data: Path, **overrides: Any) -> Settings:
    return isolated_settings(data, **{"api_keys": ",".join(KEYS), **overrides})


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app in process; a server error is answered as a 500 (not raised) like a real server."""
    app = create_app(settings(tmp_path_factory.mktemp("robust")))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


# --- sending a case ------------------------------------------------------------------------------

def send(post: Callable[..., Any], case: Any, body: bytes, path: str = "/v1/check",
         **kwargs: Any) -> Any:
    """Send a case's bytes as it says: a multipart upload, or a JSON body."""
    if case.send == "upload":
        return post(path, files={"file": (case.name, body, "application/octet-stream")},
                    **kwargs)
    headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
    return post(path, content=body, headers=headers, **kwargs)


def assert_error(response: Any, status: int | tuple[int, ...],
                 code: str | tuple[str, ...] | None = None) -> dict:
    """A 4xx with the JSON error envelope {"error": {"code", "message"}} and nothing else."""
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["code"], body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"].strip(), body
    if code is not None:
        assert body["error"]["code"] in ((code,) if isinstance(code, str) else code), body
    return body["error"]


def assert_answer(response: Any, case: Any) -> None:
    """The answer the case allows: its error, or a correct result about the text it carries."""
    assert response.status_code < 500, (case.name, response.status_code, response.text[:500])
    assert response.status_code in case.statuses, (case.name, response.status_code,
                                                   response.text[:500])
    if response.status_code >= 400:
        assert_error(response, response.status_code, case.code)
        return
    result = response.json()
    if case.finds:
        assert case.finds in source_ids(result), (case.name, result["sources"])
    if case.text is not None:
        text = case.text()
        title = case.name if case.send == "upload" else json.loads(case.build()).get("title")
        upload = case.name.rsplit(".", 1)[1] if case.send == "upload" else None
        assert result == expected(text, title=title, upload=upload), case.name


# --- the corpus itself ---------------------------------------------------------------------------

def test_committed_corpus_is_what_the_script_makes(tmp_path: Path) -> None:
    """The committed files are exactly what make_badinput.py writes (it is deterministic), and
    nothing else sits in the folder."""
    made = maker.make_small(tmp_path)
    assert [p.name for p in made] == list(CASES)
    for path in made:
        committed = BADINPUT / path.name
        assert committed.is_file(), f"{committed} is missing: run make_badinput.py"
        assert committed.read_bytes() == path.read_bytes(), path.name
    present = {p.name for p in BADINPUT.iterdir() if p.is_file()}
    assert present == {*CASES, "make_badinput.py"}
    assert all(p.stat().st_size < 200_000 for p in made), "big files are made at test time"


# --- every case, in process ----------------------------------------------------------------------

@pytest.mark.parametrize("name", list(CASES))
def test_check_answers_each_bad_input(client: TestClient, name: str) -> None:
    case = CASES[name]
    assert_answer(send(client.post, case, (BADINPUT / name).read_bytes()), case)


@pytest.mark.parametrize("name", UPLOADS)
def test_reference_upload_of_each_bad_input(client: TestClient, name: str) -> None:
    """The write path reads uploads with the same readers: the same refusals, or 201."""
    case = CASES[name]
    ref_id = "bad-" + name.replace(".", "-")
    response = client.post("/v1/references", headers=AUTH, data={"id": ref_id},
                           files={"file": (name, (BADINPUT / name).read_bytes(),
                                           "application/octet-stream")})
    if case.statuses == UPLOAD_OK:
        assert response.status_code == 201, (response.status_code, response.text[:500])
        assert case.text is not None, f"{name}: a case the API accepts names its text"
        assert client.get(f"/v1/references/{ref_id}").json()["text"] == case.text()
        return
    assert_error(response, case.statuses, case.code)
    assert client.get(f"/v1/references/{ref_id}").status_code == 404


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.send == "json"])
def test_reference_json_of_each_bad_input(client: TestClient, name: str) -> None:
    """A bad JSON body to the write path is a 4xx too (none of them carries an id); one that
    cannot be parsed is refused the same way as on /v1/check."""
    case = CASES[name]
    response = client.post("/v1/references", content=(BADINPUT / name).read_bytes(),
                           headers={**AUTH, "Content-Type": "application/json"})
    if case.statuses == (400,):
        assert_error(response, 400, case.code)
    else:
        assert_error(response, 422)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/xml",
                                          "application/x-www-form-urlencoded",
                                          "text/html; charset=utf-8", "application/jsonx",
                                          "image/png"])
def test_wrong_content_type(client: TestClient, content_type: str | None) -> None:
    body = json.dumps({"id": "ct", "text": maker.template_paragraph()}).encode()
    headers = {"Content-Type": content_type} if content_type else {}
    for path, auth in (("/v1/check", {}), ("/v1/references", AUTH)):
        assert_error(client.post(path, content=body, headers={**auth, **headers}), 415,
                     "unsupported_media_type")


def test_multipart_that_is_not_multipart(client: TestClient) -> None:
    bodies = [
        ("multipart/form-data", b"not a form"),  # no boundary
        ("multipart/form-data; boundary=zz", b"--zz\r\nno headers and no end"),
        ("multipart/form-data; boundary=zz", b""),
    ]
    for content_type, body in bodies:
        for path, auth in (("/v1/check", {}), ("/v1/references", AUTH)):
            response = client.post(path, content=body,
                                   headers={**auth, "Content-Type": content_type})
            assert_error(response, (400, 422))


def test_multipart_fields_out_of_range(client: TestClient) -> None:
    data = (BADINPUT / "gb18030.txt").read_bytes()
    for fields in ({"threshold": "1e999"}, {"threshold": "-1"}, {"threshold": "nan"},
                   {"min_match_chars": "-5"}, {"min_match_chars": str(10**30)},
                   {"threshold": "abc"}, {"title": "t" * 10_000}):
        response = client.post("/v1/check", data=fields,
                               files={"file": ("gb18030.txt", data, "text/plain")})
        assert_error(response, 422)


SURROGATES = {
    "text": b'"text": "\\u62a5\\ud800\\u544a"',
    "title": b'"text": "\\u62a5\\u544a", "title": "\\udfff"',
    "source": b'"text": "\\u62a5\\u544a", "source": "\\ud800"',
    "tag-key": b'"text": "\\u62a5\\u544a", "tags": {"\\ud800": "x"}',
    "tag-value": b'"text": "\\u62a5\\u544a", "tags": {"unit": "\\ud800"}',
}


@pytest.mark.parametrize("field", list(SURROGATES))
def test_lone_surrogates_in_a_reference_are_refused(client: TestClient, field: str) -> None:
    """JSON may escape half of a UTF-16 pair (\\ud800), which no UTF-8 text can hold: a 4xx, and
    nothing stored."""
    ref_id = f"surrogate-{field}"
    body = b'{"id": "' + ref_id.encode() + b'", ' + SURROGATES[field] + b"}"
    response = client.post("/v1/references", content=body,
                           headers={**AUTH, "Content-Type": "application/json"})
    assert_error(response, (400, 422))
    assert client.get(f"/v1/references/{ref_id}").status_code == 404


# --- markup and control characters come out escaped -----------------------------------------------

_HTML_WHITESPACE = "\t\n\r\f"


def raw_controls(text: str) -> list[str]:
    """C0 and C1 control characters (and DEL) other than HTML whitespace, as they appear."""
    return sorted({repr(ch) for ch in text
                   if unicodedata.category(ch) == "Cc" and ch not in _HTML_WHITESPACE})


def assert_safe_html(page: str) -> None:
    lowered = page.lower()
    for markup in ("<script>alert", "<img src=x", "</textarea>", "onerror=alert(1)>"):
        assert markup not in lowered, markup
    assert "&lt;script&gt;" in page
    found = raw_controls(page)
    assert not found, f"control characters written raw into the HTML report: {found}"


@pytest.mark.parametrize("name", ["script-and-controls.txt", "script-and-controls.json"])
def test_html_report_escapes_markup_and_control_characters(client: TestClient,
                                                           name: str) -> None:
    case = CASES[name]
    response = send(client.post, case, (BADINPUT / name).read_bytes(), "/v1/check?format=html")
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    assert_safe_html(response.text)


def test_json_result_escapes_control_characters_and_keeps_the_text(client: TestClient) -> None:
    case = CASES["script-and-controls.json"]
    response = send(client.post, case, case.build())
    assert response.status_code == 200
    assert not any(b < 0x20 for b in response.content), "raw C0 control bytes in the JSON"
    result = response.json()
    text = maker.script_text()
    for para in result["paragraphs"]:
        for m in para["matches"]:
            assert m["text"] == text[m["start"]:m["end"]]
    assert result["title"] == maker.SCRIPT + maker.CONTROLS


def test_reference_title_with_markup_is_escaped_in_the_html_report(client: TestClient) -> None:
    """Stored reference texts and titles are untrusted too: they reach the HTML report."""
    text = maker.template_paragraph()[::-1]  # a text of its own, so it is the only source
    title = maker.SCRIPT + maker.CONTROLS + "<img src=x onerror=alert(1)>"
    added = client.post("/v1/references", headers=AUTH,
                        json={"id": "markup-title", "text": f"{maker.SCRIPT}{text}",
                              "title": title, "tags": {"<b>": "<script>alert(1)</script>"}})
    assert added.status_code == 201, added.text
    response = client.post("/v1/check?format=html", json={"text": text})
    assert response.status_code == 200
    assert "markup-title" in response.text, "the new reference is reported"
    assert_safe_html(response.text)


# --- the service keeps serving --------------------------------------------------------------------

def test_normal_check_answers_correctly_after_the_bad_inputs(tmp_path: Path) -> None:
    """A fresh service takes the whole corpus on the check and the write paths (each answer is
    checked above), stores none of the refused ones, and then answers a real report exactly as
    the core does."""
    refused = [name for name, case in CASES.items() if 200 not in case.statuses]
    with TestClient(create_app(settings(tmp_path / "data")), raise_server_exceptions=False) as c:
        for name, case in CASES.items():
            data = (BADINPUT / name).read_bytes()
            send(c.post, case, data)
            send(c.post, case, data, "/v1/check?format=html")
            if name in refused:
                send(c.post, case, data, "/v1/references", headers=AUTH,
                     **({"data": {"id": f"r{len(name)}"}} if case.send == "upload" else {}))
        assert c.get("/v1/references").json()["total"] == 5, "a refused input was stored"
        report = host_report()
        response = c.post("/v1/check", json={"text": report})
        assert response.status_code == 200
        assert response.json() == expected(report)
        assert c.get("/healthz").json() == {"status": "ok"}


# --- the big inputs, on a real server -------------------------------------------------------------

@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return maker.make_large(tmp_path_factory.mktemp("large"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("robust-server")
    with running_server(workdir, workdir / "data", workers=2) as running:
        yield running


def timed_post(url: str, **kwargs: Any) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = httpx.post(url, timeout=TIMEOUT, **kwargs)
    return response, time.perf_counter() - started


@pytest.mark.slow
def test_50_mb_body_is_refused_with_413(server: Server, large: dict[str, Path]) -> None:
    data = large["body-50mb.txt"].read_bytes()
    assert len(data) >= 50 * MiB
    upload, _ = timed_post(f"{server.url}/v1/check", files={"file": ("big.txt", data)})
    assert_error(upload, 413, "too_large")
    body = json.dumps({"text": data.decode("utf-8")}, ensure_ascii=False).encode()
    declared, _ = timed_post(f"{server.url}/v1/check", content=body,
                             headers={"Content-Type": "application/json"})
    assert_error(declared, 413, "too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit counts what arrives
        for start in range(0, len(body), MiB):
            yield body[start:start + MiB]

    streamed, _ = timed_post(f"{server.url}/v1/check", content=chunks(),
                             headers={"Content-Type": "application/json"})
    assert_error(streamed, 413, "too_large")
    reference, _ = timed_post(f"{server.url}/v1/references", headers=AUTH,
                              files={"file": ("big.txt", data)}, data={"id": "big"})
    assert_error(reference, 413, "too_large")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["json", "multipart", "chunked"])
def test_50_mb_from_requests_and_urllib_gets_the_413_json(server: Server,
                                                          large: dict[str, Path],
                                                          kind: str) -> None:
    """Clients that send the whole body before they read (Python's requests and urllib) get
    the answer, not a connection reset: the server reads the rest of the body and drops it."""
    import urllib.error
    import urllib.request

    import requests

    data = large["body-50mb.txt"].read_bytes()
    url = f"{server.url}/v1/check"
    if kind == "multipart":
        response = requests.post(url, files={"file": ("big.txt", data)}, timeout=120)
    elif kind == "chunked":
        response = requests.post(url, data=(data[i:i + MiB] for i in range(0, len(data), MiB)),
                                 headers={"Content-Type": "application/json"}, timeout=120)
    else:
        response = requests.post(url, data=data, headers={"Content-Type": "application/json"},
                                 timeout=120)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    if kind != "json":
        return
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=120)
    assert refused.value.code == 413
    assert json.loads(refused.value.read())["error"]["code"] == "too_large"
    refused.value.close()


@pytest.mark.slow
def test_zip_bomb_is_refused_before_it_is_expanded(server: Server,
                                                   large: dict[str, Path]) -> None:
    data = large["zip-bomb.docx"].read_bytes()
    assert len(data) < MiB
    response, elapsed = timed_post(f"{server.url}/v1/check",
                                   files={"file": ("bomb.docx", data)})
    assert_error(response, 422, "undecodable")
    assert elapsed < BOUND


@pytest.mark.slow
def test_one_megabyte_line_without_punctuation(server: Server, large: dict[str, Path]) -> None:
    data = large["line-1mb.txt"].read_bytes()
    text = data.decode("utf-8")
    assert len(data) >= 999_000 and "\n" not in text
    response, elapsed = timed_post(f"{server.url}/v1/check",
                                   files={"file": ("line.txt", data)})
    assert response.status_code == 200, response.text[:500]
    result = response.json()
    assert len(result["paragraphs"]) == 1
    assert result["chars"] == len(text)
    assert result["copied_chars"] > 0  # the dev cases it is made of copy the templates
    assert elapsed <= BOUND, f"a 1 MB line took {elapsed:.1f} s"


@pytest.mark.slow
def test_100_000_one_character_lines(server: Server, large: dict[str, Path]) -> None:
    data = large["lines-100k-one-char.txt"].read_bytes()
    assert data.count(b"\n") == 99_999
    response, elapsed = timed_post(f"{server.url}/v1/check",
                                   files={"file": ("lines.txt", data)})
    assert response.status_code == 200, response.text[:500]
    result = response.json()
    assert len(result["paragraphs"]) == 100_000
    assert result["chars"] == 100_000
    assert elapsed <= BOUND, f"100,000 one-character lines took {elapsed:.1f} s"


@pytest.mark.slow
def test_every_bad_input_over_the_socket_then_a_normal_check(server: Server) -> None:
    """Over real sockets, each request gets the answer its case allows (the JSON result or error,
    the HTML report or the JSON error), no worker dies, and a normal check is still right."""
    workers = server.worker_pids()
    assert len(workers) == 2
    for name, case in CASES.items():
        body = (BADINPUT / name).read_bytes()
        assert_answer(send(httpx.post, case, body, f"{server.url}/v1/check", timeout=TIMEOUT),
                      case)
        page = send(httpx.post, case, body, f"{server.url}/v1/check?format=html",
                    timeout=TIMEOUT)
        if case.statuses == UPLOAD_OK:
            assert page.status_code == 200, (name, page.status_code, page.text[:500])
            assert page.headers["content-type"].startswith("text/html"), name
            assert case.finds in page.text, name
            assert not raw_controls(page.text), name
            if name.startswith("script-and-controls"):
                assert_safe_html(page.text)
        else:
            assert_error(page, case.statuses, case.code)
    report = host_report()
    for _ in range(4):  # on fresh connections, so both workers answer
        response = httpx.post(f"{server.url}/v1/check", json={"text": report}, timeout=TIMEOUT)
        assert response.status_code == 200
        assert response.json() == expected(report)
    assert server.worker_pids() == workers, "a worker died and was replaced"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["line-1mb-one-sentence.txt", "lines-100k-one-sentence.txt"])
def test_one_sentence_repeated_has_no_quadratic_blow_up(tmp_path: Path, name: str) -> None:
    """The same 1 MB line and 100,000 lines, made of one template sentence over and over: every
    repetition is a copied passage, and the answer must still come within the bound. (Each on a
    server of its own: a request that overruns keeps its worker busy after the client gives up.)
    """
    data = maker.LARGE[name]()
    with running_server(tmp_path, tmp_path / "data", workers=1) as own:
        started = time.perf_counter()
        try:
            response = httpx.post(f"{own.url}/v1/check", files={"file": (name, data)},
                                  timeout=TIMEOUT)
        except httpx.TimeoutException:
            pytest.fail(f"{name}: no answer within {TIMEOUT} s (the bound is {BOUND} s)")
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.text[:500]
        assert elapsed <= BOUND, f"{name} took {elapsed:.1f} s"
