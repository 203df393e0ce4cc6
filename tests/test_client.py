"""A Python client generated from the served schema, as a new user would make one:
``openapi-python-client generate --url <server>/openapi.json`` (nothing is fetched but the schema;
the generator formats its output with ruff, which the test extras install). Its functions are
named after the routes' short operation ids, and it checks, adds and reads against a real server,
in templates and in a collection."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from api_helpers import KEYS, provincial_paragraphs, running_server

pytestmark = pytest.mark.slow

PACKAGE = "chachong_client"


def generate(url: str, out: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
                                 f"{os.environ.get('PATH', '')}"}
    done = subprocess.run([sys.executable, "-m", "openapi_python_client", "generate", "--url",
                           f"{url}/openapi.json", "--meta", "none", "--output-path",
                           str(out / PACKAGE)],
                          capture_output=True, text=True, timeout=120, env=env, check=False,
                          cwd=out)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout, done.stdout  # every operation made it into the client


def test_a_generated_client_checks_adds_and_reads(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    text = "\n".join(provincial_paragraphs("2025-江苏省")[2:5])
    copied = provincial_paragraphs("2025-江苏省")[3]
    with running_server(tmp_path, tmp_path / "data") as server:
        generate(server.url, tmp_path)
        monkeypatch.syspath_prepend(str(tmp_path))
        client_mod = importlib.import_module(PACKAGE)
        api = importlib.import_module(f"{PACKAGE}.api")
        models = importlib.import_module(f"{PACKAGE}.models")
        names = {p.stem for p in Path(api.__file__).parent.rglob("*.py")}
        assert {"check", "check_batch", "add_reference", "get_reference", "list_references",
                "add_to_collection", "get_in_collection", "create_collection", "create_key",
                "list_audit"} <= names
        assert not [n for n in names if n.endswith(("_post", "_get", "_delete"))], names

        from chachong_client.api.checks import check
        from chachong_client.api.collections import create_collection
        from chachong_client.api.references import (
            add_reference,
            add_to_collection,
            get_in_collection,
            get_reference,
        )

        client = client_mod.AuthenticatedClient(base_url=server.url, token=KEYS[0])
        client.__enter__()
        added = add_reference.sync(client=client, body=models.ReferenceIn(
            id="jiangsu-2025", text=text, title="江苏省政府工作报告"))
        assert isinstance(added, models.ReferenceSummary) and added.id == "jiangsu-2025"
        result = check.sync(client=client, body=models.CheckRequest(text=copied))
        assert isinstance(result, models.CheckResult), result
        assert [(s.id, s.collection) for s in result.sources] == [("jiangsu-2025", "templates")]
        match = result.paragraphs[0].matches[0]
        assert match.source.text in text and match.text in copied
        read = get_reference.sync("jiangsu-2025", client=client)
        assert isinstance(read, models.ReferenceOut) and read.text == text
        missing = get_reference.sync("no-such", client=client)
        assert isinstance(missing, models.ErrorResponse) and missing.error.code == "not_found"

        made = create_collection.sync(client=client, body=models.CollectionIn(name="jiangsu"))
        assert isinstance(made, models.CollectionOut) and made.references == 0
        in_unit = add_to_collection.sync("jiangsu", client=client, body=models.ReferenceIn(
            id="report-1", text=text))
        assert isinstance(in_unit, models.ReferenceSummary)
        there = check.sync(client=client, body=models.CheckRequest(text=copied),
                           collections=["jiangsu"])
        assert [(s.id, s.collection) for s in there.sources] == [("jiangsu/report-1", "jiangsu")]
        read = get_in_collection.sync("jiangsu", "report-1", client=client)
        assert isinstance(read, models.ReferenceOut) and read.text == text
        client.__exit__(None, None, None)
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]
