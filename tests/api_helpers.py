"""Helpers for the HTTP tests: real data, documents built in memory, the expected result from the
core, and real ``chachong serve`` processes.

Paths are computed from this file; the real data are the fixtures under ``tests/fixtures/``.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import docx
import httpx
from support import pdf_file

from app.collections import label_sources
from app.core import CheckOptions, ReferenceIndex, build_index, check_text, load_corpus
from app.settings import Settings

with warnings.catch_warnings():
    # Starlette 1.x warns on import when its TestClient has to fall back to httpx (httpx2 not
    # installed, as in a virtualenv set up before pyproject [test] named it); pytest would turn
    # that into an error at collection, so the import is made quietly.
    warnings.simplefilter("ignore", UserWarning)
    from fastapi.testclient import TestClient

__all__ = ["TestClient"]

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
CORPUS_DIR = ROOT / "reference_corpus"
DEV = FIXTURES / "dev"
DEV_CORPUS = DEV / "corpus"
CASES = DEV / "cases"
TRUTH = DEV / "truth.jsonl"
PROVINCIAL = FIXTURES / "provincial-2025"


def isolated_settings(data: Path, **overrides: Any) -> Settings:
    """Settings given in full (every field: its default, or the override), so no CHACHONG_*
    variable of the shell or CI changes the app."""
    values: dict[str, Any] = {name: field.get_default(call_default_factory=True)
                              for name, field in Settings.model_fields.items()}
    values.update(data=data, **overrides)
    return Settings(**values)

TEMPLATE_IDS = ("gongshang-ju", "jianshe-ju", "jiguan-gongwei", "jituan-gongsi", "minzheng-ju")
KEYS = ("k1", "k2")
AUTH = {"Authorization": f"Bearer {KEYS[0]}"}

_SENTENCE = re.compile(r"[^。！？；\n]+[。！？；]+[”’」』）)]*")


# --- real data ------------------------------------------------------------------------------

@cache
def template(ref_id: str) -> str:
    return (CORPUS_DIR / f"{ref_id}.txt").read_text(encoding="utf-8")


def template_paragraph(ref_id: str, n: int = 0, min_chars: int = 150) -> str:
    """The n-th line of a template with at least ``min_chars`` characters."""
    lines = [line for line in template(ref_id).split("\n") if len(line) >= min_chars]
    return lines[n]


@cache
def provincial_paragraphs(name: str) -> tuple[str, ...]:
    """Paragraphs (40+ characters) of a real provincial report, read with python-docx."""
    document = docx.Document(str(PROVINCIAL / f"{name}.docx"))
    return tuple(p.text.strip() for p in document.paragraphs if len(p.text.strip()) >= 40)


@cache
def provincial_names() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in PROVINCIAL.glob("*.docx")))


def sentences(text: str) -> list[str]:
    return _SENTENCE.findall(text)


@cache
def provincial_sentences(name: str) -> tuple[str, ...]:
    return tuple(s for p in provincial_paragraphs(name) for s in sentences(p) if len(s) >= 15)


@cache
def template_sentences() -> tuple[tuple[str, str], ...]:
    """(template id, sentence) for every template sentence of 20 characters or more."""
    return tuple((ref_id, s) for ref_id in TEMPLATE_IDS
                 for line in template(ref_id).split("\n") for s in sentences(line)
                 if len(s) >= 20)


def host_report() -> str:
    """A report mixing real host paragraphs with one template paragraph in the middle."""
    host = provincial_paragraphs("2025-北京市")
    return "\n".join([host[1], host[2], template_paragraph("jianshe-ju"), host[3]])


# --- the expected answer ----------------------------------------------------------------------

@cache
def bundled_index() -> ReferenceIndex:
    return build_index(load_corpus(CORPUS_DIR))


@cache
def dev_index() -> ReferenceIndex:
    return build_index(load_corpus(DEV_CORPUS))


def expected(text: str, title: str | None = None, index: ReferenceIndex | None = None,
             upload: str | None = None, **options: object) -> dict:
    """What the core says for ``text``, as the JSON the CLI and the API print: every source is
    in the collection ``templates`` (the base corpus and what is added to it); ``upload``: the
    format of the file the text was sent in (a plain text file: nothing to work around)."""
    result = check_text(text, index or bundled_index(), CheckOptions(**options),  # type: ignore[arg-type]
                        title=title)
    dumped = label_sources(result).model_dump(mode="json")
    if upload is not None:
        dumped["document"] = {"format": upload, "parts": ["body"], "ocr": False, "pages": None,
                              "warnings": []}
    return dumped


def source_ids(result: dict) -> set[str]:
    return {m["source"]["id"] for p in result["paragraphs"] for m in p["matches"]}


def share_of(result: dict, ref_id: str) -> float:
    return next((s["copy_ratio"] for s in result["sources"] if s["id"] == ref_id), 0.0)


# --- documents built in memory ----------------------------------------------------------------

def docx_bytes(paragraphs: list[str]) -> bytes:
    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def text_pdf(lines: list[str]) -> bytes:
    """A one-page PDF with a real text layer: a CID font (Identity-H) whose ToUnicode CMap maps
    every two-byte code to the same code point, so the text is UTF-16BE in the content stream."""
    content = b"BT /F1 12 Tf 14 TL 40 800 Td\n"
    for line in lines:
        content += b"<" + line.encode("utf-16-be").hex().upper().encode() + b"> Tj T*\n"
    content += b"ET"
    cmap = (b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n"
            b"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
            b"/CMapName /Adobe-Identity-UCS def /CMapType 2 def\n"
            b"1 begincodespacerange <0000> <FFFF> endcodespacerange\n"
            b"1 beginbfrange <0000> <FFFF> <0000> endbfrange\n"
            b"endcmap CMapName currentdict /CMap defineresource pop end end")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /Identity-H "
        b"/DescendantFonts [6 0 R] /ToUnicode 7 0 R >>",
        b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light "
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> >>",
        b"<< /Length %d >>\nstream\n" % len(cmap) + cmap + b"\nendstream",
    ]
    return pdf_file(objects)


def blank_pdf() -> bytes:
    """A PDF with one blank page and no text layer (what a scan looks like to the reader)."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def scorer_multipart(name: str, data: bytes) -> tuple[bytes, str]:
    """The multipart body exactly as the evaluation scorer (score.py --url) builds it."""
    boundary = "b0undary5c0rer"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{name}\"\r\nContent-Type: text/plain\r\n\r\n").encode()
    body += data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


