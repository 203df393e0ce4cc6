"""The references of a collection: list, read, add, delete.

Each route serves ``/v1/collections/{name}/references...`` and, as before collections, the same
path under ``/v1/references...`` for ``templates``; access is the dependency each declares."""

from __future__ import annotations

from pathlib import PurePath
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from app.api.access import audit, collection_of, needs, needs_default, rate_limited
from app.api.deps import (
    TITLE_MAX,
    OcrParam,
    history_of,
    media_type,
    parse_tags,
    read_form,
    read_json,
    service_of,
    settings_of,
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
    ReferencesAdded,
    ReferenceSummary,
)
from app.api.responses import ERRORS
from app.api.search import search
from app.api.uploads import documents_of, report_ids
from app.collections import source_key
from app.core import Reference, require_text
from app.core.readers import is_archive

router = APIRouter(tags=["references"], dependencies=[Depends(rate_limited)])
IN_COLLECTION = "/v1/collections/{name}/references"


@router.get("/v1/references", operation_id="list_references", response_model=ReferencePage,
            responses=ERRORS, summary="List the references of templates (paged), or find them",
            dependencies=[Depends(needs_default("read"))])
@router.get(IN_COLLECTION, operation_id="list_in_collection",
            response_model=ReferencePage, responses=ERRORS,
            summary="List the references of a collection (paged), or find them",
            dependencies=[Depends(needs("read"))])
async def list_references(request: Request,
                          offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
                          limit: Annotated[int, Query(ge=1, le=500)] = 50,
                          q: Annotated[str | None, Query(
                              max_length=200, description="Only references whose id, title, "
                              "source or tags (key=value) hold every word of this.",
                              examples=["kind=template"])] = None) -> ReferencePage:
    service = service_of(request)
    collection = collection_of(request)
    if q and q.strip():
        total, found = await run_in_threadpool(search, service, q.strip(), offset, limit,
                                               collection)
    else:
        total, found = await run_in_threadpool(service.list, offset, limit, collection)
    return ReferencePage(total=total, offset=offset, limit=limit,
                         items=[ReferenceSummary(**vars(s)) for s in found])


@router.get("/v1/references/{ref_id}", operation_id="get_reference",
            response_model=ReferenceOut, responses=ERRORS,
            summary="One reference of templates with its text",
            dependencies=[Depends(needs_default("read"))])
@router.get(IN_COLLECTION + "/{ref_id}", operation_id="get_in_collection",
            response_model=ReferenceOut, responses=ERRORS,
            summary="One reference of a collection with its text",
            dependencies=[Depends(needs("read"))])
async def get_reference(request: Request, ref_id: str) -> ReferenceOut:
    ref = await run_in_threadpool(service_of(request).get, ref_id, collection_of(request))
    return ReferenceOut(**summary(ref).model_dump(), text=ref.text)


# Bodies of two media types are not marked required: openapi-python-client (0.29) then writes
# clients that name a type it does not import (its issue #1451); a missing body is answered 415.
ONE_BODY = {"requestBody": {"content": {
                 "application/json": {"schema": {"$ref": "#/components/schemas/ReferenceIn"}},
                 "multipart/form-data": {"schema": {
                     "type": "object", "required": ["file"],
                     "properties": {
                         "file": {"type": "string", "format": "binary"},
                         "id": {"type": "string", "examples": ["2024-zuzhibu-shuzhi"],
                                "description": "Made from the file name if not given."},
                         "title": {"type": "string"}, "source": {"type": "string"},
                         "tags": {"type": "string", "description": "JSON object or "
                                  "key=value pairs", "examples": ["unit=组织部,year=2024"]}}}}}}}


@router.post("/v1/references", operation_id="add_reference", status_code=201,
             response_model=ReferenceSummary, responses=ERRORS,
             summary="Add a reference to templates (JSON, or multipart with a file); searchable "
                     "at once",
             openapi_extra=ONE_BODY, dependencies=[Depends(needs_default("write"))])
@router.post(IN_COLLECTION, operation_id="add_to_collection", status_code=201,
             response_model=ReferenceSummary, responses=ERRORS,
             summary="Add a reference to a collection (JSON, or multipart with a file); "
                     "searchable at once",
             openapi_extra=ONE_BODY, dependencies=[Depends(needs("write"))])
