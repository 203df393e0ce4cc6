"""Access decisions, as dependencies declared on each route.

A caller is a ``Principal``: an admin key of CHACHONG_API_KEYS, a key of the data folder's key
store, or nobody (no ``Authorization``), who may check against and read ``templates`` unless
CHACHONG_PROTECT_READS is set. A route asks for a scope on a collection:

- a caller without a key who may not: 401 ``unauthorized`` (send a key);
- a key not given the collection, or a collection that does not exist: 404 ``not_found``, the
  same answer for both, so a key learns no other collection's name;
- a key given the collection but not the scope: 403 ``forbidden``;
- a key that is not valid: 403 ``forbidden``; with no key configured at all, a write is 403
  ``writes_disabled``, saying how to configure one.

Every refusal is written to the audit trail. Each caller is also held to its requests a minute
(``limits``), and answered 429 ``rate_limited`` with ``Retry-After`` past it.
"""

from __future__ import annotations

import hmac
import math
import time
from collections.abc import Callable
from typing import Annotated, NoReturn
from urllib.parse import parse_qs, urlsplit

from fastapi import Path, Request
from fastapi.concurrency import run_in_threadpool
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from app.access import ANONYMOUS, AuditLog, KeyStore, Principal
from app.access.keys import split_token
from app.access.principal import OPEN_READER, admin_key
from app.api.errors import ApiError
from app.collections import TEMPLATES
from app.settings import Settings

WRITE_SCOPES = ("write", "admin")


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def keys_of(request: Request) -> KeyStore:
    return request.app.state.keys


def audit_of(request: Request) -> AuditLog:
    return request.app.state.audit


def client_of(request: Request) -> str | None:
    return request.client.host if request.client else None


# --- who is calling ---------------------------------------------------------------------------

def _resolve(request: Request) -> Principal | None:
    """The caller; None for a key that is not valid."""
    header = request.headers.get("authorization")
    if header is None:
        return ANONYMOUS if _settings(request).protect_reads else OPEN_READER
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    # every admin key is compared, in constant time, so timing reveals nothing
    matches = [hmac.compare_digest(token.encode(), k.encode())
               for k in _settings(request).keys]
    if any(matches):
        return admin_key(matches.index(True) + 1)
    if not split_token(token):  # not a key of the store's form: no lookup
        return None
    info = keys_of(request).find(token)
    if info is None:
        return None
    return Principal(info.id, frozenset(info.scopes), frozenset(info.collections), info.rate)


def principal_of(request: Request) -> Principal:
    """The caller, resolved once a request; a key that is not valid is refused here."""
    found: Principal | None = getattr(request.state, "principal", None)
    if found is None:
        found = _resolve(request)
        if found is None:
            deny(request, None, 403, "forbidden", "the API key is not valid")
        request.state.principal = found
    return found


def _keys_configured(request: Request) -> bool:
    return bool(_settings(request).keys) or keys_of(request).any_live()


# --- refusing ---------------------------------------------------------------------------------

def operation(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "operation_id", None) or getattr(route, "name", None) or "request"


def deny(request: Request, who: Principal | None, status: int, code: str, message: str,
         collection: str | None = None) -> NoReturn:
    """Refuse the request, and say so in the audit trail."""
    audit_of(request).record(key=who.key_id if who else None, action=operation(request),
                             outcome="denied", status=status, collection=collection,
                             client=client_of(request))
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    raise ApiError(status, code, message, headers)


def _unauthorized(request: Request, collection: str | None = None) -> NoReturn:
    deny(request, None, 401, "unauthorized", "send 'Authorization: Bearer <API key>'",
         collection)


def allow(request: Request, scope: str, collection: str) -> Principal:
    """The caller, if it may use ``scope`` on ``collection``; else the request is refused."""
    if scope in WRITE_SCOPES and not _keys_configured(request):
        deny(request, None, 403, "writes_disabled",
             "changing the corpus needs an API key, and none is configured: set "
             "CHACHONG_API_KEYS=<key> when starting the server, or make one with 'chachong "
             "keys create'", collection)
    who = principal_of(request)
    if who.may(scope, collection) and collection in request.app.state.service.collections():
        return who
    if who.anonymous:
        _unauthorized(request, collection)
    if not who.given(collection) or collection not in request.app.state.service.collections():
        deny(request, who, 404, "not_found", f"no collection '{collection}'", collection)
    deny(request, who, 403, "forbidden",
         f"this key may not {scope} in collection '{collection}'", collection)


CollectionName = Annotated[str, Path(max_length=63, description="A collection's name.",
                                     examples=["templates"])]


def needs(scope: str) -> Callable[..., None]:
    """A dependency: ``scope`` on the collection the path names (``/v1/collections/{name}``);
    the route finds it with ``collection_of``."""

    def dependency(request: Request, name: CollectionName) -> None:
        allow(request, scope, name)
        request.state.collection = name

    dependency.__name__ = f"needs_{scope}"
    return dependency


def needs_default(scope: str) -> Callable[[Request], None]:
    """The same on ``templates``, for the routes that predate collections."""

    def dependency(request: Request) -> None:
        allow(request, scope, TEMPLATES)
        request.state.collection = TEMPLATES

    dependency.__name__ = f"needs_{scope}_on_templates"
    return dependency


