#!/usr/bin/env python3
"""Makes a harder evaluation set from the dev set by disguising its copied passages.

The held-out set that judges the checker uses disguises the dev set lacks (see the eval README):
heavier synonym replacement, homophone typos, traditional characters, text hard-wrapped as when
copied out of a PDF, and GB18030-encoded files.  This script imitates each of them on top of the dev
set, so that the checker can be measured against them without tuning on the held-out set itself:

  synonym-heavy  ~30 % of the jieba words (2+ Han characters) in every copied span are replaced by
                 another word of the same length from a vocabulary built from the set's own texts
  homophone      ~6 % of the Han characters in every copied span are replaced by another character
                 with the same toneless pinyin that occurs in the set's texts
  traditional    the whole case text is converted to traditional characters with OpenCC s2t
  hardwrap       every line of the case is broken with '\\n' every W characters (W drawn per case
                 from 28..40), as text pasted from a PDF looks
  hardwrap-columns  every line broken where it would pass W display columns (W drawn per case
                 from 56..80: 28..40 Chinese characters, more when half-width digits and letters
                 share the line), as a PDF lays text out
  hardwrap-pasted   only the copied spans broken every W characters (28..40), as a passage
                 pasted out of a PDF into a report typed as one line a paragraph
  gb18030        the case text is unchanged but written as GB18030 (truth "encoding": "gb18030")
  patchwork      a paragraph stitched together sentence by sentence from three or four corpus
                 documents (placeholders filled as a writer would) is inserted into every case;
                 each sentence is a span with its own source, and the case's other spans become
                 "dontcare", so the set judges the patchwork alone (recall, and attribution:
                 each sentence credited to its own source). Sentences are drawn only from those
                 that share no 13-character run with another corpus document, so each has one
                 right source.

The output is a set in the same format (corpus/ copied unchanged, cases/, truth.jsonl), scorable
with shared/eval/score.py.  Span and dontcare offsets are remapped through every edit, every span
gets the kind as its "obfuscation", source_start/source_end are kept, and the output is
deterministic for a given --seed.  --check re-reads the written set and verifies it.

  make_disguised_set.py ../shared/eval/dev --out /tmp/disguised --kind all --check
"""
from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import cached_property
from pathlib import Path

KINDS = ("synonym-heavy", "homophone", "traditional", "hardwrap", "hardwrap-columns",
         "hardwrap-pasted", "gb18030", "patchwork")
SYNONYM_RATE = 0.30
HOMOPHONE_RATE = 0.06
WRAP_WIDTHS = (28, 40)
TRADITIONAL_MIN_AGREEMENT = 0.95
PATCH_SOURCES = (3, 4)  # documents a patchwork paragraph takes one sentence each from
PATCH_SENTENCE = (20, 120)  # length of the sentences it takes
RUN = 13  # a shared run this long (folded) makes a sentence's source ambiguous

Edit = tuple[int, int, str]  # replace text[start:end] by the string


@dataclass
class Case:
    truth: dict
    text: str


def is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


def all_han(word: str) -> bool:
    # Also rules out words with digits, X placeholders and punctuation.
    return all(is_han(ch) for ch in word)


def lines_with_offsets(text: str) -> list[tuple[int, str]]:
    out, pos = [], 0
    for line in text.split("\n"):
        out.append((pos, line))
        pos += len(line) + 1
    return out


# ---------------------------------------------------------------- reading and writing sets

def load_cases(set_dir: Path) -> list[Case]:
    cases = []
    with (set_dir / "truth.jsonl").open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                truth = json.loads(line)
                raw = (set_dir / "cases" / truth["case"]).read_bytes()
                cases.append(Case(truth, raw.decode(truth["encoding"])))
    return cases


def corpus_texts(set_dir: Path) -> list[str]:
    return list(corpus_docs(set_dir).values())


def corpus_docs(set_dir: Path) -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8")
            for p in sorted((set_dir / "corpus").glob("*.txt"))}


