"""Fuzzing: schemathesis sends 1,000+ generated requests, valid and invalid, to every operation of
the app's OpenAPI schema (with an API key and a small body limit, so the write paths and the 413
path are exercised too): no answer is a 5xx, and every answer matches the schema. Then hypothesis
properties of normalisation and alignment on arbitrary text (tests/test_properties.py covers the
check result on reports made of real sentences)."""

from __future__ import annotations

import atexit
import copy
import shutil
import tempfile
import unicodedata
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from api_helpers import isolated_settings, provincial_paragraphs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import checks as st_checks
from support import TEMPLATE_IDS, template

from app.access import KeyStore
from app.api.main import create_app
from app.api.models import ReferenceIn
from app.core import Reference
from app.core.align import local_alignment
from app.core.normalize import NUMBER, normalize

KEY = "fuzz-key"
MAX_BODY = 4096
EXAMPLES = 200  # per operation; the operations with parameters or a body share out 1,000+
MIN_PER_OPERATION = 170  # of EXAMPLES: hypothesis stops early only on a small input space
MIN_REQUESTS = 1000

# What the schema promises: no server error, and status, headers and body as documented. The
# content type is checked on its own below (test_served_content_types_are_documented): two
# undocumented ones (HTML reports, Prometheus text) would otherwise stop the fuzzing of their
# operations at the first example. Schemathesis's stricter heuristics, such as "every schema-valid
# body is accepted", do not fit an API whose valid JSON may still carry an empty document or a
# .png file.
CHECKS = [getattr(st_checks, name) for name in (
    "not_a_server_error", "status_code_conformance", "response_headers_conformance",
    "response_schema_conformance")]

_DATA = Path(tempfile.mkdtemp(prefix="chachong-fuzz-"))
atexit.register(shutil.rmtree, _DATA, ignore_errors=True)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # jieba's loader, as in pyproject
    APP = create_app(isolated_settings(_DATA, api_keys=KEY, max_body_bytes=MAX_BODY))
# loading the schema runs the app's start-up: its background flushes stop before the folder goes
atexit.register(APP.state.service.stop)


def _with_reference_body(spec: dict) -> dict:
    """The served schema, plus a request body for POST /v1/references.

    That endpoint parses its body by hand, so FastAPI documents none and a fuzzer would only ever
    send it an empty request. The body added here is the endpoint's own model (ReferenceIn) as
    JSON, and the multipart form it also accepts; nothing else of the schema is changed.
    """
    spec = copy.deepcopy(spec)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("ReferenceIn", ReferenceIn.model_json_schema(
        ref_template="#/components/schemas/{model}"))
    post = spec["paths"]["/v1/references"]["post"]
    post.setdefault("requestBody", {"required": True, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/ReferenceIn"}},
        "multipart/form-data": {"schema": {
            "type": "object", "required": ["file", "id"],
            "properties": {"file": {"type": "string", "format": "binary"},
                           "id": {"type": "string", "pattern": ReferenceIn.model_fields[
                               "id"].metadata[0].pattern},
                           "title": {"type": "string", "maxLength": 200},
                           "tags": {"type": "string"}}}}}})
    return spec


APP.openapi_schema = _with_reference_body(APP.openapi())
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
OPERATIONS = {op.label: op for op in (result.ok() for result in schema.get_all_operations())}
# an answer the fuzzing of an operation must have seen at least once: proof that its generated
# requests got past validation to the code behind it
REACHED = {"POST /v1/check": 200, "POST /v1/check/batch": 200, "GET /v1/references": 200,
           "POST /v1/references": 201}


def _has_inputs(operation: Any) -> bool:
    return bool(len(operation.path_parameters) + len(operation.query) + len(operation.body)
                + len(operation.headers))


