#!/usr/bin/env python3
"""The documents of tests/test_formats.py, made by the programs offices use to make them.

    python tests/formats/make_formats.py          # (re)write the files beside this script

Needs LibreOffice (``soffice``), pypdfium2 and Pillow (chachong's OCR and test extras) and, for
the OFD, easyofd (``pip install easyofd``), a library that writes OFD from a PDF.

The source is ``report.fodt``, written here: the first paragraphs of dev case 000 (real report
text with copied template passages, ``tests/fixtures/dev/cases``) as the body, then a table, a
paragraph anchoring a text box, a running header and footer and a footnote, each with text of
its own (``PARTS``). LibreOffice converts it to Word 97 (.doc), OpenDocument (.odt), RTF, Word
(.docx) and PDF, and the body and table alone to HTML (wrapped here in the menus, link lists
and scripts of a template site's page: a web page has no running heads, notes or text boxes).
The PDF's first page, rendered at 150 dpi, is the scan: ``scan.pdf`` (JPEG in a PDF, as
scanners write) and ``scan.png`` (its top lines). easyofd turns the PDF into ``report.ofd``.
``report.wps`` is the .doc under WPS Office's suffix: WPS writes .wps in the Word 97 format.
``slow-table.doc.gz``: a .doc of a 3,000-row table, which LibreOffice takes seconds to convert
(the tests give it less time than that).

``invoice-sample.ofd`` is not made here: it is an e-invoice from the ofdrw project's test files
(``ofdrw-layout/src/test/resources/keyword2.ofd``, Apache License 2.0), written by a
commercial OFD producer, with template pages and annotations.

LibreOffice stamps dates into what it writes, so the outputs differ byte for byte from run to
run; their text does not, which is what the tests read.
"""

from __future__ import annotations

import gzip
import io
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CASE = ROOT / "tests" / "fixtures" / "dev" / "cases" / "case-000.txt"
BODY_PARAGRAPHS = 8

PARTS = {
    "tables": ["落实党建工作责任制", "责任单位：机关党委办公室", "完成时限：2024年12月",
               "督查方式：季度检查"],
    "text boxes": ["文本框：本报告数据截至2024年11月底"],
    "headers": ["中共某某局委员会2024年度工作报告"],
    "footers": ["内部资料 注意保存"],
    "footnotes": ["注：第三轮清洁空气行动计划由市政府于2023年印发。"],
}
ANCHOR = "附：工作安排表"
SITE_NAV = ["首页", "述职报告", "工作总结", "心得体会", "党建材料", "演讲稿"]
SITE_LINKS = [f"2024年个人述职报告范文（通用{n}篇）" for n in range(1, 11)]

NS = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
      'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
      'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
      'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
      'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
      'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" '
      'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"')


def body_paragraphs() -> list[str]:
    return CASE.read_text(encoding="utf-8").split("\n")[:BODY_PARAGRAPHS]


def web_text() -> str:
    """What the web page's article holds."""
    return "\n".join([*body_paragraphs(), *PARTS["tables"]])


def expected_text() -> str:
    """What a reader keeping every part gives: the body in order (table, text box), then the
    header, footer and footnote."""
    lines = [*body_paragraphs(), *PARTS["tables"], ANCHOR, *PARTS["text boxes"],
             *PARTS["headers"], *PARTS["footers"], *PARTS["footnotes"]]
    return "\n".join(lines)


def _p(text: str, inner: str = "") -> str:
    return f"<text:p>{escape(text)}{inner}</text:p>"


def fodt(body: list[str], web: bool = False) -> str:
    """A flat OpenDocument text with every part the readers must find (``web``: the body and
    the table only, as a web page has them)."""
    note = (f'<text:note text:id="ftn1" text:note-class="footnote"><text:note-citation>1'
            f'</text:note-citation><text:note-body>{_p(PARTS["footnotes"][0])}</text:note-body>'
            "</text:note>")
    paragraphs = [_p(t, note if i == 1 and not web else "") for i, t in enumerate(body)]
    cells = PARTS["tables"]
    rows = "".join(
        "<table:table-row>" + "".join(
            f'<table:table-cell office:value-type="string">{_p(c)}</table:table-cell>'
            for c in cells[r * 2: r * 2 + 2]) + "</table:table-row>" for r in range(2))
    table = ('<table:table table:name="安排表"><table:table-column '
             f'table:number-columns-repeated="2"/>{rows}</table:table>')
    box = ('<draw:frame draw:name="box1" text:anchor-type="paragraph" svg:width="12cm" '
           'svg:height="1.5cm" svg:x="2cm" svg:y="0.5cm"><draw:text-box>'
           f'{_p(PARTS["text boxes"][0])}</draw:text-box></draw:frame>')
    running = "" if web else (f'<style:header>{_p(PARTS["headers"][0])}</style:header>'
                              f'<style:footer>{_p(PARTS["footers"][0])}</style:footer>')
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<office:document {NS} office:version="1.3"
 office:mimetype="application/vnd.oasis.opendocument.text">
<office:styles><style:default-style style:family="paragraph"><style:text-properties
 fo:font-size="12pt" style:font-name-asian="WenQuanYi Zen Hei" style:font-size-asian="12pt"
 fo:language="zh" fo:country="CN" style:language-asian="zh" style:country-asian="CN"/>
</style:default-style></office:styles>
<office:automatic-styles><style:page-layout style:name="pm1"><style:page-layout-properties
 fo:page-width="21cm" fo:page-height="29.7cm" fo:margin-top="2cm" fo:margin-bottom="2cm"
 fo:margin-left="2.5cm" fo:margin-right="2.5cm"/><style:header-style/><style:footer-style/>
