"""OCR of scanned PDFs and images (.png, .jpg), in the sandbox, when a check asks for it.

Recognition runs in ``ocr_worker.py`` under ``sandbox.run_bounded`` (time and memory limits,
no network, a temporary folder): a page takes seconds, and a hostile image must not take a
server worker down with it. The boxes it returns are laid out into paragraphs here
(``layout``). The result says the text came from OCR: recognised text has errors a typed one
does not, so a reviewer should read its matches against the original.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from ..errors import ConversionError, DecodeError, EmptyTextError, ReaderUnavailableError
from .document import Extracted, ReadOptions
from .layout import Piece, lines, paragraphs
from .pdf import page_count_error
from .sandbox import failure, run_bounded, workspace

WORKER = Path(__file__).with_name("ocr_worker.py")
ENGINE = "OCR"
PACKAGES = ("rapidocr_onnxruntime", "pypdfium2")
INSTALL_HINT = "install chachong with OCR (pip install 'chachong[ocr]')"
_EXIT_TOO_MANY_PAGES, _EXIT_TOO_LARGE, _EXIT_UNREADABLE = 3, 4, 5


def missing() -> list[str]:
    """The Python packages OCR needs that are not installed."""
    return [name for name in PACKAGES if importlib.util.find_spec(name) is None]


def recognise(data: bytes, name: str, fmt: str, options: ReadOptions) -> Extracted:
    """The text of a scanned PDF (``fmt`` 'pdf') or an image, recognised page by page."""
    absent = missing()
    if absent:
        raise ReaderUnavailableError(f"{name}: reading it needs OCR ({', '.join(absent)}), "
                                     f"which is not installed on the server; {INSTALL_HINT}")
    kind = "pdf" if fmt == "pdf" else "image"
    with workspace() as folder:
        source = folder / f"input.{fmt}"
        source.write_bytes(data)
        result = folder / "text.json"
        done = run_bounded([sys.executable, str(WORKER), "--kind", kind, "--max-pages",
                            str(options.ocr_max_pages), str(source), str(result)],
                           folder, options.recognise, name, ENGINE)
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        last = said[-1] if said else ""
        if done.returncode == _EXIT_TOO_MANY_PAGES:
            pages = int(last) if last.isdigit() else options.ocr_max_pages + 1
            raise page_count_error(name, pages, options.ocr_max_pages, "OCR reads")
        if done.returncode == _EXIT_TOO_LARGE:
            raise DecodeError(f"{name}: the image is too large to recognise ({last}); scan it "
                              "at 300 dpi or less")
        if done.returncode == _EXIT_UNREADABLE:
            raise DecodeError(f"{name}: {last}")
        if done.returncode != 0 or not result.is_file():
            raise failure(name, ENGINE, done)
        try:
            pages = json.loads(result.read_text(encoding="utf-8"))["pages"]
        except (ValueError, KeyError) as exc:
            raise ConversionError(f"{name}: OCR gave no readable result ({exc})") from exc
    text_lines: list[str] = []
    for page in pages:
        pieces = [Piece(left, right, top, bottom, text)
                  for left, top, right, bottom, text, _ in page["boxes"]]
        text_lines += paragraphs(lines(pieces))
    text = "\n".join(text_lines)
    if not text.strip():
        raise EmptyTextError(f"{name}: OCR found no text in it")
    return Extracted(text, fmt, ["body"], ocr=True, pages=len(pages) if kind == "pdf" else None,
                     warnings=[f"{name}: the text was recognised by OCR and may differ from "
                               "the original in places; read the matches against it"])
