"""The README's screenshots of the web pages, made again: ``python docs/screenshots.py``.

Starts ``chachong serve`` (the bundled corpus, a throw-away data folder) on a free port of
127.0.0.1, goes through the pages with headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright) on the real reports of tests/fixtures, and writes docs/screenshots/*.png.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docx
import httpx
from playwright.sync_api import Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
FIXTURES = ROOT / "tests" / "fixtures"
CASES = FIXTURES / "dev" / "cases"
TEMPLATES = ROOT / "reference_corpus"
KEY = "screenshots-key"
CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1280, "height": 860}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def provincial(name: str) -> list[str]:
    document = docx.Document(str(FIXTURES / "provincial-2025" / f"{name}.docx"))
    return [p.text.strip() for p in document.paragraphs if len(p.text.strip()) >= 80]


def reports(folder: Path) -> list[Path]:
    """Ten reports: eight dev cases and two provincial extracts, one copying the other."""
    paths = []
    for name in ["case-000.txt", "case-001.txt", "case-002.txt", "case-003.txt",
                 "case-004.txt", "case-007.txt", "case-009.txt", "case-013.txt"]:
        paths.append(folder / name)
        paths[-1].write_text((CASES / name).read_text(encoding="utf-8"), encoding="utf-8")
    beijing = provincial("2025-北京市")[:4]
    paths.append(folder / "北京-述职.txt")
    paths[-1].write_text("\n".join(beijing), encoding="utf-8")
    paths.append(folder / "江苏-述职.txt")
    paths[-1].write_text("\n".join(provincial("2025-江苏省")[:2] + beijing[1:3]),
                         encoding="utf-8")
    return paths


def shot(page: Page, name: str, full: bool = False) -> None:
    page.screenshot(path=str(OUT / name), full_page=full)
    print(OUT / name)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="chachong-shots-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHACHONG_")}
    env["CHACHONG_API_KEYS"] = KEY
    script = Path(sys.executable).parent / "chachong"
    server = subprocess.Popen([str(script), "serve", "--data", str(work / "data"), "--port",
                               str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM,
                                        args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport=VIEWPORT, locale="zh-CN")
            page.set_default_timeout(60_000)
            tour(page, url, work)
            browser.close()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def tour(page: Page, url: str, work: Path) -> None:
    # one report, pasted, with its options
    page.goto(f"{url}/")
    page.fill("#text", (CASES / "case-004.txt").read_text(encoding="utf-8"))
    page.click("#submit")
    expect(page.locator("#status")).to_have_text("检测完成")
    page.evaluate("window.scrollTo(0, document.getElementById('permalink').offsetTop - 20)")
    shot(page, "check.png")
    # its permalink, and the side-by-side view with a passage selected
    page.click("#permalink-link")
    expect(page.locator("#copy-ratio")).to_be_visible()
    shot(page, "report.png")
    page.locator("#sources a.compare").first.click()
    page.click("#next-match")
    page.click("#next-match")
    shot(page, "compare.png")
    # a batch of ten
    folder = work / "reports"
    folder.mkdir()
    page.goto(f"{url}/batch")
    page.set_input_files("#files", [str(p) for p in reports(folder)])
    page.click("#batch-submit")
    expect(page.locator("#batch-status")).to_contain_text("检测完成")
    page.locator("#results-table th", has_text="总复制比").locator("button").click()
    page.locator("#results-table th", has_text="总复制比").locator("button").click()
    page.evaluate("window.scrollTo(0, document.getElementById('results').offsetTop - 10)")
    shot(page, "batch.png")
    page.evaluate("window.scrollTo(0, document.getElementById('cross').offsetTop - 10)")
    shot(page, "cross-check.png")
    page.goto(f"{url}/checks")
    shot(page, "history.png")
    page.goto(f"{url}/corpus")
    shot(page, "corpus.png")


if __name__ == "__main__":
    main()
