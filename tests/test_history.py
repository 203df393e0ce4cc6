"""The check history and what goes with it, below the browser: the store (retention, the cap,
batches and their reports, restarts), the /v1/checks routes and their formats, keeping nothing
on request, the batch's progress stream, reports in a .zip, the spreadsheets, reference search
and .zip import, and the pages' forms without scripts."""

from __future__ import annotations

import csv
import io
import json
import os
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from api_helpers import AUTH, TestClient, docx_bytes, isolated_settings
from pypdf import PdfReader
from support import case_text, host_paragraphs, provincial_text, template
from typer.testing import CliRunner

from app.api.main import create_app
from app.api.uploads import report_ids
from app.cli import app as cli_app
from app.core import CheckOptions, build_index, bundled_corpus_dir, check_text, load_corpus
from app.history import DAY, CheckHistory, PartOfBatchError, ReportBody
from app.options import CheckOverrides
from app.reports.exports import to_csv

pytestmark = pytest.mark.usefixtures("collect_garbage")


@pytest.fixture(autouse=True)
def _no_chachong_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("CHACHONG_")]:
        monkeypatch.delenv(name)


def template_paragraph(ref_id: str, min_chars: int = 150) -> str:
    return next(line for line in template(ref_id).split("\n") if len(line) >= min_chars)


def copied_report(ref_id: str = "jianshe-ju") -> tuple[str, str]:
    copied = template_paragraph(ref_id)
    return "\n".join([host_paragraphs()[0], copied, host_paragraphs()[1]]), copied


def make_app(data: Path, **overrides: Any) -> TestClient:
    return TestClient(create_app(isolated_settings(data, api_keys="k1,k2", **overrides)))


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_app(tmp_path / "data") as c:
        yield c


def kept_id(response: Any) -> str:
    location = response.headers["content-location"]
    assert location.startswith("/v1/checks/")
    return location.removeprefix("/v1/checks/")


# --- the store ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def a_result() -> tuple[str, Any]:
    text, _ = copied_report()
    return text, check_text(text, build_index(load_corpus(bundled_corpus_dir())), CheckOptions())


def test_checks_expire_after_their_days_and_the_oldest_go_past_the_cap(
        tmp_path: Path, a_result: tuple[str, Any]) -> None:
    text, result = a_result
    history = CheckHistory(tmp_path, days=2, max_checks=3)
    now = time.time()
    for i in range(4):
        history.save_report(f"check-{i:010d}", f"r{i}", ReportBody(text=text, result=result),
                            now=now - 3 * DAY + i * DAY)  # made 3, 2, 1 and 0 days ago
    # the first was dropped at the fourth write (the cap of 3), the second has expired
    total, items = history.recent(0, 10)
    assert [c.id for c in items] == ["check-0000000003", "check-0000000002"]
    assert total == 2
    assert history.get("check-0000000001") is None
    stored = history.get("check-0000000003")
    assert stored is not None and stored.body.result == result and stored.body.text == text
    # a new history on the same folder (a restart) reads the same
    again = CheckHistory(tmp_path, days=2, max_checks=3)
    assert [c.id for c in again.recent(0, 10)[1]] == [c.id for c in items]


def test_a_lower_cap_after_a_restart_drops_all_the_oldest_at_the_next_write(
        tmp_path: Path, a_result: tuple[str, Any]) -> None:
    text, result = a_result
    now = time.time()
    history = CheckHistory(tmp_path, days=2, max_checks=10)
    for i in range(5):
        history.save_report(f"check-{i:010d}", f"r{i}", ReportBody(text=text, result=result),
                            now=now - 60 + i)
    lower = CheckHistory(tmp_path, days=2, max_checks=2)
    assert lower.recent(0, 10)[0] == 5  # nothing goes before a write
    lower.save_report("check-9999999999", "last", ReportBody(text=text, result=result),
                      now=now)
    assert [c.id for c in lower.recent(0, 10)[1]] == ["check-9999999999", "check-0000000004"]


