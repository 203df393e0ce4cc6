"""bench/generate_corpus.py: deterministic output, shape, copying only where it says so, and
reports that share little text with each other."""

from __future__ import annotations

import importlib.util
import itertools
import json
import re
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from support import CORPUS_DIR, PROVINCIAL, provincial_text

from app.core import Reference, build_index, check_text
from app.core.normalize import normalize

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "generate_corpus.py"
N, SEED = 40, 6  # seed 6 gives three copying reports (1, 1 and 3 paragraphs) among 40
SENTENCE = re.compile(r"[^。！？；]*(?:[。！？；]+[”’」』]*|$)")
NUMBERING = re.compile(r"^(?:[一二三四五六七八九十]+、|（[一二三四五六七八九十]+）|\d+[.．])")


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_corpus", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses and the worker pool look the module up by name
    sys.modules["generate_corpus"] = module
    spec.loader.exec_module(module)
    return module


gen = _load()


@pytest.fixture(scope="module")
def model() -> Any:
    return gen.train(PROVINCIAL, CORPUS_DIR)


@pytest.fixture(scope="module")
def corpus(model: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("gen") / "two-workers"
    stats = gen.generate(model, N, SEED, out, workers=2, stats=True)
    return out, stats


@cache
def templates() -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(CORPUS_DIR.glob("*.txt"))}


@cache
def training_windows() -> frozenset[str]:
    """Every 13-character window of the normalised training text, read independently."""
    texts = [provincial_text(p.stem) for p in sorted(PROVINCIAL.glob("*.docx"))]
    texts += templates().values()
    out: set[str] = set()
    for text in texts:
        chars = normalize(text).chars
        out.update(chars[i : i + 13] for i in range(len(chars) - 12))
    return frozenset(out)


def _copied(line: str) -> bool:
    return any(line in text.splitlines() for text in templates().values())


def _reports(out: Path) -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(out.glob("gen-*.txt"))}