def collection_of(request: Request) -> str:
    """The collection the route's access dependency allowed."""
    return request.state.collection


async def audit(request: Request, *, collection: str | None = None,
                target: str | None = None, status: int = 200) -> None:
    """An entry for what the request did, on disk before the answer goes out."""
    who: Principal | None = getattr(request.state, "principal", None)
    await run_in_threadpool(audit_of(request).record, key=who.key_id if who else None,
                            action=operation(request), status=status, collection=collection,
                            target=target, client=client_of(request))


def needs_admin(request: Request) -> Principal:
    """A dependency of the routes that manage keys, collections and the audit trail."""
    if not _keys_configured(request):
        deny(request, None, 403, "writes_disabled", "managing the service needs an admin key: "
             "set CHACHONG_API_KEYS=<key> when starting the server")
    who = principal_of(request)
    if who.anonymous:
        _unauthorized(request)
    if not who.admin:
        deny(request, who, 403, "forbidden", "this needs a key with the admin scope")
    return who


def needs_key(request: Request) -> Principal:
    """Any valid key (for what concerns the caller's own checks)."""
    who = principal_of(request)
    if who.anonymous:
        _unauthorized(request)
    return who


def may_read_checks(request: Request) -> Principal:
    """The history: a key sees its own checks, a caller without a key those made without one
    (unless reads are protected)."""
    who = principal_of(request)
    if who.anonymous and not who.scopes:
        _unauthorized(request)
    return who


def sees(who: Principal, owner: str | None) -> bool:
    """Whether ``who`` may see a check made by ``owner`` (a key's id, None without a key)."""
    return who.admin or owner == who.key_id


def check_collections(request: Request, asked: list[str] | None) -> list[str]:
    """The collections a check is compared with: those asked for, each checked, or the
    server's default (every collection the caller may check, or CHACHONG_CHECK_COLLECTIONS)."""
    who = principal_of(request)
    if asked:
        for name in dict.fromkeys(asked):
            allow(request, "check", name)
        return list(dict.fromkeys(asked))
    known = request.app.state.service.collections()
    default = _settings(request).check_collections
    wanted = known if default == "*" else [n for n in default.split(",") if n in known]
    usable = who.usable("check", wanted)
    if not usable:
        if who.anonymous:
            _unauthorized(request, TEMPLATES)
        deny(request, who, 403, "forbidden", "this key may check against no collection")
    return usable


def readable(request: Request, collection: str | None) -> bool:
    """Whether the caller may read the full texts of ``collection`` (a batch's own reports,
    collection None, are the caller's)."""
    return collection is None or principal_of(request).may("read", collection)


# --- requests a minute ------------------------------------------------------------------------

class RateLimits:
    """A moving window of a minute per caller: in this process's memory, or in Redis when the
    store is Redis (then shared by every worker and server)."""

    def __init__(self, settings: Settings) -> None:
        self.default = settings.rate_per_minute
        self.store = settings.store
        self._limiter: MovingWindowRateLimiter | None = None  # made when a limit is first met

    @property
    def limiter(self) -> MovingWindowRateLimiter:
        if self._limiter is None:
            storage = (storage_from_string(self.store.split("?", 1)[0],
                                           key_prefix=f"{_store_prefix(self.store)}limits")
                       if self.store else MemoryStorage())
            assert isinstance(storage, Storage)  # the synchronous kind
            self._limiter = MovingWindowRateLimiter(storage)
        return self._limiter

    def wait(self, who: str, per_minute: int) -> int:
        """0 if the request may go on, else the seconds until it may."""
        item = RateLimitItemPerMinute(per_minute)
        if self.limiter.hit(item, "chachong", who):
            return 0
        stats = self.limiter.get_window_stats(item, "chachong", who)
        return max(1, math.ceil(stats.reset_time - time.time()))


def _store_prefix(url: str) -> str:
    """The key prefix a store's address gives (``?prefix=``), as the shared log reads it."""
    return parse_qs(urlsplit(url).query).get("prefix", ["chachong:"])[0]


def rate_limited(request: Request) -> None:
    """A dependency of every API router: the caller's requests a minute."""
    limits: RateLimits = request.app.state.limits
    who = _resolve(request)
    if who is not None:
        request.state.principal = who
    per_minute = (who.rate if who is not None and who.rate is not None else limits.default)
    if not per_minute:
        return
    ident = f"key:{who.key_id}" if who is not None and who.key_id else \
        f"addr:{client_of(request)}"
    wait = limits.wait(ident, per_minute)
    if wait:
        raise ApiError(429, "rate_limited", f"more than {per_minute} requests a minute; try "
                       f"again in {wait} s", {"Retry-After": str(wait)})


def visible(request: Request, name: str) -> Principal:
    """The caller, if it was given collection ``name`` (any scope) and it exists."""
    who = principal_of(request)
    if who.given(name) and name in request.app.state.service.collections():
        return who
    if who.anonymous:
        _unauthorized(request, name)
    deny(request, who, 404, "not_found", f"no collection '{name}'", name)
