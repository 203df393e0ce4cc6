"""The authorisation matrix: every endpoint, for a caller without a key and a key of each scope,
on its own collection and on another one; each cell's status is asserted. SECURITY.md prints the
same table, made from ``EXPECTED`` (``CHACHONG_UPDATE_MATRIX=1`` writes it again).

The keys of the scopes check, read and write are given the collection ``own``; ``other`` exists
and holds the same ids. For the routes of ``templates`` (``/v1/references...``) the "own" cell
is a key given templates, the "other" cell one that was not. For the check history, "own" is a
check the caller made and "other" one another key made ("–": a key without the check scope
makes no checks). The admin key is CHACHONG_API_KEYS's: every scope on every collection.
"""

from __future__ import annotations

import io
import itertools
import os
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from api_helpers import ROOT, TestClient, isolated_settings, provincial_paragraphs

from app.api.main import create_app

ADMIN = "matrix-admin-key-0123456789"
SCOPES = ("none", "check", "read", "write", "admin")
SIDES = ("own", "other")
SECURITY_MD = ROOT / "SECURITY.md"
START, END = "<!-- authorisation matrix: start -->", "<!-- authorisation matrix: end -->"

# endpoint -> scope -> (own, other); None: no such request ("–")
Cell = tuple[int | None, int | None]
READ = {"none": (401, 401), "check": (403, 404), "read": (200, 404), "write": (403, 404),
        "admin": (200, 200)}
TEMPLATE_READ = {**READ, "none": (200, 200)}


def writes(status: int) -> dict[str, Cell]:
    return {"none": (401, 401), "check": (403, 404), "read": (403, 404),
            "write": (status, 404), "admin": (status, status)}


CHECKS = {"none": (401, 401), "check": (200, 404), "read": (403, 404), "write": (403, 404),
          "admin": (200, 200)}
ADMIN_ONLY = {scope: (s, s) for scope, s in (("none", 401), ("check", 403), ("read", 403),
                                             ("write", 403))}
OPEN = {scope: (200, 200) for scope in SCOPES}

EXPECTED: dict[str, dict[str, Cell]] = {
    "GET /v1/references": TEMPLATE_READ,
    "GET /v1/references/{ref_id}": TEMPLATE_READ,
    "POST /v1/references": writes(201),
    "POST /v1/references/batch": writes(201),
    "POST /v1/references/archive": writes(201),
    "DELETE /v1/references/{ref_id}": writes(204),
    "GET /v1/collections/{name}/references": READ,
    "GET /v1/collections/{name}/references/{ref_id}": READ,
    "POST /v1/collections/{name}/references": writes(201),
    "POST /v1/collections/{name}/references/batch": writes(201),
    "POST /v1/collections/{name}/references/archive": writes(201),
    "DELETE /v1/collections/{name}/references/{ref_id}": writes(204),
    "GET /v1/collections": OPEN,
    "POST /v1/collections": {**ADMIN_ONLY, "admin": (201, 201)},
    "GET /v1/collections/{name}": {"none": (401, 401), "check": (200, 404),
                                   "read": (200, 404), "write": (200, 404),
                                   "admin": (200, 200)},
    "POST /v1/check": CHECKS,
    "POST /v1/check?store=true": {"none": (401, 401), "check": (403, 404),
                                  "read": (403, 404), "write": (403, 404),
                                  "admin": (200, 200)},
    "POST /v1/check/batch": CHECKS,
    "GET /v1/checks": OPEN,
    "GET /v1/checks/{check_id}": {"none": (200, 404), "check": (200, 404),
                                  "read": (None, 404), "write": (None, 404),
                                  "admin": (200, 200)},
    "DELETE /v1/checks/{check_id}": {"none": (401, 401), "check": (204, 404),
                                     "read": (None, 404), "write": (None, 404),
                                     "admin": (204, 204)},
    "GET /v1/keys": {**ADMIN_ONLY, "admin": (200, 200)},
    "POST /v1/keys": {**ADMIN_ONLY, "admin": (201, 201)},
    "DELETE /v1/keys/{key_id}": {**ADMIN_ONLY, "admin": (204, 204)},
    "GET /v1/audit": {**ADMIN_ONLY, "admin": (200, 200)},
    "GET /healthz": OPEN,
    "GET /readyz": OPEN,
    "GET /metrics": OPEN,
}

