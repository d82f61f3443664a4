"""The article-extraction metric (shingle precision/recall/F1) and a loader for its labelled
dataset; used by bench/extract_bench.py and by the extraction quality test."""

from __future__ import annotations

import gzip
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import msgspec

_TOKEN = re.compile(r"\w+")
SHINGLE_SIZE = 4


class LabelledPage(msgspec.Struct, frozen=True):
    """One labelled page: its id, URL, raw (still encoded) HTML bytes and the true article body."""

    id: str
    url: str
    html: bytes
    truth: str


class PageScore(msgspec.Struct, frozen=True):
    """Per-page counts of shingles, normalised so that tp + fp + fn == 1 (or all 0)."""

    tp: float
    fp: float
    fn: float

    @property
    def precision(self) -> float | None:
        """TP/(TP+FP); None when nothing was predicted or expected."""
        if self.tp + self.fp == 0:
            return None
        return self.tp / (self.tp + self.fp)

    @property
    def recall(self) -> float | None:
        """TP/(TP+FN); None when nothing was expected or predicted."""
        if self.tp + self.fn == 0:
            return None
        return self.tp / (self.tp + self.fn)


class CorpusScore(msgspec.Struct, frozen=True):
    precision: float
    recall: float
    f1: float
    pages: int


class _Truth(msgspec.Struct):
    articleBody: str  # field name of the dataset's JSON
    url: str = ""


_truth_decoder = msgspec.json.Decoder(dict[str, _Truth])


def shingles(text: str, size: int = SHINGLE_SIZE) -> Counter[tuple[str, ...]]:
    """Multiset of the runs of `size` consecutive \\w+ tokens; 1..size-1 tokens make one shingle."""
    tokens = _TOKEN.findall(text)
    if not tokens:
        return Counter()
    if len(tokens) < size:
        return Counter([tuple(tokens)])
    return Counter(zip(*(tokens[i:] for i in range(size)), strict=False))


def score_page(predicted: str, truth: str) -> PageScore:
    """Compare the shingle multisets of one page; counts are normalised to sum to 1."""
    pred = shingles(predicted)
    true = shingles(truth)
    tp = sum((pred & true).values())
    fp = sum(pred.values()) - tp
    fn = sum(true.values()) - tp
    total = tp + fp + fn
    if total == 0:
        return PageScore(0.0, 0.0, 0.0)
    return PageScore(tp / total, fp / total, fn / total)


def score_corpus(scores: Iterable[PageScore]) -> CorpusScore:
    """Mean precision and mean recall over the pages where each is defined; F1 of the two means."""
    precisions: list[float] = []
    recalls: list[float] = []
    n = 0
    for s in scores:
        n += 1
        if (p := s.precision) is not None:
            precisions.append(p)
        if (r := s.recall) is not None:
            recalls.append(r)
    precision = sum(precisions) / len(precisions) if precisions else 0.0
    recall = sum(recalls) / len(recalls) if recalls else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return CorpusScore(precision=precision, recall=recall, f1=f1, pages=n)


def evaluate(
    pages: Iterable[LabelledPage], extractor: Callable[[LabelledPage], str]
) -> CorpusScore:
    """Run `extractor` on each page and score the corpus; an extractor may return "" for a miss."""
    return score_corpus(score_page(extractor(p), p.truth) for p in pages)


def dataset_dir(project_root: Path) -> Path:
    """Where the dataset lives relative to the project root (it is not shipped with the repo)."""
    return project_root.parent / "shared" / "datasets" / "article-extraction"


def load_dataset(root: Path) -> list[LabelledPage]:
    """Every page of the dataset at `root`, sorted by id; FileNotFoundError if it is absent."""
    return list(iter_dataset(root))


def iter_dataset(root: Path) -> Iterator[LabelledPage]:
    """Yield the pages of the dataset at `root` (gz HTML + ground-truth.json), sorted by id."""
    truth: Mapping[str, _Truth] = _truth_decoder.decode((root / "ground-truth.json").read_bytes())
    for page_id in sorted(truth):
        entry = truth[page_id]
        html = gzip.decompress((root / "html" / f"{page_id}.html.gz").read_bytes())
        yield LabelledPage(id=page_id, url=entry.url, html=html, truth=entry.articleBody)