@pytest.mark.parametrize("label", list(OPERATIONS))
def test_api_never_fails_and_matches_its_schema(label: str) -> None:
    """Each operation on its own: its generated requests are counted here, so the figures hold
    whatever else runs and in whatever order."""
    operation = OPERATIONS[label]
    statuses: Counter[int] = Counter()

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def fuzz(case: schemathesis.Case) -> None:
        response = case.call_and_validate(headers={"Authorization": f"Bearer {KEY}"},
                                          checks=CHECKS)
        statuses[response.status_code] += 1

    fuzz()
    sent = sum(statuses.values())
    assert sent >= (MIN_PER_OPERATION if _has_inputs(operation) else 1), dict(statuses)
    if label in REACHED:
        assert statuses[REACHED[label]], f"no request got past validation: {dict(statuses)}"


def test_fuzzing_sends_1000_requests_in_all() -> None:
    """The operations that take input get MIN_PER_OPERATION requests each (asserted above):
    together 1,000 or more, every operation of the schema among them."""
    with_inputs = [label for label, op in OPERATIONS.items() if _has_inputs(op)]
    assert len(OPERATIONS) >= 9, sorted(OPERATIONS)
    assert len(with_inputs) * MIN_PER_OPERATION >= MIN_REQUESTS, with_inputs


@pytest.mark.parametrize("method, path, kwargs", [
    ("GET", "/metrics", {}),
    ("POST", "/v1/check?format=html", {"json": {"text": "根据会议安排，现将本人述职如下。"}}),
    ("POST", "/v1/check", {"json": {"text": "根据会议安排，现将本人述职如下。"},
                           "headers": {"Accept": "text/html"}}),
    ("POST", "/v1/check/batch?format=html", {"json": {"reports": [
        {"id": "a", "text": "根据会议安排，现将本人述职如下。"},
        {"id": "b", "text": "根据会议安排，现将本人述职如下。"}]}}),
    ("POST", "/v1/check", {"content": b"{", "headers": {"Content-Type": "application/json"}}),
], ids=["metrics", "check-format-html", "check-accept-html", "batch-format-html", "error"])
def test_served_content_types_are_documented(method: str, path: str, kwargs: dict) -> None:
    """Schemathesis's content_type_conformance, on the answers that carry another type: each
    response's media type is one the schema documents for that operation and status."""
    from api_helpers import TestClient

    spec = APP.openapi()
    with TestClient(APP) as client:
        response = client.request(method, path, **kwargs)
    operation = spec["paths"][path.split("?", maxsplit=1)[0]][method.lower()]
    documented = operation["responses"].get(str(response.status_code), {}).get("content", {})
    served = response.headers["content-type"].split(";")[0].strip()
    assert served in documented, (f"{method} {path} answers {response.status_code} {served}; "
                                  f"the schema documents {sorted(documented)}")


def test_method_not_allowed_lists_the_allowed_methods() -> None:
    """Found by schemathesis's unsupported_method check: a 405 must name the methods the path
    does allow in an Allow header (RFC 9110, 15.5.6)."""
    from api_helpers import TestClient

    with TestClient(APP) as client:
        for method, path in (("PUT", "/v1/check"), ("TRACE", "/v1/references"),
                             ("PATCH", "/v1/references/jianshe-ju"), ("DELETE", "/healthz")):
            response = client.request(method, path)
            assert response.status_code == 405, (method, path)
            assert response.json()["error"]["code"] == "method_not_allowed"
            assert "allow" in response.headers, (method, path, dict(response.headers))


# --- fuzzing with a key of each scope ------------------------------------------------------------

# A second app, with the collections own and other: other holds a reference of its own text, and a
# key of each scope (and a caller without a key) is given own and templates only. The schema's
# collection names, reference ids and `collections` values are narrowed to those that exist, so
# the generated requests reach real collections and references rather than 404 at once, and the
# formats to those that are text (a pdf or xlsx shows what the json does). No answer may be a 5xx,
# and none may hold the other collection's text.
SCOPED_EXAMPLES = 20
SECRET = provincial_paragraphs("2025-海南省")[2:6]
_SCOPED_DATA = Path(tempfile.mkdtemp(prefix="chachong-fuzz-scoped-"))
atexit.register(shutil.rmtree, _SCOPED_DATA, ignore_errors=True)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    SCOPED_APP = create_app(isolated_settings(_SCOPED_DATA, api_keys=KEY,
                                              max_body_bytes=MAX_BODY))
