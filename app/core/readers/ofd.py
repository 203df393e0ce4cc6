"""OFD (GB/T 33190, the format of electronic official documents): the text of its pages.

An OFD is a zip of XML: ``OFD.xml`` names each document's root, the document lists its pages
(and template pages, and an annotations file), and each page's content holds text objects
(``TextObject``) whose ``TextCode`` elements carry the characters and where they start. No
well-kept Python library reads OFD text (the ones on PyPI render pages through PDF libraries,
or are young single-author projects), so the layout is read here, with ``safezip``'s checks.

The text objects of a page and of the templates it uses (letterheads, running heads, the
printed labels of a form) are laid out together into lines and paragraphs (``layout``);
annotations (stamps, notes, watermarks) follow the pages. Elements are matched by local name:
producers differ in namespaces and in how they write paths (absolute, relative, letter case).
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from contextlib import suppress

from lxml import etree

from ..errors import DecodeError, EmptyTextError, TooManyPagesError
from .document import DEFAULTS, Extracted, ReadOptions
from .layout import Piece, lines, paragraphs
from .safezip import open_zip, parse_xml, read_member, refuse_entities

KIND = ".ofd"
ENTRY = "OFD.xml"
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _children(element: etree._Element, name: str) -> list[etree._Element]:
    return [child for child in element if _local(child) == name]


def _first(element: etree._Element, name: str) -> etree._Element | None:
    found = _children(element, name)
    return found[0] if found else None


def _numbers(value: str | None) -> list[float]:
    return [float(n) for n in _NUMBER.findall(value or "")]


class _Package:
    """The archive's members, found by path however the producer wrote it."""

    def __init__(self, archive: zipfile.ZipFile, name: str) -> None:
        self.archive, self.name = archive, name
        self.members = {m.lower(): m for m in archive.namelist() if not m.endswith("/")}

    def find(self, location: str, *bases: str) -> str | None:
        location = location.strip().replace("\\", "/")
        if not location:
            return None
        tries = [location.lstrip("/")] if location.startswith("/") else []
        tries += [posixpath.join(base, location) for base in bases] + [location.lstrip("/")]
        for path in tries:
            member = self.members.get(posixpath.normpath(path).lstrip("/").lower())
            if member is not None:
                return member
        return None

    def xml(self, member: str) -> etree._Element:
        return parse_xml(read_member(self.archive, member, self.name, KIND), member, self.name)


def _delta_width(delta: str | None, count: int, size: float) -> float:
    """How wide ``count`` characters are, from a TextCode's DeltaX (with its 'g N d' runs)."""
    tokens = (delta or "").split()
    steps: list[float] = []
    i = 0
    while i < len(tokens) and len(steps) < count:
        if tokens[i] == "g" and i + 2 < len(tokens):
            with suppress(ValueError):
                steps += [float(tokens[i + 2])] * int(float(tokens[i + 1]))
            i += 3
        else:
            with suppress(ValueError):
                steps.append(float(tokens[i]))
            i += 1
    steps = steps[: max(count - 1, 0)]
    return sum(steps) + size * (count - len(steps))


