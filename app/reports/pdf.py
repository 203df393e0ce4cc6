"""Printable PDF reports: the HTML report laid out for A4 by WeasyPrint (its print stylesheet
shows every source passage), with the CJK font it uses embedded (subset), so the PDF reads the
same on a machine without Chinese fonts and its text can be extracted.

WeasyPrint needs Pango from the system and a CJK font known to fontconfig (Debian:
libpango-1.0-0, libpangoft2-1.0-0, fonts-wqy-zenhei or fonts-noto-cjk). The pages it renders
reference nothing outside themselves, and its fetcher is given no protocol at all, so a
report's content can never make it read a file or a URL.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import cache

from app.core.errors import ChachongError
from app.core.schema import CheckResult, CrossResult
from app.reports.html import render_batch_html, render_html

MEDIA_TYPE = "application/pdf"


class PdfUnavailableError(ChachongError):
    """The system lacks what PDF output needs (Pango, a CJK font)."""

    code = "pdf_unavailable"


@cache
def _cjk_font_installed() -> bool:
    """fontconfig knows a font with Chinese glyphs (else every character would be a box)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return False
    found = subprocess.run([fc_list, ":lang=zh", "family"], capture_output=True, text=True,
                           timeout=30, check=False)
    return bool(found.stdout.strip())


def html_to_pdf(html: str) -> bytes:
    try:
        from weasyprint import HTML
        from weasyprint.urls import URLFetcher
    except OSError as exc:  # cffi could not load Pango
        raise PdfUnavailableError(f"PDF output needs Pango ({exc}); install libpango-1.0-0 and "
                                  "libpangoft2-1.0-0") from None
    if not _cjk_font_installed():
        raise PdfUnavailableError("PDF output needs a Chinese font; install fonts-wqy-zenhei "
                                  "or fonts-noto-cjk")
    fetcher = URLFetcher(allowed_protocols=())
    pdf = HTML(string=html, url_fetcher=fetcher).write_pdf()
    assert pdf is not None  # write_pdf returns the bytes when given no target
    return pdf


def render_pdf(result: CheckResult, text: str, lang: str = "zh-CN",
               name: str | None = None) -> bytes:
    """The HTML report of one check, printed."""
    return html_to_pdf(render_html(result, text, lang, name=name))


def render_batch_pdf(cross: CrossResult, lang: str = "zh-CN") -> bytes:
    return html_to_pdf(render_batch_html(cross, lang))
