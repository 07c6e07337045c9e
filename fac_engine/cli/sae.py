"""The SAE verbs: `fac corpus` (the general training corpus), `fac train-sae` (a TopK SAE on a dataset's
residual stream) and `fac probe` (which features fire on a text)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fac_engine.atomic import check_write_target
from fac_engine.cli.common import add_model_options, add_sae_options, model_spec
from fac_engine.cli.flags import ConfigFlags, positive
from fac_engine.errors import FacError

if TYPE_CHECKING:
    import torch

    from fac_engine.models.loader import LoadedModel
    from fac_engine.sae.train import TrainConfig

SAVE_DTYPES = ("float32", "bfloat16")
"""Precisions `fac train-sae --save-dtype` writes the weights in."""


def add_corpus(p: argparse.ArgumentParser) -> None:
    """`fac corpus`."""
    p.add_argument("--out", type=Path, default=None, help="parquet file (default: <FAC_HOME>/data/corpus/...)")
    p.add_argument("--seed", type=int, default=0, help="shuffle seed")
    p.add_argument("--force", action="store_true", help="rebuild even if the file exists")
    p.set_defaults(run=run_corpus)


def run_corpus(args: argparse.Namespace) -> int:
    """Build (or reuse) the corpus and print what is in it."""
    from fac_engine.data.corpora.corpus import build_training_corpus, default_corpus_path

    out = default_corpus_path() if args.out is None else check_write_target(args.out, "--out")
    if out.is_file() and not args.force:
        print(f"corpus ready: {out} (use --force to rebuild)")
        return 0
    summary = build_training_corpus(out, seed=args.seed)
    print(f"wrote {summary.rows:,} texts, {summary.characters:,} characters (~{summary.approx_tokens:,} tokens) "
          f"to {summary.path} in {summary.seconds:.0f} s; {summary.duplicates_dropped:,} duplicates dropped")
    for source, rows in summary.rows_per_source.items():
        print(f"  {source:32s} {rows:>8,}")
    return 0


def _train_flags() -> ConfigFlags[TrainConfig]:
    from fac_engine.sae.train import TrainConfig

    return ConfigFlags(TrainConfig, title="training", skip=("device",),  # the model's --device
                       helps={"k_anneal_start": "anneal K from this value down to --k (paper code: 200)"})


def add_train_sae(p: argparse.ArgumentParser) -> None:
    """`fac train-sae`."""
    p.add_argument("data", type=Path, help="texts: .jsonl / .csv / .parquet (with --text-field) or .txt")
    p.add_argument("--out", type=Path, required=True, help="output folder (FAC Studio SAE format)")
    p.add_argument("--text-field", default="text")
    add_model_options(p)
    p.add_argument("--layer", type=int, default=None, help="hidden_states index (default: half depth)")
    p.add_argument("--tokens", type=int, default=2_000_000, help="training tokens to collect")
    p.add_argument("--eval-tokens", type=int, default=100_000, help="held-out tokens for FVU / L0 / dead")
    p.add_argument("--eval-texts", type=int, default=3000, help="texts at the end of the file kept for evaluation")
    p.add_argument("--max-length", type=int, default=256, help="tokens per text (longer texts are cut)")
    p.add_argument("--plain", action="store_true", help="do not wrap texts in the chat template")
    p.add_argument("--save-dtype", choices=SAVE_DTYPES, default="float32")
    p.add_argument("--cache", type=Path, default=None,
                   help="folder keeping the harvested activations; a rerun with the same inputs reuses them")
    _train_flags().add(p)
    p.set_defaults(run=run_train_sae)


def _harvest(lm: LoadedModel, texts: list[str], layer: int, tokens: int, args: argparse.Namespace, what: str
             ) -> torch.Tensor:
    """Activations of `texts`, through the --cache folder when one is given."""
    from fac_engine.models.activation_cache import cached_activations

    if args.cache is None:
        return _harvest_now(lm, texts, layer, tokens, args, what)
    stat = args.data.stat()
    key = {"model": lm.identity, "layer": str(layer), "data": str(args.data.resolve()), "data_bytes": str(stat.st_size),
           "data_mtime": str(int(stat.st_mtime)), "text_field": args.text_field, "texts": str(len(texts)),
           "eval_texts": str(args.eval_texts), "tokens": str(tokens), "chat": str(not args.plain),
           "max_length": str(args.max_length), "dtype": str(lm.dtype)}
    return cached_activations(args.cache / f"{what}.safetensors", key,
                              lambda: _harvest_now(lm, texts, layer, tokens, args, what))


def _harvest_now(lm: LoadedModel, texts: list[str], layer: int, tokens: int, args: argparse.Namespace, what: str
                 ) -> torch.Tensor:
    from tqdm import tqdm

    from fac_engine.models.harvest import harvest_activations

    with tqdm(total=tokens, desc=f"{what} activations", unit="tok", unit_scale=True) as bar:

        def progress(done: int, _total: int) -> None:
            bar.update(done - bar.n)

        return harvest_activations(
            lm, texts, layer=layer, max_tokens=tokens, chat=not args.plain, max_length=args.max_length,
            progress=progress,
        )


def _check_options(args: argparse.Namespace) -> None:
    """Refuse bad counts and a file in the --out place before anything slow runs.

    Without this, --eval-texts 0 trains on nothing (texts[:-0] is empty) and a negative
    --tokens crashes torch.empty with a traceback.
    """
    for flag, value in (("--tokens", args.tokens), ("--eval-tokens", args.eval_tokens),
                        ("--eval-texts", args.eval_texts), ("--max-length", args.max_length)):
        if value < 1:
            raise FacError(f"{flag} must be at least 1, got {value}.")
    check_write_target(args.out, "--out", folder=True)


def _check_model(lm: LoadedModel, layer: int, chat: bool) -> None:
    """Fail on the layer or a missing chat template now, not inside the first harvest batch."""
    from fac_engine.models.capture import check_layer
    from fac_engine.models.template import has_chat_template

    check_layer(layer, lm.num_layers)
    if chat and not has_chat_template(lm.tokenizer):
        raise FacError(f"{lm.name}'s tokenizer has no chat template; pass --plain to read the texts as plain text.")


def run_train_sae(args: argparse.Namespace) -> int:
    """Collect activations, train, evaluate on held-out texts, save."""
    import torch
    from tqdm import tqdm

    from fac_engine.data.texts import read_texts
    from fac_engine.models.capture import default_layer
    from fac_engine.models.loader import load_model
    from fac_engine.sae.formats.fac import save_sae
    from fac_engine.sae.train import train_topk_sae

    _check_options(args)
    train_cfg = _train_flags().build(args, device=args.device)
    texts = read_texts(args.data, args.text_field)
    if len(texts) <= args.eval_texts:
        raise FacError(f"{args.data} has {len(texts)} texts; need more than --eval-texts ({args.eval_texts}).")
    lm = load_model(model_spec(args))
    layer = default_layer(lm.num_layers) if args.layer is None else args.layer
    _check_model(lm, layer, chat=not args.plain)
    start = time.perf_counter()
    train_acts = _harvest(lm, texts[: -args.eval_texts], layer, args.tokens, args, "train")
    eval_acts = _harvest(lm, texts[-args.eval_texts :], layer, args.eval_tokens, args, "eval")
    harvest_s = time.perf_counter() - start
    with tqdm(desc="training", unit="step") as bar:

        def progress(step: int, total: int, logs: dict[str, float]) -> None:
            bar.total = total
            bar.update(step - bar.n)
            bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()})

        result = train_topk_sae(
            train_acts, train_cfg, hook_layer=layer, model_name=lm.identity, eval_acts_ND=eval_acts, progress=progress
        )
    save_sae(result.sae, args.out, dtype=getattr(torch, args.save_dtype))
    m = result.metrics
    print(f"harvested {train_acts.shape[0]:,} train + {eval_acts.shape[0]:,} eval tokens in {harvest_s:.0f} s; "
          f"trained in {time.perf_counter() - start - harvest_s:.0f} s")
    print(f"saved {args.out}: d_sae {result.sae.cfg.d_sae}, K {train_cfg.k}, layer {layer}; "
          f"held-out FVU {m.fvu:.4f}, L0 {m.l0:.1f}, dead {100 * m.dead_fraction:.2f}%")
    return 0


def add_probe(p: argparse.ArgumentParser) -> None:
    """`fac probe`."""
    p.add_argument("text", help="the text to encode")
    p.add_argument("--top", type=positive, default=10, help="how many features to show")
    p.add_argument("--plain", action="store_true", help="do not wrap the text in the chat template")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_model_options(p)
    add_sae_options(p)
    p.set_defaults(run=run_probe)


def run_probe(args: argparse.Namespace) -> int:
    """Print the top features of the text with the token where each peaks."""
    from fac_engine.cli.common import load_model_and_sae
    from fac_engine.encoding.text_probe import probe_text

    lm, sae = load_model_and_sae(args)
    result = probe_text(lm, sae, args.text, chat=not args.plain)
    pooled = result.pooled
    rows: list[dict[str, Any]] = [
        {
            "feature": int(pooled.features[i]),
            "max": round(float(pooled.max_values[i]), 4),
            "token": result.tokens[int(pooled.argmax[i])],
            "position": int(pooled.argmax[i]),
            "tokens_active": int(pooled.counts[i]),
        }
        for i in range(min(args.top, pooled.features.numel()))
    ]
    if args.json:
        print(json.dumps({"content_start": result.content_start, "tokens": result.tokens, "features": rows}))
        return 0
    print(f"{len(result.tokens) - result.content_start} content tokens, {pooled.features.numel()} features active")
    print(f"{'feature':>8} {'max':>8} {'tokens':>6}  peak token")
    for row in rows:
        print(f"{row['feature']:>8} {row['max']:>8.3f} {row['tokens_active']:>6}  {row['token']!r}")
    return 0
