"""Plain text in any common encoding.

Encodings are detected with charset-normalizer after the byte-order marks, never guessed by
trying codecs in turn. A file whose last character was cut in half (a truncated download or
copy) is read without that character, with a warning: the rest of the file is intact.
"""

from __future__ import annotations

import codecs

from charset_normalizer import from_bytes

from ..errors import DecodeError
from .document import Extracted

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
# charset-normalizer names that we widen to their superset (GBK text is valid GB18030)
_WIDEN = {"gb2312": "gb18030", "gbk": "gb18030", "ascii": "utf-8"}
_LONGEST_CHARACTER = 4  # bytes: UTF-8, GB18030 and UTF-32 characters are at most 4 long


def _cut_warning(name: str, codec: str, dropped: bytes) -> str:
    return (f"{name}: the file ends in the middle of a character ({len(dropped)} of its bytes "
            f"in {codec}: a truncated download or copy?); that last character was dropped")


def _complete_part(data: bytes, codec: str) -> tuple[str, bytes] | None:
    """The text of ``data`` in ``codec`` and the bytes of an unfinished last character, or
    None when the bytes before that are not valid ``codec`` either."""
    decoder = codecs.getincrementaldecoder(codec)()
    try:
        text = decoder.decode(data, final=False)
    except UnicodeDecodeError:
        return None
    pending = decoder.getstate()[0]
    return text, pending


def _decode(data: bytes, codec: str, name: str, warnings: list[str]) -> str | None:
    """``data`` in ``codec``, or None; a cut-off last character is dropped with a warning."""
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        pass
    except LookupError:
        return None
    complete = _complete_part(data, codec)
    if complete is None or not complete[1] or len(complete[1]) >= _LONGEST_CHARACTER:
        return None
    text, pending = complete
    warnings.append(_cut_warning(name, codec, pending))
    return text


def decode_text(data: bytes, name: str = "input", warnings: list[str] | None = None) -> str:
    """Decode plain-text bytes; raise DecodeError naming the file when no encoding fits."""
    warnings = [] if warnings is None else warnings
    for bom, codec in _BOMS:
        if data.startswith(bom):
            text = _decode(data[len(bom):], codec, name, warnings)
            if text is None:
                raise DecodeError(f"{name}: starts with a {codec} byte-order mark but is not "
                                  f"valid {codec}; save it again as UTF-8")
            return text
    text = _decode(data, "utf-8", name, warnings)
    if text is not None:
        return text
    if b"\x00" in data[:4096] and not _looks_utf16(data):
        raise DecodeError(f"{name}: looks like a binary file, not text; submit .txt, .md, "
                          ".docx or .pdf")
    best = from_bytes(data).best()
    if best is not None and best.encoding is not None:
        try:
            return data.decode(_WIDEN.get(best.encoding, best.encoding))
        except (UnicodeDecodeError, LookupError):
            pass
    # no encoding fits the whole file: is it one whose last character was cut in half?
    for cut in range(1, _LONGEST_CHARACTER):
        best = from_bytes(data[:-cut]).best() if len(data) > cut else None
        if best is None or best.encoding is None:
            continue
        codec = _WIDEN.get(best.encoding, best.encoding)
        complete = _complete_part(data, codec)
        if complete is not None and len(complete[1]) == cut:
            warnings.append(_cut_warning(name, codec, complete[1]))
            return complete[0]
    raise DecodeError(f"{name}: the text encoding could not be recognised; save the file "
                      "as UTF-8 and try again")


def _looks_utf16(data: bytes) -> bool:
    """BOM-less UTF-16: NUL bytes sit at every other position of mostly-ASCII/CJK text."""
    head = data[:4096]
    if len(head) < 4:
        return False
    head = head[: len(head) // 2 * 2]
    for codec in ("utf-16-le", "utf-16-be"):
        try:
            text = head.decode(codec)
        except UnicodeDecodeError:
            continue
        if text and sum(ch.isprintable() or ch.isspace() for ch in text) / len(text) > 0.95:
            return True
    return False


def read_text(data: bytes, name: str, fmt: str = "txt") -> Extracted:
    warnings: list[str] = []
    return Extracted(decode_text(data, name, warnings), fmt, warnings=warnings)