</style:page-layout></office:automatic-styles>
<office:master-styles><style:master-page style:name="Standard" style:page-layout-name="pm1">
{running}</style:master-page></office:master-styles>
<office:body><office:text>
{"".join(paragraphs)}
{table}
{_p(ANCHOR, box) if not web else ""}
</office:text></office:body></office:document>
"""


def soffice(folder: Path, target: str, *sources: Path) -> None:
    profile = folder / "profile"
    subprocess.run(["soffice", "--headless", "--norestore", "--nolockcheck",
                    f"-env:UserInstallation={profile.as_uri()}", "--convert-to", target,
                    "--outdir", str(folder), *map(str, sources)],
                   check=True, capture_output=True, timeout=300)


def web_page(exported: str) -> str:
    """LibreOffice's HTML body inside a template site's page: menus, links, scripts, footer."""
    body = exported.split("<body", 1)[1].split(">", 1)[1].rsplit("</body>", 1)[0]
    nav = "".join(f'<li><a href="/{i}/">{escape(t)}</a></li>' for i, t in enumerate(SITE_NAV))
    links = "".join(f'<li><a href="/fanwen/{i}.html">{escape(t)}</a></li>'
                    for i, t in enumerate(SITE_LINKS))
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>2024年度工作报告范文 - 范文网</title>
<script>var _hmt = _hmt || []; (function() {{ var s = document.createElement("script");
s.src = "/stat.js"; document.head.appendChild(s); }})();</script>
<style>body {{ font-family: sans-serif; }}</style></head>
<body><div class="top"><ul class="nav">{nav}</ul></div>
<div class="crumb">当前位置：<a href="/">范文网</a> &gt; <a href="/shuzhi/">述职报告</a></div>
<div class="main"><div class="article">{body}</div>
<div class="related"><h3>相关推荐</h3><ul>{links}</ul></div></div>
<div class="footer">Copyright 2024 范文网 版权所有 备案号：京ICP备00000000号
<script>document.write("广告位招租");</script></div></body></html>
"""


def scans(pdf: Path) -> tuple[bytes, bytes]:
    """The first page at 150 dpi in grey: as a PDF of one JPEG page, and its top as a PNG."""
    import pypdfium2 as pdfium

    page = pdfium.PdfDocument(str(pdf))[0].render(scale=150 / 72).to_pil().convert("L")
    as_pdf = io.BytesIO()
    page.save(as_pdf, "PDF", resolution=150, quality=85)
    cut = page.height // 4  # up to a blank row, so that no line is cut in half
    while cut < page.height and min(page.crop((0, cut, page.width, cut + 1)).getdata()) < 200:
        cut += 1
    top = page.crop((0, 0, page.width, cut))
    as_png = io.BytesIO()
    top.save(as_png, "PNG", optimize=True)
    return as_pdf.getvalue(), as_png.getvalue()


def slow_table(rows: int = 3000) -> str:
    cells = "".join(
        f'<table:table-row><table:table-cell office:value-type="string">{_p(f"第{i}项")}'
        f'</table:table-cell><table:table-cell office:value-type="string">'
        f'{_p("推进基层党建工作责任制落实")}</table:table-cell></table:table-row>'
        for i in range(rows))
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document {NS} '
            'office:version="1.3" office:mimetype="application/vnd.oasis.opendocument.text">'
            '<office:body><office:text><table:table table:name="t"><table:table-column '
            f'table:number-columns-repeated="2"/>{cells}</table:table></office:text>'
            "</office:body></office:document>")


def main() -> int:
    if shutil.which("soffice") is None:
        print("needs LibreOffice (soffice)", file=sys.stderr)
        return 1
    source = HERE / "report.fodt"
    source.write_text(fodt(body_paragraphs()), encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for target in ("doc:MS Word 97", "odt", "rtf", "docx:MS Word 2007 XML", "html", "pdf"):
            soffice(folder, target, source)
        for suffix in ("doc", "odt", "rtf", "docx"):
            shutil.copy(folder / f"report.{suffix}", HERE / f"report.{suffix}")
        shutil.copy(folder / "report.doc", HERE / "report.wps")
        web = folder / "web" / "report.fodt"
        web.parent.mkdir()
        web.write_text(fodt(body_paragraphs(), web=True), encoding="utf-8")
        soffice(web.parent, "html", web)
        exported = (web.parent / "report.html").read_text(encoding="utf-8")
        (HERE / "report.html").write_text(web_page(exported), encoding="utf-8")
        scan_pdf, scan_png = scans(folder / "report.pdf")
        (HERE / "scan.pdf").write_bytes(scan_pdf)
        (HERE / "scan.png").write_bytes(scan_png)
        from easyofd.ofd import OFD  # writes into ./test while it works: run it in tmp

        here = Path.cwd()
        try:
            import os

            os.chdir(folder)
            ofd = OFD().pdf2ofd((folder / "report.pdf").read_bytes(), optional_text=True)
        finally:
            os.chdir(here)
        (HERE / "report.ofd").write_bytes(ofd)
        table = folder / "slow-table.fodt"
        table.write_text(slow_table(), encoding="utf-8")
        soffice(folder, "doc:MS Word 97", table)
        (HERE / "slow-table.doc.gz").write_bytes(
            gzip.compress((folder / "slow-table.doc").read_bytes(), mtime=0))
    for path in sorted(HERE.iterdir()):
        if path.is_file() and path.suffix != ".py":
            print(f"{path.stat().st_size:>9}  {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
