"""Web pages (.html, .htm): the main text, without navigation, scripts and link lists.

Templates are often saved from template sites, whose pages wrap one article in menus, link
lists, advertisements and scripts. trafilatura finds the article; its XML output keeps the
structure, so headings, paragraphs and list items become a line each, and table cells a line
each too. The page's encoding comes from its byte-order mark or its ``<meta charset>``, and
from charset-normalizer when it declares none (GBK pages are common). Nothing is fetched:
the extractor only reads the bytes it is given.
"""

from __future__ import annotations

import re

from lxml import etree

from ..errors import EmptyTextError
from .document import Extracted
from .text import decode_text

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_WIDEN = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "ascii": "utf-8"}
# elements of trafilatura's XML whose text is one line each
_LINES = {"head", "p", "item", "quote", "code", "cell"}


def _decode(data: bytes, name: str, warnings: list[str]) -> str:
    found = _META_CHARSET.search(data[:4096])
    if found and not data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        codec = found.group(1).decode("ascii").lower()
        try:
            return data.decode(_WIDEN.get(codec, codec))
        except (LookupError, UnicodeDecodeError):
            pass  # a wrong declaration: detect instead
    return decode_text(data, name, warnings)


def _text(element: etree._Element) -> str:
    """An element's text with its inline children, ``<lb/>`` as a line break."""
    out = [element.text or ""]
    for child in element:
        if child.tag == "lb":
            out.append("\n")
        elif child.tag not in _LINES and child.tag not in ("list", "table", "row"):
            out.append(_text(child))
        out.append(child.tail or "")
    return "".join(out)


def _walk(element: etree._Element, lines: list[str], found: set[str]) -> None:
    for child in element:
        if child.tag == "table":
            found.add("tables")
        if child.tag in _LINES and not any(c.tag in _LINES for c in child.iter()
                                           if c is not child):
            lines.append(_text(child).strip())
        else:
            _walk(child, lines, found)


def read_webpage(data: bytes, name: str = "input.html") -> Extracted:
    import trafilatura

    warnings: list[str] = []
    page = _decode(data, name, warnings)
    xml = trafilatura.extract(page, output_format="xml", include_tables=True,
                              include_comments=False, include_links=False,
                              include_images=False, favor_recall=True, deduplicate=False)
    if not xml:
        raise EmptyTextError(f"{name}: no article text was found in the web page; save the "
                             "article itself (or copy its text into a .txt file)")
    root = etree.fromstring(xml.encode("utf-8"),
                            etree.XMLParser(resolve_entities=False, no_network=True))
    lines: list[str] = []
    found: set[str] = set()
    main = root.find("main")
    _walk(main if main is not None else root, lines, found)
    return Extracted("\n".join(line for line in lines if line), "html",
                     ["body", *sorted(found)], warnings=warnings)
