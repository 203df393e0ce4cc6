"""The product's web pages: server-rendered Jinja2 (the report's own templates included), with
small scripts and one stylesheet from ``app/web/static``. Nothing is loaded from elsewhere, and
the Content-Security-Policy says so to the browser too."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment

from app.reports.html import make_environment

WEB = Path(__file__).resolve().parent
TEMPLATES = WEB / "templates"
STATIC = WEB / "static"

# Only this server: scripts and styles from /static (inline styles for the report's colours),
# reports in blob: frames, no plug-ins, no other site may frame the pages.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; font-src 'self'; frame-src 'self' blob:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'self'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "same-origin"}

# The check options of the API (app.options.CheckOverrides), as the pages show them
OPTIONS: dict[str, tuple[str, str]] = {
    "threshold": ("阈值", "总复制比高于此值，结论为“未通过”（0–1）。"),
    "min_match_chars": ("最短匹配字数", "单独报告的原文照抄至少有这么多字（规范化后的字数，"
                        "不少于 13）。"),
    "exclude_quotes": ("去除引用", "“…”、「…」、『…』和《…》里的文字不计入复制比"
                       "（知网的“去除引用复制比”）。"),
    "exclude_own": ("去除本人已发表", "与标注为本单位或本人（在下面填写）的比对库文档相同的部分"
                    "不计入复制比。"),
    "unit": ("本单位", "报告所属单位，供“去除本人已发表”使用。"),
    "author": ("作者", "报告作者，供“去除本人已发表”使用。"),
    "exclude_sources": ("排除来源", "与这些比对库文档（填编号）或标签（如 kind=template）"
                        "相同的部分不计入复制比；每行一个。"),
    "use_stock_phrases": ("排除常用语", "只由常用套话（如“全面从严治党”）构成的相同部分"
                          "不计入复制比。"),
    "stock_phrases": ("更多常用语", "另外视为常用语的短语，每行一个。"),
    "common_share": ("通用语比例", "在比对库中超过这一比例的文档里都出现的短语视为通用语，"
                     "单独出现时不计入；0 为关闭。"),
    "formula_share": ("规定表述比例", "比对库中至少这一比例的文档都有（数字、占位符不计，"
                      "个别字词不同）的段落视为规定表述（如指导思想、年度目标），单独列出，"
                      "不计入复制比；0 为关闭。"),
    "formula_min_refs": ("规定表述最少篇数", "并且至少这么多篇文档都有，才算规定表述。"),
    "count_formulas": ("规定表述计入复制比", "规定表述、常用语和通用语仍单独标出，但计入复制比"
                       "（如知网）。"),
}


def localtime(value: datetime) -> str:
    """In the server's time zone, named (scripts show it in the reader's own)."""
    return value.astimezone().strftime("%Y-%m-%d %H:%M %Z")


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = make_environment(TEMPLATES)
    env.filters["localtime"] = localtime
    return env


def render_page(template: str, status: int = 200, /, **context: Any) -> HTMLResponse:
    html = environment().get_template(template).render(options_help=OPTIONS, **context)
    return HTMLResponse(html, status_code=status, headers=HEADERS)
