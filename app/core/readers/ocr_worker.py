"""Recognise the text of a scanned PDF or an image; run by ``ocr.recognise`` in the sandbox.

    python ocr_worker.py --kind pdf|image --max-pages N INPUT OUTPUT.json

A script, not a module of the package: it imports only what recognition needs. PDF pages are
rendered with PDFium (pypdfium2) at 200 dpi; the text is found and read by RapidOCR with the
PP-OCRv4 Chinese models that its wheel carries (nothing is downloaded). The output lists, per
page, its size and every text box (left, top, right, bottom, text, confidence), for the caller
to lay out. Exit codes: 0 done, 3 too many pages, 4 image too large, 5 unreadable input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any

EXIT_TOO_MANY_PAGES, EXIT_TOO_LARGE, EXIT_UNREADABLE = 3, 4, 5
DPI = 200  # scans are made at 200-300 dpi; at 150 the detector misses whole lines
MAX_PIXELS = 60_000_000  # a page scanned at 600 dpi is 35 million pixels


def _pdf_pages(path: str, max_pages: int) -> Iterator[Any]:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(path)
    except pdfium.PdfiumError as exc:
        print(f"not a readable PDF ({exc})", file=sys.stderr)
        sys.exit(EXIT_UNREADABLE)
    count = len(pdf)
    if count > max_pages:
        print(f"{count}", file=sys.stderr)
        sys.exit(EXIT_TOO_MANY_PAGES)
    for index in range(count):
        page = pdf[index]
        width, height = page.get_size()
        if width * height * (DPI / 72) ** 2 > MAX_PIXELS:
            print(f"page {index + 1} is {width:.0f} x {height:.0f} points", file=sys.stderr)
            sys.exit(EXIT_TOO_LARGE)
        yield page.render(scale=DPI / 72).to_pil().convert("RGB")


def _image(path: str) -> Any:
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:
                print(f"{image.width} x {image.height} pixels", file=sys.stderr)
                sys.exit(EXIT_TOO_LARGE)
            return image.convert("RGB")
    except Image.DecompressionBombError as exc:
        print(str(exc), file=sys.stderr)
        sys.exit(EXIT_TOO_LARGE)
    except (OSError, ValueError, SyntaxError) as exc:  # Pillow's ways of saying "not an image"
        print(f"not a readable image ({exc})", file=sys.stderr)
        sys.exit(EXIT_UNREADABLE)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kind", choices=["pdf", "image"], required=True)
    ap.add_argument("--max-pages", type=int, required=True)
    ap.add_argument("input")
    ap.add_argument("output")
    args = ap.parse_args(argv)
    import numpy as np
    from rapidocr_onnxruntime import RapidOCR

    engine = RapidOCR()
    images = (_pdf_pages(args.input, args.max_pages) if args.kind == "pdf"
              else iter([_image(args.input)]))
    pages = []
    for image in images:
        found, _ = engine(np.asarray(image))
        boxes = []
        for corners, text, score in found or []:
            xs = [float(p[0]) for p in corners]
            ys = [float(p[1]) for p in corners]
            boxes.append([min(xs), min(ys), max(xs), max(ys), text, float(score)])
        pages.append({"width": image.width, "height": image.height, "boxes": boxes})
    with open(args.output, "w", encoding="utf-8") as out:
        json.dump({"pages": pages}, out, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