# --- real server processes --------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_command() -> list[str]:
    script = Path(sys.executable).parent / "chachong"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from app.cli import main; main()"]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHACHONG_")}
    env.update(extra)
    return env


def _group_running(group: int) -> bool:
    """Whether a process of the process group runs still (zombies, which do nothing, aside)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue  # gone meanwhile
        if int(pgrp) == group and state != "Z":
            return True
    return False


@dataclass
class Server:
    proc: subprocess.Popen
    url: str
    log: Path
    workers: int

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the server's whole process group (it runs in a session of its own)."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=15)
        # workers of a multi-process server are in the same group; make sure none outlives it,
        # and wait until none runs: a worker killed inside a system call (a commit's write)
        # finishes it first, and what it writes must not land after the caller looked
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while _group_running(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)

    def log_tail(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-3000:]

    def worker_pids(self) -> list[int]:
        """Child processes of the server that are uvicorn workers (multiprocessing spawn)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.proc.pid and "spawn_main" in cmdline:
                pids.append(int(entry.name))
        return sorted(pids)


def start_server(workdir: Path, data: Path, *, corpus: Path | None = None, workers: int = 1,
                 keys: str = ",".join(KEYS), timeout: float = 60,
                 env: dict[str, str] | None = None) -> Server:
    """Start ``chachong serve`` on a free port and wait until every worker answers /readyz;
    ``env``: more CHACHONG_* settings."""
    last = ""
    for attempt in range(3):
        port = free_port()
        log = workdir / f"server-{port}-{attempt}.log"
        cmd = [*serve_command(), "serve", "--data", str(data), "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(workers)]
        if corpus is not None:
            cmd += ["--corpus", str(corpus)]
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=workdir,
                                    env=clean_env(CHACHONG_API_KEYS=keys, **(env or {})),
                                    start_new_session=True)
        server = Server(proc, f"http://127.0.0.1:{port}", log, workers)
        if _wait_ready(server, timeout):
            return server
        last = server.log_tail()
        server.kill()
        if "address already in use" not in last.lower():
            break
    raise AssertionError(f"the server did not become ready:\n{last}")


def _wait_ready(server: Server, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            return False
        started = server.log.read_text(encoding="utf-8", errors="replace").count(
            "Application startup complete")
        if started >= server.workers:
            try:
                if httpx.get(f"{server.url}/readyz", timeout=5).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
        time.sleep(0.1)
    return False


@contextlib.contextmanager
def running_server(workdir: Path, data: Path, **kwargs: object) -> Iterator[Server]:
    server = start_server(workdir, data, **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.kill()