def write_set(src_dir: Path, out_dir: Path, cases: list[Case]) -> None:
    (out_dir / "cases").mkdir(parents=True, exist_ok=True)
    shutil.copytree(src_dir / "corpus", out_dir / "corpus", dirs_exist_ok=True)
    with (out_dir / "truth.jsonl").open("w", encoding="utf-8") as f:
        for case in cases:
            # Bytes, not text mode: no platform may turn '\n' into '\r\n' and break the offsets.
            path = out_dir / "cases" / case.truth["case"]
            path.write_bytes(case.text.encode(case.truth["encoding"]))
            f.write(json.dumps(case.truth, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------- offsets

def shift_before(edits: list[Edit], offset: int, closing: bool) -> int:
    """How far `offset` moves through the edits.

    An opening offset moves with edits that end at or before it (an insertion right at a span's
    start lands outside the span); a closing offset moves with edits that start before it (an
    insertion right at a span's end also stays outside, one inside the span is part of it).
    """
    delta = 0
    for start, end, new in edits:
        if (start < offset) if closing else (end <= offset):
            delta += len(new) - (end - start)
    return delta


def apply_edits(case: Case, edits: list[Edit]) -> Case:
    """Applies non-overlapping edits and remaps every span and dontcare offset through them."""
    edits = sorted(edits)
    parts, pos = [], 0
    for start, end, new in edits:
        assert start >= pos, "edits overlap"
        parts += [case.text[pos:start], new]
        pos = end
    parts.append(case.text[pos:])
    text = "".join(parts)

    def remap(s: int, e: int) -> tuple[int, int]:
        return s + shift_before(edits, s, False), e + shift_before(edits, e, True)

    truth = json.loads(json.dumps(case.truth))  # deep copy
    for span in truth["spans"]:
        span["start"], span["end"] = remap(span["start"], span["end"])
    truth["dontcare"] = [list(remap(s, e)) for s, e in truth["dontcare"]]
    truth["length"] = len(text)
    return Case(truth, text)


# ---------------------------------------------------------------- resources built from the set

class Resources:
    """Vocabulary, homophones and converters, built only when a kind needs them."""

    def __init__(self, texts: list[str], corpus: dict[str, str] | None = None) -> None:
        self.texts = texts
        self.corpus = corpus or {}

    @cached_property
    def sentences(self) -> dict[str, list[tuple[int, int]]]:
        """Per corpus document, the (start, end) of its sentences that a patchwork may take:
        PATCH_SENTENCE long, not a heading, and sharing no RUN-character run (folded) with
        another document."""
        runs: dict[str, set[str]] = {}
        for doc_id, text in self.corpus.items():
            chars = folded(text)
            runs[doc_id] = {chars[i : i + RUN] for i in range(len(chars) - RUN + 1)}
        out: dict[str, list[tuple[int, int]]] = {}
        for doc_id, text in self.corpus.items():
            others = set().union(*(r for d, r in runs.items() if d != doc_id))
            out[doc_id] = []
            for start, end in sentence_spans(text):
                chars = folded(text[start:end])
                if (PATCH_SENTENCE[0] <= end - start <= PATCH_SENTENCE[1]
                        and not any(chars[i : i + RUN] in others
                                    for i in range(len(chars) - RUN + 1))):
                    out[doc_id].append((start, end))
        return out

    @cached_property
    def words_by_length(self) -> dict[int, list[str]]:
        import jieba
        jieba.setLogLevel(logging.WARNING)
        words: set[str] = set()
        for text in self.texts:
            for line in text.split("\n"):
                words.update(w for w in jieba.lcut(line) if len(w) >= 2 and all_han(w))
        by_len: dict[int, list[str]] = {}
        for w in sorted(words):  # sorted: seeded choices must not depend on set order
            by_len.setdefault(len(w), []).append(w)
        return by_len

    @cached_property
    def homophones(self) -> dict[str, list[str]]:
        """Each Han character of the texts -> the other characters of the texts with its pinyin."""
        from pypinyin import lazy_pinyin
        chars = sorted({ch for text in self.texts for ch in text if is_han(ch)})
        by_sound: dict[str, list[str]] = {}
        for ch in chars:
            by_sound.setdefault(lazy_pinyin(ch)[0], []).append(ch)
        return {ch: [o for o in by_sound[lazy_pinyin(ch)[0]] if o != ch] for ch in chars}

    @cached_property
    def s2t(self):
        import opencc
        return opencc.OpenCC("s2t")

    @cached_property
    def t2s(self):
        import opencc
        return opencc.OpenCC("t2s")


def folded(text: str) -> str:
    """Letters and Han characters only, every run of digits, Chinese numerals or X as one 0
    (as the checker compares text: a filled placeholder reads as the template)."""
    out: list[str] = []
    for ch in text:
        if ch.isdigit() or ch in "〇零一二三四五六七八九十xXＸ":
            if not out or out[-1] != "0":
                out.append("0")
        elif ch.isalnum():
            out.append(ch)
    return "".join(out)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentences of every line, each with its closing punctuation."""
    out = []
    for pos, line in lines_with_offsets(text):
        start = 0
        for i, ch in enumerate(line):
            if ch in "。！？；" and (i + 1 == len(line) or line[i + 1] not in "”’」』）"):
                out.append((pos + start, pos + i + 1))
                start = i + 1
    return [(a, b) for a, b in out if b > a]


def convert_keeping_length(converter, text: str) -> str:
    """Converts text whole (phrase-aware); character by character where that would change length."""
    whole = converter.convert(text)
    if len(whole) == len(text):
        return whole
    out = []
    for ch in text:
        conv = converter.convert(ch)
        out.append(conv if len(conv) == 1 else ch)
    return "".join(out)


# ---------------------------------------------------------------- the disguises

Editor = Callable[[Case, random.Random, Resources], list[Edit]]


def synonym_edits(case: Case, rng: random.Random, res: Resources) -> list[Edit]:
    import jieba
    jieba.setLogLevel(logging.WARNING)
    vocab = res.words_by_length
    edits: list[Edit] = []
    for span in case.truth["spans"]:
        base = span["start"]
        tokens = [(w, s, e) for w, s, e in jieba.tokenize(case.text[base:span["end"]])
                  if len(w) >= 2 and all_han(w) and len(vocab.get(len(w), [])) > 1]
        for i in sorted(rng.sample(range(len(tokens)), round(SYNONYM_RATE * len(tokens)))):
            word, s, e = tokens[i]
            new = word
            while new == word:
                new = rng.choice(vocab[len(word)])
            edits.append((base + s, base + e, new))
    return edits


def homophone_edits(case: Case, rng: random.Random, res: Resources) -> list[Edit]:
    edits: list[Edit] = []
    for span in case.truth["spans"]:
        han = [i for i in range(span["start"], span["end"]) if is_han(case.text[i])]
        candidates = [i for i in han if res.homophones.get(case.text[i])]
        count = min(len(candidates), round(HOMOPHONE_RATE * len(han)))
        for i in sorted(rng.sample(candidates, count)):
            edits.append((i, i + 1, rng.choice(res.homophones[case.text[i]])))
    return edits


def traditional_edits(case: Case, rng: random.Random, res: Resources) -> list[Edit]:
    # Line by line, so a length-changing phrase only costs its own line the phrase-aware conversion.
    edits: list[Edit] = []
    for pos, line in lines_with_offsets(case.text):
        conv = convert_keeping_length(res.s2t, line)
        if conv != line:
            edits.append((pos, pos + len(line), conv))
    return edits


def hardwrap_edits(case: Case, rng: random.Random, res: Resources) -> list[Edit]:
    width = rng.randint(*WRAP_WIDTHS)
    return [(pos + k, pos + k, "\n")
            for pos, line in lines_with_offsets(case.text)
            for k in range(width, len(line), width)]


def columns(ch: str) -> int:
    """Display columns of a character: two for wide (Chinese) ones, one for half-width."""
    import unicodedata
    return 2 if unicodedata.east_asian_width(ch) in "WF" else 1


def hardwrap_columns_edits(case: Case, rng: random.Random, res: Resources) -> list[Edit]:
    width = 2 * rng.randint(*WRAP_WIDTHS)
    edits: list[Edit] = []
    for pos, line in lines_with_offsets(case.text):
        used = 0
        for k, ch in enumerate(line):
            if used + columns(ch) > width:
                edits.append((pos + k, pos + k, "\n"))
                used = 0
            used += columns(ch)
    return edits


def hardwrap_pasted_edits(case: Case, rng: random.Random, res: Resources) -> list[Edit]:
    width = rng.randint(*WRAP_WIDTHS)
    return [(k, k, "\n") for span in case.truth["spans"]
            for k in range(span["start"] + width, span["end"], width)]


def no_edits(case: Case, rng: random.Random, res: Resources) -> list[Edit]:
    return []


def fill_placeholders(text: str, rng: random.Random) -> str:
    """XX and X filled with numbers, as a writer fills a template."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("XX", i):
            out.append(str(rng.randint(10, 99)))
            i += 2
        elif text[i] == "X":
            out.append(str(rng.randint(2, 9)))
            i += 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def patchwork(case: Case, rng: random.Random, res: Resources) -> Case:
    """One paragraph of sentences from PATCH_SOURCES documents, inserted at a line start; the
    case's own spans become dontcare."""
    docs = sorted(d for d, found in res.sentences.items() if found)
    chosen = rng.sample(docs, min(len(docs), rng.randint(*PATCH_SOURCES)))
    pieces = []
    for doc_id in chosen:
        start, end = rng.choice(res.sentences[doc_id])
        pieces.append((doc_id, start, end, fill_placeholders(res.corpus[doc_id][start:end], rng)))
    para = "".join(p[3] for p in pieces)
    line_starts = [pos for pos, _ in lines_with_offsets(case.text)]
    at = rng.choice(line_starts)
    out = apply_edits(case, [(at, at, para + "\n")])
    truth = out.truth
    truth["dontcare"] = sorted([*truth["dontcare"], *([sp["start"], sp["end"]]
                                                      for sp in truth["spans"])])
    spans, pos = [], at
    for doc_id, start, end, text in pieces:
        spans.append({"start": pos, "end": pos + len(text), "source": doc_id,
                      "source_start": start, "source_end": end, "obfuscation": "patchwork"})
        pos += len(text)
    truth["spans"] = spans
    return Case(truth, out.text)


EDITORS: dict[str, Editor] = {
    "synonym-heavy": synonym_edits,
    "homophone": homophone_edits,
    "traditional": traditional_edits,
    "hardwrap": hardwrap_edits,
    "hardwrap-columns": hardwrap_columns_edits,
    "hardwrap-pasted": hardwrap_pasted_edits,
    "gb18030": no_edits,
}


def disguise(case: Case, kind: str, seed: int, res: Resources) -> Case:
    # One generator per (seed, kind, case): a case's output does not depend on the others.
    rng = random.Random(f"{seed}:{kind}:{case.truth['case']}")
    if kind == "patchwork":
        return patchwork(case, rng, res)
    out = apply_edits(case, EDITORS[kind](case, rng, res))
    for span in out.truth["spans"]:
        span["obfuscation"] = kind
    if kind == "gb18030":
        out.truth["encoding"] = "gb18030"
    return out


# ---------------------------------------------------------------- checks

def outside_spans(text: str, spans: list[dict]) -> str:
    keep, pos = [], 0
    for span in sorted(spans, key=lambda sp: sp["start"]):
        keep.append(text[pos:span["start"]])
        pos = span["end"]
    return "".join(keep) + text[pos:]


def agreement(a: str, b: str) -> float:
    if len(a) != len(b):
        return 0.0
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a) if a else 1.0


def check_patchwork(orig: Case, new: Case, res: Resources) -> None:
    name = orig.truth["case"]
    assert len(new.text) == new.truth["length"], f"{name}: length"
    spans = new.truth["spans"]
    assert PATCH_SOURCES[0] <= len(spans) <= PATCH_SOURCES[1], f"{name}: sentences"
    assert len({sp["source"] for sp in spans}) == len(spans), f"{name}: one sentence a source"
    start, end = spans[0]["start"], spans[-1]["end"]
    assert new.text[end] == "\n" and (start == 0 or new.text[start - 1] == "\n"), name
    assert new.text[:start] + new.text[end + 1 :] == orig.text, f"{name}: host text changed"
    for sp in spans:
        src = res.corpus[sp["source"]][sp["source_start"] : sp["source_end"]]
        assert folded(new.text[sp["start"] : sp["end"]]) == folded(src), f"{name}: sentence"
    assert len(new.truth["dontcare"]) == len(orig.truth["dontcare"]) + len(orig.truth["spans"])


def check_case(orig: Case, new: Case, kind: str, res: Resources) -> None:
    if kind == "patchwork":
        check_patchwork(orig, new, res)
        return
    name = orig.truth["case"]
    assert len(new.text) == new.truth["length"], f"{name}: length"
    assert len(new.truth["spans"]) == len(orig.truth["spans"]), f"{name}: span count"
    assert len(new.truth["dontcare"]) == len(orig.truth["dontcare"]), f"{name}: dontcare count"
    pairs = [((o["start"], o["end"]), (n["start"], n["end"]))
             for o, n in zip(orig.truth["spans"], new.truth["spans"], strict=True)]
    pairs += [(tuple(o), tuple(n))
              for o, n in zip(orig.truth["dontcare"], new.truth["dontcare"], strict=True)]
    for (os_, oe), (ns, ne) in pairs:
        assert 0 <= ns <= ne <= len(new.text), f"{name}: offsets out of range"
        was, now = orig.text[os_:oe], new.text[ns:ne]
        if kind == "gb18030":
            assert now == was, f"{name}: {os_}-{oe} changed"
        elif kind.startswith("hardwrap"):
            assert now.replace("\n", "") == was.replace("\n", ""), f"{name}: {os_}-{oe} moved"
            assert not now.startswith("\n") and not now.endswith("\n"), f"{name}: edge newline"
        elif kind == "traditional":
            back = convert_keeping_length(res.t2s, now)
            assert agreement(back, was) >= TRADITIONAL_MIN_AGREEMENT, f"{name}: {os_}-{oe} t2s"
        else:
            assert len(now) == len(was), f"{name}: {os_}-{oe} changed length"
    if kind in ("synonym-heavy", "homophone"):
        # Only copied text is disguised: the host text must be untouched.
        assert outside_spans(new.text, new.truth["spans"]) == \
            outside_spans(orig.text, orig.truth["spans"]), f"{name}: host text changed"


def check_set(orig_cases: list[Case], out_dir: Path, kind: str, res: Resources) -> None:
    """Re-reads the written set from disk and checks it against the source set."""
    written = load_cases(out_dir)
    assert [c.truth["case"] for c in written] == [c.truth["case"] for c in orig_cases]
    for orig, new in zip(orig_cases, written, strict=True):
        check_case(orig, new, kind, res)


# ---------------------------------------------------------------- main

def span_change(orig_cases: list[Case], new_cases: list[Case]) -> tuple[float, int]:
    """Share of source span characters replaced, and span characters added (for the summary)."""
    total = replaced = added = 0
    for o, n in zip(orig_cases, new_cases, strict=True):
        for so, sn in zip(o.truth["spans"], n.truth["spans"], strict=True):
            a, b = o.text[so["start"]:so["end"]], n.text[sn["start"]:sn["end"]]
            kept = sum(blk.size for blk in SequenceMatcher(None, a, b, autojunk=False)
                       .get_matching_blocks())
            total += len(a)
            replaced += len(a) - kept
            added += len(b) - len(a)
    return (replaced / total if total else 0.0), added


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("set_dir", type=Path, help="source set (corpus/, cases/, truth.jsonl)")
    ap.add_argument("--out", type=Path, required=True, help="output set directory")
    ap.add_argument("--kind", choices=(*KINDS, "all"), default="all",
                    help="disguise to apply; 'all' writes OUT/<kind>/ for each kind")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--check", action="store_true", help="re-read the output and verify it")
    args = ap.parse_args(argv)

    orig_cases = load_cases(args.set_dir)
    res = Resources(corpus_texts(args.set_dir) + [c.text for c in orig_cases],
                    corpus_docs(args.set_dir))
    kinds = KINDS if args.kind == "all" else (args.kind,)
    for kind in kinds:
        t0 = time.perf_counter()
        out_dir = args.out / kind if args.kind == "all" else args.out
        new_cases = [disguise(c, kind, args.seed, res) for c in orig_cases]
        write_set(args.set_dir, out_dir, new_cases)
        if args.check:
            check_set(orig_cases, out_dir, kind, res)
        replaced, added = span_change(orig_cases, new_cases) if kind != "patchwork" else (0, 0)
        print(f"{kind:14} {len(new_cases)} cases -> {out_dir}  span chars replaced "
              f"{replaced:.1%}, added {added}  "
              f"{'checked  ' if args.check else ''}{time.perf_counter() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
