"""The web page at /."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

WEB_PAGE = Path(__file__).resolve().parents[2] / "web" / "static" / "index.html"

router = APIRouter(include_in_schema=False)


@router.get("/")
async def page() -> FileResponse:
    return FileResponse(WEB_PAGE, media_type="text/html; charset=utf-8")