async def add_reference(request: Request, ocr: OcrParam = False) -> ReferenceSummary:
    kind = media_type(request)
    if kind == "multipart/form-data":
        uploaded, fields = await read_form(request, "file", ocr=ocr)
        if not uploaded.documents:
            raise ApiError(422, "missing_file", "send the reference as the field 'file'")
        tags = fields.get("tags")
        if not fields.get("id"):
            fields["id"] = report_ids(uploaded.names[:1])[0]
        raw: object = {**fields, "text": uploaded.texts[0],
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
    collection = collection_of(request)
    await run_in_threadpool(service.add, ref, collection)
    await audit(request, collection=collection, target=ref.id, status=201)
    return summary(ref)


MANY_BODY = {"requestBody": {"content": {
                 "application/json": {"schema": {
                     "$ref": "#/components/schemas/ReferenceBatch"}},
                 "multipart/form-data": {"schema": {
                     "type": "object", "required": ["files"],
                     "properties": {"files": {"type": "array", "items": {
                         "type": "string", "format": "binary"}}}}}}}}


@router.post("/v1/references/batch", operation_id="add_references", status_code=201,
             response_model=ReferenceBatchResult, responses=ERRORS,
             summary="Add many references to templates at once (all or none)",
             openapi_extra=MANY_BODY, dependencies=[Depends(needs_default("write"))])
@router.post(IN_COLLECTION + "/batch", operation_id="batch_to_collection",
             status_code=201, response_model=ReferenceBatchResult, responses=ERRORS,
             summary="Add many references to a collection at once (all or none)",
             openapi_extra=MANY_BODY, dependencies=[Depends(needs("write"))])
async def add_references(request: Request, ocr: OcrParam = False) -> ReferenceBatchResult:
    """Each file of a multipart batch is a reference whose id is its file name without the
    extension; a JSON batch gives each reference as ``POST /v1/references`` takes it."""
    kind = media_type(request)
    if kind == "multipart/form-data":
        uploaded, _ = await read_form(request, "files", ocr=ocr)
        if not uploaded.documents:
            raise ApiError(422, "missing_file", "send the references as repeated 'files' fields")
        raw: object = {"references": [{"id": PurePath(name).stem, "text": text,
                                       "title": PurePath(name).name[:TITLE_MAX]}
                                      for name, text in zip(uploaded.names, uploaded.texts,
                                                            strict=True)]}
    elif kind == "application/json":
        raw = await read_json(request)
    else:
        raise ApiError(415, "unsupported_media_type",
                       "send application/json {\"references\": [...]} or multipart 'files'")
    body = validated(ReferenceBatch, raw)
    refs = [Reference(r.id, require_text(r.text, r.id), r.title, r.source, r.tags)
            for r in body.references]
    service = service_of(request)
    collection = collection_of(request)
    await run_in_threadpool(service.add_many, refs, collection)
    await audit(request, collection=collection, target=",".join(r.id for r in refs), status=201)
    return ReferenceBatchResult(added=len(refs), ids=[r.id for r in refs])


@router.delete("/v1/references/{ref_id}", operation_id="delete_reference", status_code=204,
               responses=ERRORS, summary="Delete a reference of templates, everywhere it is kept",
               dependencies=[Depends(needs_default("write"))])
@router.delete(IN_COLLECTION + "/{ref_id}", operation_id="delete_in_collection",
               status_code=204, responses=ERRORS,
               summary="Delete a reference of a collection, everywhere it is kept",
               dependencies=[Depends(needs("write"))])
async def delete_reference(request: Request, ref_id: str) -> Response:
    """The text leaves the store at once, the segments at their next merge, and the kept
    checks: those that copied from it keep their results without its text, and a check whose
    report was stored as this reference is deleted."""
    service = service_of(request)
    collection = collection_of(request)
    await run_in_threadpool(service.delete, ref_id, collection)
    await run_in_threadpool(history_of(request).forget_source, source_key(collection, ref_id))
    await audit(request, collection=collection, target=ref_id, status=204)
    return Response(status_code=204)


ARCHIVE_BODY = {"requestBody": {"required": True, "content": {
                 "multipart/form-data": {"schema": {
                     "type": "object", "required": ["file"],
                     "properties": {
                         "file": {"type": "string", "format": "binary",
                                  "description": "A .zip of .txt, .md, .docx or .pdf files."},
                         "source": {"type": "string", "description": "Where they came from "
                                    "(default: the archive's name)."},
                         "tags": {"type": "string", "description": "Tags of every one: JSON "
                                  "object or key=value pairs", "examples": ["year=2024"]}}}}}}}


@router.post("/v1/references/archive", operation_id="import_references", status_code=201,
             response_model=ReferencesAdded, responses=ERRORS,
             summary="Add every report of a .zip to templates (ids from the file names)",
             openapi_extra=ARCHIVE_BODY, dependencies=[Depends(needs_default("write"))])
@router.post(IN_COLLECTION + "/archive", operation_id="import_to_collection",
             status_code=201, response_model=ReferencesAdded, responses=ERRORS,
             summary="Add every report of a .zip to a collection (ids from the file names)",
             openapi_extra=ARCHIVE_BODY, dependencies=[Depends(needs("write"))])
async def import_references(request: Request) -> ReferencesAdded:
    """All or none: every member is read and checked (a readable report, a free id) before the
    first is added."""
    if media_type(request) != "multipart/form-data":
        raise ApiError(415, "unsupported_media_type", "send multipart/form-data with the .zip "
                       "as the field 'file'")
    async with request.form() as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(422, "missing_file", "send the .zip as the field 'file'")
        name = upload.filename or "upload.zip"
        data = await upload.read()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if not is_archive(name):
        raise ApiError(415, "unsupported_format", f"{name}: send a .zip archive here; a single "
                       "document goes to POST /v1/references")
    members = await run_in_threadpool(documents_of, name, data,
                                      settings_of(request).read_options(), True)
    tags = parse_tags(fields.get("tags"))
    source = fields.get("source") or name
    refs = [validated(ReferenceIn, {"id": rid, "text": text, "source": source[:500],
                                    "tags": tags})
            for rid, text in zip(report_ids(members.names), members.texts, strict=True)]
    service = service_of(request)
    collection = collection_of(request)
    await run_in_threadpool(service.add_many, [Reference(r.id, r.text, r.title, r.source, r.tags)
                                               for r in refs], collection)
    added = [summary(Reference(r.id, r.text, r.title, r.source, r.tags)) for r in refs]
    await audit(request, collection=collection, target=",".join(r.id for r in refs), status=201)
    return ReferencesAdded(added=added)
