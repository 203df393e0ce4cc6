#!/usr/bin/env python3
"""Detection quality and reading time of every document format, on the dev set.

    pip install -e '.[bench]'     # easyofd, for the OFD files (the other converters are the
                                  # project's own: LibreOffice, PDFium)
    python bench/formats.py [--ocr-limit N] [--work bench/data/formats]

Reads the dev set from ``../shared/eval/dev`` beside the clone (bench only; the tests never do).
Each case is written as .txt (as given) and .docx (python-docx, a paragraph a line); LibreOffice
converts the .docx to .doc, .odt, .rtf, HTML (put in a template site's page with menus, links
and scripts) and PDF; easyofd turns the PDF into OFD; the PDF's pages rendered at 150 dpi in
grey and stored as JPEG make the scan (OCR).

Every format is then scored with ``score.py`` through one real ``chachong serve --corpus
../shared/eval/dev/corpus --workers 2`` (CHACHONG_OCR=true). score.py posts each case's .txt; a
small relay in this script posts the case's file of the format under test to the server instead
(with ocr=true for the scans) and hands the answer back with its offsets moved onto the case's
text, by an alignment of the text the reader gave with it (identical for the converted formats;
OCR's misreadings move offsets a little). The .txt figures of the same run are the baseline.

Reading time: each file is also read in this process, once, and the time per page is the total
over all cases divided by their pages (pages of the LibreOffice PDF).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
from rapidfuzz.distance import Levenshtein

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DEV = SHARED / "eval" / "dev"
SCORER = SHARED / "eval" / "score.py"
FORMATS = ["txt", "docx", "doc", "odt", "rtf", "html", "pdf", "ofd", "scan"]
OCR_FORMATS = {"scan"}
sys.path.insert(0, str(ROOT))

from app.core.readers import ReadOptions, extract  # noqa: E402


def _maker() -> ModuleType:
    path = ROOT / "tests" / "formats" / "make_formats.py"
    spec = importlib.util.spec_from_file_location("make_formats", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def soffice(out: Path, target: str, sources: list[Path]) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(["soffice", "--headless", "--norestore", "--nolockcheck",
                        f"-env:UserInstallation={Path(profile).as_uri()}", "--convert-to",
                        target, "--outdir", str(out), *map(str, sources)],
                       check=True, capture_output=True, timeout=3600)


def convert_all(truths: list[dict], work: Path, scans: int) -> dict[str, int]:
    """Write every case in every format under ``work``/FORMAT/ (the first ``scans`` cases as
    scans); return each case's pages."""
    import docx
    import pypdfium2 as pdfium

    maker = _maker()
    folders = {fmt: work / fmt for fmt in FORMATS}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    for truth in truths:
        source = DEV / "cases" / truth["case"]
        stem = source.stem
        shutil.copy(source, folders["txt"] / source.name)
        document = docx.Document()
        for line in source.read_bytes().decode(truth["encoding"]).split("\n"):
            document.add_paragraph(line)
        document.save(str(folders["docx"] / f"{stem}.docx"))
    sources = sorted(folders["docx"].glob("*.docx"))
    for fmt, target in (("doc", "doc:MS Word 97"), ("odt", "odt"), ("rtf", "rtf"),
                        ("html", "html"), ("pdf", "pdf")):
        if len(list(folders[fmt].iterdir())) < len(sources):
            soffice(folders[fmt], target, sources)
    for page in folders["html"].glob("*.html"):
        text = page.read_text(encoding="utf-8")
        if "范文网" not in text:
            page.write_text(maker.web_page(text), encoding="utf-8")
    pages: dict[str, int] = {}
    for number, pdf_path in enumerate(sorted(folders["pdf"].glob("*.pdf"))):
        pdf = pdfium.PdfDocument(str(pdf_path))
        pages[pdf_path.stem] = len(pdf)
        scan = folders["scan"] / pdf_path.name
        if number < scans and not scan.exists():
            images = [pdf[i].render(scale=150 / 72).to_pil().convert("L")
                      for i in range(len(pdf))]
            images[0].save(scan, "PDF", resolution=150, quality=85, save_all=True,
                           append_images=images[1:])
        ofd = folders["ofd"] / f"{pdf_path.stem}.ofd"
        if not ofd.exists():
            ofd.write_bytes(_to_ofd(pdf_path.read_bytes()))
    return pages


def _to_ofd(pdf: bytes) -> bytes:
    from easyofd.ofd import OFD  # writes into ./test while it works

    here = Path.cwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            return bytes(OFD().pdf2ofd(pdf, optional_text=True))
        finally:
            os.chdir(here)


def file_of(work: Path, fmt: str, case: str) -> Path:
    stem = Path(case).stem
    return work / fmt / (case if fmt == "txt" else f"{stem}.{'pdf' if fmt == 'scan' else fmt}")


def offset_map(read: str, original: str) -> list[int]:
    """For each offset of ``read`` (and one past its end), the offset in ``original``."""
    out = [0] * (len(read) + 1)
    for tag, a0, a1, b0, b1 in Levenshtein.opcodes(read, original).as_list():
        for i in range(a0, a1):  # equal: one to one; replaced or extra: spread over the span
            out[i] = b0 + (i - a0 if tag == "equal"
                           else round((i - a0) * (b1 - b0) / max(a1 - a0, 1)))
    out[len(read)] = len(original)
    # offsets never go back
    for i in range(1, len(out)):
        out[i] = max(out[i], out[i - 1])
    return out


