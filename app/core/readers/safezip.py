"""Zip containers (.docx, .ofd, .zip) and their XML, opened with the checks a hostile file needs.

A container is refused before anything is expanded when its members add up to more than a
report can hold or pack far tighter than real documents do (a zip bomb); a member is read no
further than its declared size (the zip module stops there and checks the CRC); an XML part
that declares a DOCTYPE or entities (external entities, billion laughs) is refused before it is
parsed, and the parser itself neither resolves entities nor reaches the network.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from dataclasses import dataclass

from lxml import etree

from ..errors import DecodeError

MiB = 1024 * 1024


@dataclass(frozen=True)
class ZipLimits:
    uncompressed: int = 64 * MiB
    ratio: int = 200  # deflate rarely beats ~20:1 on real XML; 200:1 is a bomb
    members: int = 10_000


DOCUMENT_LIMITS = ZipLimits()
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                          huge_tree=False, remove_comments=True, remove_pis=True)
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError,
                RuntimeError)  # RuntimeError: an encrypted member


def open_zip(data: bytes, name: str, kind: str, limits: ZipLimits = DOCUMENT_LIMITS
             ) -> zipfile.ZipFile:
    """The archive, after the size checks; ``kind`` ('.docx', '.ofd') is for messages."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DecodeError(f"{name}: not a {kind} file (it is not a zip archive); save it "
                          f"again as {kind}, or submit it as .txt") from exc
    infos = archive.infolist()
    if len(infos) > limits.members:
        archive.close()
        raise DecodeError(f"{name}: the {kind} holds {len(infos)} files, more than "
                          f"{limits.members}; it is refused as a possible zip bomb")
    total = sum(info.file_size for info in infos)
    packed = sum(info.compress_size for info in infos) or 1
    if total > limits.uncompressed or total / packed > limits.ratio:
        archive.close()
        raise DecodeError(f"{name}: the {kind} expands to {total} bytes, more than a report "
                          "can hold; it is refused as a possible zip bomb")
    return archive


def read_member(archive: zipfile.ZipFile, member: str | zipfile.ZipInfo, name: str,
                kind: str) -> bytes:
    """A member's bytes; a damaged or encrypted member is a DecodeError naming both."""
    try:
        return archive.read(member)
    except _READ_ERRORS as exc:
        label = member.filename if isinstance(member, zipfile.ZipInfo) else member
        raise DecodeError(f"{name}: the {kind} is damaged ({label}: {exc}); save it again "
                          "from the program that made it") from exc


def refuse_entities(archive: zipfile.ZipFile, name: str, kind: str) -> None:
    """Refuse a container any of whose XML parts declares a DOCTYPE or entities."""
    for member in archive.namelist():
        if member.lower().endswith((".xml", ".rels")):
            _refuse_doctype(read_member(archive, member, name, kind), member, name)


def _refuse_doctype(data: bytes, member: str, name: str) -> None:
    head = data[:4096].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise DecodeError(f"{name}: {member} declares XML entities, which office programs "
                          "never write; the file is refused")


def parse_xml(data: bytes, member: str, name: str) -> etree._Element:
    """The root element of an XML part (no DOCTYPE allowed, nothing resolved)."""
    _refuse_doctype(data, member, name)
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise DecodeError(f"{name}: {member} is not well-formed XML ({exc}); save the file "
                          "again from the program that made it") from exc
    if root.getroottree().docinfo.internalDTD is not None:  # a DOCTYPE past the first 4 KB
        _refuse_doctype(b"<!DOCTYPE", member, name)
    return root
