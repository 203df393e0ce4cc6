"""Word 97-2003 (.doc), WPS (.wps), OpenDocument (.odt) and RTF, through LibreOffice.

LibreOffice (Debian's ``libreoffice-writer-nogui``) converts the file to .docx, which
``wordml`` reads with everything it keeps (tables, text boxes, headers, footers, notes). Each
conversion is a fresh headless ``soffice`` in a sandbox (``sandbox.run_bounded``): a profile of
its own in a temporary folder, macros and link updates off, a time and a memory limit, no
network. Start-up takes about a second, which keeps one hostile file from touching any other.

Files are routed by their content, not only their suffix: WPS Office writes .wps (and many
.doc) in the Word 97 binary format, and offices also pass around .doc files that are really RTF,
.docx or web pages.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..errors import ReaderUnavailableError
from .document import Extracted, ReadOptions
from .safezip import open_zip
from .sandbox import failure, run_bounded, workspace
from .wordml import read_docx

SUFFIXES = (".doc", ".wps", ".odt", ".rtf")
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # compound file: Word 97-2003, WPS
CONVERTER = "LibreOffice"
INSTALL_HINT = "install LibreOffice (Debian: apt-get install libreoffice-writer-nogui)"

# A fresh profile with macros disabled and links to other files never updated on loading.
_PROFILE = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
 xmlns:xs="http://www.w3.org/2001/XMLSchema"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop
 oor:name="MacroSecurityLevel" oor:op="fuse"><value>3</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop
 oor:name="DisableMacrosExecution" oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Writer/Content/Update"><prop oor:name="Link"
 oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


def soffice() -> str | None:
    """The LibreOffice program, if installed."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def content_suffix(data: bytes, suffix: str) -> str:
    """The suffix LibreOffice should see for what the bytes are (``suffix`` if unsure)."""
    head = data[:1024].lstrip()
    if data.startswith(OLE2):
        return ".doc"
    if head.startswith(b"{\\rtf"):
        return ".rtf"
    if data.startswith(b"PK\x03\x04"):
        return ".odt" if b"opendocument.text" in data[:200] else suffix
    lower = head.lower()
    if lower.startswith((b"<!doctype html", b"<html")) or b"<html" in lower:
        return ".html"
    return suffix


def read_office(data: bytes, name: str, suffix: str, options: ReadOptions) -> Extracted:
    fmt = suffix.lstrip(".")
    if data.startswith(b"PK\x03\x04"):
        # a zip: a .docx under another name is read as one; anything else (.odt) is
        # checked for bombs before LibreOffice expands it
        with open_zip(data, name, suffix) as archive:
            is_docx = "word/document.xml" in archive.namelist()
        if is_docx:
            return read_docx(data, name, fmt)
    docx = convert(data, name, content_suffix(data, suffix), options)
    extracted = read_docx(docx, name, fmt)
    return extracted


def convert(data: bytes, name: str, suffix: str, options: ReadOptions,
            target: str = "docx:MS Word 2007 XML") -> bytes:
    """``data`` (a file of type ``suffix``) converted by LibreOffice to ``target``."""
    program = soffice()
    if program is None:
        raise ReaderUnavailableError(f"{name}: reading {suffix} files needs LibreOffice, which "
                                     f"is not installed on the server; {INSTALL_HINT}")
    with workspace() as folder:
        profile = folder / "profile"
        (profile / "user").mkdir(parents=True)
        (profile / "user" / "registrymodifications.xcu").write_text(_PROFILE, encoding="utf-8")
        source = folder / "in" / f"document{suffix}"
        source.parent.mkdir()
        source.write_bytes(data)
        out = folder / "out"
        done = run_bounded(
            [program, "--headless", "--invisible", "--nodefault", "--nolockcheck", "--nologo",
             "--norestore", f"-env:UserInstallation={profile.as_uri()}",
             "--convert-to", target, "--outdir", str(out), str(source)],
            folder, options.convert, name, CONVERTER)
        produced = sorted(out.glob("document.*")) if out.is_dir() else []
        if done.returncode != 0 or not produced or produced[0].stat().st_size == 0:
            raise failure(name, CONVERTER, done)
        return Path(produced[0]).read_bytes()
