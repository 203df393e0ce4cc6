"""API keys (admin): list, make, revoke. A key's secret is in the answer that makes it, once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from app.access import KeyInfo
from app.api.access import audit, keys_of, needs_admin, rate_limited
from app.api.deps import service_of
from app.api.errors import ApiError
from app.api.models import KeyCreated, KeyIn, KeyList, KeyOut
from app.api.responses import ERRORS

router = APIRouter(tags=["keys"], dependencies=[Depends(rate_limited), Depends(needs_admin)])


def _when(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def key_out(info: KeyInfo) -> dict[str, object]:
    return {"id": info.id, "name": info.name, "scopes": info.scopes,
            "collections": info.collections, "rate": info.rate, "created": _when(info.created),
            "revoked": _when(info.revoked)}


@router.get("/v1/keys", operation_id="list_keys", response_model=KeyList, responses=ERRORS,
            summary="Every key (revoked ones too), without secrets")
async def list_keys(request: Request) -> KeyList:
    found = await run_in_threadpool(keys_of(request).all)
    return KeyList(items=[KeyOut.model_validate(key_out(k)) for k in found])


@router.post("/v1/keys", operation_id="create_key", status_code=201, response_model=KeyCreated,
             responses=ERRORS, summary="Make a key (its secret is shown this once)")
async def create_key(request: Request, body: KeyIn) -> KeyCreated:
    if "admin" not in body.scopes and not body.collections:
        raise ApiError(422, "invalid_request", "collections: name the collections the key "
                       "may use ('*' for all)")

    def made() -> tuple[KeyInfo, str]:
        service = service_of(request)
        for name in body.collections:
            if name != "*":
                service.create_collection(name)  # a key is how a collection is provided for
        return keys_of(request).create(body.name, list(body.scopes), body.collections,
                                       body.rate)

    info, secret = await run_in_threadpool(made)
    await audit(request, target=info.id, status=201)
    return KeyCreated.model_validate({**key_out(info), "key": secret})


@router.delete("/v1/keys/{key_id}", operation_id="revoke_key", status_code=204,
               responses=ERRORS, summary="Revoke a key, at once for every worker")
async def revoke_key(request: Request,
                     key_id: Annotated[str, Path(max_length=64)]) -> Response:
    info = await run_in_threadpool(keys_of(request).revoke, key_id)
    if info is None:
        raise ApiError(404, "not_found", f"no key '{key_id}'")
    await audit(request, target=key_id, status=204)
    return Response(status_code=204)
