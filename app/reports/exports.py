"""A batch's results as a table to take away: .csv (UTF-8 with a byte-order mark, which Excel
needs to read Chinese) and .xlsx (XlsxWriter), one row per report, plus the pairs of the
cross-check. Ratios are numbers (0..1) in both, shown as percentages in the workbook.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass

from app.core.schema import CrossResult
from app.reports.html import LABELS

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# a cell starting with one of these is a formula to a spreadsheet: quoted in CSV (OWASP's
# advice against CSV injection; file names come from users)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

COLUMNS = {
    "zh-CN": ["报告", "总复制比", "去除前复制比", "结论", "检测字符数", "复制字符数",
              "主要来源", "主要来源标题", "主要来源占比", "永久链接", "规定表述字数"],
    "en": ["report", "copy ratio", "raw copy ratio", "verdict", "characters checked",
           "characters copied", "main source", "main source title", "main source share",
           "permalink", "formula characters"],
}
PAIR_COLUMNS = {
    "zh-CN": ["报告", "复制自", "复制字符数", "占比"],
    "en": ["report", "copied from", "characters copied", "share"],
}
SHEETS = {"zh-CN": ("检测结果", "报告之间的复制"), "en": ("reports", "between reports")}
RATIO_COLUMNS = frozenset({1, 2, 8})


@dataclass(frozen=True)
class Row:
    report: str
    copy_ratio: float
    raw_copy_ratio: float
    verdict: str
    chars: int
    copied_chars: int
    main_source: str
    main_title: str
    main_share: float
    link: str
    formula_chars: int  # characters of the formulas found (shown apart from the copies)

    def cells(self) -> list[str | float | int]:
        return [self.report, self.copy_ratio, self.raw_copy_ratio, self.verdict, self.chars,
                self.copied_chars, self.main_source, self.main_title, self.main_share,
                self.link, self.formula_chars]


def rows(cross: CrossResult, link: Callable[[str], str] | None = None,
         lang: str = "zh-CN") -> list[Row]:
    """One row per report, in the batch's order; ``link(report id)`` gives its permalink."""
    labels = LABELS.get(lang, LABELS["zh-CN"])
    out = []
    for report in cross.reports:
        r = report.result
        main = max(r.sources, key=lambda s: s.copied_chars, default=None)
        out.append(Row(report.id, r.copy_ratio, r.raw_copy_ratio, labels[r.verdict], r.chars,
                       r.copied_chars, main.id if main else "", main.title if main else "",
                       main.copy_ratio if main else 0.0, link(report.id) if link else "",
                       sum(f.chars for f in r.formulas)))
    return out


def _lang(lang: str) -> str:
    return lang if lang in COLUMNS else "zh-CN"


def _safe(value: str | float | int) -> str | float | int:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def to_csv(cross: CrossResult, lang: str = "zh-CN",
           link: Callable[[str], str] | None = None) -> bytes:
    """The reports table, then a blank line and the pairs table."""
    lang = _lang(lang)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS[lang])
    for row in rows(cross, link, lang):
        writer.writerow([_safe(c) for c in row.cells()])
    writer.writerow([])
    writer.writerow(PAIR_COLUMNS[lang])
    for pair in cross.pairs:
        writer.writerow([_safe(pair.report), _safe(pair.source), pair.copied_chars,
                         pair.copy_ratio])
    return "\ufeff".encode() + out.getvalue().encode("utf-8")


def to_xlsx(cross: CrossResult, lang: str = "zh-CN",
            link: Callable[[str], str] | None = None) -> bytes:
    """A workbook of two sheets: the reports and the pairs. Strings are written as strings
    (never formulas), ratios as numbers formatted as percentages."""
    import xlsxwriter

    lang = _lang(lang)
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False,
                                        "strings_to_urls": False})
    bold = book.add_format({"bold": True})
    percent = book.add_format({"num_format": "0.0%"})
    reports_sheet, pairs_sheet = (book.add_worksheet(name) for name in SHEETS[lang])
    reports_sheet.write_row(0, 0, COLUMNS[lang], bold)
    for y, row in enumerate(rows(cross, link, lang), start=1):
        for x, cell in enumerate(row.cells()):
            if isinstance(cell, str):
                reports_sheet.write_string(y, x, cell)
            else:
                reports_sheet.write_number(y, x, cell, percent if x in RATIO_COLUMNS else None)
    reports_sheet.set_column(0, 0, 28)
    reports_sheet.set_column(1, 5, 12)
    reports_sheet.set_column(6, 7, 30)
    reports_sheet.freeze_panes(1, 1)
    reports_sheet.autofilter(0, 0, len(cross.reports), len(COLUMNS[lang]) - 1)
    pairs_sheet.write_row(0, 0, PAIR_COLUMNS[lang], bold)
    for y, pair in enumerate(cross.pairs, start=1):
        pairs_sheet.write_string(y, 0, pair.report)
        pairs_sheet.write_string(y, 1, pair.source)
        pairs_sheet.write_number(y, 2, pair.copied_chars)
        pairs_sheet.write_number(y, 3, pair.copy_ratio, percent)
    pairs_sheet.set_column(0, 1, 28)
    book.close()
    return buffer.getvalue()
