"""Text of a Word (.docx) document: the body in reading order, then headers, footers, footnotes.

The body keeps one paragraph a line, as Word shows them: paragraphs, the cells of tables (each
cell's paragraphs, a line each, nested tables in place) and text boxes (after the paragraph
they are anchored in). Headers, footers, footnotes and endnotes follow the body, each distinct
text once (sections repeat their headers). Deleted revisions, field codes and the fallback
copies of text boxes that Word writes for old readers are left out, so nothing is read twice.

python-docx reads body paragraphs and tables but not footnotes or text boxes, and gives merged
table cells once per grid column; the part XML is small, so it is walked here directly (after
``safezip``'s checks).
"""

from __future__ import annotations

import posixpath
import zipfile
from collections.abc import Iterator

from lxml import etree

from ..errors import DecodeError
from .document import Extracted
from .safezip import open_zip, parse_xml, read_member, refuse_entities

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
MAIN = "word/document.xml"
KIND = ".docx"

# run content
_TEXT = {W + "t"}
_TABS = {W + "tab", W + "ptab"}
_BREAKS = {W + "br", W + "cr"}
_SKIPPED = {W + "delText", W + "instrText", W + "delInstrText", W + "del", W + "moveFrom",
            W + "rPr", W + "pPr", W + "sectPr", W + "tblPr", W + "trPr", W + "tcPr",
            MC + "Fallback"}
_BOX = W + "txbxContent"
# block containers whose children are read in place
_WRAPPERS = {W + "sdt", W + "sdtContent", W + "customXml", W + "ins", W + "moveTo",
             W + "smartTag", W + "body"}
# parts after the body, by relationship type, in the order they are read
_PART_TYPES = (("header", "headers"), ("footer", "footers"), ("footnotes", "footnotes"),
               ("endnotes", "endnotes"))
_NOTE_SEPARATORS = {"separator", "continuationSeparator", "continuationNotice"}


class _Reader:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.found: set[str] = set()

    def block(self, element: etree._Element) -> None:
        """Paragraphs and tables of a body, cell, text box, header or note, in order."""
        for child in element:
            tag = child.tag
            if tag == W + "p":
                self.paragraph(child)
            elif tag == W + "tbl":
                self.found.add("tables")
                for cell in _cells(child):
                    self.block(cell)
            elif tag in _WRAPPERS:
                self.block(child)

    def paragraph(self, p: etree._Element) -> None:
        pieces: list[str] = []
        boxes: list[etree._Element] = []
        _runs(p, pieces, boxes)
        self.lines.append("".join(pieces))
        for box in boxes:
            before = len(self.lines)
            self.block(box)
            if any(line.strip() for line in self.lines[before:]):
                self.found.add("text boxes")


def _runs(element: etree._Element, pieces: list[str], boxes: list[etree._Element]) -> None:
    for child in element:
        tag = child.tag
        if tag in _TEXT:
            pieces.append(child.text or "")
        elif tag in _TABS:
            pieces.append("\t")
        elif tag in _BREAKS:
            if child.get(W + "type") in (None, "textWrapping"):
                pieces.append("\n")
        elif tag == W + "noBreakHyphen":
            pieces.append("-")
        elif tag == _BOX:
            boxes.append(child)
        elif tag in _SKIPPED or not isinstance(tag, str):
            continue
        else:
            _runs(child, pieces, boxes)


def _cells(table: etree._Element) -> Iterator[etree._Element]:
    """The cells of a table, row by row (through content controls), not of nested tables."""
    for child in table:
        if child.tag == W + "tc":
            yield child
        elif child.tag in (W + "tr", W + "sdt", W + "sdtContent", W + "customXml"):
            yield from _cells(child)


def _related_parts(archive: zipfile.ZipFile, name: str) -> dict[str, list[str]]:
    """Member names of the main document's headers, footers and notes, by relationship type."""
    rels_name = "word/_rels/document.xml.rels"
    if rels_name not in archive.namelist():
        return {}
    rels = parse_xml(read_member(archive, rels_name, name, KIND), rels_name, name)
    members = set(archive.namelist())
    found: dict[str, list[str]] = {}
    for rel in rels.iter(RELS + "Relationship"):
        if rel.get("TargetMode") == "External":
            continue
        kind = (rel.get("Type") or "").rsplit("/", 1)[-1]
        target = rel.get("Target") or ""
        member = (target.lstrip("/") if target.startswith("/")
                  else posixpath.normpath(posixpath.join("word", target)))
        if member in members and member not in found.get(kind, []):
            found.setdefault(kind, []).append(member)
    return found


def read_docx(data: bytes, name: str = "input.docx", fmt: str = "docx") -> Extracted:
    """The text of a .docx (``fmt``: the format the user sent, when it was converted)."""
    with open_zip(data, name, KIND) as archive:
        if MAIN not in archive.namelist():
            raise DecodeError(f"{name}: a zip archive without {MAIN} is not a Word document")
        refuse_entities(archive, name, KIND)
        main = parse_xml(read_member(archive, MAIN, name, KIND), MAIN, name)
        body = main.find(W + "body")
        reader = _Reader()
        if body is not None:
            reader.block(body)
        parts = ["body", *sorted(reader.found, key=["tables", "text boxes"].index)]
        seen: set[str] = set()
        for kind, label in _PART_TYPES:
            for member in _related_parts(archive, name).get(kind, []):
                part = _Reader()
                root = parse_xml(read_member(archive, member, name, KIND), member, name)
                for child in root:
                    if (child.tag in (W + "footnote", W + "endnote")
                            and child.get(W + "type") not in _NOTE_SEPARATORS):
                        part.block(child)
                if root.tag not in (W + "footnotes", W + "endnotes"):
                    part.block(root)
                text = "\n".join(line.strip() for line in part.lines if line.strip())
                if text and text not in seen:
                    seen.add(text)
                    reader.lines.append(text)
                    if label not in parts:
                        parts.append(label)
    return Extracted("\n".join(reader.lines), fmt, parts)