def _text_pieces(root: etree._Element) -> list[Piece]:
    """Every TextObject under ``root`` (layers, page blocks, appearances) as placed pieces."""
    pieces = []
    for obj in root.iter():
        if _local(obj) != "TextObject":
            continue
        box = _numbers(obj.get("Boundary"))
        bx, by = (box[0], box[1]) if len(box) >= 2 else (0.0, 0.0)
        size = (_numbers(obj.get("Size")) or _numbers(obj.get("size")) or [3.5])[0]
        ctm = _numbers(obj.get("CTM"))
        a, b, c, d, e, f = ctm if len(ctm) == 6 else (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
        x = y = 0.0
        for code in obj:
            if _local(code) != "TextCode" or not (code.text or "").strip():
                continue
            x = (_numbers(code.get("X")) or [x])[0]
            y = (_numbers(code.get("Y")) or [y])[0]
            text = code.text or ""
            width = _delta_width(code.get("DeltaX"), len(text), size)
            left, base = bx + a * x + c * y + e, by + b * x + d * y + f
            height = abs(d) * size if d else size
            pieces.append(Piece(left, left + abs(a) * width, base - height, base, text))
    return pieces


def read_ofd(data: bytes, name: str = "input.ofd",
             options: ReadOptions = DEFAULTS) -> Extracted:
    with open_zip(data, name, KIND) as archive:
        refuse_entities(archive, name, KIND)
        package = _Package(archive, name)
        entry = package.find(ENTRY)
        if entry is None:
            raise DecodeError(f"{name}: a zip archive without {ENTRY} is not an OFD document")
        roots = [el.text or "" for el in package.xml(entry).iter() if _local(el) == "DocRoot"]
        found = [m for m in (package.find(root) for root in roots) if m is not None]
        if not found:
            raise DecodeError(f"{name}: {ENTRY} names no document that the file holds")
        text_lines: list[str] = []
        notes: list[str] = []
        parts = ["body"]
        pages = 0
        for document in found:
            page_count, used_templates = _read_document(package, document, options, name,
                                                        text_lines, notes, pages)
            pages += page_count
            if used_templates and "templates" not in parts:
                parts.append("templates")
        if notes:
            parts.append("annotations")
    text = "\n".join(text_lines + notes)
    if not text.strip():
        raise EmptyTextError(f"{name}: the OFD has no text objects (a scan?); submit the "
                             "original document, or a PDF of it to check with OCR")
    return Extracted(text, "ofd", parts, pages=pages)


def _read_document(package: _Package, document: str, options: ReadOptions, name: str,
                   text_lines: list[str], notes: list[str], pages_before: int
                   ) -> tuple[int, bool]:
    """Append a document's paragraphs and annotations; return its page count and whether
    template text was read."""
    base = posixpath.dirname(document)
    root = package.xml(document)
    templates: dict[str, str] = {}
    for common in _children(root, "CommonData"):
        for tpl in _children(common, "TemplatePage"):
            member = package.find(tpl.get("BaseLoc") or "", base)
            if member is not None:
                templates[tpl.get("ID") or ""] = member
    page_members: list[tuple[str, str]] = []
    for container in _children(root, "Pages"):
        for page in _children(container, "Page"):
            member = package.find(page.get("BaseLoc") or "", base)
            if member is not None:
                page_members.append((page.get("ID") or "", member))
    if pages_before + len(page_members) > options.max_pages:
        raise TooManyPagesError(f"{name}: the OFD has {pages_before + len(page_members)} "
                                f"pages, more than the {options.max_pages} a report is read "
                                "to; split it, or submit the report itself")
    used_templates = False
    for _, member in page_members:
        page = package.xml(member)
        pieces = _text_pieces(page)
        refs = [ref.get("TemplateID") for ref in page.iter() if _local(ref) == "Template"]
        for ref in refs or ([next(iter(templates))] if len(templates) == 1 else []):
            if ref in templates:
                from_template = _text_pieces(package.xml(templates[ref]))
                used_templates = used_templates or bool(from_template)
                pieces += from_template
        text_lines += paragraphs(lines(pieces))
    notes += _annotations(package, root, base, name)
    return len(page_members), used_templates


def _annotations(package: _Package, root: etree._Element, base: str, name: str) -> list[str]:
    index = next((el.text or "" for el in root if _local(el) == "Annotations"), "")
    member = package.find(index, base) if index else None
    if member is None:
        return []
    listing = package.xml(member)
    out: list[str] = []
    for loc in listing.iter():
        if _local(loc) != "FileLoc":
            continue
        annot = package.find(loc.text or "", posixpath.dirname(member), base)
        if annot is not None:
            out += paragraphs(lines(_text_pieces(package.xml(annot))))
    return out