class Relay:
    """Between score.py and the server: posts the case's file of the format under test."""

    def __init__(self, server: str, work: Path, texts: dict[tuple[str, str], str],
                 originals: dict[str, str]) -> None:
        self.server, self.work, self.texts, self.originals = server, work, texts, originals
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                fmt = self.path.split("/")[2]
                case = re.search(rb'filename="([^"]+)"', body)
                answer = relay.answer(fmt, case.group(1).decode() if case else "")
                data = json.dumps(answer, ensure_ascii=False).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def answer(self, fmt: str, case: str) -> dict:
        path = file_of(self.work, fmt, case)
        fields = {"ocr": "true"} if fmt in OCR_FORMATS else {}
        response = httpx.post(f"{self.server}/v1/check", files={"file": (path.name,
                              path.read_bytes())}, data=fields, timeout=900)
        response.raise_for_status()
        result = response.json()
        read, original = self.texts[(fmt, case)], self.originals[case]
        moved = offset_map(read, original)
        for paragraph in result["paragraphs"]:
            for match in paragraph["matches"]:
                if read[match["start"]:match["end"]] != match["text"]:
                    raise RuntimeError(f"{fmt} {case}: the server read the file differently")
                match["start"], match["end"] = moved[match["start"]], moved[match["end"]]
        return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "data" / "formats")
    ap.add_argument("--ocr-limit", type=int, default=0,
                    help="score OCR on the first N cases only (OCR takes seconds a page)")
    ap.add_argument("--formats", default=",".join(FORMATS))
    args = ap.parse_args()
    formats = args.formats.split(",")
    truths = [json.loads(ln) for ln in (DEV / "truth.jsonl").open(encoding="utf-8")]
    started = time.perf_counter()
    pages = convert_all(truths, args.work, args.ocr_limit or len(truths))
    print(f"converted {len(truths)} cases in {time.perf_counter() - started:.0f} s",
          file=sys.stderr)

    originals = {t["case"]: (DEV / "cases" / t["case"]).read_bytes().decode(t["encoding"])
                 for t in truths}
    texts: dict[tuple[str, str], str] = {}
    timing: dict[str, tuple[float, int]] = {}
    ocr = ReadOptions(ocr=True)
    for fmt in formats:
        cases = truths[: args.ocr_limit] if fmt in OCR_FORMATS and args.ocr_limit else truths
        spent, counted = 0.0, 0
        for truth in cases:
            path = file_of(args.work, fmt, truth["case"])
            t0 = time.perf_counter()
            texts[(fmt, truth["case"])] = extract(path.read_bytes(), path.name, ocr).text
            spent += time.perf_counter() - t0
            counted += pages[Path(truth["case"]).stem]
        timing[fmt] = (spent, counted)
        print(f"read {fmt}: {spent / counted:.3f} s a page", file=sys.stderr)

    port = free_port()
    env = dict(os.environ, CHACHONG_OCR="true")
    server = subprocess.Popen([str(Path(sys.executable).with_name("chachong")), "serve", "--corpus",
                               str(DEV / "corpus"), "--port", str(port), "--workers", "2",
                               "--data", tempfile.mkdtemp()], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        relay = Relay(url, args.work, texts, originals)
        figures = {}
        runs = [(fmt, fmt) for fmt in formats]
        if args.ocr_limit and OCR_FORMATS & set(formats):
            # OCR is scored on the first cases only: the .txt of those same cases is its baseline
            first = min(i for i, (fmt, _) in enumerate(runs) if fmt in OCR_FORMATS)
            runs.insert(first, ("txt", f"txt-first-{args.ocr_limit}"))
        for fmt, label in runs:
            limited = fmt in OCR_FORMATS or label != fmt
            limit = ["--limit", str(args.ocr_limit)] if limited and args.ocr_limit else []
            done = subprocess.run([sys.executable, str(SCORER), str(DEV), "--url",
                                   f"{relay.url}/fmt/{fmt}/v1/check", "--json", "--jobs", "2",
                                   "--timeout", "900", *limit],
                                  capture_output=True, text=True, check=True)
            figures[label] = json.loads(done.stdout)
            spent, counted = timing[fmt]
            figures[label]["reader_seconds_per_page"] = round(spent / counted, 4)
            print(json.dumps({"format": label, **figures[label]}, ensure_ascii=False),
                  flush=True)
    finally:
        os.killpg(server.pid, 9)
        server.wait()
    baselines = {label: f["recall"] for label, f in figures.items() if label.startswith("txt")}
    print("\n| format | cases | recall | vs .txt | precision | plagdet | errors "
          "| reading, s a page |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for fmt, f in figures.items():
        base = baselines.get(f"txt-first-{args.ocr_limit}" if fmt in OCR_FORMATS else "txt")
        delta = f"{f['recall'] - base:+.4f}" if base is not None else "-"
        print(f"| {fmt} | {f['cases']} | {f['recall']:.4f} | {delta} | {f['precision']:.4f} | "
              f"{f['plagdet']:.4f} | {f['errors']} | {f['reader_seconds_per_page']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
