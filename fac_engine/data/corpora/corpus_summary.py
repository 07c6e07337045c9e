"""What a training-corpus build wrote: tokens per source and per kind, what was dropped and why."""

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from fac_engine.data.corpora.kinds import CORPUS_KINDS


@dataclass(frozen=True)
class SourceCount:
    """One source's share of the corpus."""

    source: str
    package: str
    """`name==version` of the archive."""
    texts: int
    """Rows in the file (repeats included)."""
    tokens: int
    """Tokens in the file (repeats included)."""


@dataclass(frozen=True)
class KindCount:
    """One kind's share of the corpus."""

    kind: str
    available: int
    """Distinct tokens after cleaning and deduplication, before the kind's budget."""
    kept: int
    """Distinct tokens kept under the budget."""
    tokens: int
    """Tokens in the file (repeats included)."""


@dataclass(frozen=True)
class CorpusSummary:
    """What `build_training_corpus` wrote."""

    path: Path
    """The parquet file."""
    rows: int
    """Rows written (training copies and held-out rows)."""
    tokens: int
    """Tokens over all rows."""
    eval_rows: int
    """Held-out rows at the end of the file."""
    eval_tokens: int
    token_unit: str
    """What `tokens` counts: the tokenizer's name, or `characters / 4`."""
    sources: tuple[SourceCount, ...]
    kinds: tuple[KindCount, ...]
    dropped: Mapping[str, int]
    """Lines and texts dropped, by reason."""
    seconds: float
    """Wall time of the build, downloads included."""

    @property
    def json_path(self) -> Path:
        """Where the summary is written next to the parquet."""
        return self.path.with_suffix(".summary.json")

    def to_json(self) -> str:
        """The summary as JSON (paths as strings)."""
        return json.dumps({**asdict(self), "path": str(self.path)}, indent=2) + "\n"

    def tables(self) -> str:
        """Markdown tables: tokens per kind, per source, and what was dropped."""
        lines = ["| kind | available | kept | in corpus | share |", "|---|---:|---:|---:|---:|"]
        for k in self.kinds:
            lines.append(f"| {k.kind} | {k.available:,} | {k.kept:,} | {k.tokens:,} | {_pct(k.tokens, self.tokens)} |")
        lines += ["", "| source | package | texts | tokens | share |", "|---|---|---:|---:|---:|"]
        for s in self.sources:
            lines.append(f"| {s.source} | {s.package} | {s.texts:,} | {s.tokens:,} | {_pct(s.tokens, self.tokens)} |")
        lines += ["", "| dropped | count |", "|---|---:|"]
        lines += [f"| {reason} | {count:,} |" for reason, count in sorted(self.dropped.items())]
        return "\n".join(lines)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def summarise(frame: pd.DataFrame, path: Path, available: Mapping[str, int], dropped: Mapping[str, int],
              token_unit: str, seconds: float) -> CorpusSummary:
    """Count the written frame by source and kind."""
    by_source = frame.groupby("source", sort=False).agg(
        package=("package", "first"), version=("package_version", "first"), texts=("text", "size"),
        tokens=("tokens", "sum"))
    sources = tuple(SourceCount(str(src), f"{row.package}=={row.version}", int(row.texts), int(row.tokens))
                    for src, row in by_source.sort_values("tokens", ascending=False).iterrows())
    distinct = frame[frame["copy"] == 0].groupby("kind")["tokens"].sum()
    in_file = frame.groupby("kind")["tokens"].sum()
    kinds = tuple(KindCount(k, int(available.get(k, 0)), int(distinct.get(k, 0)), int(in_file.get(k, 0)))
                  for k in CORPUS_KINDS if available.get(k, 0))
    held = frame["split"] == "eval"
    return CorpusSummary(
        path=path, rows=len(frame), tokens=int(frame["tokens"].sum()), eval_rows=int(held.sum()),
        eval_tokens=int(frame.loc[held, "tokens"].sum()), token_unit=token_unit, sources=sources, kinds=kinds,
        dropped={k: int(v) for k, v in dropped.items()}, seconds=seconds)
