"""Reports sent as one .zip: its members as (name, bytes), read with the care the .docx reader
takes. Sizes and the compression ratio are bounded before anything is inflated, an archive
inside the archive is refused, and a member's path is used only for its file name (a title):
nothing is ever written to or opened on disk.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import PurePath, PurePosixPath

from .errors import DecodeError, UnsupportedFormatError
from .readers import SUPPORTED

ZIP_SUFFIX = ".zip"
MAX_MEMBERS = 500
MAX_UNCOMPRESSED = 256 * 1024 * 1024
MAX_MEMBER = 64 * 1024 * 1024
MAX_RATIO = 200  # as for .docx: text rarely deflates past ~20:1; 200:1 is a bomb
ARCHIVES = frozenset({".zip", ".rar", ".7z", ".tar", ".gz", ".tgz", ".bz2", ".xz"})
# what file managers leave in archives: never a report
_JUNK_NAMES = frozenset({"thumbs.db", "desktop.ini"})
_UTF8_FLAG = 0x800


def is_zip(name: str) -> bool:
    return PurePath(name).suffix.lower() == ZIP_SUFFIX


def member_name(info: zipfile.ZipInfo) -> str:
    """The member's path as its writer meant it. Without the UTF-8 flag the zip format says
    CP437, but Chinese Windows writes the system code page (GBK) there; Python decodes those
    bytes as CP437, so they are taken back and read as UTF-8 or GB18030 when they are either."""
    if info.flag_bits & _UTF8_FLAG:
        return info.filename
    raw = info.filename.encode("cp437")
    for codec in ("utf-8", "gb18030"):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    return info.filename


def _path(info: zipfile.ZipInfo) -> PurePosixPath:
    """Windows archivers may separate folders with backslashes."""
    return PurePosixPath(member_name(info).replace("\\", "/"))


def _skipped(path: PurePosixPath) -> bool:
    """Folders, macOS resource forks, hidden files and file-manager litter."""
    return (path.name == "" or "__MACOSX" in path.parts or path.name.startswith((".", "~$"))
            or path.name.lower() in _JUNK_NAMES)


def unpack_zip(data: bytes, name: str) -> list[tuple[str, bytes]]:
    """(file name, bytes) of each report in the archive, in the archive's order. Raises
    DecodeError for a damaged or oversized archive and UnsupportedFormatError naming a member
    that is not a report (an archive inside the archive among them)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise DecodeError(f"{name}: not a readable .zip archive ({exc})") from exc
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir() and not _skipped(_path(i))]
        if len(infos) > MAX_MEMBERS:
            raise DecodeError(f"{name}: {len(infos)} files in the archive; at most "
                              f"{MAX_MEMBERS} are read at once")
        total = sum(i.file_size for i in infos)
        packed = sum(i.compress_size for i in infos) or 1
        if total > MAX_UNCOMPRESSED or total / packed > MAX_RATIO:
            raise DecodeError(f"{name}: the archive expands to {total} bytes, more than reports "
                              "can hold; it is refused as a possible zip bomb")
        members: list[tuple[str, bytes]] = []
        for info in infos:
            file_name = _path(info).name
            suffix = PurePath(file_name).suffix.lower()
            if suffix in ARCHIVES:
                raise UnsupportedFormatError(f"{name}: {file_name} is an archive inside the "
                                             "archive; unpack it and send its reports instead")
            if suffix not in SUPPORTED:
                raise UnsupportedFormatError(f"{name}: {file_name} is not a report ("
                                             f"{', '.join(SUPPORTED)}); take it out of the "
                                             "archive")
            if info.file_size > MAX_MEMBER:
                raise DecodeError(f"{name}: {file_name} expands to {info.file_size} bytes, more "
                                  "than a report can hold")
            if info.flag_bits & 0x1:
                raise DecodeError(f"{name}: {file_name} is encrypted; send the archive without "
                                  "a password")
            members.append((file_name, _read(archive, info, name, file_name)))
    if not members:
        raise DecodeError(f"{name}: the archive holds no reports ({', '.join(SUPPORTED)})")
    return members


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, file_name: str) -> bytes:
    """The member's bytes, read no further than its declared size (a lying header can claim a
    small size and inflate without end)."""
    try:
        with archive.open(info) as member:
            data = member.read(info.file_size + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as exc:
        raise DecodeError(f"{name}: {file_name} cannot be read from the archive ({exc})") from exc
    if len(data) > info.file_size:
        raise DecodeError(f"{name}: {file_name} is larger than the archive says; it is refused")
    return data