atexit.register(SCOPED_APP.state.service.stop)
for _name in ("own", "other"):
    SCOPED_APP.state.service.create_collection(_name)
SCOPED_APP.state.service.add(Reference("doc", "\n".join(SECRET), "机密"), "other")
SCOPED_APP.state.service.add(Reference("doc", template(TEMPLATE_IDS[0]), "own doc"), "own")
SCOPED_KEYS: dict[str, str | None] = {"none": None, **{
    scope: KeyStore(_SCOPED_DATA).create(scope, [scope], ["own", "templates"])[1]
    for scope in ("check", "read", "write")}}


def _narrowed(spec: dict) -> dict:
    spec = copy.deepcopy(spec)
    names = ["own", "other", "templates", "nosuch"]
    for operation in (op for ops in spec["paths"].values() for op in ops.values()):
        for param in operation.get("parameters", []):
            if param["name"] in ("name", "store_in"):
                param["schema"] = {"type": "string", "enum": names}
            elif param["name"] == "ref_id":
                param["schema"] = {"type": "string", "enum": ["doc", "jianshe-ju", "nosuch"]}
            elif param["name"] == "collections":
                param["schema"] = {"type": "array", "maxItems": 3,
                                   "items": {"type": "string", "enum": names}}
            elif param["name"] == "format":  # pdf and xlsx show the same result, compressed
                param["schema"] = {"type": "string", "enum": ["json", "html", "csv", "ndjson"]}
    return spec


SCOPED_APP.openapi_schema = _narrowed(_with_reference_body(SCOPED_APP.openapi()))
scoped_schema = schemathesis.openapi.from_asgi("/openapi.json", SCOPED_APP)
SCOPED_OPERATIONS = {op.label: op for op in (r.ok() for r in scoped_schema.get_all_operations())}


def _leaks(text: str) -> list[str]:
    """Pieces of the other collection's text in an answer."""
    return [p[i:i + 15] for p in SECRET for i in range(0, len(p) - 15, 15)
            if p[i:i + 15] in text]


@pytest.mark.parametrize("scope", list(SCOPED_KEYS))
@pytest.mark.parametrize("label", list(SCOPED_OPERATIONS))
def test_no_scope_gets_a_5xx_or_another_collections_text(label: str, scope: str) -> None:
    operation = SCOPED_OPERATIONS[label]
    key = SCOPED_KEYS[scope]
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    statuses: Counter[int] = Counter()

    @settings(max_examples=SCOPED_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def fuzz(case: schemathesis.Case) -> None:
        response = case.call_and_validate(headers=headers,
                                          checks=[st_checks.not_a_server_error])
        statuses[response.status_code] += 1
        text = response.content.decode("utf-8", "replace")
        assert not _leaks(text), (case.path, case.query, response.status_code)

    fuzz()
    assert sum(statuses.values()) >= 1


def test_the_leak_check_sees_the_other_collections_text() -> None:
    """The same check finds the text when a key may read it (so an empty answer means
    something)."""
    from api_helpers import TestClient

    with TestClient(SCOPED_APP) as client:
        response = client.get("/v1/collections/other/references/doc",
                              headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 200 and len(_leaks(response.text)) > 10


# --- properties of normalisation and alignment ----------------------------------------------------

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])

_TEMPLATE_TEXT = "".join(template(t) for t in TEMPLATE_IDS)
# Any text at all (every code point but surrogates), and text that looks like a report: template
# pieces, with numbers, placeholders, full-width forms, traditional characters and marks mixed in.
any_text = st.text(max_size=300)
report_like = st.lists(st.one_of(
    st.integers(0, len(_TEMPLATE_TEXT) - 1).flatmap(
        lambda i: st.integers(i, min(i + 60, len(_TEMPLATE_TEXT))).map(
            lambda j: _TEMPLATE_TEXT[i:j])),
    st.sampled_from(["XX", "xx个", "３５", "二十", "Xbox", "\u200b", "\u202e", "\x00", "\r\n",
                     "　", "ﾃｽﾄ", "體制", "㍻", "ﬁ", "Ⅻ", "①", "⁵"]),
    st.text(max_size=5)), max_size=12).map("".join)


