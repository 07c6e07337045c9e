"""`fac corpus`: fetch the package data and build the general corpus the embedded SAE is trained on."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fac_engine.atomic import check_write_target
from fac_engine.cli.flags import ConfigFlags

if TYPE_CHECKING:
    from fac_engine.data.corpora.corpus import CorpusConfig


def _corpus_flags() -> ConfigFlags[CorpusConfig]:
    from fac_engine.data.corpora.corpus import CorpusConfig

    return ConfigFlags(CorpusConfig, title="corpus", skip=("sources",))  # --sources is a comma list


def add_corpus(p: argparse.ArgumentParser) -> None:
    """`fac corpus`."""
    p.add_argument("--out", type=Path, default=None, help="parquet file (default: <FAC_HOME>/data/corpus/...)")
    p.add_argument("--force", action="store_true", help="rebuild even if the file exists")
    p.add_argument("--tokenizer", default="embedded",
                   help="count tokens with 'embedded' (SmolLM2), a transformers folder / .gguf, or 'chars' (chars / 4)")
    p.add_argument("--sources", default=None, help="comma-separated source ids to read (default: all)")
    p.add_argument("--archives", type=Path, default=None, help="archive folder (default: <FAC_HOME>/data/archives)")
    _corpus_flags().add(p)  # --seed, --max-chars, --line-dedup-min-chars, --no-near-duplicates, --eval-rows
    p.set_defaults(run=run_corpus)


def _token_counter(choice: str) -> tuple[Callable[[Sequence[str]], list[int]] | None, str]:
    """(counter, unit name) for --tokenizer."""
    if choice == "chars":
        return None, "characters / 4"
    from fac_engine.models.embedded import EMBEDDED_NAME, prepare_embedded
    from fac_engine.models.pretrained import pretrained_tokenizer

    path = prepare_embedded() if choice == "embedded" else Path(choice)
    tokenizer = pretrained_tokenizer(path)

    def count(texts: Sequence[str]) -> list[int]:
        return [len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]

    return count, f"{EMBEDDED_NAME if choice == 'embedded' else path.name} tokens"


def run_corpus(args: argparse.Namespace) -> int:
    """Build (or reuse) the corpus and print what is in it."""
    from tqdm import tqdm

    from fac_engine.data.corpora.archives import fetch_all
    from fac_engine.data.corpora.corpus import build_training_corpus, default_corpus_path
    from fac_engine.data.corpora.corpus_sources import CORPUS_SOURCES
    from fac_engine.data.corpora.sources import SOURCES

    out = default_corpus_path() if args.out is None else check_write_target(args.out, "--out")
    if out.is_file() and not args.force:
        print(f"corpus ready: {out} (use --force to rebuild)")
        return 0
    cfg = _corpus_flags().build(args, sources=tuple(args.sources.split(",")) if args.sources else None)
    every = [s.id for s in SOURCES] + [s.id for s in CORPUS_SOURCES]
    ids = set(every if cfg.sources is None else cfg.sources)
    archives = [s.archive for s in SOURCES if s.id in ids] + [s.archive for s in CORPUS_SOURCES if s.id in ids]
    for spec in fetch_all(args.archives, tuple(dict.fromkeys(archives)), show_progress=True):
        print(f"archive ready: {spec}")
    count, unit = _token_counter(args.tokenizer)
    bars: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        name = "count tokens" if stage == "count tokens" else "read sources"
        if name not in bars:
            bars[name] = tqdm(total=total, desc=name, unit="text" if name == "count tokens" else "source")
        bar = bars[name]
        if name == "read sources":
            bar.set_postfix_str(stage.removeprefix("read "))
        bar.update(done - bar.n)

    try:
        summary = build_training_corpus(out, cfg, archive_dir=args.archives, count_tokens=count, token_unit=unit,
                                        progress=progress)
    finally:
        for bar in bars.values():
            bar.close()
    print(f"wrote {summary.rows:,} texts, {summary.tokens:,} {unit} ({summary.eval_rows:,} held-out texts, "
          f"{summary.eval_tokens:,} tokens, at the end) to {summary.path} in {summary.seconds:.0f} s; "
          f"summary in {summary.json_path}")
    print(summary.tables())
    return 0