def test_a_batch_is_kept_and_deleted_with_its_reports(tmp_path: Path,
                                                     a_result: tuple[str, Any]) -> None:
    text, result = a_result
    history = CheckHistory(tmp_path, days=1, max_checks=10)
    reports = [(f"report-{i:09d}", f"{i}.txt", ReportBody(text=text, result=result,
                                                          report_id=f"r{i}"))
               for i in range(3)]
    history.save_batch("batch-0000000001", "r0、r1、r2", reports, [], {})
    batch = history.get("batch-0000000001")
    assert batch is not None and [r.summary.id for r in batch.reports] == [r[0] for r in reports]
    assert [c.id for c in history.recent(0, 10)[1]] == ["batch-0000000001"]  # reports not listed
    with pytest.raises(PartOfBatchError):
        history.delete("report-000000001")
    assert history.delete("batch-0000000001")
    assert all(history.get(r[0]) is None for r in reports)
    assert not history.delete("batch-0000000001")


def test_no_days_keeps_nothing_and_makes_no_file(tmp_path: Path) -> None:
    with make_app(tmp_path / "data", history_days=0) as client:
        response = client.post("/v1/check", json={"text": copied_report()[0]})
        assert response.status_code == 200 and "content-location" not in response.headers
        assert client.get("/v1/checks").json()["total"] == 0
        missing = client.get("/v1/checks/abcdefghijklmnop")
        assert missing.status_code == 404
        assert "CHACHONG_HISTORY_DAYS=0" in missing.json()["error"]["message"]
    assert not (tmp_path / "data" / "history.sqlite3").exists()


# --- /v1/checks -----------------------------------------------------------------------------

