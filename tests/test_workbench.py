"""The reviewer's workbench in a real headless Chromium (Playwright) against a real
``chachong serve``: a batch of ten files and the same as a .zip, with progress, a sortable table,
the cross-check and the exports; the side-by-side view; permalinks across a restart; the PDF;
the corpus page with and without the key; the options; an axe-core accessibility run.

Every request the browser makes goes through a route that lets only 127.0.0.1 through: a
request to any other host is refused there and fails the test. One browser and one server per
module (the server is restarted once, on the same data folder).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import docx
import httpx
import openpyxl
import pytest
from api_helpers import AUTH, KEYS, Server, start_server, text_pdf
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright
from pypdf import PdfReader
from support import case_text, host_paragraphs, provincial_text, template

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
TIMEOUT_MS = 60_000
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
TEN_CASES = ["case-000.txt", "case-002.txt", "case-003.txt", "case-004.txt", "case-005.txt",
             "case-007.txt", "case-009.txt"]


# -- real data: ten reports in four formats, two of which copy from each other --------------

def template_paragraph(ref_id: str, min_chars: int = 150) -> str:
    return next(line for line in template(ref_id).split("\n") if len(line) >= min_chars)


def provincial_paragraphs(name: str) -> list[str]:
    return [p.strip() for p in provincial_text(name).split("\n") if len(p.strip()) >= 80]


def batch_files(folder: Path) -> list[Path]:
    """Seven dev cases (.txt), a report as .docx, one as .md and one as a PDF with a text layer;
    the .md copies two paragraphs of the .docx."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in TEN_CASES:
        path = folder / name
        path.write_text(case_text(name), encoding="utf-8")
        paths.append(path)
    original = provincial_paragraphs("2025-北京市")[:4]
    document = docx.Document()
    for para in original:
        document.add_paragraph(para)
    paths.append(folder / "北京-述职.docx")
    document.save(str(paths[-1]))
    copier = provincial_paragraphs("2025-江苏省")[:2] + original[1:3]
    paths.append(folder / "江苏-述职.md")
    paths[-1].write_text("\n\n".join(copier), encoding="utf-8")
    pdf_lines = [template_paragraph("minzheng-ju")[i:i + 38] for i in range(0, 152, 38)]
    paths.append(folder / "民政-摘抄.pdf")
    paths[-1].write_bytes(text_pdf(pdf_lines))
    return paths


def zip_of(paths: list[Path], target: Path) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in paths:
            archive.write(path, f"报告/{path.name}")
    return target


# -- one server, one browser -----------------------------------------------------------------

@dataclass
class Workbench:
    server: Server
    workdir: Path
    data: Path

    @property
    def url(self) -> str:
        return self.server.url

    def restart(self) -> None:
        self.server.kill()
        self.server = start_server(self.workdir, self.data)


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workbench]:
    workdir = tmp_path_factory.mktemp("workbench")
    current = Workbench(start_server(workdir, workdir / "data"), workdir, workdir / "data")
    try:
        yield current
    finally:
        current.server.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM}: Chromium is missing (apt-get install chromium)"
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Tab:
    page: Page
    bench: Workbench
    foreign: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def goto(self, path: str) -> None:
        self.page.goto(self.bench.url + path)

    def open_key_form(self) -> None:
        if not self.page.locator("details.key").evaluate("d => d.open"):
            self.page.locator("details.key summary").click()

    def set_key(self, key: str) -> None:
        self.open_key_form()
        self.page.fill("#api-key", key)
        self.page.locator("#key-form button[type=submit]").click()
        expect(self.page.locator("#key-status")).to_have_text("已保存")

    def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / name), full_page=True)


