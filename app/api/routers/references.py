"""The reference corpus: list, read, add, delete."""

from __future__ import annotations

from pathlib import PurePath
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from app.api import metrics
from app.api.deps import (
    TITLE_MAX,
    media_type,
    parse_tags,
    read_form,
    read_json,
    require_reader,
    require_writer,
    service_of,
    summary,
    validated,
)
from app.api.errors import ApiError
from app.api.models import (
    ReferenceBatch,
    ReferenceBatchResult,
    ReferenceIn,
    ReferenceOut,
    ReferencePage,
    ReferenceSummary,
)
from app.api.responses import ERRORS
from app.core import Reference, require_text

router = APIRouter(tags=["references"])


@router.get("/v1/references", operation_id="list_references", response_model=ReferencePage,
            responses=ERRORS, summary="List references (paged)",
            dependencies=[Depends(require_reader)])
async def list_references(request: Request,
                          offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
                          limit: Annotated[int, Query(ge=1, le=500)] = 50) -> ReferencePage:
    total, found = service_of(request).list(offset, limit)
    return ReferencePage(total=total, offset=offset, limit=limit,
                         items=[ReferenceSummary(**vars(s)) for s in found])


@router.get("/v1/references/{ref_id}", operation_id="get_reference",
            response_model=ReferenceOut, responses=ERRORS, summary="One reference with its text",
            dependencies=[Depends(require_reader)])
async def get_reference(request: Request, ref_id: str) -> ReferenceOut:
    ref = service_of(request).get(ref_id)
    return ReferenceOut(**summary(ref).model_dump(), text=ref.text)


@router.post("/v1/references", operation_id="add_reference", status_code=201,
             response_model=ReferenceSummary, responses=ERRORS,
             summary="Add a reference (JSON, or multipart with a file); searchable at once",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": {"$ref": "#/components/schemas/ReferenceIn"}},
                 "multipart/form-data": {"schema": {
                     "type": "object", "required": ["file", "id"],
                     "properties": {
                         "file": {"type": "string", "format": "binary"},
                         "id": {"type": "string", "examples": ["2024-zuzhibu-shuzhi"]},
                         "title": {"type": "string"}, "source": {"type": "string"},
                         "tags": {"type": "string", "description": "JSON object or "
                                  "key=value pairs", "examples": ["unit=组织部,year=2024"]}}}}}}},
             dependencies=[Depends(require_writer)])
async def add_reference(request: Request) -> ReferenceSummary:
    kind = media_type(request)
    if kind == "multipart/form-data":
        files, fields = await read_form(request, "file")
        if not files:
            raise ApiError(422, "missing_file", "send the reference as the field 'file'")
        tags = fields.get("tags")
        raw: object = {**fields, "text": files[0][1],
                       "tags": parse_tags(tags if isinstance(tags, str) else None)}
    elif kind == "application/json":
        raw = await read_json(request)
    else:
        raise ApiError(415, "unsupported_media_type",
                       "send application/json or multipart/form-data")
    body = validated(ReferenceIn, raw)
    require_text(body.text, body.id)
    ref = Reference(body.id, body.text, body.title, body.source, body.tags)
    service = service_of(request)
    await run_in_threadpool(service.add, ref)
    metrics.CORPUS_SIZE.set(service.size())
    return summary(ref)


@router.post("/v1/references/batch", operation_id="add_references", status_code=201,
             response_model=ReferenceBatchResult, responses=ERRORS,
             summary="Add many references at once (all or none); searchable at once",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": {
                     "$ref": "#/components/schemas/ReferenceBatch"}},
                 "multipart/form-data": {"schema": {
                     "type": "object", "required": ["files"],
                     "properties": {"files": {"type": "array", "items": {
                         "type": "string", "format": "binary"}}}}}}}},
             dependencies=[Depends(require_writer)])
async def add_references(request: Request) -> ReferenceBatchResult:
    """Each file of a multipart batch is a reference whose id is its file name without the
    extension; a JSON batch gives each reference as ``POST /v1/references`` takes it."""
    kind = media_type(request)
    if kind == "multipart/form-data":
        files, _ = await read_form(request, "files")
        if not files:
            raise ApiError(422, "missing_file", "send the references as repeated 'files' fields")
        raw: object = {"references": [{"id": PurePath(name).stem, "text": text,
                                       "title": PurePath(name).name[:TITLE_MAX]}
                                      for name, text in files]}
    elif kind == "application/json":
        raw = await read_json(request)
    else:
        raise ApiError(415, "unsupported_media_type",
                       "send application/json {\"references\": [...]} or multipart 'files'")
    body = validated(ReferenceBatch, raw)
    refs = [Reference(r.id, require_text(r.text, r.id), r.title, r.source, r.tags)
            for r in body.references]
    service = service_of(request)
    await run_in_threadpool(service.add_many, refs)
    metrics.CORPUS_SIZE.set(service.size())
    return ReferenceBatchResult(added=len(refs), ids=[r.id for r in refs])


@router.delete("/v1/references/{ref_id}", operation_id="delete_reference", status_code=204,
               responses=ERRORS, summary="Delete a stored reference",
               dependencies=[Depends(require_writer)])
async def delete_reference(request: Request, ref_id: str) -> Response:
    service = service_of(request)
    await run_in_threadpool(service.delete, ref_id)
    metrics.CORPUS_SIZE.set(service.size())
    return Response(status_code=204)