def test_a_check_is_kept_and_read_back_in_every_format(client: TestClient) -> None:
    text, copied = copied_report()
    response = client.post("/v1/check", json={"text": text, "title": "述职报告.txt",
                                              "exclude_quotes": True})
    check_id = kept_id(response)
    record = client.get(f"/v1/checks/{check_id}").json()
    assert record["result"] == response.json()
    assert record["text"] == text and record["kind"] == "report"
    assert record["title"] == "述职报告.txt" and record["options"] == {"exclude_quotes": True}
    assert client.get("/v1/checks").json()["items"][0]["id"] == check_id
    html = client.get(f"/v1/checks/{check_id}?format=html")
    assert html.headers["content-type"].startswith("text/html") and copied[:30] in html.text
    pdf = client.get(f"/v1/checks/{check_id}?format=pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    assert "filename*=UTF-8''%E8%BF%B0%E8%81%8C%E6%8A%A5%E5%91%8A.pdf" in pdf.headers[
        "content-disposition"]
    extracted = "".join("".join(p.extract_text().split())
                        for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert f"{record['copy_ratio'] * 100:.1f}%" in extracted
    assert "".join(copied.split()) in extracted
    wrong = client.get(f"/v1/checks/{check_id}?format=xlsx")
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "invalid_format"
    # a new app on the same data folder (a restart) still has it
    with make_app(Path(client.app.state.settings.data)) as again:  # type: ignore[attr-defined]
        assert again.get(f"/v1/checks/{check_id}").json() == record


def test_history_false_keeps_nothing(client: TestClient) -> None:
    before = client.get("/v1/checks").json()["total"]
    response = client.post("/v1/check?history=false", json={"text": copied_report()[0]})
    assert response.status_code == 200 and "content-location" not in response.headers
    batch = client.post("/v1/check/batch?history=false", json={"reports": [
        {"id": "a", "text": copied_report()[0]}, {"id": "b", "text": case_text("case-001.txt")}]})
    assert batch.status_code == 200 and "content-location" not in batch.headers
    assert client.get("/v1/checks").json()["total"] == before


def test_deleting_a_kept_check_needs_a_key(client: TestClient) -> None:
    check_id = kept_id(client.post("/v1/check", json={"text": copied_report()[0]}))
    no_key = client.delete(f"/v1/checks/{check_id}")
    assert no_key.status_code == 401
    wrong = client.delete(f"/v1/checks/{check_id}", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    assert client.get(f"/v1/checks/{check_id}").status_code == 200
    assert client.delete(f"/v1/checks/{check_id}", headers=AUTH).status_code == 204
    gone = client.get(f"/v1/checks/{check_id}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
    assert client.delete(f"/v1/checks/{check_id}", headers=AUTH).status_code == 404


def batch_upload() -> list[tuple[str, tuple[str, bytes]]]:
    beijing = [p.strip() for p in provincial_text("2025-北京市").split("\n")
               if len(p.strip()) >= 80]
    return [("files", ("北京 述职（终稿）.docx", docx_bytes(beijing[:4]))),
            ("files", ("江苏.md", "\n\n".join(beijing[1:3]).encode())),
            ("files", ("case-004.txt", case_text("case-004.txt").encode("gb18030")))]


def test_a_batch_is_kept_with_its_reports_and_exported(client: TestClient) -> None:
    response = client.post("/v1/check/batch", files=batch_upload())
    assert response.status_code == 200
    cross = response.json()
    # free file names become ids (the original names are the titles)
    assert [r["id"] for r in cross["reports"]] == ["北京_述职_终稿", "江苏", "case-004"]
    batch_id = kept_id(response)
    record = client.get(f"/v1/checks/{batch_id}").json()
    assert record["cross"] == cross and record["kind"] == "batch" and record["reports"] == 3
    child = record["checks"]["江苏"]
    report = client.get(f"/v1/checks/{child}").json()
    assert report["batch"] == batch_id and report["title"] == "江苏.md"
    assert report["result"] == cross["reports"][1]["result"]
    refused = client.delete(f"/v1/checks/{child}", headers=AUTH)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "part_of_batch"
    # the spreadsheet and the CSV hold the JSON's ratios
    sheet = openpyxl.load_workbook(io.BytesIO(
        client.get(f"/v1/checks/{batch_id}?format=xlsx").content)).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))[1:]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (r["id"], r["result"]["copy_ratio"], r["result"]["raw_copy_ratio"])
        for r in cross["reports"]]
    assert sheet.cell(2, 2).number_format == "0.0%"
    table = list(csv.reader(io.StringIO(client.get(
        f"/v1/checks/{batch_id}?format=csv&lang=en").content.decode("utf-8-sig"))))
    assert table[0][:2] == ["report", "copy ratio"]
    assert [float(r[1]) for r in table[1:4]] == [r["result"]["copy_ratio"]
                                                 for r in cross["reports"]]
    pairs = table[table.index([]) + 2:]
    assert [(p[0], p[1]) for p in pairs] == [(p["report"], p["source"]) for p in cross["pairs"]]
    pdf = client.get(f"/v1/checks/{batch_id}?format=pdf")
    text = "".join(PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text().split())
    assert "批量交叉检测报告" in text and "江苏" in text
    assert client.delete(f"/v1/checks/{batch_id}", headers=AUTH).status_code == 204
    assert client.get(f"/v1/checks/{child}").status_code == 404


def test_the_progress_stream_gives_the_batch_answer_report_by_report(
        client: TestClient) -> None:
    plain = client.post("/v1/check/batch?history=false", files=batch_upload()).json()
    with client.stream("POST", "/v1/check/batch?format=ndjson", files=batch_upload()) as stream:
        assert stream.headers["content-type"] == "application/x-ndjson"
        events = [json.loads(line) for line in stream.iter_lines() if line]
    assert [e["event"] for e in events] == ["start", "report", "report", "report", "done"]
    assert [r["file"] for r in events[0]["reports"]] == ["北京 述职（终稿）.docx", "江苏.md",
                                                         "case-004.txt"]
    assert [(e["index"], e["id"], e["result"]) for e in events[1:4]] == [
        (i, r["id"], r["result"]) for i, r in enumerate(plain["reports"])]
    done = events[-1]
    assert done["pairs"] == plain["pairs"] and set(done["checks"]) == {"北京_述职_终稿", "江苏",
                                                                      "case-004"}
    assert client.get(f"/v1/checks/{done['check']}").json()["cross"] == plain


def test_a_stream_reports_an_error_as_an_event(client: TestClient) -> None:
    """A report id that is also a reference id is refused by the cross-check itself."""
    with client.stream("POST", "/v1/check/batch?format=ndjson", json={"reports": [
            {"id": "jianshe-ju", "text": copied_report()[0]}]}) as stream:
        events = [json.loads(line) for line in stream.iter_lines() if line]
    assert [e["event"] for e in events] == ["start", "error"]
    assert events[-1]["error"]["code"] == "duplicate_reference"


