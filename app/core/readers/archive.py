"""A .zip of reports: every document in it, read as if it had been sent on its own.

Refused outright, naming the member: zip bombs (``safezip``'s limits, wider for a batch),
archives inside the archive, member names that climb out of it (``../``, absolute paths, drive
letters), links, duplicate names and encrypted members. Folders and the files operating systems
leave behind (``__MACOSX/``, ``.DS_Store``, ``Thumbs.db``, Word's ``~$`` lock files) are passed
over silently; other files of a type chachong does not read are passed over with a warning.

Member names without the zip's UTF-8 flag are decoded as UTF-8 when they are valid UTF-8 and
as GB18030 otherwise (what Chinese Windows writes), not as the zip module's CP437.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import PurePosixPath

from ..errors import ArchiveError
from .document import Extracted, ReadOptions
from .safezip import MiB, ZipLimits, open_zip, read_member

KIND = ".zip"
LIMITS = ZipLimits(uncompressed=256 * MiB, ratio=200, members=1000)
NESTED = frozenset({".zip", ".rar", ".7z", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".arj",
                    ".cab", ".iso"})
_LEFT_BEHIND = re.compile(r"(^|/)(__MACOSX/|\.[^/]*$|~\$[^/]*$|thumbs\.db$|desktop\.ini$)",
                          re.IGNORECASE)
_UTF8_FLAG = 0x800
_ENCRYPTED_FLAG = 0x1
_SYMLINK = 0o120000


def member_name(info: zipfile.ZipInfo) -> str:
    if info.flag_bits & _UTF8_FLAG:
        return info.filename
    raw = info.filename.encode("cp437")
    for codec in ("utf-8", "gb18030"):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    return info.filename


def _unsafe(path: str) -> bool:
    parts = path.replace("\\", "/").split("/")
    return (path.startswith(("/", "\\")) or bool(re.match(r"^[A-Za-z]:", path))
            or ".." in parts or "\x00" in path)


def read_archive(data: bytes, name: str, options: ReadOptions,
                 extract: Callable[[bytes, str, ReadOptions], Extracted],
                 supported: frozenset[str]) -> tuple[list[tuple[str, Extracted]], list[str]]:
    """(member path, its text) for every document of the archive, and the warnings."""
    read: list[tuple[str, Extracted]] = []
    warnings: list[str] = []
    seen: set[str] = set()
    with open_zip(data, name, KIND, LIMITS) as archive:
        for info in archive.infolist():
            path = member_name(info)
            where = f"{name}/{path}"
            if _unsafe(path):
                raise ArchiveError(f"{name}: the member '{path}' would be written outside the "
                                   "archive's folder; the archive is refused")
            if (info.external_attr >> 16) & 0o170000 == _SYMLINK:
                raise ArchiveError(f"{where}: a link, not a file; the archive is refused")
            if info.is_dir() or _LEFT_BEHIND.search(path):
                continue
            key = path.lower()
            if key in seen:
                raise ArchiveError(f"{where}: the archive holds this name twice; the archive is "
                                   "refused")
            seen.add(key)
            suffix = PurePosixPath(path).suffix.lower()
            if suffix in NESTED:
                raise ArchiveError(f"{where}: an archive inside the archive; put the reports "
                                   "in one .zip, without archives in it")
            if suffix not in supported:
                warnings.append(f"{where}: not read (files of type '{suffix}' are not "
                                "supported)")
                continue
            if info.flag_bits & _ENCRYPTED_FLAG:
                raise ArchiveError(f"{where}: the member is encrypted; send it without a "
                                   "password")
            read.append((path, extract(read_member(archive, info, name, KIND), where,
                                       options)))
    if not read:
        raise ArchiveError(f"{name}: the archive holds no report that chachong reads")
    return read, warnings
