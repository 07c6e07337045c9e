"""The general text corpus the embedded SAE is trained on, assembled from every registered source.

Diversity matters more than task fit here (docs/METHOD.md section 2: the SAE must have a
feature for whatever the user's data holds), so every text piece of every source goes in:
chat messages, instructions and answers, preference pairs, toxic and harmful texts, reviews.
"""

import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fac_engine.atomic import atomic_file
from fac_engine.data.corpora.sources import SOURCES, read_source
from fac_engine.data.records import Record
from fac_engine.errors import FacError
from fac_engine.log import get_logger
from fac_engine.paths import data_dir

log = get_logger(__name__)

PIECE_FIELDS: tuple[str, ...] = ("prompt", "output", "chosen", "rejected")
"""Record fields that become corpus rows of their own, besides `text`, when set and not equal to it."""

CORPUS_COLUMNS: tuple[str, ...] = (
    "text", "field", "source", "package", "package_version", "file", "row", "licence", "label", "category",
)
"""Columns of the corpus parquet: the text, which record field it came from, and its provenance."""


@dataclass(frozen=True)
class CorpusSummary:
    """What `build_training_corpus` wrote."""

    path: Path
    """The parquet file."""
    rows: int
    """Texts written (after dropping empty texts and exact duplicates)."""
    characters: int
    """Total characters over all texts."""
    rows_per_source: Mapping[str, int]
    """Texts written per source id, in registry order."""
    duplicates_dropped: int
    """Texts skipped because an identical text (after trimming whitespace) came earlier."""
    empty_dropped: int
    """Texts skipped because they were empty or whitespace only."""
    seconds: float
    """Wall time of the build, downloads included."""

    @property
    def approx_tokens(self) -> int:
        """Rough token count (characters / 4, the usual English BPE ratio)."""
        return self.characters // 4


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


def build_training_corpus(
    out: Path, *, seed: int = 0, max_turns: int | None = None, archive_dir: Path | None = None
) -> CorpusSummary:
    """Read every source, drop empty texts and exact duplicates, shuffle with `seed`, write parquet.

    `max_turns` keeps only the first that many chat messages (the bulk of the corpus), for quick
    builds. Archives are downloaded into `archive_dir` (default `archives_dir()`) when missing.
    The first occurrence of a duplicated text, in registry and file order, keeps its provenance.
    """
    if max_turns is not None and max_turns < 0:
        raise FacError(f"max_turns must be 0 or more, got {max_turns}")
    start = time.perf_counter()
    columns: dict[str, list[object]] = {name: [] for name in CORPUS_COLUMNS}
    seen: set[str] = set()
    duplicates = empty = 0
    for source in SOURCES:
        records = read_source(source, archive_dir)
        if max_turns is not None and source.kind == "conversation":
            records = records[:max_turns]
        for record in records:
            for field, raw in corpus_pieces(record):
                text = raw.strip()
                if not text:
                    empty += 1
                elif text in seen:
                    duplicates += 1
                else:
                    seen.add(text)
                    _append(columns, record, field, text)
    order = np.random.default_rng(seed).permutation(len(columns["text"]))
    frame = pd.DataFrame(columns).iloc[order].reset_index(drop=True)
    frame = frame.astype({name: ("int64" if name == "row" else "string") for name in CORPUS_COLUMNS})
    out = Path(out)
    with atomic_file(out) as tmp:
        frame.to_parquet(tmp, index=False)
    counts = Counter(frame["source"].tolist())
    summary = CorpusSummary(
        path=out, rows=len(frame), characters=int(frame["text"].str.len().sum()),
        rows_per_source={s.id: counts.get(s.id, 0) for s in SOURCES}, duplicates_dropped=duplicates,
        empty_dropped=empty, seconds=time.perf_counter() - start,
    )
    log.info("wrote %d texts (%d characters) to %s in %.1f s", summary.rows, summary.characters, out, summary.seconds)
    return summary


def _append(columns: dict[str, list[object]], record: Record, field: str, text: str) -> None:
    columns["text"].append(text)
    columns["field"].append(field)
    for name in CORPUS_COLUMNS[2:]:
        columns[name].append(getattr(record, name))