@PROPERTY_SETTINGS
@given(text=st.one_of(any_text, report_like))
def test_normalize_maps_every_character_back_into_the_text(text: str) -> None:
    norm = normalize(text)
    n = len(norm.chars)
    assert len(norm.starts) == len(norm.ends) == n
    starts, ends = norm.starts.tolist(), norm.ends.tolist()
    for i in range(n):
        assert 0 <= starts[i] < ends[i] <= len(text), (i, starts[i], ends[i])
        if i:
            assert starts[i] >= starts[i - 1] and ends[i] >= ends[i - 1], i
    for ch in norm.chars:  # letters and numbers only (numbers as the one NUMBER symbol)
        assert unicodedata.category(ch)[0] in "LN", repr(ch)
    assert NUMBER not in text or NUMBER in norm.chars


@PROPERTY_SETTINGS
@given(data=st.data(), text=report_like)
def test_original_span_starts_and_ends_on_content(data: st.DataObject, text: str) -> None:
    """Any range of the stream maps to a slice of the text that begins and ends with the content
    characters it came from (so a highlight never starts or ends on a space or a comma)."""
    norm = normalize(text)
    if len(norm.chars) == 0:
        assert text.strip() == "" or not any(unicodedata.category(c)[0] in "LN" for c in text)
        return
    a = data.draw(st.integers(0, len(norm.chars) - 1))
    b = data.draw(st.integers(a + 1, len(norm.chars)))
    start, end = norm.original_span(a, b)
    assert (start, end) == (norm.starts[a], norm.ends[b - 1])
    assert 0 <= start < end <= len(text)
    assert normalize(text[start]).chars and normalize(text[end - 1]).chars


_CJK = "党建工作责任落实会议报告基层组织制度学习教育问题整改"
cjk_text = st.text(alphabet=_CJK, max_size=250)


@PROPERTY_SETTINGS
@given(q=st.one_of(cjk_text, report_like.map(lambda t: normalize(t).chars)),
       r=st.one_of(cjk_text, report_like.map(lambda t: normalize(t).chars)))
def test_local_alignment_stays_inside_both_strings(q: str, r: str) -> None:
    a = local_alignment(q, r)
    if a is None:
        return
    assert 0 <= a.q0 < a.q1 <= len(q)
    assert 0 <= a.r0 < a.r1 <= len(r)
    assert 2 <= a.matched <= min(a.q1 - a.q0, a.r1 - a.r0) <= min(len(q), len(r))
    assert 0 <= a.swapped <= (a.q1 - a.q0) - a.matched
    # both ends of the cluster are common characters
    assert q[a.q0] == r[a.r0] and q[a.q1 - 1] == r[a.r1 - 1]


@PROPERTY_SETTINGS
@given(q=st.one_of(cjk_text, report_like.map(lambda t: normalize(t).chars)))
def test_local_alignment_of_a_string_with_itself_is_all_of_it(q: str) -> None:
    a = local_alignment(q, q)
    if len(q) < 2:
        assert a is None
        return
    assert a is not None
    assert (a.q0, a.q1, a.r0, a.r1, a.matched) == (0, len(q), 0, len(q), len(q))
    assert a.swapped == 0


_OTHER = "经济发展城市交通民生保障开放科技创新"


@PROPERTY_SETTINGS
@given(q=cjk_text.filter(lambda s: len(s) >= 2), prefix=st.text(alphabet=_OTHER, max_size=200),
       suffix=st.text(alphabet=_OTHER, max_size=200))
def test_local_alignment_locates_a_verbatim_copy(q: str, prefix: str, suffix: str) -> None:
    """q pasted into unrelated text (no character in common) is found whole, where it is."""
    a = local_alignment(q, prefix + q + suffix)
    assert a is not None
    assert (a.q0, a.q1, a.r0, a.r1, a.matched) == (0, len(q), len(prefix), len(prefix) + len(q),
                                                   len(q))
