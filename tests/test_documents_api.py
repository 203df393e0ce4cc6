"""Documents of every format through the API and the CLI: the same result as their text, the
result says how the file was read, OCR only when asked and allowed, .zip batches, and a
converter that overruns or is missing answered with a clear JSON error (also on a real server,
whose worker keeps serving)."""

from __future__ import annotations

import gzip
import io
import json
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_helpers import AUTH, KEYS, TestClient, expected, isolated_settings, running_server
from typer.testing import CliRunner

from app.api.main import create_app
from app.cli import app as cli
from app.core.readers import ReadOptions, extract

FORMATS = Path(__file__).resolve().parent / "formats"
CONVERTED = ["report.doc", "report.wps", "report.odt", "report.rtf", "report.docx",
             "report.html", "report.ofd"]
BOUND = 60.0


def make(tmp: Path, **overrides: Any) -> TestClient:
    settings = isolated_settings(tmp, **{"api_keys": ",".join(KEYS), **overrides})
    return TestClient(create_app(settings), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with make(tmp_path_factory.mktemp("documents")) as c:
        yield c


@pytest.fixture(scope="module")
def ocr_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with make(tmp_path_factory.mktemp("ocr"), ocr=True) as c:
        yield c


def upload(c: TestClient, name: str, data: bytes | None = None, path: str = "/v1/check",
           **fields: str) -> httpx.Response:
    body = (FORMATS / name).read_bytes() if data is None else data
    return c.post(path, files={"file": (name, body, "application/octet-stream")}, data=fields)


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return str(body["error"]["code"])


@pytest.mark.parametrize("name", CONVERTED)
def test_each_format_gives_the_result_of_its_text(client: TestClient, name: str) -> None:
    response = upload(client, name)
    assert response.status_code == 200, response.text
    result = response.json()
    extracted = extract((FORMATS / name).read_bytes(), name)
    want = expected(extracted.text, title=name)
    want["document"] = extracted.info().model_dump(mode="json")
    assert result == want
    assert result["document"]["format"] == name.rsplit(".", 1)[1]
    assert result["copied_chars"] > 0  # dev case 000 copies template passages


def test_ocr_is_refused_unless_the_server_allows_it(client: TestClient) -> None:
    assert error_code(upload(client, "scan.png")) == "needs_ocr"
    response = upload(client, "scan.png", ocr="true")
    assert (response.status_code, error_code(response)) == (422, "ocr_disabled")
    assert "CHACHONG_OCR" in response.json()["error"]["message"]
    assert error_code(client.post("/v1/check?ocr=true", files={
        "file": ("scan.png", (FORMATS / "scan.png").read_bytes())})) == "ocr_disabled"


def test_ocr_result_says_it_came_from_ocr(ocr_client: TestClient) -> None:
    assert error_code(upload(ocr_client, "scan.png")) == "needs_ocr"  # still asked per check
    response = upload(ocr_client, "scan.png", ocr="true")
    assert response.status_code == 200, response.text
    document = response.json()["document"]
    assert document["ocr"] is True and document["format"] == "png"
    assert any("OCR" in w for w in document["warnings"])


def test_pages_offer_ocr_only_where_the_server_allows_it(client: TestClient,
                                                       ocr_client: TestClient) -> None:
    for path in ("/", "/batch"):
        assert 'name="ocr"' not in client.get(path).text
        assert 'name="ocr"' in ocr_client.get(path).text
    # the page's form, without scripts: the ticked box reads the scan, and the kept check says so
    posted = ocr_client.post("/", files={"file": ("scan.png", (FORMATS / "scan.png").read_bytes())},
                             data={"ocr": "true"}, follow_redirects=False)
    assert posted.status_code == 303, posted.text
    kept = ocr_client.get(posted.headers["location"].split("?")[0].replace("/checks/",
                                                                        "/v1/checks/"))
    assert kept.json()["result"]["document"]["ocr"] is True
    page = client.get("/")
    assert 'accept=".doc,' in page.text and ".ofd" in page.text and ".zip" not in page.text


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


def test_zip_batch_checks_every_report_in_it(client: TestClient) -> None:
    data = _zip({"一处/述职报告（初稿）.doc": (FORMATS / "report.doc").read_bytes(),
                 "二处/report.html": (FORMATS / "report.html").read_bytes(),
                 "说明.xlsx": b"x"})
    response = client.post("/v1/check/batch", files=[
        ("files", ("批次.zip", data, "application/zip")),
        ("files", ("report.odt", (FORMATS / "report.odt").read_bytes(), "application/zip"))])
    assert response.status_code == 200, response.text
    cross = response.json()
    ids = [r["id"] for r in cross["reports"]]
    assert ids == ["一处_述职报告_初稿", "二处_report", "report"]
    formats = [r["result"]["document"]["format"] for r in cross["reports"]]
    assert formats == ["doc", "html", "odt"]
    assert cross["warnings"] == ["批次.zip/说明.xlsx: not read (files of type '.xlsx' are not "
                                 "supported)"]
    # the .doc and the .odt are the same report: each copied the other
    assert {(p["report"], p["source"]) for p in cross["pairs"]} >= {
        ("一处_述职报告_初稿", "report"), ("report", "一处_述职报告_初稿")}


def test_zip_with_path_tricks_is_refused_with_its_code(client: TestClient) -> None:
    data = _zip({"../../evil.txt": "一行".encode()})
    response = client.post("/v1/check/batch", files=[("files", ("a.zip", data))])
    assert (response.status_code, error_code(response)) == (422, "bad_archive")
    single = upload(client, "a.zip", data)
    assert (single.status_code, error_code(single)) == (415, "unsupported_format")
    assert "batch" in single.json()["error"]["message"]


def test_converter_overrun_is_a_422_naming_the_file(tmp_path: Path) -> None:
    slow = gzip.decompress((FORMATS / "slow-table.doc.gz").read_bytes())
    with make(tmp_path, convert_seconds=1.5) as c:
        started = time.perf_counter()
        response = upload(c, "年度表格.doc", slow)
        assert time.perf_counter() - started < BOUND
        assert (response.status_code, error_code(response)) == (422, "conversion_timeout")
        assert "年度表格.doc" in response.json()["error"]["message"]
        # the next file is read as usual (a .docx: a .doc could overrun 1.5 s on a busy machine)
        assert upload(c, "report.docx").status_code == 200


def test_missing_converter_is_reported_on_readyz_and_as_501(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no soffice on it
    with make(tmp_path / "data") as c:
        readers = c.get("/readyz").json()["readers"]
        assert readers["ocr"] == "off"
        assert "LibreOffice" in readers["missing"][".doc .wps .odt .rtf"]
        response = upload(c, "report.doc")
        assert (response.status_code, error_code(response)) == (501, "reader_unavailable")
        assert upload(c, "report.docx").status_code == 200  # read without LibreOffice


def test_reference_upload_of_a_converted_format(tmp_path: Path) -> None:
    with make(tmp_path) as c:
        response = c.post("/v1/references", headers=AUTH, data={"id": "odt-ref"},
                          files={"file": ("report.odt", (FORMATS / "report.odt").read_bytes())})
        assert response.status_code == 201, response.text
        stored = c.get("/v1/references/odt-ref").json()["text"]
        assert stored == extract((FORMATS / "report.odt").read_bytes(), "report.odt").text


def test_a_collections_references_are_read_as_templates_are(ocr_client: TestClient) -> None:
    """The routes of a collection's references take the same readers: a converted format, a
    batch of files, a .zip, and a scan only with ocr=true; what is added is found in that
    collection, not in templates."""
    made = ocr_client.post("/v1/collections", headers=AUTH, json={"name": "docs"})
    assert made.status_code == 201, made.text
    place = "/v1/collections/docs/references"
    single = ocr_client.post(place, headers=AUTH, data={"id": "odt"},
                             files={"file": ("report.odt", (FORMATS / "report.odt").read_bytes())})
    assert single.status_code == 201, single.text
    many = ocr_client.post(place + "/batch", headers=AUTH, files=[
        ("files", ("a.docx", (FORMATS / "report.docx").read_bytes())),
        ("files", ("b.html", (FORMATS / "report.html").read_bytes()))])
    assert many.status_code == 201, many.text
    assert many.json()["ids"] == ["a", "b"]
    archived = ocr_client.post(place + "/archive", headers=AUTH, files={"file": (
        "批次.zip", _zip({"一处/述职报告.rtf": (FORMATS / "report.rtf").read_bytes()}))})
    assert archived.status_code == 201, archived.text
    assert [r["id"] for r in archived.json()["added"]] == ["一处_述职报告"]
    for ref_id, name in (("odt", "report.odt"), ("a", "report.docx"), ("b", "report.html"),
                         ("一处_述职报告", "report.rtf")):
        got = ocr_client.get(f"{place}/{ref_id}", headers=AUTH)
        assert got.json()["text"] == extract((FORMATS / name).read_bytes(), name).text
        assert ocr_client.get(f"/v1/references/{ref_id}").status_code == 404

    scan = (FORMATS / "scan.png").read_bytes()
    refused = ocr_client.post(place, headers=AUTH, files={"file": ("scan.png", scan)})
    assert (refused.status_code, error_code(refused)) == (422, "needs_ocr")
    read = ocr_client.post(place, headers=AUTH, params={"ocr": "true"},
                           files={"file": ("scan.png", scan)})
    assert read.status_code == 201, read.text
    assert read.json()["id"] == "scan" and read.json()["chars"] > 100

    text = extract((FORMATS / "report.docx").read_bytes(), "report.docx").text
    found = ocr_client.post("/v1/check", headers=AUTH, params={"collections": ["docs"]},
                            json={"text": text}).json()
    # the same report in several formats: a passage in that many sources counts as common,
    # yet each match names its source in the collection
    assert found["raw_copy_ratio"] == 1.0
    matched = {(m["source"]["id"], m["source"]["collection"])
               for p in found["paragraphs"] for m in p["matches"]}
    assert matched and {c for _, c in matched} == {"docs"}
    assert all(i.startswith("docs/") for i, _ in matched)


# --- the CLI ------------------------------------------------------------------------------------

def run(*args: str | Path) -> Any:
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_cli_reads_converted_formats_and_says_how(tmp_path: Path) -> None:
    result = run("check", FORMATS / "report.rtf", "--format", "json")
    assert result.exit_code in (0, 1), result.output
    data = json.loads(result.stdout)
    assert data["document"]["format"] == "rtf"
    assert data["document"]["parts"][:3] == ["body", "tables", "text boxes"]


def test_cli_scan_needs_the_ocr_flag(tmp_path: Path) -> None:
    refused = run("check", FORMATS / "scan.png")
    assert refused.exit_code == 2
    assert "scan.png" in refused.stderr and "--ocr" in refused.stderr
    read = run("check", FORMATS / "scan.png", "--ocr", "--format", "json")
    assert read.exit_code in (0, 1), read.output
    assert json.loads(read.stdout)["document"]["ocr"] is True
    assert "OCR" in read.stderr  # the warning


def test_cli_checks_each_report_of_a_zip(tmp_path: Path) -> None:
    archive = tmp_path / "reports.zip"
    archive.write_bytes(_zip({"a.docx": (FORMATS / "report.docx").read_bytes(),
                              "b/c.txt": "一行".encode("gb18030") * 30, "x.xlsx": b"x"}))
    result = run("check", archive, "--format", "json")
    assert result.exit_code in (0, 1), result.output
    files = [r["file"] for r in json.loads(result.stdout)]
    assert files == [f"{archive}/a.docx", f"{archive}/b/c.txt"]
    assert "x.xlsx" in result.stderr


def test_cli_converter_timeout_exits_2_naming_the_file(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    slow = tmp_path / "slow.doc"
    slow.write_bytes(gzip.decompress((FORMATS / "slow-table.doc.gz").read_bytes()))
    monkeypatch.setenv("CHACHONG_CONVERT_SECONDS", "1.5")
    result = run("check", slow)
    assert result.exit_code == 2
    assert "slow.doc" in result.stderr and "1.5 s" in result.stderr


# --- a real server ------------------------------------------------------------------------------

@pytest.mark.slow
def test_hostile_doc_on_a_real_server_leaves_its_worker_serving(tmp_path: Path) -> None:
    slow = gzip.decompress((FORMATS / "slow-table.doc.gz").read_bytes())
    with running_server(tmp_path, tmp_path / "data", workers=1,
                        env={"CHACHONG_CONVERT_SECONDS": "2"}) as server:
        workers = server.worker_pids()
        started = time.perf_counter()
        response = httpx.post(f"{server.url}/v1/check", files={"file": ("slow.doc", slow)},
                              timeout=BOUND)
        assert time.perf_counter() - started < BOUND
        assert (response.status_code, error_code(response)) == (422, "conversion_timeout")
        ok = httpx.post(f"{server.url}/v1/check", timeout=BOUND, files={
            "file": ("report.docx", (FORMATS / "report.docx").read_bytes())})
        assert ok.status_code == 200 and ok.json()["document"]["format"] == "docx"
        assert server.worker_pids() == workers
    assert ReadOptions().convert.seconds == 60  # the default the server above lowered
