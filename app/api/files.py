"""Answers that are files: PDF reports and spreadsheets, with a file name a browser keeps."""

from __future__ import annotations

from pathlib import PurePath
from urllib.parse import quote

from fastapi.responses import Response

PDF = "application/pdf"


def file_response(data: bytes, media_type: str, filename: str, *, inline: bool = False
                  ) -> Response:
    """``filename`` may be Chinese: an ASCII stand-in for old clients, and the real name as
    RFC 6266's filename* (UTF-8, percent-encoded), since a header carries only latin-1."""
    suffix = PurePath(filename).suffix
    fallback = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_"
                       for c in PurePath(filename).stem).strip("_") or "report"
    disposition = (f"{'inline' if inline else 'attachment'}; filename=\"{fallback}{suffix}\"; "
                   f"filename*=UTF-8''{quote(filename, safe='')}")
    return Response(data, media_type=media_type, headers={"Content-Disposition": disposition})