# --- reports in a .zip ----------------------------------------------------------------------

def zip_bytes(members: dict[str, bytes], gbk_names: bool = False) -> bytes:
    """A zip of ``members``; with ``gbk_names``, named as Chinese Windows names them: GBK bytes
    without the UTF-8 flag (written under ASCII stand-ins of the same length, then swapped)."""
    names = {name: (f"~{i}~".ljust(len(name.encode("gbk")), "~") if gbk_names else name)
             for i, name in enumerate(members)}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(names[name], data)
    raw = out.getvalue()
    if gbk_names:
        for name, stand_in in names.items():
            assert raw.count(stand_in.encode()) == 2  # the local header and the directory
            raw = raw.replace(stand_in.encode(), name.encode("gbk"))
    return raw


def test_report_ids_from_free_file_names() -> None:
    names = ["a.txt", "a.docx", "a-2.txt", "述职 报告(终稿).txt", "《》.md", "..x.txt"]
    assert report_ids(names) == ["a", "a-2", "a-2-2", "述职_报告_终稿", "report", "x"]


def test_a_batch_of_one_zip_checks_every_report_in_it(client: TestClient) -> None:
    archive = zip_bytes({"季度/甲.txt": copied_report()[0].encode(),
                         "季度/乙.docx": docx_bytes(host_paragraphs()[2:5]),
                         "__MACOSX/季度/._甲.txt": b"\0", "季度/名单.xlsx": b"PK"},
                        gbk_names=True)
    response = client.post("/v1/check/batch?history=false",
                           files=[("files", ("报告.zip", archive))])
    assert response.status_code == 200, response.text
    batch = response.json()
    # members are named by their paths; how each was read comes with its result
    assert [r["id"] for r in batch["reports"]] == ["季度_甲", "季度_乙"]
    assert [r["result"]["document"]["format"] for r in batch["reports"]] == ["txt", "docx"]
    assert batch["warnings"] == ["报告.zip/季度/名单.xlsx: not read (files of type '.xlsx' are "
                                 "not supported)"]
    nested = zip_bytes({"甲.txt": b"x", "more.zip": b"PK"})
    refused = client.post("/v1/check/batch", files=[("files", ("报告.zip", nested))])
    assert refused.status_code == 422 and "archive inside" in refused.json()["error"]["message"]
    single = client.post("/v1/check", files={"file": ("报告.zip", archive)})
    assert single.status_code == 415  # one report at a time there


def test_csv_cells_never_start_a_formula(client: TestClient) -> None:
    response = client.post("/v1/check/batch?history=false", json={"reports": [
        {"id": "a", "text": copied_report()[0]}, {"id": "b", "text": copied_report()[0]}]})
    from app.core.schema import CrossResult

    cross = CrossResult.model_validate(response.json())
    rows = list(csv.reader(io.StringIO(to_csv(cross, link=lambda r: f"=HYPERLINK({r})")
                                       .decode("utf-8-sig"))))
    assert rows[1][9] == "'=HYPERLINK(a)"


# --- the corpus: search and .zip import -----------------------------------------------------

def test_references_are_found_by_id_title_and_tag(client: TestClient) -> None:
    found = client.get("/v1/references?q=kind=template").json()
    assert found["total"] == 5
    one = client.get("/v1/references", params={"q": "建设局"}).json()
    assert [r["id"] for r in one["items"]] == ["jianshe-ju"]
    page = client.get("/v1/references?q=template&offset=3&limit=10").json()
    assert page["total"] == 5 and len(page["items"]) == 2


