"""Collections: list those the caller was given, make one (admin), describe one. Their
references are served by the references router under ``/v1/collections/{name}/references``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from app.access import SCOPES, Principal
from app.api.access import (
    CollectionName,
    audit,
    may_read_checks,
    needs_admin,
    principal_of,
    rate_limited,
    visible,
)
from app.api.deps import service_of
from app.api.errors import ApiError
from app.api.models import CollectionIn, CollectionList, CollectionOut
from app.api.responses import ERRORS

router = APIRouter(tags=["collections"], dependencies=[Depends(rate_limited)])


def _described(request: Request, who: Principal, name: str) -> CollectionOut:
    return CollectionOut(name=name, references=service_of(request).size(name),
                         scopes=[s for s in SCOPES if who.may(s, name)])


@router.get("/v1/collections", operation_id="list_collections", response_model=CollectionList,
            responses=ERRORS, summary="The collections the caller may use",
            dependencies=[Depends(may_read_checks)])
async def list_collections(request: Request) -> CollectionList:
    who = principal_of(request)

    def described() -> CollectionList:
        names = [n for n in service_of(request).collections() if who.given(n)]
        return CollectionList(items=[_described(request, who, n) for n in names])

    return await run_in_threadpool(described)


@router.post("/v1/collections", operation_id="create_collection", status_code=201,
             response_model=CollectionOut, responses=ERRORS, summary="Make a collection",
             dependencies=[Depends(needs_admin)])
async def create_collection(request: Request, body: CollectionIn) -> CollectionOut:
    made = await run_in_threadpool(service_of(request).create_collection, body.name)
    if not made:
        raise ApiError(409, "collection_exists", f"collection '{body.name}' exists already")
    await audit(request, collection=body.name, status=201)
    return await run_in_threadpool(_described, request, principal_of(request), body.name)


@router.get("/v1/collections/{name}", operation_id="get_collection",
            response_model=CollectionOut, responses=ERRORS,
            summary="A collection: its size and what the caller may do in it")
async def get_collection(request: Request, name: CollectionName) -> CollectionOut:
    await run_in_threadpool(visible, request, name)
    return await run_in_threadpool(_described, request, principal_of(request), name)
