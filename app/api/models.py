"""Request and response bodies of the HTTP API (the check result is the core's CheckResult)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from app.collections import NAME_PATTERN
from app.core.schema import CheckResult, CrossResult
from app.history import CheckSummary
from app.options import CheckOverrides

ID_PATTERN = r"^[A-Za-z0-9\u4e00-\u9fff][A-Za-z0-9_.\-\u4e00-\u9fff]{0,127}$"


class CheckRequest(CheckOverrides):
    text: str = Field(max_length=5_000_000,
                      examples=["根据会议安排，现将本人一年来履行基层党建工作职责情况报告如下："])
    title: str | None = Field(None, max_length=200, examples=["2024年度述职报告"])


class BatchReport(BaseModel):
    id: str = Field(pattern=ID_PATTERN, examples=["unit-a-2024"])
    text: str = Field(min_length=1, max_length=5_000_000)


class BatchRequest(CheckOverrides):
    reports: list[BatchReport] = Field(min_length=1, max_length=200)


class ReferenceIn(BaseModel):
    id: str = Field(pattern=ID_PATTERN, examples=["2024-zuzhibu-shuzhi"])
    text: str = Field(min_length=1, max_length=5_000_000, examples=["基层党建工作述职报告……"])
    title: str = Field("", max_length=200, examples=["2024年组织部述职报告"])
    source: str | None = Field(None, max_length=500, examples=["2024年报送材料"])
    tags: dict[str, str] = Field(default_factory=dict, examples=[{"unit": "组织部",
                                                                  "year": "2024"}])

    @field_validator("tags")
    @classmethod
    def _storable(cls, tags: dict[str, str]) -> dict[str, str]:
        for text in (*tags, *tags.values()):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("tags must be valid Unicode text (no lone surrogates)") from None
        return tags


class ReferenceBatch(BaseModel):
    references: list[ReferenceIn] = Field(min_length=1, max_length=1000)


class ReferenceBatchResult(BaseModel):
    added: int
    ids: list[str]


class ReferenceSummary(BaseModel):
    id: str
    title: str
    source: str | None
    tags: dict[str, str]
    chars: int


class ReferencesAdded(BaseModel):
    added: list[ReferenceSummary]


class ReferenceOut(ReferenceSummary):
    text: str


class ReferencePage(BaseModel):
    total: int
    offset: int
    limit: int
    items: list[ReferenceSummary]


class ErrorBody(BaseModel):
    code: str = Field(examples=["empty_text"])
    message: str = Field(examples=["the document is empty; there is nothing to check"])


class ErrorResponse(BaseModel):
    error: ErrorBody


class CheckRecord(CheckSummary):
    """A check kept in the history: a report with its text and result, or a batch with its
    cross-check and the ids of its reports' own records."""

    options: dict[str, Any] = Field(default_factory=dict, description="The options the check "
                                    "was given (those set).")
    text: str | None = Field(None, description="The report as checked (reports).")
    result: CheckResult | None = Field(None, description="The result (reports).")
    cross: CrossResult | None = Field(None, description="The cross-check (batches).")
    checks: dict[str, str] = Field(default_factory=dict, description="Report id -> the id of "
                                   "its own record (batches).")


class CheckPage(BaseModel):
    total: int
    offset: int
    limit: int
    items: list[CheckSummary]


# --- collections, keys and the audit trail ---------------------------------------------------

class CollectionIn(BaseModel):
    name: str = Field(pattern=NAME_PATTERN, examples=["zuzhibu"],
                      description="Lower-case letters, digits, '-' and '_'; 63 at most.")


class CollectionOut(BaseModel):
    name: str
    references: int
    scopes: list[str] = Field(description="What the caller may do in it.")


class CollectionList(BaseModel):
    items: list[CollectionOut]


Scope = Literal["check", "read", "write", "admin"]


class KeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, examples=["组织部 reviewers"],
                      description="Who holds the key (shown in lists, never used to decide).")
    scopes: list[Scope] = Field(min_length=1, examples=[["check", "read"]])
    collections: list[str] = Field(default_factory=list, max_length=100,
                                   examples=[["templates", "zuzhibu"]],
                                   description="The collections it may use ('*': all, also "
                                   "those made later); missing ones are made.")
    rate: int | None = Field(None, ge=1, le=1_000_000, description="Requests a minute (default: "
                             "the server's CHACHONG_RATE_PER_MINUTE).")

    @field_validator("collections")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        for name in names:
            if name != "*" and not re.match(NAME_PATTERN, name):
                raise ValueError(f"'{name}' is not a collection name")
        return names


class KeyOut(BaseModel):
    id: str = Field(examples=["3f9a0c1d2e4b"])
    name: str
    scopes: list[str]
    collections: list[str]
    rate: int | None
    created: datetime
    revoked: datetime | None


class KeyCreated(KeyOut):
    key: str = Field(description="The key itself, shown this once: only its digest is kept.")


class KeyList(BaseModel):
    items: list[KeyOut]


class AuditEntryOut(BaseModel):
    seq: int
    time: datetime
    key: str | None = Field(description="The key's id; null for a caller without a key.")
    action: str = Field(description="The operation (its operation id).", examples=["check"])
    outcome: Literal["ok", "denied"]
    status: int
    collection: str | None
    target: str | None = Field(description="The ids concerned, comma-separated.")
    client: str | None


class AuditPage(BaseModel):
    total: int
    offset: int
    limit: int
    items: list[AuditEntryOut]
