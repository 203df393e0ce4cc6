"""The web page in a real headless Chromium (Playwright) against a real ``chachong serve``.

A user pastes or uploads a report, clicks 开始检测, and reads the report in the page's iframe:
highlights, the source passage of a selected highlight (CSS :target), error messages. Screenshots
go to tests/artifacts/ (git-ignored) for a human to look at. Chromium must be installed (the CI
script installs Debian's chromium); a missing browser fails these tests, it does not skip them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docx
import httpx
import pytest
from playwright.sync_api import (
    Browser,
    Dialog,
    Frame,
    FrameLocator,
    Locator,
    Page,
    expect,
    sync_playwright,
)
from support import host_paragraphs, template

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
TIMEOUT_MS = 30_000
DONE = "检测完成"


# -- real data -------------------------------------------------------------------------------

def template_paragraph(ref_id: str, min_chars: int = 150) -> str:
    return next(line for line in template(ref_id).split("\n") if len(line) >= min_chars)


def mixed_report(middle: str) -> str:
    host = host_paragraphs()
    return "\n".join([host[0], host[1], middle, host[2]])


# -- a real server process -------------------------------------------------------------------

@dataclass
class Server:
    proc: subprocess.Popen
    url: str
    log: Path

    def stop(self) -> None:
        """Stop the server's whole process group (it runs in a session of its own)."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if self.proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
        self.proc.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ready(server: Server, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            return False
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                return True
        time.sleep(0.2)
    return False


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``chachong serve`` (the console script beside this Python) on a free port."""
    workdir = tmp_path_factory.mktemp("browser-server")
    script = Path(sys.executable).parent / "chachong"
    assert script.exists(), f"{script}: the chachong console script is not installed"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHACHONG_")}
    log = workdir / "server.log"
    for _attempt in range(3):
        port = _free_port()
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [str(script), "serve", "--data", str(workdir / "data"), "--host", "127.0.0.1",
                 "--port", str(port)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir,
                env=env, start_new_session=True)
        running = Server(proc, f"http://127.0.0.1:{port}", log)
        if _ready(running):
            break
        running.stop()
        if "address already in use" not in log.read_text(errors="replace").lower():
            break
    else:
        raise AssertionError("no free port for the server")
    assert running.proc.poll() is None, f"the server did not start:\n{log.read_text()[-3000:]}"
    try:
        yield running
    finally:
        running.stop()


# -- the browser -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), (
        f"{CHROMIUM}: Chromium is missing; install it (apt-get install chromium), the CI script "
        "does")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Session:
    page: Page
    server: Server
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def report(self) -> FrameLocator:
        return self.page.frame_locator("#report")

    def report_frame(self) -> Frame:
        frame = self.page.locator("#report").element_handle().content_frame()
        assert frame is not None
        return frame

    def submit(self) -> None:
        self.page.click("#submit")

    def click_in_report(self, link: Locator) -> None:
        """Click in the sandboxed report frame. Playwright's click helpers try to run in the
        frame, which the sandbox (no allow-scripts) refuses with "Blocked script execution"
        console errors; those are dropped, anything else logged meanwhile is kept. A script of
        the report itself would be blocked when it loads, before any click, and still count."""
        before = len(self.errors)
        link.click()
        self.errors[before:] = [e for e in self.errors[before:]
                                if not e.startswith("Blocked script execution in 'blob:")]

    def wait_done(self) -> None:
        expect(self.page.locator("#status")).to_have_text(DONE, timeout=TIMEOUT_MS)
        expect(self.report.locator("h1")).to_be_visible(timeout=TIMEOUT_MS)

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def assert_only_local_requests(self) -> None:
        """Nothing but the server and the page's own blob: report was fetched."""
        foreign = [u for u in self.requests
                   if not u.startswith((self.server.url + "/", "blob:", "data:", "about:"))]
        assert not foreign, f"requests outside the server: {foreign}"
        # the page names no icon, so Chromium's own request for /favicon.ico is answered 404
        favicon = f" @ {self.server.url}/favicon.ico"
        errors = [e for e in self.errors if not e.endswith(favicon)]
        assert not errors, f"errors in the browser console: {errors}"


@pytest.fixture
def session(browser: Browser, server: Server) -> Iterator[Session]:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    current = Session(page, server)
    page.on("request", lambda r: current.requests.append(r.url))
    page.on("console", lambda m: current.errors.append(f"{m.text} @ {m.location['url']}")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: current.errors.append(str(e)))
    page.goto(server.url + "/")
    expect(page.locator("h1")).to_contain_text("chachong")
    try:
        yield current
    finally:
        context.close()


def highlight_sources(session: Session) -> list[str]:
    links = session.report.locator("a.hl")
    expect(links.first).to_be_visible(timeout=TIMEOUT_MS)
    return links.evaluate_all("els => els.map(e => e.dataset.source)")


# -- scenarios -------------------------------------------------------------------------------

def test_paste_a_report_and_open_the_source_of_a_highlight(session: Session) -> None:
    copied = template_paragraph("jianshe-ju")
    session.page.fill("#text", mixed_report(copied))
    session.screenshot("web-page.png")
    session.submit()
    session.wait_done()
    report = session.report
    expect(report.locator("html")).to_have_attribute("lang", "zh-CN")
    assert set(highlight_sources(session)) == {"jianshe-ju"}
    first = report.locator("a.hl").first
    assert first.inner_text() in copied
    href = first.get_attribute("href") or ""
    assert href.startswith("#m")
    # no source panel shows before a highlight is selected
    expect(report.locator(".src").first).to_be_hidden()
    expect(report.locator(".src:target")).to_have_count(0)
    session.click_in_report(first)
    panel = report.locator(".src:target")
    expect(panel).to_have_count(1)
    expect(panel).to_be_visible()
    assert panel.get_attribute("id") == href.removeprefix("#")
    expect(panel.locator("strong")).to_have_text("基层党建工作述职报告（建设局）")
    expect(panel.locator(".passage")).to_have_text(copied)
    expect(panel.locator(".passage mark").first).to_be_visible()
    frame = session.report_frame()
    assert frame.url.startswith("blob:") and frame.url.endswith(href)
    # the copied paragraph is drawn in its source's colour, readable beside the panel
    colour = first.evaluate("e => getComputedStyle(e).color")
    swatch = report.locator("#sources .swatch").first.evaluate(
        "e => getComputedStyle(e).backgroundColor")
    assert colour == swatch
    session.screenshot("report.png")
    session.page.locator("#report").screenshot(path=str(ARTIFACTS / "report-frame.png"))
    session.assert_only_local_requests()


def test_upload_a_docx_report(session: Session, tmp_path: Path) -> None:
    copied = template_paragraph("minzheng-ju")
    document = docx.Document()
    for line in mixed_report(copied).split("\n"):
        document.add_paragraph(line)
    path = tmp_path / "年度述职报告.docx"
    document.save(str(path))
    session.page.set_input_files("#file", str(path))
    session.submit()
    session.wait_done()
    expect(session.report.locator("h1")).to_have_text("文本复制检测报告 · 年度述职报告.docx")
    assert set(highlight_sources(session)) == {"minzheng-ju"}
    session.click_in_report(session.report.locator("a.hl").first)
    expect(session.report.locator(".src:target .passage")).to_have_text(copied)
    session.screenshot("report-docx.png")
    session.assert_only_local_requests()


def test_empty_submission_shows_a_message(session: Session) -> None:
    session.page.fill("#text", " \n\u3000 ")
    session.submit()
    status = session.page.locator("#status")
    expect(status).to_have_text("请先粘贴文本或选择文件")
    expect(status).to_have_class("error")
    expect(status).to_have_css("color", "rgb(204, 0, 0)")
    assert session.page.locator("#report").get_attribute("src") is None
    session.screenshot("error-empty.png")
    session.assert_only_local_requests()


def test_server_error_shows_its_message(session: Session, tmp_path: Path) -> None:
    """An empty file reaches the server, which refuses it; the page shows the server's reason."""
    empty = tmp_path / "空白.txt"
    empty.write_bytes(b"")
    session.page.set_input_files("#file", str(empty))
    session.submit()
    status = session.page.locator("#status")
    expect(status).to_have_class("error", timeout=TIMEOUT_MS)
    expect(status).to_contain_text("检测失败：")
    expect(status).to_contain_text("空白.txt")
    expect(status).to_contain_text("empty")
    assert session.page.locator("#report").get_attribute("src") is None
    session.screenshot("error-server.png")
    foreign = [u for u in session.requests
               if not u.startswith((session.server.url + "/", "blob:", "data:", "about:"))]
    assert not foreign


def test_english_report_shows_markup_as_text(session: Session) -> None:
    """The language choice reaches the report, and markup in a report is shown, never run."""
    markup = '<script>document.title="pwned"</script><img src=x onerror="document.title=1">'
    session.page.fill("#text", mixed_report(template_paragraph("jianshe-ju") + markup))
    session.page.select_option("#lang", "en")
    session.page.fill("#threshold", "1")
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    session.page.on("dialog", on_dialog)
    session.submit()
    session.wait_done()
    report = session.report
    expect(report.locator("html")).to_have_attribute("lang", "en")
    expect(report.locator("h1")).to_have_text("Copy check report")
    expect(report.locator(".verdict-pass")).to_have_text("pass")
    expect(report.locator("img")).to_have_count(0)
    expect(report.locator("script")).to_have_count(0)
    expect(report.locator(".para-text", has_text=markup)).to_have_count(1)
    assert session.report_frame().title() == "Copy check report"
    assert session.page.title().startswith("chachong") and not dialogs
    session.assert_only_local_requests()