def test_output_is_identical_for_any_number_of_workers(
        model: Any, corpus: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = corpus
    one = tmp_path / "one-worker"
    gen.generate(model, N, SEED, one, workers=1)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(p.name for p in one.iterdir())
    assert len(names) == N + 1
    for name in names:
        assert (out / name).read_bytes() == (one / name).read_bytes(), name


def test_a_resumed_run_writes_what_one_run_writes(
        model: Any, corpus: tuple[Path, dict], tmp_path: Path) -> None:
    """Cut short after half and resumed with ``start``: the same reports, and one corpus.json
    describing all of them (the resumed run adds to what the first wrote)."""
    out, _ = corpus
    resumed = tmp_path / "resumed"
    gen.generate(model, N // 2, SEED, resumed, workers=1)
    gen.generate(model, N, SEED, resumed, workers=1, start=N // 2)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(p.name for p in resumed.iterdir())
    for name in names:
        assert (out / name).read_bytes() == (resumed / name).read_bytes(), name


def test_reports_are_flat_files_of_the_right_length(corpus: tuple[Path, dict]) -> None:
    out, stats = corpus
    assert not [p for p in out.iterdir() if p.is_dir()]
    reports = _reports(out)
    assert list(reports) == [f"gen-{i:06d}" for i in range(N)]
    lengths = [len(text) for text in reports.values()]
    assert all(1500 <= n <= 6000 for n in lengths), lengths
    assert 2000 <= np.mean(lengths) <= 4000
    assert stats["n"] == N
    assert stats["total_chars"] == sum(lengths)
    assert (stats["min_chars"], stats["max_chars"]) == (min(lengths), max(lengths))
    for text in reports.values():
        lines = text.split("\n")
        assert lines[-1] == "" and all(lines[:-1]), "one non-empty paragraph a line"
        assert any(re.match(r"[一二三四五六七八九十]+、|（[一二三四五六七八九十]+）", x)
                   for x in lines[1:]), "reports have numbered headings"


def test_metadata_matches_the_files(corpus: tuple[Path, dict]) -> None:
    out, _ = corpus
    meta = json.loads((out / "corpus.json").read_text(encoding="utf-8"))
    reports = _reports(out)
    assert sorted(meta) == sorted(reports)
    for rid, info in meta.items():
        assert info["title"] == reports[rid].split("\n")[0]
        assert info["source"] == "generated"
        assert info["tags"]["kind"] == "generated"
        assert set(info["tags"]) <= {"kind", "copies"}


def test_copying_reports_copy_whole_template_paragraphs(corpus: tuple[Path, dict]) -> None:
    out, stats = corpus
    meta = json.loads((out / "corpus.json").read_text(encoding="utf-8"))
    copying = {rid: info["tags"]["copies"].split(",") for rid, info in meta.items()
               if "copies" in info["tags"]}
    assert copying, "the seed should give copying reports"
    assert stats["copying_share"] == len(copying) / N
    for rid, text in _reports(out).items():
        copied = [line for line in text.split("\n")[1:] if line and _copied(line)]
        assert bool(copied) == (rid in copying), rid
        if copied:
            assert 1 <= len(copied) <= 3
            assert all(len(line) >= 40 for line in copied)
            sources = {tid for line in copied for tid, t in templates().items()
                       if line in t.splitlines()}
            assert sources == set(copying[rid])


def test_copy_decision_comes_from_the_report_rng(model: Any) -> None:
    picks = [gen.pick_copies(model, np.random.default_rng([SEED, i])) for i in range(400)]
    share = sum(1 for p in picks if p) / len(picks)
    assert 0.02 <= share <= 0.09
    for chosen in filter(None, picks):
        assert 1 <= len(chosen) <= 3
        for tid, paragraph in chosen:
            assert len(paragraph) >= 40
            assert paragraph in templates()[tid].splitlines()


def test_generated_text_shares_no_13_window_with_the_training_text(
        corpus: tuple[Path, dict]) -> None:
    out, _ = corpus
    windows = training_windows()
    checked = 0
    for rid, text in _reports(out).items():
        for line in text.split("\n"):
            if not line or _copied(line):
                continue
            for piece in [line, *filter(None, SENTENCE.findall(line))]:
                chars = normalize(piece).chars
                found = [chars[i : i + 13] for i in range(len(chars) - 12)
                         if chars[i : i + 13] in windows]
                assert not found, (rid, piece, found)
                checked += 1
    assert checked > 1000


def test_generated_sentences_are_10_to_80_characters(corpus: tuple[Path, dict]) -> None:
    out, _ = corpus
    for text in _reports(out).values():
        for line in text.split("\n")[1:]:
            if not line or _copied(line):
                continue
            for s in SENTENCE.findall(NUMBERING.sub("", line)):
                if s and s[-1] in "。！？；”’」』":
                    assert 10 <= len(s) <= 80, s
                    assert len(normalize(s).chars) >= 8, s


def test_fast_normaliser_agrees_with_the_checker(model: Any,
                                                  corpus: tuple[Path, dict]) -> None:
    out, _ = corpus
    checker = model.checker
    texts = [line for text in _reports(out).values() for line in text.split("\n") if line]
    texts += ["增长5.8%，达到1,000亿元", "XX个支部，X次", "第十四届人民代表大会第三次会议",
              "2024年3、5月", "PM2.5平均浓度", "5G基站XX万个"]
    texts = [t for t in texts if checker.known(t)]
    codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype="<u4").astype(np.int64)
    seg = np.repeat(np.arange(len(texts)), [len(t) for t in texts])
    norm, owner = checker.normalise(codes, seg)
    for k, t in enumerate(texts):
        got = norm[owner == k].astype("<u4").tobytes().decode("utf-32-le")
        assert got == normalize(t).chars, t


def test_sentences_rarely_repeat_across_reports(corpus: tuple[Path, dict]) -> None:
    """Counted in the written reports (not taken from the generator's own statistics): no
    sentence of the generator's own (copied template lines aside) is in more than 3 reports, and
    the statistic it prints says the same."""
    out, stats = corpus
    holders: dict[str, set[str]] = {}
    for rid, text in _reports(out).items():
        for line in text.split("\n")[1:]:
            if not line or _copied(line):
                continue
            for s in SENTENCE.findall(NUMBERING.sub("", line)):
                if len(s) >= gen.MIN_DIVERSITY_CHARS:
                    holders.setdefault(s, set()).add(rid)
    assert len(holders) > 500
    most = max(len(reports) for reports in holders.values())
    assert most <= 3, [s for s, r in holders.items() if len(r) == most]
    assert stats["max_reports_sharing_sentence"] <= 3


def test_reports_share_little_verbatim_text(corpus: tuple[Path, dict]) -> None:
    """Checked against 30 other reports of the seed, a report has next to nothing flagged: the
    order-2 chain alone replayed its likeliest word runs, ~3 % of a report at 30 reports and
    40-50 % at 10,000 (an index of 2,000 now flags ~0.4 %)."""
    out, _ = corpus
    meta = json.loads((out / "corpus.json").read_text(encoding="utf-8"))
    own = [text for rid, text in _reports(out).items() if "copies" not in meta[rid]["tags"]]
    index = build_index([Reference(f"r{k}", text) for k, text in enumerate(own[5:35])])
    ratios = [check_text(text, index).raw_copy_ratio for text in own[:5]]
    assert len(own) >= 35
    assert np.mean(ratios) <= 0.005, ratios
    assert max(ratios) <= 0.02, ratios


def test_replacements_keep_part_of_speech_and_length(model: Any) -> None:
    chain, subs = model.chain, model.substitutes
    rng = np.random.default_rng(0)
    words = gen.walk(chain, rng.random((gen.ROWS, 300)))[0].T
    out = subs.apply(words, rng.random(words.shape), rng.random(words.shape))
    content = subs.cls[words] >= 0
    assert (out[~content] == words[~content]).all(), "only content words are replaced"
    assert (subs.cls[out[content]] == subs.cls[words[content]]).all()
    assert (chain.length[out] == chain.length[words]).all()
    assert content.sum() > 1000
    assert (out[content] != words[content]).mean() > 0.5
    # most replacements follow the word before them as some training sentence does
    prev = np.concatenate([np.full((len(out), 1), gen.BOS), out[:, :-1]], axis=1)
    assert subs.seen(prev[content], out[content]).mean() > 0.7


def test_cli_prints_one_json_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    assert gen.main(["--n", "3", "--seed", "1", "--out", str(out), "--workers", "1",
                     "--train-dir", str(PROVINCIAL), "--stats"]) == 0
    lines = capsys.readouterr().out.strip().split("\n")
    assert len(lines) == 1
    stats = json.loads(lines[0])
    assert stats["n"] == 3
    assert len(list(out.glob("gen-*.txt"))) == 3
    assert set(json.loads((out / "corpus.json").read_text(encoding="utf-8"))) == {
        "gen-000000", "gen-000001", "gen-000002"}


def test_no_run_of_training_text_crosses_a_line_break(corpus: tuple[Path, dict]) -> None:
    """The checker reads a report as one stream: two neighbouring generated lines together
    hold no 13-window of the training text either."""
    out, _ = corpus
    windows = training_windows()
    checked = 0
    for rid, text in _reports(out).items():
        lines = [line for line in text.split("\n") if line]
        for a, b in itertools.pairwise(lines):
            if _copied(a) or _copied(b):
                continue
            chars = normalize(a + b).chars
            found = [chars[i : i + 13] for i in range(len(chars) - 12)
                     if chars[i : i + 13] in windows]
            assert not found, (rid, a[-20:], b[:20], found)
            checked += 1
    assert checked > 500


def test_no_generated_sentence_is_a_near_copy_of_a_training_sentence(
        corpus: tuple[Path, dict]) -> None:
    """A sentence with a word or two swapped would be flagged by the checker as a disguised
    copy of the training text: none is 70 % similar (Indel) to a training sentence."""
    from rapidfuzz import fuzz, process

    out, _ = corpus
    training = [provincial_text(p.stem) for p in sorted(PROVINCIAL.glob("*.docx"))]
    training += templates().values()
    theirs = sorted({c for text in training for piece in re.split(r"[。！？；\n]", text)
                     if len(c := normalize(piece).chars) >= 10})
    ours = sorted({c for rid, text in _reports(out).items() for line in text.split("\n")
                   if line and not _copied(line) for piece in SENTENCE.findall(line)
                   if len(c := normalize(piece).chars) >= 10})
    assert len(ours) > 1000 and len(theirs) > 1000
    scores = process.cdist(ours, theirs, scorer=fuzz.ratio, dtype=np.uint8, workers=2)
    worst = np.unravel_index(int(scores.argmax()), scores.shape)
    assert scores.max() < 70, (ours[worst[0]], theirs[worst[1]], int(scores.max()))
