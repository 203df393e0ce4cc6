#!/usr/bin/env python3
"""Generates a large, deterministic corpus of synthetic Chinese work reports for benchmarking.

Text comes from a word-level Markov chain over jieba words trained on the provincial government
work reports and the bundled templates: order 2, but order 1 at most steps (and where a context
was never seen). Most content words it emits are then drawn again from the training words with
the same jieba.posseg tag and length, mostly from those seen after the word before. The chain
alone keeps replaying its likeliest word runs, so that different reports shared long verbatim
runs (33 % of each report flagged against 2,000 others, 45 % against 10,000); backing off and
replacing words makes reports about as distinct as real ones (0.4 % and 0.7 %). The paragraph
lengths (sentences per paragraph) and the heading layout ("一、…", "（一）…", headings on
their own line or leading a paragraph) are learned from the same texts. About 5 % of the reports
copy 1-3 whole template paragraphs verbatim; nothing else is copied: every generated sentence,
heading and title whose normalised form shares a 13-character window with the normalised training
text is rejected and sampled again, and so is every paragraph in which two sentences (or the end
of one line and the start of the next) happen to join into such a window. So is every sentence
and line holding a near-copy of a training sentence (a word or two swapped: 70 % similar or
more), which the checker would rightly flag as a disguised copy of the training text.

Report i depends only on (seed, i), so the output is byte-identical for any number of workers.

    generate_corpus.py --n 100000 --seed 1 --out bench/data/gen100k --workers 2 --stats
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import multiprocessing
import re
import string
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

import jieba
import jieba.posseg
import numpy as np
from rapidfuzz import fuzz

from app.core.corpus import load_corpus
from app.core.normalize import _CHINESE_NUMERALS, _NUMBER_SEPARATORS, NUMBER, normalize
from app.core.normalize import _fold_char as fold_char
from app.core.normalize import _simplify_char as simplify_char
from app.core.readers import read_document

ROOT = Path(__file__).resolve().parents[1]
TRAIN_DIR = ROOT.parent / "shared" / "corpora" / "provincial-2025"
TEMPLATE_DIR = ROOT / "reference_corpus"

WINDOW = 13  # a shared run this long counts as copying, as in the evaluation's "dontcare"
# A line holding something this similar (rapidfuzz partial Indel similarity of normalised text)
# to a training sentence of NEAR_MIN_CHARS or more is a near-copy of it. Training sentences are
# found by shared NEAR_GRAM-grams first: at least NEAR_SHARED of the sentence's grams.
NEAR_SIMILARITY, NEAR_MIN_CHARS, NEAR_GRAM, NEAR_SHARED = 70.0, 10, 4, 0.4
NEAR_MAX_POSTINGS = 32  # grams in more training sentences than this are not looked up
MIN_NORM_CHARS = 8  # shorter sentences are mostly stock phrases and repeat across reports
MIN_SENTENCE, MAX_SENTENCE = 10, 80
MIN_REPORT, MAX_REPORT = 1500, 6000
TARGET_LOW, TARGET_HIGH = 1600, 5800  # margins for the last sentence and for repairs
LENGTH_MEDIAN, LENGTH_SIGMA = 2850.0, 0.35  # mean of the clipped log-normal is about 3,000
COPY_RATE, MAX_COPIES, MIN_COPY_CHARS = 0.05, 3, 40
MIN_GENERATED = 600  # even a copying report is mostly its own text
MIN_DIVERSITY_CHARS = 15  # sentences at least this long count in the diversity statistic
MAX_LOG_PROB = -15.0  # a sentence likelier than this is kept only in proportion
ORDER2_MIN_COUNT = 1  # contexts seen fewer times fall back to order 1
# Two ways off the chain's likeliest paths, which otherwise make different reports share long
# runs of text (40-50 % of each report in runs of 13+ characters found in 10,000 others):
BACKOFF_RATE = 0.7  # share of the steps that look at the last word only (order 1)
# jieba.posseg tags of the content words that are drawn again after the chain emits them, from
# the words of the same tag and length (see Substitutes)
SUBSTITUTE_TAGS = frozenset({"n", "v", "vn", "a", "an", "ad", "d", "vd", "nz", "ns", "l", "i",
                             "j", "b"})
MIN_SUBSTITUTE_LEN = 2  # one-character words (是, 抓, 新) stay
FOLLOW_TRIES = 4  # draws to find a replacement that the next word was seen after
FREE_RATE = 0.1  # share of the content words drawn from their whole class, not after the last
CHUNK = 50  # reports per task handed to a worker; their sentences are sampled together
BATCH_MARGIN, MIN_BATCH, MAX_BATCH = 1.3, 32, 4096  # candidates per batch vs. expected need
MAX_REPAIR_ROUNDS = 50

BOS, END = 0, 1  # word ids of the sentence start (padding) and end
TERMINATORS = "。！？；"
SENTENCE_RE = re.compile(r"[^。！？；]*[。！？；]+[”’」』]*")
NUMBER_RE = re.compile(r"(\d+(?:[.．,，]\d+)*)")  # one token per number, as jieba splits 5.8
CN_DIGITS = "一二三四五六七八九十"
MARKER_RES = {  # heading level -> its numbering at the start of a line
    1: re.compile(rf"^[{CN_DIGITS}]+、"),
    2: re.compile(rf"^[（(][{CN_DIGITS}]+[）)]"),
    3: re.compile(r"^\d{1,2}[．.、](?!\d)"),
}
MAX_HEADING_LINE = 60
CLAUSE_END_RE = re.compile(r"[，、：；。！？]")
CLAUSE_BAD = set("“”‘’《》（）()「」『』")
TITLE_SUFFIX = "工作报告"
TITLE_CHARS = "年" + TITLE_SUFFIX
TITLE_CLAUSE = (6, 14)
HEADING_CLAUSE = (4, 16)

_POLY = np.uint64(0x100000001B3)
_MIX = np.uint64(0x9E3779B97F4A7C15)
BITMAP_BITS = 24  # 2 MB of bits: few false positives, and it stays in cache
_UNKNOWN, _DROPPED = -2, -1
_SENTENCE_END = re.compile(r"[。！？；!?;\n]")


# --------------------------------------------------------------------------------------------
# Training text


def _clean(line: str) -> str:
    return re.sub(r"\s+", "", line)


def heading_level(line: str) -> tuple[int, str] | None:
    """(level, numbering) of a line that starts with a heading number, else None."""
    for level, pattern in MARKER_RES.items():
        m = pattern.match(line)
        if m:
            return level, m.group(0)
    return None


def split_sentences(paragraph: str) -> list[str]:
    """Sentences ending at 。！？； (with any closing quotes); an unterminated tail is dropped."""
    return SENTENCE_RE.findall(paragraph)


@dataclass
class Document:
    """One training text: its sentences and its layout as a list of events."""

    sentences: list[str] = field(default_factory=list)
    # ("h", level, inline, numbering) for a heading, ("p", sentence count) for a paragraph
    events: list[tuple] = field(default_factory=list)


def parse_document(text: str) -> Document:
    doc = Document()
    for raw in text.splitlines():
        line = _clean(raw)
        if not line:
            continue
        head = heading_level(line)
        has_sentence = any(t in line for t in TERMINATORS)
        if head and not has_sentence and len(line) <= MAX_HEADING_LINE:
            doc.events.append(("h", head[0], False, head[1]))
            continue
        if head and has_sentence:
            doc.events.append(("h", head[0], True, head[1]))
            line = line[len(head[1]):]  # numbering is layout, not text for the chain
        sentences = split_sentences(line)
        if sentences:
            doc.events.append(("p", len(sentences)))
            doc.sentences.extend(sentences)
    return doc


def read_training(train_dir: Path, template_dir: Path) -> tuple[list[str], dict[str, str]]:
    """Texts of the provincial reports and the templates, and the templates by id."""
    texts = [read_document(p.read_bytes(), p.name) for p in sorted(train_dir.glob("*.docx"))]
    if not texts:
        raise SystemExit(f"{train_dir}: no .docx training reports found")
    templates = {ref.id: ref.text for ref in load_corpus(template_dir)}
    return texts + list(templates.values()), templates


# --------------------------------------------------------------------------------------------
# Fast normalisation and the 13-window check


@dataclass
class Checker:
    """Normalises many strings at once exactly as app.core.normalize does (for the characters
    of the training text) and tells which contain a 13-window of the normalised training text."""

    fold: np.ndarray  # code point -> folded code point, _DROPPED or _UNKNOWN
    numeric: np.ndarray  # folded code point -> counts as a number
    latin: np.ndarray  # folded code point -> ASCII letter
    separator: np.ndarray  # code point -> may stand inside a number (5.8, 1,000)
    windows: np.ndarray  # sorted hashes of the training text's 13-windows
    bitmap: np.ndarray  # bit slot(hash) is set if a training window has it: most lookups stop here
    near: NearCopies

    def known(self, text: str) -> bool:
        codes = _codes(text)
        return bool(len(codes) == 0 or (codes.max() < len(self.fold)
                                        and (self.fold[codes] != _UNKNOWN).all()))

    def normalise(self, codes: np.ndarray, seg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalised codes (uint64) and their segment ids; ``seg`` is non-decreasing."""
        folded = self.fold[codes]
        if (folded == _UNKNOWN).any():
            raise ValueError("text outside the training alphabet reached the checker")
        pos = np.flatnonzero(folded >= 0)
        if not len(pos):
            return np.empty(0, dtype=np.uint64), pos
        chars, cseg = folded[pos], seg[pos]
        numeric = self.numeric[chars]
        x = chars == ord("x")
        if x.any():
            numeric |= self._placeholders(chars, cseg, pos, x)
        # A number run goes on when nothing but one separator stands between two numerals.
        same = cseg[1:] == cseg[:-1]
        gap = pos[1:] - pos[:-1] - 1
        after = self.separator[codes[np.minimum(pos[:-1] + 1, len(codes) - 1)]]
        joins = same & numeric[1:] & numeric[:-1] & ((gap == 0) | ((gap == 1) & after))
        keep = np.concatenate([[True], ~joins])
        out = np.where(numeric, ord(NUMBER), chars)[keep].astype(np.uint64)
        return out, cseg[keep]

    def _placeholders(self, chars: np.ndarray, seg: np.ndarray, pos: np.ndarray,
                      x: np.ndarray) -> np.ndarray:
        """Runs of x that are template placeholders (XX个), not glued to a Latin letter."""
        n = len(chars)
        same = np.concatenate([[False], seg[1:] == seg[:-1]])  # same[i]: i-1 is in i's segment
        starts = np.flatnonzero(x & ~(np.concatenate([[False], x[:-1]]) & same))
        ends = np.flatnonzero(x & ~np.concatenate([x[1:] & same[1:], [False]])) + 1
        before = np.maximum(starts - 1, 0)
        glued_before = ((starts > 0) & same[starts] & (pos[before] + 1 == pos[starts])
                        & self.latin[chars[before]])
        after = np.minimum(ends, n - 1)
        glued_after = ((ends < n) & same[after] & (pos[ends - 1] + 1 == pos[after])
                       & self.latin[chars[after]])
        ok = ~(glued_before | glued_after)
        mark = np.zeros(n + 1, dtype=np.int64)
        mark[starts[ok]] += 1
        mark[ends[ok]] -= 1
        return np.cumsum(mark[:n]) > 0

    def hits(self, codes: np.ndarray, seg: np.ndarray, nseg: int,
             near: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Per segment: does it share a 13-window with the training text (or, with ``near``,
        hold a near-copy of a training sentence); normalised length."""
        norm, nseg_of = self.normalise(codes, seg)
        length = np.bincount(nseg_of, minlength=nseg)
        hashes, valid = window_hashes(norm, nseg_of)
        hit = np.zeros(nseg, dtype=bool)
        slot = _slot(hashes)
        bits = self.bitmap[slot >> np.uint64(3)] >> (slot & np.uint64(7)).astype(np.uint8)
        maybe = np.flatnonzero(valid & (bits & 1).astype(bool))
        if len(maybe):
            at = np.minimum(np.searchsorted(self.windows, hashes[maybe]), len(self.windows) - 1)
            found = maybe[self.windows[at] == hashes[maybe]]
            hit[nseg_of[found]] = True
        if near:
            hit |= self.near.find(norm, nseg_of, nseg, skip=hit)
        return hit, length

    def text_hits(self, texts: list[str], near: bool = True) -> np.ndarray:
        """Does each string share a 13-window with the training text (or, with ``near``, hold
        a near-copy of a training sentence)."""
        if not texts:
            return np.zeros(0, dtype=bool)
        codes = _codes("".join(texts))
        seg = np.repeat(np.arange(len(texts)), [len(t) for t in texts])
        return self.hits(codes, seg, len(texts), near)[0]


@dataclass
class NearCopies:
    """Normalised training sentences, found again by their NEAR_GRAM-grams."""

    sentences: list[str]  # normalised
    gram_counts: np.ndarray  # grams per sentence
    grams: np.ndarray  # sorted gram hashes
    owners: np.ndarray  # the sentence of each gram

    @classmethod
    def build(cls, sentences: list[str]) -> NearCopies:
        kept = sorted({s for s in sentences if len(s) >= NEAR_MIN_CHARS})
        hashes, owners = [], []
        for i, s in enumerate(kept):
            h = np.unique(gram_hashes(_codes(s).astype(np.uint64), NEAR_GRAM)[0])
            hashes.append(h)
            owners.append(np.full(len(h), i))
        grams, owner = np.concatenate(hashes), np.concatenate(owners)
        # grams of stock phrases, in many sentences, say little and would make lookups slow
        _, inverse, postings = np.unique(grams, return_inverse=True, return_counts=True)
        rare = postings[inverse] <= NEAR_MAX_POSTINGS
        grams, owner = grams[rare], owner[rare]
        order = np.argsort(grams, kind="stable")
        return cls(kept, np.bincount(owner, minlength=len(kept)), grams[order], owner[order])

    def find(self, norm: np.ndarray, seg: np.ndarray, nseg: int, skip: np.ndarray) -> np.ndarray:
        """Per segment of ``norm``: does it hold a near-copy of a training sentence (segments
        in ``skip`` are not looked at)."""
        out = np.zeros(nseg, dtype=bool)
        hashes, valid = gram_hashes(norm, NEAR_GRAM, seg)
        at = np.flatnonzero(valid & ~skip[seg[: len(valid)]])
        if not len(at):
            return out
        lo = np.searchsorted(self.grams, hashes[at], side="left")
        hi = np.searchsorted(self.grams, hashes[at], side="right")
        n = hi - lo
        which = np.repeat(seg[at], n)
        place = np.repeat(lo, n) + np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
        # a gram repeated within a segment counts once; then shared grams per (segment, sentence)
        first = np.unique(which * len(self.grams) + place)
        which, place = first // len(self.grams), first % len(self.grams)
        pair, shared = np.unique(which * len(self.sentences) + self.owners[place],
                                 return_counts=True)
        segment, sentence = pair // len(self.sentences), pair % len(self.sentences)
        enough = shared >= np.maximum(NEAR_SHARED * self.gram_counts[sentence], 2)
        text = None
        for k, t in zip(segment[enough].tolist(), sentence[enough].tolist(), strict=True):
            if out[k]:
                continue
            if text is None:
                text = norm.astype("<u4").tobytes().decode("utf-32-le")
                bounds = np.searchsorted(seg, np.arange(nseg + 1))
            line = text[bounds[k] : bounds[k + 1]]
            out[k] = fuzz.partial_ratio(self.sentences[t], line) >= NEAR_SIMILARITY
        return out


def _codes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype="<u4").astype(np.int64)


def _slot(hashes: np.ndarray) -> np.ndarray:
    return (hashes * _MIX) >> np.uint64(64 - BITMAP_BITS)


def window_hashes(norm: np.ndarray, seg: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Polynomial hash of every 13-window and whether it lies within one segment."""
    return gram_hashes(norm, WINDOW, seg)


def gram_hashes(norm: np.ndarray, size: int,
                seg: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Polynomial hash of every ``size``-window and whether it lies within one segment."""
    m = len(norm) - size + 1
    if m <= 0:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=bool)
    h = np.zeros(m, dtype=np.uint64)
    for j in range(size):
        h = h * _POLY + norm[j : j + m]
    valid = np.ones(m, dtype=bool) if seg is None else seg[:m] == seg[size - 1 :]
    return h, valid


def build_checker(texts: list[str], extra_chars: str) -> Checker:
    chars = sorted(set("".join(texts)) | set(extra_chars))
    size = max(map(ord, chars)) + 1
    fold = np.full(size, _UNKNOWN, dtype=np.int64)
    separator = np.zeros(size, dtype=bool)
    for ch in chars:
        folded = fold_char(ch)
        if len(folded) > 1:
            continue  # expands to several characters: such text is left out of training
        fold[ord(ch)] = ord(simplify_char(folded)) if folded else _DROPPED
        separator[ord(ch)] = ch in _NUMBER_SEPARATORS
    top = int(fold.max()) + 1
    numeric = np.zeros(top, dtype=bool)
    latin = np.zeros(top, dtype=bool)
    for code in np.unique(fold[fold >= 0]):
        c = chr(code)
        numeric[code] = c.isdigit() or c in _CHINESE_NUMERALS
        latin[code] = c.isascii() and c.isalpha()
    hashes = [window_hashes(_codes(normalize(t).chars).astype(np.uint64))[0] for t in texts]
    windows = np.unique(np.concatenate(hashes))
    bitmap = np.zeros(1 << BITMAP_BITS, dtype=bool)
    bitmap[_slot(windows)] = True
    sentences = [normalize(piece).chars for t in texts for piece in _SENTENCE_END.split(t)]
    return Checker(fold, numeric, latin, separator, windows,
                   np.packbits(bitmap, bitorder="little"), NearCopies.build(sentences))


# --------------------------------------------------------------------------------------------
# The Markov chain


@dataclass
class Chain:
    """Order-2 chain over word ids with order-1 fallback, flattened for vectorised sampling.

    States are the order-2 contexts (a, b), numbered in the order of ``pairs``, then one order-1
    state ``n_pairs + b`` per word. State s owns the entries first[s] .. first[s] + size[s] - 1:
    candidate words ``succ`` with an alias table (``prob``, ``alias``), so drawing a word is a few
    gathers for every walker at once, and ``after`` is the state that choosing the entry leads to.
    """

    words: list[str]
    chars: np.ndarray  # int64 code points of all words, concatenated
    start: np.ndarray  # word id -> offset into chars
    length: np.ndarray  # word id -> number of characters
    pairs: np.ndarray  # sorted int64 keys a * V + b of the order-2 contexts
    first: np.ndarray  # state -> its first entry
    size: np.ndarray  # state -> number of entries
    succ: np.ndarray  # entry -> word id
    succ_len: np.ndarray  # entry -> characters of the word
    logp: np.ndarray  # entry -> log of its probability
    prob: np.ndarray  # entry -> probability of keeping it rather than its alias
    alias: np.ndarray  # entry -> the entry taken otherwise
    after: np.ndarray  # entry -> next state
    bigrams: np.ndarray  # sorted keys a * V + b of the word pairs in the training sentences
    bigram_counts: np.ndarray  # their occurrences

    @property
    def n_pairs(self) -> int:
        return len(self.pairs)


def tokenise(sentence: str) -> list[str]:
    out: list[str] = []
    for k, piece in enumerate(NUMBER_RE.split(sentence)):
        if k % 2:
            out.append(piece)
        elif piece:
            out.extend(jieba.lcut(piece, HMM=False))
    return out


def _transitions(sentences: list[list[str]]) -> tuple[list[str], np.ndarray, np.ndarray,
                                                       np.ndarray]:
    """Vocabulary and the (a, b) -> c word-id triples of every sentence, padded with BOS/END."""
    words = ["", ""]  # BOS, END
    ids: dict[str, int] = {}
    a: list[int] = []
    b: list[int] = []
    c: list[int] = []
    for tokens in sentences:
        seq = [BOS, BOS]
        for tok in tokens:
            if tok not in ids:
                ids[tok] = len(words)
                words.append(tok)
            seq.append(ids[tok])
        seq.append(END)
        a.extend(seq[:-2])
        b.extend(seq[1:-1])
        c.extend(seq[2:])
    return (words, np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64),
            np.asarray(c, dtype=np.int64))


def _alias_tables(first: np.ndarray, size: np.ndarray, counts: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Walker's alias method per state (Vose), as absolute entry indices."""
    prob = np.ones(len(counts))
    alias = np.arange(len(counts))
    for f, m in zip(first[size > 1].tolist(), size[size > 1].tolist(), strict=True):
        seg = counts[f : f + m]
        scaled = (seg * (m / seg.sum())).tolist()
        small = [i for i, p in enumerate(scaled) if p < 1.0]
        large = [i for i, p in enumerate(scaled) if p >= 1.0]
        while small and large:
            lo, hi = small.pop(), large.pop()
            prob[f + lo], alias[f + lo] = scaled[lo], f + hi
            scaled[hi] -= 1.0 - scaled[lo]
            (small if scaled[hi] < 1.0 else large).append(hi)
    return prob, alias


def build_chain(sentences: list[list[str]], min_count: int = ORDER2_MIN_COUNT) -> Chain:
    words, a, b, c = _transitions(sentences)
    v = len(words)

    key2, n2 = np.unique((a * v + b) * v + c, return_counts=True)
    ctx2 = key2 // v
    pairs = np.unique(ctx2)
    seen = np.bincount(np.searchsorted(pairs, ctx2), weights=n2) >= min_count
    pairs = pairs[seen]
    keep = np.isin(ctx2, pairs)
    key1, n1 = np.unique(b * v + c, return_counts=True)

    state = np.concatenate([np.searchsorted(pairs, ctx2[keep]), len(pairs) + key1 // v])
    context = np.concatenate([ctx2[keep] % v, key1 // v])  # last word of each entry's state
    succ = np.concatenate([key2[keep] % v, key1 % v])
    counts = np.concatenate([n2[keep], n1]).astype(np.float64)

    size = np.bincount(state, minlength=len(pairs) + v)
    first = np.concatenate([[0], np.cumsum(size)[:-1]])
    prob, alias = _alias_tables(first, size, counts)
    totals = np.bincount(state, weights=counts)[state]

    nxt = context * v + succ
    at = np.minimum(np.searchsorted(pairs, nxt), len(pairs) - 1)
    after = np.where(pairs[at] == nxt, at, len(pairs) + succ)

    lengths = np.array([len(w) for w in words], dtype=np.int64)
    return Chain(words=words, chars=_codes("".join(words)),
                 start=np.concatenate([[0], np.cumsum(lengths)[:-1]]), length=lengths,
                 pairs=pairs, first=first, size=size, succ=succ, succ_len=lengths[succ],
                 logp=np.log(counts / totals), prob=prob, alias=alias, after=after,
                 bigrams=key1, bigram_counts=n1)


@dataclass
class Draws:
    """Weighted draws within groups: group g owns the positions .. last[g] of ``members``, and
    ``keys`` holds, for each position, g + the cumulative weight share of its group so far."""

    keys: np.ndarray
    members: np.ndarray
    last: np.ndarray

    @classmethod
    def of(cls, group: np.ndarray, members: np.ndarray, weights: np.ndarray) -> Draws:
        """``group`` is sorted and numbers the groups 0, 1, 2, ... without gaps."""
        n_groups = int(group[-1]) + 1 if len(group) else 0
        cum = np.cumsum(weights)
        start = np.searchsorted(group, np.arange(n_groups))
        share = (cum - np.concatenate([[0.0], cum])[start][group]) / np.bincount(
            group, weights=weights)[group]
        last = np.concatenate([start[1:], [len(group)]]) - 1
        share[last] = 1.0
        return cls(group + share, members, last)

    def draw(self, group: np.ndarray, u: np.ndarray) -> np.ndarray:
        at = np.searchsorted(self.keys, group + u, side="right")
        return self.members[np.minimum(at, self.last[group])]


@dataclass
class Substitutes:
    """Which words the chain emits are drawn again, and from what.

    A content word (tag in SUBSTITUTE_TAGS, two or more Chinese characters) belongs to the class
    of the words with its jieba.posseg tag and length. FREE_RATE of the content words are
    replaced by any word of their class, drawn in proportion to its count. The others are
    replaced by a word of their class seen after the word now before them, in proportion to how
    often; of a few such draws the first that the next word was seen after (or, if the next word
    is a content word, that words of its class were seen after) wins, else the word stays. So
    most word pairs are pairs of the training text, while the content words vary far more than
    the chain's paths do.
    """

    cls: np.ndarray  # word id -> its class, or -1 if it is never replaced
    free: Draws  # class -> its words
    n_classes: int
    vocab: int
    bigrams: np.ndarray  # sorted keys a * vocab + b of the word pairs seen in training
    contexts: np.ndarray  # sorted keys a * n_classes + class, the groups of ``after``
    after: Draws  # the words of a class seen after a word

    def seen(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return _contains(self.bigrams, a * self.vocab + b)

    def context(self, prev: np.ndarray, cls: np.ndarray) -> np.ndarray:
        """The group of ``after`` with the words of class ``cls`` seen after ``prev``, or -1."""
        key = prev * self.n_classes + cls
        at = np.minimum(np.searchsorted(self.contexts, key), len(self.contexts) - 1)
        return np.where((cls >= 0) & (self.contexts[at] == key), at, -1)

    def apply(self, words: np.ndarray, uniforms: np.ndarray, free: np.ndarray) -> np.ndarray:
        """``words`` (a sentence per row, END-padded) with their content words replaced, left to
        right; ``uniforms`` drive the draws after the word before, ``free`` (both of the same
        shape as ``words``) the choice and draw of a free replacement."""
        out = words.copy()
        n, width = words.shape
        prev = np.full(n, BOS, dtype=np.int64)
        for t in range(width):
            cls = self.cls[out[:, t]]
            loose = np.flatnonzero((cls >= 0) & (free[:, t] < FREE_RATE))
            if len(loose):
                out[loose, t] = self.free.draw(cls[loose], free[loose, t] / FREE_RATE)
                cls[loose] = -1
            g = self.context(prev, cls)
            rows = np.flatnonzero(g >= 0)
            if len(rows):
                g, u = g[rows], uniforms[rows, t]
                nxt = words[rows, t + 1] if t + 1 < width else np.full(len(rows), END)
                nxt_cls = self.cls[nxt]
                for _ in range(FOLLOW_TRIES):
                    x = self.after.draw(g, u)
                    good = self.seen(x, nxt) | (self.context(x, nxt_cls) >= 0)
                    out[rows[good], t] = x[good]
                    bad = ~good
                    if not bad.any():
                        break
                    # the next draw uses the uniform's further digits
                    rows, g, u, nxt, nxt_cls = (rows[bad], g[bad], (u[bad] * 1024.0) % 1.0,
                                                nxt[bad], nxt_cls[bad])
            prev = out[:, t]
        return out


def _contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[at] == keys


def _replaceable(word: str) -> bool:
    return len(word) >= MIN_SUBSTITUTE_LEN and all(
        "\u4e00" <= ch <= "\u9fff" and ch not in _CHINESE_NUMERALS for ch in word)


def build_substitutes(chain: Chain) -> Substitutes:
    """Classes of the chain's content words by (part of speech, length), and for each word the
    words of each class seen after it. The tags come from jieba.posseg's table, as it tags words
    when it cuts without the HMM (as the chain's text was cut); looked up once here."""
    tags = jieba.posseg.dt.word_tag_tab
    classes: dict[tuple[str, int], list[int]] = {}
    for wid, word in enumerate(chain.words):
        tag = tags.get(word)
        if tag in SUBSTITUTE_TAGS and _replaceable(word):
            classes.setdefault((tag, len(word)), []).append(wid)
    cls = np.full(len(chain.words), -1, dtype=np.int64)
    kept = [ids for _, ids in sorted(classes.items()) if len(ids) > 1]
    members = np.array([w for ids in kept for w in ids], dtype=np.int64)
    members_cls = np.repeat(np.arange(len(kept)), [len(ids) for ids in kept])
    cls[members] = members_cls
    n_classes, vocab = len(kept), len(chain.words)
    first, second = chain.bigrams // vocab, chain.bigrams % vocab
    count = np.bincount(second, weights=chain.bigram_counts, minlength=vocab)
    free = Draws.of(members_cls, members, count[members])
    keep = cls[second] >= 0
    key = first[keep] * n_classes + cls[second[keep]]
    order = np.argsort(key, kind="stable")
    contexts, group = np.unique(key[order], return_inverse=True)
    after = Draws.of(group, second[keep][order],
                     chain.bigram_counts[keep][order].astype(np.float64))
    return Substitutes(cls, free, n_classes, vocab, chain.bigrams, contexts, after)


STEPS = MAX_SENTENCE + 1  # a sentence of 80 one-character words still needs its END
# Uniforms per candidate sentence (rows of a column): one per step of the walk, one for thinning,
# two per word for its replacement, one per step for the choice of order 1 or 2.
THIN_ROW, SUB_ROW, FREE_ROW, BACKOFF_ROW = STEPS, STEPS + 1, 2 * STEPS + 1, 3 * STEPS + 1
ROWS = 4 * STEPS + 1


def walk(chain: Chain, uniforms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                      np.ndarray]:
    """Walk one sentence per column of ``uniforms`` (walker j uses uniforms[t, j] at step t, and
    uniforms[BACKOFF_ROW + t, j] to choose whether the next step sees two words or one), all
    in lockstep. Returns the word matrix (step by walker, END-padded), character lengths, whether
    each sentence ended within 80 characters, and log-probabilities."""
    n = uniforms.shape[1]
    words = np.full((STEPS, n), END, dtype=np.int64)
    chars = np.zeros(n, dtype=np.int64)
    logp = np.zeros(n)
    ended = np.zeros(n, dtype=bool)
    # the walkers still walking, and their state, length and log-probability so far
    rows = np.arange(n)
    state = np.zeros(n, dtype=np.int64)  # (BOS, BOS) has the smallest key
    length = np.zeros(n, dtype=np.int64)
    lp = np.zeros(n)
    for t in range(STEPS):
        size = chain.size[state]
        scaled = uniforms[t, rows] * size  # < size: u < 1 and the product is rounded down
        pick = scaled.astype(np.int64)
        entry = chain.first[state] + pick
        # the fraction left over is a second uniform draw, for the alias choice
        entry = np.where(scaled - pick < chain.prob[entry], entry, chain.alias[entry])
        word = chain.succ[entry]
        words[t, rows] = word
        length += chain.succ_len[entry]
        lp += chain.logp[entry]
        go = (word != END) & (length <= MAX_SENTENCE)
        if not go.all():
            stop = rows[~go]
            chars[stop], logp[stop], ended[stop] = length[~go], lp[~go], word[~go] == END
            rows, entry, word = rows[go], entry[go], word[go]
            length, lp = length[go], lp[go]
            if not len(rows):
                break
        state = np.where(uniforms[BACKOFF_ROW + t, rows] < BACKOFF_RATE,
                         chain.n_pairs + word, chain.after[entry])
    chars[rows], logp[rows] = length, lp  # ran out of steps: not ended
    return words, chars, ended, logp


# --------------------------------------------------------------------------------------------
# Layout learned from the training text


@dataclass
class Dist:
    """An empirical distribution of small integers."""

    values: np.ndarray
    cum: np.ndarray

    @classmethod
    def of(cls, counts: Counter, default: int = 1) -> Dist:
        if not counts:
            counts = Counter({default: 1})
        values = np.array(sorted(counts), dtype=np.int64)
        weights = np.array([counts[k] for k in values], dtype=np.float64)
        cum = np.cumsum(weights) / weights.sum()
        cum[-1] = 1.0
        return cls(values, cum)

    def draw(self, rng: np.random.Generator) -> int:
        return int(self.values[np.searchsorted(self.cum, rng.random(), side="right")])


@dataclass
class Layout:
    sentences_per_paragraph: Dist
    intro_paragraphs: Dist  # before the first heading
    paragraphs_after: dict[int, Dist]  # heading level -> body paragraphs until the next heading
    next_level: dict[int, Dist]  # heading level -> level of the next heading
    inline: dict[int, float]  # heading level -> share of headings that lead a paragraph
    numbering: dict[int, str]  # heading level -> numbering style, e.g. "（{}）"


def _numbering_style(numbering: str) -> str:
    return re.sub(rf"[{CN_DIGITS}]+", "{cn}", re.sub(r"\d+", "{n}", numbering))


def learn_layout(docs: list[Document]) -> Layout:
    sizes: Counter = Counter()
    intro: Counter = Counter()
    after: dict[int, Counter] = {k: Counter() for k in MARKER_RES}
    nxt: dict[int, Counter] = {k: Counter() for k in MARKER_RES}
    inline: dict[int, list[int]] = {k: [0, 0] for k in MARKER_RES}
    styles: dict[int, Counter] = {k: Counter() for k in MARKER_RES}
    for doc in docs:
        level, run = 0, 0
        for event in doc.events:
            if event[0] == "p":
                sizes[event[1]] += 1
                run += 1
                continue
            _, new, is_inline, numbering = event
            if level:
                after[level][run] += 1
                nxt[level][new] += 1
            else:
                intro[run] += 1
            inline[new][0] += is_inline
            inline[new][1] += 1
            styles[new][_numbering_style(numbering)] += 1
            level, run = new, 0
    default_style = {1: "{cn}、", 2: "（{cn}）", 3: "{n}．"}
    return Layout(
        sentences_per_paragraph=Dist.of(sizes),
        intro_paragraphs=Dist.of(intro),
        paragraphs_after={k: Dist.of(after[k]) for k in MARKER_RES},
        next_level={k: Dist.of(nxt[k], default=k) for k in MARKER_RES},
        inline={k: inline[k][0] / inline[k][1] if inline[k][1] else 0.0 for k in MARKER_RES},
        numbering={k: styles[k].most_common(1)[0][0] if styles[k] else default_style[k]
                   for k in MARKER_RES},
    )


def chinese_number(n: int) -> str:
    """1..99 in Chinese numerals, as headings count (十一, 二十)."""
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else CN_DIGITS[tens - 1] + "十")
    return head + (CN_DIGITS[ones - 1] if ones else "")


# --------------------------------------------------------------------------------------------
# The trained model


@dataclass
class Model:
    chain: Chain
    substitutes: Substitutes
    checker: Checker
    layout: Layout
    templates: list[tuple[str, str]]  # (template id, paragraph of >= 40 characters)
    yield_per_candidate: float  # accepted characters per sampled sentence, for batch sizes


def train(train_dir: Path = TRAIN_DIR, template_dir: Path = TEMPLATE_DIR) -> Model:
    jieba.setLogLevel(logging.WARNING)
    texts, templates = read_training(train_dir, template_dir)
    docs = [parse_document(t) for t in texts]
    layout = learn_layout(docs)
    literal = TITLE_CHARS + CN_DIGITS + string.digits + "".join(
        style.format(cn="", n="") for style in layout.numbering.values())
    checker = build_checker(texts, literal)
    sentences = [tokenise(s) for d in docs for s in d.sentences if checker.known(s)]
    chain = build_chain(sentences)
    substitutes = build_substitutes(chain)
    paragraphs = [(tid, line.strip()) for tid, text in templates.items()
                  for line in text.splitlines() if len(line.strip()) >= MIN_COPY_CHARS]
    model = Model(chain, substitutes, checker, layout, paragraphs, 1.0)
    model.yield_per_candidate = _calibrate(model)
    return model


def _calibrate(model: Model) -> float:
    """Accepted characters per sampled sentence, so that a report needs few batches."""
    u = np.random.default_rng(0).random((ROWS, 4000))
    return max(sum(map(len, accept(model, [u])[0])) / u.shape[1], 1.0)


# --------------------------------------------------------------------------------------------
# One report


@dataclass
class Tally:
    candidates: int = 0
    rejected: int = 0


def accept(model: Model, uniforms: list[np.ndarray]) -> list[list[str]]:
    """For each block of uniforms (one column per candidate sentence, rows as ROWS describes),
    the candidates (content words replaced) that are 10-80 characters, at least 8 normalised
    characters, pass the thinning and share no 13-window with the training text, in order. All
    blocks are walked and checked together; each candidate's outcome depends only on its own
    uniforms."""
    chain = model.chain
    u = np.concatenate(uniforms, axis=1)
    words, chars, ok, logp = walk(chain, u)
    # thin out the likeliest sentences so that none turns up in too many reports
    ok &= (chars >= MIN_SENTENCE) & (np.log1p(-u[THIN_ROW]) < MAX_LOG_PROB - logp)
    rows = np.flatnonzero(ok)
    out: list[list[str]] = [[] for _ in uniforms]
    if not len(rows):
        return out
    w = model.substitutes.apply(words[:, rows].T, u[SUB_ROW:FREE_ROW, rows].T,
                                u[FREE_ROW:BACKOFF_ROW, rows].T)
    real = w != END
    flat = w[real]
    lens = chain.length[flat]
    offsets = np.cumsum(lens) - lens
    index = np.repeat(chain.start[flat] - offsets, lens) + np.arange(int(lens.sum()))
    codes = chain.chars[index]
    seg = np.repeat(np.repeat(np.arange(len(rows)), real.sum(axis=1)), lens)
    hit, norm_len = model.checker.hits(codes, seg, len(rows))
    text = codes.astype("<u4").tobytes().decode("utf-32-le")
    bounds = np.concatenate([[0], np.cumsum(chars[rows])]).tolist()
    good = ~hit & (norm_len >= MIN_NORM_CHARS)
    block_of = np.searchsorted(np.cumsum([b.shape[1] for b in uniforms]), rows, side="right")
    for k in np.flatnonzero(good).tolist():
        out[block_of[k]].append(text[bounds[k] : bounds[k + 1]])
    return out


def draw_uniforms(model: Model, rng: np.random.Generator, need: int) -> np.ndarray:
    """Uniforms for enough candidates to give about ``need`` characters of sentences."""
    n = int(np.clip(BATCH_MARGIN * need / model.yield_per_candidate, MIN_BATCH, MAX_BATCH))
    return rng.random((ROWS, n))


class SentencePool:
    """Accepted sentences of one report, sampled in batches from the report's RNG."""

    def __init__(self, model: Model, rng: np.random.Generator, tally: Tally) -> None:
        self.model, self.rng, self.tally = model, rng, tally
        self.pending: deque[str] = deque()
        self.seen: set[str] = set()
        self.need = 0  # characters still wanted, to size the next batch

    def feed(self, sentences: list[str], candidates: int) -> None:
        fresh = 0
        for s in sentences:
            if s not in self.seen:  # a report never repeats a sentence
                self.seen.add(s)
                self.pending.append(s)
                fresh += 1
        self.tally.candidates += candidates
        self.tally.rejected += candidates - fresh

    def _refill(self) -> None:
        u = draw_uniforms(self.model, self.rng, self.need)
        self.feed(accept(self.model, [u])[0], u.shape[1])

    def take(self) -> str:
        while not self.pending:
            self._refill()
        return self.pending.popleft()

    def clause(self, low: int, high: int) -> str:
        """The first clause of a pending sentence, low..high characters, for a heading."""
        while True:
            for k, s in enumerate(self.pending):
                part = CLAUSE_END_RE.split(s, maxsplit=1)[0]
                if low <= len(part) <= high and not CLAUSE_BAD.intersection(part):
                    del self.pending[k]
                    return part
            self._refill()


def report_length(rng: np.random.Generator) -> int:
    return int(np.clip(rng.lognormal(np.log(LENGTH_MEDIAN), LENGTH_SIGMA), TARGET_LOW, TARGET_HIGH))


def pick_copies(model: Model, rng: np.random.Generator) -> list[tuple[str, str]]:
    """For about 5 % of reports, 1-3 distinct template paragraphs that fit in a report."""
    if rng.random() >= COPY_RATE or not model.templates:
        return []
    k = min(int(rng.integers(1, MAX_COPIES + 1)), len(model.templates))
    chosen = [model.templates[j] for j in rng.choice(len(model.templates), k, replace=False)]
    while len(chosen) > 1 and sum(len(p) + 1 for _, p in chosen) > TARGET_HIGH - MIN_GENERATED:
        chosen.remove(max(chosen, key=lambda item: len(item[1])))
    return chosen


@dataclass
class Block:
    """A line of generated text: the title, a heading, or a paragraph (which a heading number
    may lead)."""

    prefix: str = ""  # the heading number, or the title's year
    clause: str = ""  # a heading's or the title's text
    suffix: str = ""
    sentences: list[str] = field(default_factory=list)

    def render(self) -> str:
        return self.prefix + (self.clause + self.suffix if self.clause else "".join(self.sentences))


@dataclass
class Draft:
    """A report on its way: what its RNG decided first, then its generated lines."""

    index: int
    rng: np.random.Generator
    pool: SentencePool
    copies: list[tuple[str, str]]
    budget: int  # characters of generated lines, newlines included
    blocks: list[Block] = field(default_factory=list)

    def used(self) -> int:
        return sum(len(b.render()) + 1 for b in self.blocks)


def start_draft(model: Model, seed: int, i: int, tally: Tally) -> Draft:
    rng = np.random.default_rng([seed, i])
    target = report_length(rng)
    copies = pick_copies(model, rng)
    budget = max(target - sum(len(p) + 1 for _, p in copies), MIN_GENERATED)
    pool = SentencePool(model, rng, tally)
    pool.need = budget
    return Draft(i, rng, pool, copies, budget)


def lay_out(model: Model, draft: Draft) -> None:
    """Title, headings and paragraphs, with learned shapes, until the budget is used."""
    layout, rng, pool = model.layout, draft.rng, draft.pool
    year = int(rng.integers(2016, 2026))
    draft.blocks.append(Block(f"{year}年", pool.clause(*TITLE_CLAUSE), TITLE_SUFFIX))
    used = draft.used()
    counters = dict.fromkeys(MARKER_RES, 0)
    level = 0
    left = layout.intro_paragraphs.draw(rng)
    pending_numbering = ""
    while used < draft.budget:
        if left <= 0 and draft.budget - used > 4 * MAX_SENTENCE:
            level = layout.next_level[level].draw(rng) if level else 1
            level = min(level, max((k for k, v in counters.items() if v), default=0) + 1)
            counters[level] += 1
            for deeper in range(level + 1, max(MARKER_RES) + 1):
                counters[deeper] = 0
            numbering = layout.numbering[level].format(
                cn=chinese_number(counters[level]), n=counters[level])
            left = layout.paragraphs_after[level].draw(rng)
            if rng.random() < layout.inline[level]:
                pending_numbering, left = numbering, max(left, 1)
            else:
                block = Block(numbering, pool.clause(*HEADING_CLAUSE))
                draft.blocks.append(block)
                used += len(block.render()) + 1
            continue
        block = Block(pending_numbering)
        pending_numbering = ""
        used += len(block.prefix) + 1
        for _ in range(max(layout.sentences_per_paragraph.draw(rng), 1)):
            pool.need = draft.budget - used
            block.sentences.append(pool.take())
            used += len(block.sentences[-1])
            if used >= draft.budget:
                break
        draft.blocks.append(block)
        left -= 1


def repair(model: Model, draft: Draft, hits: np.ndarray) -> None:
    """Fix the lines that share a 13-window with the training text, or hold a near-copy of a
    training sentence, although their sentences do not: where two sentences meet, or behind a
    heading number."""
    pool, checker = draft.pool, model.checker
    for k in np.flatnonzero(hits).tolist():
        block = draft.blocks[k]
        pool.tally.rejected += 1
        if block.clause:
            block.clause = pool.clause(*(TITLE_CLAUSE if k == 0 else HEADING_CLAUSE))
            continue
        prefixes = [block.prefix + "".join(block.sentences[: j + 1])
                    for j in range(len(block.sentences))]
        first = int(np.argmax(checker.text_hits(prefixes)))
        if first == 0 and block.prefix:
            block.prefix = ""
        elif len(block.sentences) > 1:
            # the text may start in the sentence before, where the two meet: both go
            del block.sentences[max(first - 1, 0) : first + 1]
            block.sentences = block.sentences or [pool.take()]
        else:
            block.sentences = [pool.take()]


def top_up(draft: Draft) -> bool:
    """Lengthen the last paragraph after repairs shortened the report; True if anything
    changed."""
    short = draft.budget - draft.used()
    if short <= 0:
        return False
    last = draft.blocks[-1]
    if last.clause:
        last = Block()
        draft.blocks.append(last)
        short -= 1
    while short > 0:
        draft.pool.need = short
        last.sentences.append(draft.pool.take())
        short -= len(last.sentences[-1])
    return True


def repair_junction(draft: Draft, k: int) -> None:
    """Line k's end and line k + 1's start join into training text (the checker reads a report
    as one stream): draw both ends again (a heading's text, else the sentence there)."""
    pool = draft.pool
    pool.tally.rejected += 1
    for at, end in ((k, -1), (k + 1, 0)):
        block = draft.blocks[at]
        if block.clause:
            block.clause = pool.clause(*(TITLE_CLAUSE if at == 0 else HEADING_CLAUSE))
        elif block.sentences:
            block.sentences[end] = pool.take()


def finish(model: Model, drafts: list[Draft]) -> None:
    """Check every generated line of the drafts at once, and every two neighbouring lines
    together; repair and top up until all pass."""
    todo = drafts
    for _ in range(MAX_REPAIR_ROUNDS):
        if not todo:
            return
        rendered = [[b.render() for b in d.blocks] for d in todo]
        lines = [line for mine in rendered for line in mine]
        pairs = [a + b for mine in rendered for a, b in itertools.pairwise(mine)]
        hits = model.checker.text_hits(lines)
        # a report is one stream of normalised text: runs may cross a line break (a near-copy
        # cannot: the checker's units end there)
        joins = model.checker.text_hits(pairs, near=False)
        bounds = np.cumsum([0] + [len(d.blocks) for d in todo])
        pair_bounds = np.cumsum([0] + [max(len(d.blocks) - 1, 0) for d in todo])
        again = []
        for k, d in enumerate(todo):
            mine = hits[bounds[k] : bounds[k + 1]]
            joined = joins[pair_bounds[k] : pair_bounds[k + 1]] & ~mine[:-1] & ~mine[1:]
            if mine.any():
                repair(model, d, mine)
            for j in np.flatnonzero(joined).tolist():
                repair_junction(d, j)
            grown = top_up(d)
            if mine.any() or joined.any() or grown:
                again.append(d)
        todo = again
    raise RuntimeError("generated lines kept matching the training text")


@dataclass
class Report:
    title: str
    lines: list[str]
    copies: list[str]  # template ids, in order of their paragraphs
    sentences: list[str]  # the generated sentences it uses

    @property
    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def make_reports(model: Model, seed: int, indices: range, tally: Tally) -> list[Report]:
    """Reports ``indices``; each depends only on (seed, i), however many are made together."""
    drafts = [start_draft(model, seed, i, tally) for i in indices]
    uniforms = [draw_uniforms(model, d.rng, d.budget) for d in drafts]
    for d, u, sentences in zip(drafts, uniforms, accept(model, uniforms), strict=True):
        d.pool.feed(sentences, u.shape[1])
    for d in drafts:
        lay_out(model, d)
    finish(model, drafts)
    reports = []
    for d in drafts:
        lines = [b.render() for b in d.blocks]
        for _, paragraph in d.copies:
            lines.insert(int(d.rng.integers(1, len(lines) + 1)), paragraph)
        ids = list(dict.fromkeys(tid for tid, _ in d.copies))
        used = [s for b in d.blocks for s in b.sentences]
        report = Report(lines[0], lines, ids, used)
        if not MIN_REPORT <= len(report.text) <= MAX_REPORT:  # the targets leave room for this
            raise RuntimeError(f"report {d.index}: {len(report.text)} characters")
        reports.append(report)
    return reports


# --------------------------------------------------------------------------------------------
# Many reports, in parallel


@dataclass
class Job:
    model: Model
    seed: int
    out: Path
    width: int
    stats: bool


@dataclass
class ChunkResult:
    meta: list[tuple[str, dict]]
    lengths: list[int]
    copying: int
    tally: Tally
    sentence_hashes: np.ndarray


_JOB: Job | None = None  # set in the parent before forking, so workers share the trained model


def report_id(i: int, width: int) -> str:
    return f"gen-{i:0{width}d}"


def run_chunk(bounds: tuple[int, int]) -> ChunkResult:
    job = _JOB
    assert job is not None
    tally = Tally()
    meta: list[tuple[str, dict]] = []
    lengths: list[int] = []
    hashes: list[int] = []
    copying = 0
    for i, report in zip(range(*bounds), make_reports(job.model, job.seed, range(*bounds), tally),
                         strict=True):
        text = report.text
        rid = report_id(i, job.width)
        (job.out / f"{rid}.txt").write_text(text, encoding="utf-8")
        tags = {"kind": "generated"}
        if report.copies:
            tags["copies"] = ",".join(report.copies)
            copying += 1
        meta.append((rid, {"title": report.title, "source": "generated", "tags": tags}))
        lengths.append(len(text))
        if job.stats:
            # hash() is the same in every worker: they are forked from one parent
            hashes.extend({hash(s) for s in report.sentences if len(s) >= MIN_DIVERSITY_CHARS})
    return ChunkResult(meta, lengths, copying, tally, np.array(hashes, dtype=np.int64))


def generate(model: Model, n: int, seed: int, out: Path, workers: int = 2,
             stats: bool = False, start: int = 0) -> dict:
    """Write reports ``start``..n-1 into ``out`` and their metadata into its corpus.json (added
    to what an earlier run wrote there, when resuming); return the statistics of those."""
    global _JOB  # noqa: PLW0603 - the forked workers read the model from here
    out.mkdir(parents=True, exist_ok=True)
    _JOB = Job(model, seed, out, max(6, len(str(max(n - 1, 0)))), stats)
    chunks = [(a, min(a + CHUNK, n)) for a in range(start, n, CHUNK)]
    t0 = time.perf_counter()
    try:
        if workers <= 1:
            results = [run_chunk(c) for c in chunks]
        else:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                results = list(pool.imap(run_chunk, chunks))
    finally:
        _JOB = None
    meta = {rid: info for r in results for rid, info in r.meta}
    meta_file = out / "corpus.json"
    if start and meta_file.is_file():
        meta = {**json.loads(meta_file.read_text(encoding="utf-8")), **meta}
    meta_file.write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return summarise(results, n - start, time.perf_counter() - t0)


def summarise(results: list[ChunkResult], n: int, seconds: float) -> dict:
    lengths = np.array([x for r in results for x in r.lengths], dtype=np.int64)
    candidates = sum(r.tally.candidates for r in results)
    rejected = sum(r.tally.rejected for r in results)
    hashes = np.concatenate([r.sentence_hashes for r in results]) if results else np.empty(0)
    shared = int(np.unique(hashes, return_counts=True)[1].max()) if len(hashes) else 0
    return {
        "n": n,
        "total_chars": int(lengths.sum()),
        "mean_chars": round(float(lengths.mean()), 1) if n else 0.0,
        "min_chars": int(lengths.min()) if n else 0,
        "max_chars": int(lengths.max()) if n else 0,
        "copying_share": round(sum(r.copying for r in results) / n, 4) if n else 0.0,
        "rejected_sentence_rate": round(rejected / candidates, 4) if candidates else 0.0,
        "max_reports_sharing_sentence": shared,
        "seconds": round(seconds, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, required=True, help="number of reports")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True, help="folder for the reports")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--start", type=int, default=0,
                        help="resume an interrupted run: reports before START are written already "
                             "(each report depends only on the seed and its number)")
    parser.add_argument("--stats", action="store_true", help="print statistics as one JSON line")
    parser.add_argument("--train-dir", type=Path, default=TRAIN_DIR,
                        help="folder of .docx reports to learn from")
    parser.add_argument("--templates", type=Path, default=TEMPLATE_DIR,
                        help="template corpus to learn from and copy from")
    args = parser.parse_args(argv)
    if args.n < 0 or args.workers < 1 or not 0 <= args.start <= args.n:
        parser.error("--n must be >= 0, --workers >= 1 and 0 <= --start <= --n")
    t0 = time.perf_counter()
    model = train(args.train_dir, args.templates)
    trained = time.perf_counter() - t0
    stats = generate(model, args.n, args.seed, args.out, args.workers, args.stats, args.start)
    if args.stats:
        print(json.dumps({**stats, "train_seconds": round(trained, 1)}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