@pytest.fixture
def tab(browser: Browser, bench: Workbench) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN",
                                  accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    current = Tab(page, bench)

    def only_local(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            current.foreign.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    page.on("console", lambda m: current.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: current.errors.append(str(e)))
    try:
        yield current
        assert not current.foreign, f"requests outside 127.0.0.1: {current.foreign}"
        assert not [e for e in current.errors if "status of 40" not in e], current.errors
    finally:
        context.close()


def api(bench: Workbench, method: str, path: str, **kwargs: object) -> httpx.Response:
    return httpx.request(method, bench.url + path, timeout=120, **kwargs)  # type: ignore[arg-type]


def check_id_of(href: str) -> str:
    return href.rstrip("/").split("?")[0].split("/")[-1]


# -- a batch ---------------------------------------------------------------------------------

STATE_LOG = """() => {
  window.stateLog = [];
  window.countLog = [];
  new MutationObserver((records) => {
    for (const r of records) {
      const td = r.target.nodeType === 1 ? r.target : r.target.parentElement;
      if (td && td.matches && td.matches("td:nth-child(5)")) {
        window.stateLog.push([td.parentElement.cells[0].textContent, td.textContent]);
      }
    }
  }).observe(document.getElementById("results-body"),
             {subtree: true, childList: true, characterData: true});
  new MutationObserver(() => window.countLog.push(
      document.getElementById("progress-count").textContent))
    .observe(document.getElementById("progress-count"), {childList: true, characterData: true,
                                                         subtree: true});
}"""


def run_batch(tab: Tab, paths: list[Path], *, drop: bool = False) -> str:
    """Check the files on the batch page; the batch's check id."""
    tab.goto("/batch")
    tab.page.evaluate(STATE_LOG)
    if drop:  # dropped on the drop zone, as from a file manager
        payload = [{"name": p.name, "data": list(p.read_bytes())} for p in paths]
        transfer = tab.page.evaluate_handle(
            """(files) => { const dt = new DataTransfer();
                for (const f of files) dt.items.add(new File([new Uint8Array(f.data)], f.name));
                return dt; }""", payload)
        tab.page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
    else:
        tab.page.set_input_files("#files", [str(p) for p in paths])
    expect(tab.page.locator("#chosen li")).to_have_count(len(paths))
    tab.page.click("#batch-submit")
    expect(tab.page.locator("#batch-status")).to_contain_text("检测完成", timeout=TIMEOUT_MS)
    href = tab.page.locator("#batch-permalink").get_attribute("href") or ""
    assert href.startswith("/checks/"), href
    return check_id_of(href)


def assert_progress_shown(tab: Tab, names: list[str]) -> None:
    """Every file went from waiting to done, one after the other, and the counter counted
    each one."""
    log = tab.page.evaluate("window.stateLog")
    counts = tab.page.evaluate("window.countLog")
    assert counts == [""] * counts.count("") + [f"{i} / {len(names)}"
                                               for i in range(len(names) + 1)], counts
    done_order = [name for name, state in log if state == "已完成"]
    assert done_order == names, done_order
    for name in names:
        states = [state for n, state in log if n == name]
        assert "等待检测" in states or "检测中" in states, (name, states)
        assert states[-1] == "已完成", (name, states)


def table_ratios(tab: Tab) -> dict[str, float]:
    rows = tab.page.locator("#results-table tbody tr")
    return {rows.nth(i).locator("td").nth(0).inner_text():
            float(rows.nth(i).locator("td").nth(1).get_attribute("data-value") or "nan")
            for i in range(rows.count())}


def test_batch_of_ten_files_with_progress_table_cross_check_and_exports(
        tab: Tab, tmp_path: Path) -> None:
    paths = batch_files(tmp_path / "batch")
    names = [p.name for p in paths]
    batch_id = run_batch(tab, paths)
    assert_progress_shown(tab, names)
    tab.screenshot("batch.png")
    record = api(tab.bench, "GET", f"/v1/checks/{batch_id}").json()
    assert record["kind"] == "batch" and record["reports"] == 10
    by_id = {r["id"]: r["result"] for r in record["cross"]["reports"]}
    ids = [Path(n).stem for n in names]
    assert list(by_id) == ids
    # the table shows each file's ratio, verdict and main source as the JSON has them
    shown = table_ratios(tab)
    assert shown == {n: by_id[Path(n).stem]["copy_ratio"] for n in names}
    rows = tab.page.locator("#results-table tbody tr")
    for i, rid in enumerate(ids):
        result = by_id[rid]
        cells = rows.nth(i).locator("td")
        expect(cells.nth(1)).to_have_text(f"{result['copy_ratio'] * 100:.1f}%")
        expect(cells.nth(2)).to_have_text("未通过" if result["verdict"] == "fail" else "通过")
        main = max(result["sources"], key=lambda s: s["copied_chars"], default=None)
        if main:
            expect(cells.nth(3)).to_contain_text(main["id"])
        # each file links to its own kept check
        href = cells.nth(0).locator("a").get_attribute("href") or ""
        assert href == f"/checks/{record['checks'][rid]}"
    assert any(r["verdict"] == "fail" for r in by_id.values())
    # sortable: by ratio, up then down
    header = tab.page.locator("#results-table th", has_text="总复制比")
    header.locator("button").click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    ascending = [float(v) for v in rows.locator("td:nth-child(2)").evaluate_all(
        "tds => tds.map(td => td.dataset.value)")]
    assert ascending == sorted(ascending) and ascending != [shown[n] for n in names]
    header.locator("button").click()
    expect(header).to_have_attribute("aria-sort", "descending")
    descending = [float(v) for v in rows.locator("td:nth-child(2)").evaluate_all(
        "tds => tds.map(td => td.dataset.value)")]
    assert descending == sorted(ascending, reverse=True)
    # who copied from whom: the .md copied the .docx's paragraphs; matrix and list agree
    pairs = record["cross"]["pairs"]
    assert ("江苏-述职", "北京-述职") in {(p["report"], p["source"]) for p in pairs}
    matrix = tab.page.locator("#matrix")
    expect(matrix).to_be_visible()
    row = matrix.locator("tbody tr", has=tab.page.locator("th", has_text="江苏-述职"))
    column = ids.index("北京-述职") + 1  # the first cell of a row is its heading
    share = next(p["copy_ratio"] for p in pairs
                 if (p["report"], p["source"]) == ("江苏-述职", "北京-述职"))
    expect(row.locator("th, td").nth(column)).to_have_text(f"{share * 100:.1f}%")
    expect(tab.page.locator("#pairs tbody tr")).to_have_count(len(pairs))
    # the exports hold the same ratios as the JSON
    with tab.page.expect_download() as download:
        tab.page.click("#export-xlsx")
    xlsx = tmp_path / "batch.xlsx"
    download.value.save_as(xlsx)
    sheet = openpyxl.load_workbook(xlsx).worksheets[0]
    cells = list(sheet.iter_rows(values_only=True))
    assert cells[0][:3] == ("报告", "总复制比", "去除前复制比")
    assert {row[0]: row[1] for row in cells[1:]} == {rid: by_id[rid]["copy_ratio"] for rid in ids}
    assert {row[0]: row[9] for row in cells[1:]} == {
        rid: f"{tab.bench.url}/checks/{record['checks'][rid]}" for rid in ids}
    pair_sheet = list(openpyxl.load_workbook(xlsx).worksheets[1].iter_rows(values_only=True))
    assert [tuple(r) for r in pair_sheet[1:]] == [
        (p["report"], p["source"], p["copied_chars"], p["copy_ratio"]) for p in pairs]
    with tab.page.expect_download() as download:
        tab.page.click("#export-csv")
    raw = Path(download.value.path()).read_bytes()
    assert raw.startswith("\ufeff".encode())
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    reports = table[1:table.index([])]
    assert {r[0]: float(r[1]) for r in reports} == {rid: by_id[rid]["copy_ratio"] for rid in ids}


def test_the_same_batch_as_a_zip_dropped_on_the_page(tab: Tab, tmp_path: Path) -> None:
    paths = batch_files(tmp_path / "batch")
    archive = zip_of(paths, tmp_path / "本季度报告.zip")
    batch_id = run_batch(tab, [archive], drop=True)
    names = [p.name for p in paths]
    assert_progress_shown(tab, names)
    record = api(tab.bench, "GET", f"/v1/checks/{batch_id}").json()
    # a member's id is its path in the archive
    by_id = {r["id"]: r["result"]["copy_ratio"] for r in record["cross"]["reports"]}
    assert table_ratios(tab) == {n: by_id[f"报告_{Path(n).stem}"] for n in names}
    # the same reports checked as separate files give the same ratios
    plain = api(tab.bench, "POST", "/v1/check/batch?history=false",
                files=[("files", (p.name, p.read_bytes())) for p in paths]).json()
    assert by_id == {f"报告_{r['id']}": r["result"]["copy_ratio"] for r in plain["reports"]}


# -- one report: permalink, side by side, PDF ------------------------------------------------

def check_on_page(tab: Tab, text: str) -> str:
    tab.goto("/")
    tab.page.fill("#text", text)
    tab.page.click("#submit")
    expect(tab.page.locator("#status")).to_have_text("检测完成", timeout=TIMEOUT_MS)
    link = tab.page.locator("#permalink-link")
    expect(link).to_be_visible()
    return check_id_of(link.get_attribute("href") or "")


def two_passage_report() -> tuple[str, str, str]:
    """A real report with two paragraphs of one template in it, apart."""
    host = host_paragraphs()
    first = template_paragraph("jianshe-ju")
    second = next(line for line in template("jianshe-ju").split("\n")
                  if len(line) >= 120 and line != first)
    return "\n".join([host[0], first, host[1], host[2], second, host[3]]), first, second


def in_view(tab: Tab, pane: str, selector: str) -> bool:
    return bool(tab.page.evaluate(
        """([pane, selector]) => { const p = document.getElementById(pane).getBoundingClientRect();
             const e = document.querySelector(selector).getBoundingClientRect();
             return e.top >= p.top - 1 && e.top <= p.bottom - 10; }""", [pane, selector]))


def test_side_by_side_view_links_a_passage_both_ways(tab: Tab) -> None:
    text, first, second = two_passage_report()
    check_id = check_on_page(tab, text)
    tab.page.click("#permalink-link")
    expect(tab.page.locator("h1")).to_contain_text("文本复制检测报告")
    tab.page.locator("#sources a.compare").first.click()
    expect(tab.page.locator("h1")).to_have_text("全文对照")
    assert tab.page.url.endswith(f"/checks/{check_id}/compare?source=jianshe-ju")
    left = tab.page.locator("#report-pane a.pair")
    assert left.count() >= 2
    numbers = left.evaluate_all("els => els.map(e => Number(e.dataset.n))")
    assert numbers == list(range(1, len(numbers) + 1))
    joined = "".join(left.all_inner_texts())
    assert first[:40] in joined and second[:40] in joined
    # the source side holds the whole template, with the copied passages marked
    expect(tab.page.locator("#source-pane")).to_contain_text(template("jianshe-ju").split("\n")[0])
    last = len(numbers)
    # select the last passage in the report: the source side scrolls to it
    tab.page.locator(f"#r-{last}").click()
    right = tab.page.locator(f"#source-pane a.pair[data-n~='{last}']")
    expect(right.first).to_have_class("pair selected")
    expect(tab.page.locator(f"#r-{last}")).to_have_class("pair selected")
    tab.page.wait_for_function(
        "n => { const p = document.getElementById('source-pane').getBoundingClientRect();"
        " const e = document.getElementById('s-' + n).getBoundingClientRect();"
        " return e.top >= p.top - 1 && e.top <= p.bottom - 10; }", arg=last)
    expect(tab.page.locator("#match-position")).to_have_text(f"第 {last} / {last} 处")
    assert right.first.inner_text() in template("jianshe-ju")
    # select the first passage on the source side: the report side scrolls to it
    tab.page.locator("#source-pane a.pair[data-n~='1']").first.click()
    expect(tab.page.locator("#r-1")).to_have_class("pair selected")
    tab.page.wait_for_function(
        "() => { const p = document.getElementById('report-pane').getBoundingClientRect();"
        " const e = document.getElementById('r-1').getBoundingClientRect();"
        " return e.top >= p.top - 1 && e.top <= p.bottom - 10; }")
    assert in_view(tab, "report-pane", "#r-1")
    # next and previous step through the passages, wrapping round
    tab.page.click("#next-match")
    expect(tab.page.locator("#match-position")).to_have_text(f"第 2 / {last} 处")
    tab.page.click("#prev-match")
    tab.page.click("#prev-match")
    expect(tab.page.locator("#match-position")).to_have_text(f"第 {last} / {last} 处")
    tab.screenshot("compare.png")


def test_long_unbroken_lines_wrap(tab: Tab) -> None:
    line = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" * 17  # 612 characters, no break
    text = "\n".join([host_paragraphs()[0], line, template_paragraph("jianshe-ju")])
    check_id = check_on_page(tab, text)
    tab.goto(f"/checks/{check_id}")
    overflow = tab.page.locator(".para-text").evaluate_all(
        "els => els.map(e => e.scrollWidth - e.clientWidth)")
    assert len(overflow) == 3 and max(overflow) <= 1, overflow
    tab.page.locator("#sources a.compare").first.click()
    expect(tab.page.locator("h1")).to_have_text("全文对照")
    tab.page.wait_for_load_state("load")  # the stylesheet applied
    overflow = tab.page.locator(".ctext").evaluate_all(
        "els => els.map(e => e.scrollWidth - e.clientWidth)")
    assert overflow and max(overflow) <= 1, overflow


def test_permalink_opens_after_a_restart_and_prints_as_pdf(tab: Tab, tmp_path: Path) -> None:
    copied = template_paragraph("minzheng-ju")
    text = "\n".join([host_paragraphs()[0], copied, host_paragraphs()[1]])
    check_id = check_on_page(tab, text)
    ratio = api(tab.bench, "GET", f"/v1/checks/{check_id}").json()["copy_ratio"]
    tab.bench.restart()
    tab.goto(f"/checks/{check_id}")
    expect(tab.page.locator("#copy-ratio")).to_have_text(f"{ratio * 100:.1f}%")
    expect(tab.page.locator(".para-text a.hl").first).to_be_visible()
    tab.screenshot("permalink.png")
    # the list of recent checks has it, newest first
    tab.goto("/checks")
    expect(tab.page.locator("#history-table tbody tr").first).to_have_attribute(
        "data-id", check_id)
    tab.goto(f"/checks/{check_id}")
    with tab.page.expect_download() as download:
        tab.page.evaluate("href => { const a = document.createElement('a'); a.href = href;"
                          " a.download = 'r.pdf'; document.body.append(a); a.click(); }",
                          f"/v1/checks/{check_id}?format=pdf")
    pdf = tmp_path / "report.pdf"
    download.value.save_as(pdf)
    extracted = "".join("".join(page.extract_text().split()) for page in PdfReader(pdf).pages)
    assert f"{ratio * 100:.1f}%" in extracted
    assert "".join(copied.split()) in extracted
    assert "文本复制检测报告" in extracted


# -- the corpus page -------------------------------------------------------------------------

def test_corpus_page_adds_and_deletes_with_the_key_and_refuses_without(
        tab: Tab, tmp_path: Path) -> None:
    one = tmp_path / "组织部-2024.txt"
    one.write_text("\n".join(provincial_paragraphs("2025-河北省")[:3]), encoding="utf-8")
    tab.goto("/corpus")
    expect(tab.page.locator("#references tbody tr")).to_have_count(5)
    # without a key the server refuses, and the page says why
    tab.page.set_input_files("#ref-file", str(one))
    tab.page.click("#add-submit")
    status = tab.page.locator("#corpus-status")
    expect(status).to_contain_text("添加失败")
    expect(status).to_contain_text("API 密钥")
    assert api(tab.bench, "GET", "/v1/references/组织部-2024").status_code == 404
    # with the key it is added, found by the search, and readable
    tab.set_key(KEYS[0])
    tab.page.set_input_files("#ref-file", str(one))
    tab.page.fill("#ref-tags", "unit=组织部,year=2024")
    tab.page.click("#add-submit")
    expect(status).to_contain_text("已添加 1 份")
    tab.goto("/corpus?q=unit%3D组织部")
    rows = tab.page.locator("#references tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", "组织部-2024")
    rows.first.locator("a").click()
    expect(tab.page.locator(".fulltext")).to_contain_text(provincial_paragraphs("2025-河北省")[0])
    # a .zip adds every report in it
    archive = tmp_path / "refs.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("a/甲.txt", "\n".join(provincial_paragraphs("2025-河南省")[:2]))
        z.writestr("b/乙.txt", "\n".join(provincial_paragraphs("2025-山西省")[:2]))
    tab.goto("/corpus")
    tab.page.set_input_files("#ref-file", str(archive))
    tab.page.click("#add-submit")
    expect(status).to_contain_text("已添加 2 份")
    assert api(tab.bench, "GET", "/v1/references?q=refs.zip").json()["total"] == 2
    # delete asks once, then deletes with the key
    tab.goto("/corpus")
    row = tab.page.locator("#references tbody tr[data-id='a_甲']")
    row.locator("button.delete-ref").click()
    expect(row.locator("button.delete-ref")).to_have_text("确认删除")
    row.locator("button.delete-ref").click()
    expect(row).to_have_count(0)
    assert api(tab.bench, "GET", "/v1/references/a_甲").status_code == 404
    # with the key forgotten, a delete is refused and the reference stays
    tab.open_key_form()
    tab.page.locator("#key-forget").click()
    row = tab.page.locator("#references tbody tr[data-id='b_乙']")
    row.locator("button.delete-ref").click()
    row.locator("button.delete-ref").click()
    expect(tab.page.locator("#corpus-status")).to_contain_text("删除失败")
    assert api(tab.bench, "GET", "/v1/references/b_乙").status_code == 200
    for rid in ("b_乙", "组织部-2024"):
        assert api(tab.bench, "DELETE", f"/v1/references/{rid}", headers=AUTH).status_code == 204


# -- the API's documentation pages ------------------------------------------------------------

def test_the_api_documentation_renders_offline(tab: Tab) -> None:
    """Swagger UI comes from the server itself: with every request outside 127.0.0.1 refused
    (and failing the test) it draws the API's operations."""
    tab.goto("/docs")
    expect(tab.page.locator(".opblock-summary-path[data-path='/v1/check']").first).to_be_visible()


# -- options and history -----------------------------------------------------------------------

def test_options_on_the_page_reach_the_check(tab: Tab) -> None:
    copied = template_paragraph("jianshe-ju")
    tab.goto("/")
    tab.page.fill("#text", "\n".join([host_paragraphs()[0], copied, host_paragraphs()[1]]))
    tab.page.fill("#exclude_sources", "kind=template")
    tab.page.uncheck("#keep")
    tab.page.click("#submit")
    expect(tab.page.locator("#status")).to_have_text("检测完成")
    report = tab.page.frame_locator("#report")
    expect(report.locator("#copy-ratio")).to_have_text("0.0%")
    expect(report.locator("a.hl.excluded").first).to_be_visible()
    expect(tab.page.locator("#permalink")).to_be_hidden()  # nothing kept


def test_a_kept_check_is_deleted_with_the_key(tab: Tab) -> None:
    check_id = check_on_page(tab, "\n".join([host_paragraphs()[2],
                                             template_paragraph("gongshang-ju")]))
    tab.goto("/checks")
    row = tab.page.locator(f"#history-table tr[data-id='{check_id}']")
    row.locator("button").click()
    row.locator("button").click()
    expect(tab.page.locator(".action-status")).to_contain_text("删除失败")
    tab.set_key(KEYS[1])
    row.locator("button").click()
    row.locator("button").click()
    expect(row).to_have_count(0)
    assert api(tab.bench, "GET", f"/v1/checks/{check_id}").status_code == 404


def test_forms_work_without_javascript(browser: Browser, bench: Workbench) -> None:
    context = browser.new_context(java_script_enabled=False, locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(bench.url + "/")
        page.fill("#text", "\n".join([host_paragraphs()[0], template_paragraph("jituan-gongsi")]))
        page.click("#submit")
        expect(page.locator("#copy-ratio")).to_be_visible()
        assert "/checks/" in page.url
        expect(page.locator("#sources")).to_contain_text("jituan-gongsi")
    finally:
        context.close()


# -- accessibility ---------------------------------------------------------------------------

def test_pages_have_no_serious_accessibility_violations(tab: Tab, tmp_path: Path) -> None:
    """axe-core (the copy bundled with axe-playwright-python) on every page, filled with real
    results; a serious or critical violation fails the test."""
    text, _, _ = two_passage_report()
    check_id = check_on_page(tab, text)
    batch_id = run_batch(tab, batch_files(tmp_path / "batch")[:4])
    pages = ["/", "/batch", "/checks", f"/checks/{check_id}",
             f"/checks/{check_id}/compare", f"/checks/{batch_id}", "/corpus",
             "/corpus/jianshe-ju"]
    axe = Axe()
    found = {}
    for path in pages:
        if path != "/batch":
            tab.goto(path)
        results = axe.run(tab.page)
        assert results.response["testEngine"]["name"] == "axe-core"
        assert len(results.response["passes"]) >= 20, path  # the rules did run on the page
        serious = [(v["id"], v["impact"], len(v["nodes"]))
                   for v in results.response["violations"]
                   if v["impact"] in ("serious", "critical")]
        if serious:
            found[path] = serious
    assert not found, json.dumps(found, ensure_ascii=False)
