"""The command line: exit codes, JSON output, folders, saved indexes, encodings, and the real
installed ``chachong`` script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from support import CASES, CORPUS_DIR, ENCODINGS, ROOT, case_text, write_docx
from typer.testing import CliRunner, Result

from app.cli import app
from app.collections import label_sources
from app.core import CheckResult

COPIED = "case-000.txt"  # a third of it copied from two templates
ORIGINAL = "case-001.txt"  # truth.jsonl: nothing copied

Check = Callable[..., CheckResult]


@pytest.fixture(autouse=True)
def _no_chachong_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """CHACHONG_* settings of the machine running the tests must not change the outcome."""
    for name in list(os.environ):
        if name.startswith("CHACHONG_"):
            monkeypatch.delenv(name)


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def report(tmp_path: Path, name: str = COPIED, as_name: str | None = None) -> Path:
    path = tmp_path / (as_name or name)
    shutil.copyfile(CASES / name, path)
    return path


# -- exit codes --------------------------------------------------------------------------------

def test_original_report_exits_0(tmp_path: Path, saved_index: Path) -> None:
    result = run("check", report(tmp_path, ORIGINAL), "--index", saved_index)
    assert result.exit_code == 0, result.output
    assert "PASS" in result.stdout


def test_copied_report_exits_1_and_names_the_sources(tmp_path: Path, saved_index: Path) -> None:
    result = run("check", report(tmp_path, COPIED), "--index", saved_index)
    assert result.exit_code == 1, result.output
    assert "FAIL" in result.stdout
    assert "jiguan-gongwei" in result.stdout and "jituan-gongsi" in result.stdout


def test_bundled_corpus_is_the_default(tmp_path: Path) -> None:
    """Without --corpus or --index the bundled templates are used."""
    result = run("check", report(tmp_path, COPIED), "--format", "json")
    assert result.exit_code == 1, result.output
    assert {s["id"] for s in json.loads(result.stdout)["sources"]} == {"jiguan-gongwei",
                                                                      "jituan-gongsi"}


def _bad_usage_cases(tmp_path: Path, saved_index: Path) -> dict[str, tuple[list, str]]:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    blank = tmp_path / "blank.txt"
    blank.write_text("\u3000\n  \r\n", encoding="utf-8")
    rtf = tmp_path / "report.xlsx"
    rtf.write_text("not a report", encoding="ascii")
    broken = tmp_path / "broken.docx"
    broken.write_bytes(case_text(COPIED).encode("utf-8"))
    good = report(tmp_path, COPIED)
    return {
        "missing-file": ([tmp_path / "nope.txt"], "nope.txt"),
        "empty-file": ([empty], "empty.txt"),
        "blank-file": ([blank], "blank.txt"),
        "unsupported-suffix": ([rtf], "report.xlsx"),
        "broken-docx": ([broken], "broken.docx"),
        "threshold-above-1": ([good, "--threshold", "1.5"], "threshold"),
        "threshold-below-0": ([good, "--threshold", "-0.2"], "threshold"),
        "min-match-below-seed": ([good, "--min-match-chars", "3"], "min_match_chars"),
        "corpus-and-index": ([good, "--corpus", CORPUS_DIR, "--index", saved_index],
                             "--corpus or --index"),
        "corpus-not-a-folder": ([good, "--corpus", good], "folder"),
        "index-wrong-file": ([good, "--index", good], COPIED),
    }


BAD_USAGE = ["missing-file", "empty-file", "blank-file", "unsupported-suffix", "broken-docx",
             "threshold-above-1", "threshold-below-0", "min-match-below-seed", "corpus-and-index",
             "corpus-not-a-folder", "index-wrong-file"]


@pytest.mark.parametrize("case", BAD_USAGE)
@pytest.mark.usefixtures("collect_garbage")
def test_bad_input_exits_2_with_a_message(case: str, tmp_path: Path, saved_index: Path) -> None:
    """Bad input or usage exits 2 (never 1, which means 'copied') and says what was wrong."""
    args, mentioned = _bad_usage_cases(tmp_path, saved_index)[case]
    result = run("check", *args)
    assert result.exit_code == 2, (result.output, result.exception)
    assert mentioned in result.stderr
    assert result.stdout == ""


@pytest.mark.usefixtures("collect_garbage")
def test_truncated_index_file_exits_2(tmp_path: Path, saved_index: Path) -> None:
    """An index cut short (an interrupted copy) is bad input: exit 2 with a message, not a
    traceback with exit 1, which would read as 'this report is copied'."""
    bad = tmp_path / "cut.idx"
    shutil.copytree(saved_index, bad)
    run_file = next((bad / "segments").iterdir()) / "band.run"
    run_file.write_bytes(run_file.read_bytes()[:5000])
    result = run("check", report(tmp_path, COPIED), "--index", bad)
    code, stderr, raised = result.exit_code, result.stderr, repr(result.exception)
    del result  # its exception's traceback would keep the leaked file handle alive
    assert code == 2, raised
    assert "cut.idx" in stderr


# -- JSON output -------------------------------------------------------------------------------

TXT_DOCUMENT = {"format": "txt", "parts": ["body"], "ocr": False, "pages": None, "warnings": []}


def test_json_output_has_the_schema_fields(tmp_path: Path, saved_index: Path,
                                           check: Check) -> None:
    """--format json prints one result: ratio, threshold, verdict, matches with sources."""
    result = run("check", report(tmp_path, COPIED), "--index", saved_index, "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["verdict"] == "fail" and data["threshold"] == 0.3
    assert 0.3 < data["copy_ratio"] < 0.4
    assert data["title"] == COPIED
    matches = [m for p in data["paragraphs"] for m in p["matches"]]
    assert {m["source"]["id"] for m in matches} == {"jiguan-gongwei", "jituan-gongsi"}
    for m in matches:
        assert set(m) >= {"start", "end", "text", "similarity", "exact", "source"}
        assert set(m["source"]) >= {"id", "title", "start", "end", "text"}
    assert {s["id"] for s in data["sources"]} == {"jiguan-gongwei", "jituan-gongsi"}
    for s in data["sources"]:
        assert set(s) >= {"id", "title", "copied_chars", "copy_ratio"}
    assert data.pop("document") == TXT_DOCUMENT
    assert data == label_sources(check(case_text(COPIED), title=COPIED)).model_dump(
        mode="json", exclude={"document"})


def test_threshold_option_changes_the_exit_code(tmp_path: Path, saved_index: Path) -> None:
    path = report(tmp_path, COPIED)
    assert run("check", path, "--index", saved_index, "--threshold", "0.5").exit_code == 0
    assert run("check", path, "--index", saved_index, "--threshold", "0.1").exit_code == 1


def test_threshold_from_the_environment(tmp_path: Path, saved_index: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """CHACHONG_THRESHOLD sets the default; a bad value is refused at start-up with exit 2."""
    path = report(tmp_path, COPIED)
    monkeypatch.setenv("CHACHONG_THRESHOLD", "0.5")
    assert run("check", path, "--index", saved_index).exit_code == 0
    monkeypatch.setenv("CHACHONG_THRESHOLD", "2")
    result = run("check", path, "--index", saved_index)
    assert result.exit_code == 2 and "CHACHONG_" in result.stderr


# -- folders -----------------------------------------------------------------------------------

def test_folder_checks_every_report_in_it(tmp_path: Path, saved_index: Path) -> None:
    """A folder argument checks each supported file (sorted), skips others, and fails if any
    report fails."""
    folder = tmp_path / "reports"
    folder.mkdir()
    report(folder, COPIED, "a-copied.txt")
    report(folder, ORIGINAL, "b-original.txt")
    write_docx(folder / "c-copied.docx", case_text("case-002.txt"))
    (folder / "notes.xlsx").write_text("skip me", encoding="ascii")
    result = run("check", folder, "--index", saved_index, "--format", "json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert [Path(item["file"]).name for item in data] == ["a-copied.txt", "b-original.txt",
                                                          "c-copied.docx"]
    assert [item["verdict"] for item in data] == ["fail", "pass", "pass"]
    assert data[2]["copied_chars"] > 0


def test_folder_of_original_reports_exits_0(tmp_path: Path, saved_index: Path) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    for name in ("case-001.txt", "case-008.txt", "case-016.txt"):  # truth: nothing copied
        report(folder, name)
    result = run("check", folder, "--index", saved_index)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("PASS") == 3


def test_folder_without_reports_exits_2(tmp_path: Path, saved_index: Path) -> None:
    (tmp_path / "notes.xlsx").write_text("x", encoding="ascii")
    result = run("check", tmp_path, "--index", saved_index)
    assert result.exit_code == 2 and "no reports" in result.stderr


# -- saved index -------------------------------------------------------------------------------

def test_index_build_then_check_equals_corpus(tmp_path: Path) -> None:
    """`index build DIR --out PATH` then `check --index PATH` gives the JSON of `--corpus DIR`;
    `index verify` finds it intact."""
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS_DIR, corpus, ignore=shutil.ignore_patterns("__*"))
    out = tmp_path / "refs.idx"
    built = run("index", "build", corpus, "--out", out)
    assert built.exit_code == 0, built.output
    assert "5 references" in built.stderr
    assert (out / "CURRENT").is_file()
    verified = run("index", "verify", out)
    assert verified.exit_code == 0 and "intact" in verified.stderr
    path = report(tmp_path, COPIED)
    via_index = run("check", path, "--index", out, "--format", "json")
    via_corpus = run("check", path, "--corpus", corpus, "--format", "json")
    assert via_index.exit_code == via_corpus.exit_code == 1
    assert json.loads(via_index.stdout) == json.loads(via_corpus.stdout)


def test_index_add_grows_an_index_and_refuses_taken_ids(tmp_path: Path) -> None:
    """`index add DIR --index PATH` adds every report of a folder (found by the next check,
    flushed into segments when no server holds the index); a folder with an id the index
    holds is refused whole, before anything is added."""
    templates = tmp_path / "templates"
    shutil.copytree(CORPUS_DIR, templates, ignore=shutil.ignore_patterns("__*"))
    out = tmp_path / "refs.idx"
    assert run("index", "build", templates, "--out", out).exit_code == 0
    more = tmp_path / "more"
    more.mkdir()
    for name in ("case-000.txt", "case-003.txt"):
        (more / f"sub-{name}").write_text(case_text(name), encoding="utf-8")
    added = run("index", "add", more, "--index", out, "--workers", "1")
    assert added.exit_code == 0, added.output
    assert "added 2 references" in added.stderr
    verified = run("index", "verify", out)
    assert verified.exit_code == 0 and "7 references" in verified.stderr
    assert "0 in the log" in verified.stderr  # flushed: no server held the index
    found = json.loads(run("check", more / "sub-case-003.txt", "--index", out, "--format",
                           "json").stdout)
    assert "sub-case-003" in {s["id"] for s in found["sources"]}
    (more / "minzheng-ju.txt").write_text(case_text("case-005.txt"), encoding="utf-8")
    refused = run("index", "add", more, "--index", out, "--workers", "1")
    assert refused.exit_code == 2 and "minzheng-ju" in refused.stderr
    assert "7 references" in run("index", "verify", out).stderr


def test_index_verify_of_a_damaged_index_exits_2(tmp_path: Path, saved_index: Path) -> None:
    damaged = tmp_path / "damaged.idx"
    shutil.copytree(saved_index, damaged)
    docs = next((damaged / "segments").iterdir()) / "docs.sqlite3"
    data = bytearray(docs.read_bytes())
    data[-100] ^= 0xFF
    docs.write_bytes(bytes(data))
    result = run("index", "verify", damaged)
    assert result.exit_code == 2 and "docs.sqlite3 is damaged" in result.stderr


def test_index_build_of_a_missing_folder_exits_2(tmp_path: Path) -> None:
    result = run("index", "build", tmp_path / "nope", "--out", tmp_path / "x.idx")
    assert result.exit_code == 2 and "nope" in result.stderr
    assert not (tmp_path / "x.idx").exists()


def test_index_build_into_a_missing_folder_exits_2(tmp_path: Path) -> None:
    """An --out path whose folder does not exist is a usage error: exit 2 naming the path, not
    an unhandled FileNotFoundError."""
    out = tmp_path / "no-such-folder" / "refs.idx"
    result = run("index", "build", CORPUS_DIR, "--out", out)
    code, stderr, raised = result.exit_code, result.stderr, repr(result.exception)
    del result
    assert code == 2, raised
    assert "no-such-folder" in stderr


# -- encodings and Word files ------------------------------------------------------------------

@pytest.mark.parametrize("encode", ENCODINGS)
def test_cli_reads_every_encoding_the_same(encode: Callable[[str], bytes], tmp_path: Path,
                                           saved_index: Path) -> None:
    """The same report saved in another encoding gives the same JSON as the UTF-8 file."""
    text = case_text(COPIED)
    (tmp_path / "utf8").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "utf8" / "report.txt").write_bytes(text.encode("utf-8"))
    (tmp_path / "other" / "report.txt").write_bytes(encode(text))
    a = run("check", tmp_path / "utf8" / "report.txt", "--index", saved_index, "--format", "json")
    b = run("check", tmp_path / "other" / "report.txt", "--index", saved_index, "--format", "json")
    assert a.exit_code == b.exit_code == 1
    assert json.loads(b.stdout) == json.loads(a.stdout)


def test_cli_docx_equals_txt(tmp_path: Path, saved_index: Path) -> None:
    text = case_text(COPIED)
    txt = tmp_path / "report.txt"
    txt.write_text(text, encoding="utf-8")
    docx_path = write_docx(tmp_path / "report.docx", text)
    a = json.loads(run("check", txt, "--index", saved_index, "--format", "json").stdout)
    b = json.loads(run("check", docx_path, "--index", saved_index, "--format", "json").stdout)
    assert a.pop("title") == "report.txt" and b.pop("title") == "report.docx"
    assert a.pop("document") == TXT_DOCUMENT
    assert b.pop("document") == {**TXT_DOCUMENT, "format": "docx"}
    assert a == b


# -- the installed script ----------------------------------------------------------------------

def test_installed_script_in_a_real_process(tmp_path: Path, check: Check) -> None:
    """The `chachong` console script next to this Python runs, exits 1 on a copied report and
    prints the same JSON as the in-process check."""
    script = Path(sys.executable).with_name("chachong")
    assert script.is_file(), f"the package is not installed into {Path(sys.executable).parent}"
    path = report(tmp_path, COPIED)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHACHONG_")}
    env["NO_COLOR"] = "1"
    done = subprocess.run([str(script), "check", str(path), "--format", "json"],
                          capture_output=True, cwd=ROOT, env=env, timeout=120, check=False)
    assert done.returncode == 1, done.stderr.decode("utf-8", "replace")
    expected = label_sources(check(case_text(COPIED), title=COPIED)).model_dump(mode="json")
    assert json.loads(done.stdout.decode("utf-8")) == {**expected, "document": TXT_DOCUMENT}

    missing = subprocess.run([str(script), "check", str(tmp_path / "nope.txt")],
                             capture_output=True, cwd=ROOT, env=env, timeout=120, check=False)
    assert missing.returncode == 2
    assert b"nope.txt" in missing.stderr


# --- keys and the audit trail at the console ------------------------------------------------------

def test_keys_made_at_the_console_work_on_the_server_and_are_audited(tmp_path: Path) -> None:
    """chachong keys create prints the key once and makes its collection; a server on the same
    data folder takes it with its scopes; keys list shows it without the secret; revoke refuses it
    at once; chachong audit export gives every change as JSON lines, by the key 'cli'."""
    from api_helpers import TestClient, isolated_settings

    from app.api.main import create_app

    data = tmp_path / "data"
    made = run("keys", "create", "--name", "组织部", "--scope", "check", "--scope", "read",
               "--collection", "zuzhibu", "--data", data)
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    assert key.startswith("cck_") and len(key.splitlines()) == 1
    key_id = key.split("_")[1]
    listed = run("keys", "list", "--json", "--data", data)
    assert [(k["id"], k["name"], k["scopes"], k["collections"], k["revoked"])
            for k in json.loads(listed.stdout)] == [
        (key_id, "组织部", ["check", "read"], ["zuzhibu"], None)]
    assert key.split("_", 2)[2] not in listed.stdout
    bad = run("keys", "create", "--name", "x", "--scope", "own", "--collection", "a",
              "--data", data)
    assert bad.exit_code == 2 and "unknown scope 'own'" in bad.output

    auth = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(isolated_settings(data))) as c:
        assert c.get("/v1/collections/zuzhibu/references", headers=auth).json()["total"] == 0
        assert c.get("/v1/references", headers=auth).status_code == 404  # not given templates
        assert c.post("/v1/collections/zuzhibu/references", headers=auth,
                      json={"id": "a", "text": "一些文字。"}).status_code == 403
        assert run("keys", "revoke", key_id, "--data", data).exit_code == 0
        assert c.get("/v1/collections/zuzhibu/references", headers=auth).json()["error"][
            "code"] == "forbidden"
    assert run("keys", "revoke", "nope", "--data", data).exit_code == 2
    exported = run("audit", "export", "--data", data)
    entries = [json.loads(line) for line in exported.stdout.splitlines()]
    mine = [(e["key"], e["action"], e["target"]) for e in entries if e["key"] == "cli"]
    assert mine == [("cli", "create_key", key_id), ("cli", "revoke_key", key_id)]
    # reads are not audited; the key's refusals are (a revoked key is no key: it is named by
    # nothing)
    assert [(e["action"], e["outcome"], e["status"]) for e in entries if e["key"] == key_id] == [
        ("list_references", "denied", 404), ("add_to_collection", "denied", 403)]


def test_a_key_made_at_the_console_makes_its_collection_in_the_shared_store(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With CHACHONG_STORE, the collection a new key names is made in the store's registry
    (under the store's prefix), so every server of that store knows it."""
    from api_helpers import TestClient, isolated_settings
    from redis import Redis
    from redis_support import RedisServer

    from app.api.main import create_app

    server = RedisServer()
    server.start()
    try:
        url = f"{server.url}?prefix=unit:"
        monkeypatch.setenv("CHACHONG_STORE", url)
        made = run("keys", "create", "--name", "组织部", "--scope", "check", "--collection",
                   "zuzhibu", "--data", tmp_path / "one")
        assert made.exit_code == 0, made.output
        assert "made collection zuzhibu" in made.output
        with Redis.from_url(server.url) as db:
            assert db.hgetall("unit:{collections}") == {b"zuzhibu": b"1"}
        monkeypatch.delenv("CHACHONG_STORE")
        other = isolated_settings(tmp_path / "two", store=url, api_keys="admin")
        with TestClient(create_app(other)) as c:
            listed = c.get("/v1/collections", headers={"Authorization": "Bearer admin"})
            assert [i["name"] for i in listed.json()["items"]] == ["templates", "zuzhibu"]
    finally:
        server.stop()