TEXT = "\n".join(provincial_paragraphs("2025-江西省")[2:5])
_fresh = itertools.count()


def fresh(prefix: str) -> str:
    return f"{prefix}-{next(_fresh)}"


def bearer(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


class World:
    """One app: collections own and other, a key of each scope, references and checks to act
    on, made fresh for each request that changes them."""

    def __init__(self, c: TestClient) -> None:
        self.c = c
        for name in ("own", "other"):
            assert c.post("/v1/collections", headers=bearer(ADMIN), json={"name": name}
                          ).status_code == 201
        for name in ("own", "other", "templates"):
            self.add(name, "doc")
        # per scope: a key given own (collection routes) and one given templates (its routes)
        self.keys: dict[str, tuple[str | None, str | None]] = {"none": (None, None),
                                                               "admin": (ADMIN, ADMIN)}
        for scope in ("check", "read", "write"):
            self.keys[scope] = (self.key([scope], ["own"]), self.key([scope], ["templates"]))
        self.bystander = self.key(["check"], ["own", "other", "templates"])

    def key(self, scopes: list[str], collections: list[str]) -> str:
        response = self.c.post("/v1/keys", headers=bearer(ADMIN), json={
            "name": "matrix", "scopes": scopes, "collections": collections})
        assert response.status_code == 201, response.text
        return response.json()["key"]

    def add(self, collection: str, ref_id: str) -> None:
        path = "/v1/references" if collection == "templates" else \
            f"/v1/collections/{collection}/references"
        response = self.c.post(path, headers=bearer(ADMIN), json={"id": ref_id, "text": TEXT})
        assert response.status_code == 201, response.text

    def check_by(self, key: str | None) -> str:
        response = self.c.post("/v1/check", headers=bearer(key), json={"text": TEXT})
        assert response.status_code == 200, response.text
        return response.headers["content-location"]

    def request(self, endpoint: str, scope: str, side: str) -> Any | None:
        """The endpoint's request for this cell (None when there is none)."""
        own_key, templates_key = self.keys[scope]
        method, path = endpoint.split(" ", 1)
        collection = "own" if side == "own" else "other"
        if path.startswith("/v1/references"):  # the routes of templates
            key = (templates_key if side == "own" else own_key) if scope != "admin" else ADMIN
            return self._references(method, path, "/v1/references", "templates", key)
        key = own_key
        if path.startswith("/v1/collections/{name}/references"):
            base = f"/v1/collections/{collection}/references"
            return self._references(method, path.replace("/v1/collections/{name}/references",
                                                          "/v1/references"), base,
                                    collection, key)
        return self._other(endpoint, scope, side, collection, key)

    def _references(self, method: str, path: str, base: str, collection: str,
                    key: str | None) -> Any:
        c, auth = self.c, bearer(key)
        if method == "GET":
            return c.get(base if path == "/v1/references" else f"{base}/doc", headers=auth)
        if method == "DELETE":
            ref_id = fresh("gone")
            self.add(collection, ref_id)
            return c.delete(f"{base}/{ref_id}", headers=auth)
        if path.endswith("/batch"):
            return c.post(f"{base}/batch", headers=auth,
                          json={"references": [{"id": fresh("b"), "text": TEXT}]})
        if path.endswith("/archive"):
            archive = io.BytesIO()
            with zipfile.ZipFile(archive, "w") as z:
                z.writestr(f"{fresh('z')}.txt", TEXT)
            return c.post(f"{base}/archive", headers=auth,
                          files={"file": ("refs.zip", archive.getvalue())})
        return c.post(base, headers=auth, json={"id": fresh("new"), "text": TEXT})

    def _other(self, endpoint: str, scope: str, side: str, collection: str,  # noqa: PLR0911
               key: str | None) -> Any | None:  # one request per endpoint
        c, auth = self.c, bearer(key)
        if endpoint == "GET /v1/collections":
            return c.get("/v1/collections", headers=auth)
        if endpoint == "POST /v1/collections":
            return c.post("/v1/collections", headers=auth, json={"name": fresh("made")})
        if endpoint == "GET /v1/collections/{name}":
            return c.get(f"/v1/collections/{collection}", headers=auth)
        if endpoint == "POST /v1/check":
            return c.post("/v1/check", params={"collections": [collection]}, headers=auth,
                          json={"text": TEXT})
        if endpoint == "POST /v1/check?store=true":
            return c.post("/v1/check", params={"collections": [collection], "store": "true",
                                               "store_in": collection, "id": fresh("kept")},
                          headers=auth, json={"text": TEXT})
        if endpoint == "POST /v1/check/batch":
            return c.post("/v1/check/batch", params={"collections": [collection]},
                          headers=auth, json={"reports": [{"id": "r1", "text": TEXT}]})
        if endpoint == "GET /v1/checks":
            return c.get("/v1/checks", headers=auth)
        if endpoint in ("GET /v1/checks/{check_id}", "DELETE /v1/checks/{check_id}"):
            if side == "own" and scope in ("read", "write"):
                return None
            # another's check: a bystander key's (for the admin: still someone else's)
            made = self.check_by(key if side == "own" else self.bystander)
            return c.request(endpoint.split(maxsplit=1)[0], made, headers=auth)
        if endpoint == "GET /v1/keys":
            return c.get("/v1/keys", headers=auth)
        if endpoint == "POST /v1/keys":
            return c.post("/v1/keys", headers=auth, json={
                "name": "made", "scopes": ["read"], "collections": [collection]})
        if endpoint == "DELETE /v1/keys/{key_id}":
            victim = self.key(["read"], [collection]).split("_")[1]
            return c.delete(f"/v1/keys/{victim}", headers=auth)
        if endpoint == "GET /v1/audit":
            return c.get("/v1/audit", headers=auth)
        return c.get(endpoint.split(" ", 1)[1], headers=auth)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data = tmp_path_factory.mktemp("matrix")
    with TestClient(create_app(isolated_settings(data, api_keys=ADMIN))) as c:
        yield World(c)


def test_every_endpoint_is_in_the_matrix(world: World) -> None:
    schema = world.c.get("/openapi.json").json()
    listed = {f"{method.upper()} {path}" for path, ops in schema["paths"].items()
              for method in ops}
    assert listed == {e for e in EXPECTED if "?" not in e}


@pytest.mark.parametrize("endpoint", list(EXPECTED))
def test_each_cell_of_the_matrix(world: World, endpoint: str) -> None:
    found: dict[str, Cell] = {}
    bodies = []
    for scope in SCOPES:
        statuses = []
        for side in SIDES:
            response = world.request(endpoint, scope, side)
            statuses.append(None if response is None else response.status_code)
            if response is not None and response.status_code >= 400:
                bodies.append((scope, side, response.json()["error"]["code"]))
        found[scope] = (statuses[0], statuses[1])
    assert found == EXPECTED[endpoint], bodies


def test_refusals_leak_no_collection_and_no_text(world: World) -> None:
    """A 404 for another collection reads exactly as one for a collection that does not exist,
    and no refusal holds a reference's text."""
    key = world.keys["read"][0]
    other = world.c.get("/v1/collections/other/references/doc", headers=bearer(key))
    missing = world.c.get("/v1/collections/nosuch/references/doc", headers=bearer(key))
    assert other.status_code == missing.status_code == 404
    assert other.json()["error"]["message"].replace("other", "X") == \
        missing.json()["error"]["message"].replace("nosuch", "X")
    assert TEXT[:20] not in other.text


def render(expected: dict[str, dict[str, Cell]]) -> str:
    """The matrix as a Markdown table: each cell 'own / other'."""
    head = "| endpoint | " + " | ".join(["no key", "check", "read", "write", "admin"]) + " |"
    lines = [head, "|" + " --- |" * (len(SCOPES) + 1)]
    for endpoint, row in expected.items():
        cells = [" / ".join("–" if s is None else str(s) for s in row[scope])
                 for scope in SCOPES]
        lines.append(f"| `{endpoint}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def test_security_md_prints_the_matrix() -> None:
    text = SECURITY_MD.read_text(encoding="utf-8")
    table = render(EXPECTED)
    if os.environ.get("CHACHONG_UPDATE_MATRIX") == "1":
        before, _, rest = text.partition(START)
        _, _, after = rest.partition(END)
        text = f"{before}{START}\n{table}\n{END}{after}"
        SECURITY_MD.write_text(text, encoding="utf-8")
    assert f"{START}\n{table}\n{END}" in text