def test_a_zip_of_references_is_added_all_or_none(client: TestClient) -> None:
    archive = zip_bytes({"refs/甲.txt": "\n".join(host_paragraphs()[0:2]).encode(),
                         "refs/乙.docx": docx_bytes(host_paragraphs()[2:4])})
    no_key = client.post("/v1/references/archive", files={"file": ("refs.zip", archive)})
    assert no_key.status_code == 401
    added = client.post("/v1/references/archive", headers=AUTH,
                        files={"file": ("refs.zip", archive)}, data={"tags": "year=2024"})
    assert added.status_code == 201, added.text
    assert [(r["id"], r["tags"]) for r in added.json()["added"]] == [
        ("refs_甲", {"year": "2024"}), ("refs_乙", {"year": "2024"})]
    assert client.get("/v1/references/refs_乙").json()["source"] == "refs.zip"
    # again: both ids are taken, nothing more is added
    again = client.post("/v1/references/archive", headers=AUTH,
                        files={"file": ("refs.zip", archive)})
    assert again.status_code == 409 and "nothing was added" in again.json()["error"]["message"]
    assert client.get("/v1/references?q=refs.zip").json()["total"] == 2
    single = client.post("/v1/references", headers=AUTH,
                         files={"file": ("组织部 2024.txt", host_paragraphs()[5].encode())})
    assert single.status_code == 201 and single.json()["id"] == "组织部_2024"


# --- the pages' forms without scripts -------------------------------------------------------

def test_the_check_form_posts_checks_and_lands_on_the_permalink(client: TestClient) -> None:
    text, copied = copied_report()
    response = client.post("/", data={"text": text, "threshold": "0.5", "exclude_quotes": "false",
                                      "exclude_sources": "gongshang-ju\nkind=none",
                                      "history": "true", "lang": "zh-CN", "unit": ""},
                           follow_redirects=False)
    assert response.status_code == 303
    check_id = response.headers["location"].split("/")[-1].split("?")[0]
    record = client.get(f"/v1/checks/{check_id}").json()
    assert record["result"]["threshold"] == 0.5
    assert record["options"]["exclude_sources"] == ["gongshang-ju", "kind=none"]
    page = client.get(response.headers["location"])
    assert page.status_code == 200 and copied[:30] in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    unkept = client.post("/", data={"text": text, "history": "false"}, follow_redirects=False)
    assert unkept.status_code == 200 and "文本复制检测报告" in unkept.text
    empty = client.post("/", data={"text": "  "})
    assert empty.status_code == 422 and empty.headers["content-type"].startswith("text/html")
    assert "empty" in empty.text


def test_the_batch_form_posts_a_batch(client: TestClient) -> None:
    response = client.post("/batch", files=batch_upload(), data={"history": "true"},
                           follow_redirects=False)
    assert response.status_code == 303
    page = client.get(response.headers["location"])
    assert page.status_code == 200 and "江苏" in page.text and 'id="matrix"' in page.text


def test_the_pages_offer_every_option_of_the_api(client: TestClient) -> None:
    for path in ("/", "/batch"):
        html = client.get(path).text
        for name in CheckOverrides.model_fields:
            assert f'name="{name}"' in html, (path, name)


def test_missing_checks_and_sources_are_pages_with_the_reason(client: TestClient) -> None:
    missing = client.get("/checks/abcdefghijklmnop")
    assert missing.status_code == 404 and "no check with id" in missing.text
    check_id = kept_id(client.post("/v1/check", json={"text": copied_report()[0]}))
    assert client.get(f"/checks/{check_id}/compare").status_code == 200
    other = client.get(f"/checks/{check_id}/compare?source=minzheng-ju")
    assert other.status_code == 404 and "copied nothing from" in other.text


# --- the CLI --------------------------------------------------------------------------------

def test_cli_writes_a_pdf(tmp_path: Path) -> None:
    text, copied = copied_report("minzheng-ju")
    report = tmp_path / "述职报告.txt"
    report.write_text(text, encoding="utf-8")
    out = tmp_path / "report.pdf"
    result = CliRunner().invoke(cli_app, ["check", str(report), "--format", "pdf", "--output",
                                          str(out)])
    assert result.exit_code == 1, result.output  # the copied template fails the threshold
    extracted = "".join("".join(p.extract_text().split()) for p in PdfReader(out).pages)
    expected = check_text(text, build_index(load_corpus(bundled_corpus_dir())), CheckOptions())
    assert f"{expected.copy_ratio * 100:.1f}%" in extracted
    assert "".join(copied.split()) in extracted and "述职报告.txt" in extracted
