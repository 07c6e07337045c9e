"""The SAE verbs: `fac train-sae` (harvest residual activations of a text dataset and train a TopK SAE on
them) and `fac probe` (which features fire on a text).

With --cache the activations go to disk in shards and the run checkpoints its training state,
so a long CPU run proceeds over several sittings: stop it (Ctrl-C, `kill -TERM`, --stop-after)
and run the same command with --resume; harvest and training continue where they stopped and
the result is the same, bit for bit, as one uninterrupted run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from fac_engine.atomic import check_write_target
from fac_engine.cli.common import add_model_options, add_sae_options, model_spec
from fac_engine.cli.flags import ConfigFlags, positive
from fac_engine.errors import FacError

if TYPE_CHECKING:
    import torch

    from fac_engine.models.activation_cache import ShardedActivations
    from fac_engine.models.loader import LoadedModel
    from fac_engine.sae.train import TrainConfig

SAVE_DTYPES = ("float32", "bfloat16")
"""Precisions `fac train-sae --save-dtype` writes the weights in."""
CHECKPOINT_PREFIX = "checkpoint-"
"""Sub-folders of --cache holding training checkpoints (next to the train/ and eval/ shards), one per
training configuration: other hyper-parameters on the same activations start a run of their own."""


def _train_flags() -> ConfigFlags[TrainConfig]:
    from fac_engine.sae.train import TrainConfig

    return ConfigFlags(TrainConfig, title="training", skip=("device",),  # the model's --device
                       helps={"k_anneal_start": "anneal K from this value down to --k (paper code: 200)",
                              "tied": "tie encoder and decoder (W_enc = W_dec^T; half the file)"})


def add_train_sae(p: argparse.ArgumentParser) -> None:
    """`fac train-sae`."""
    from fac_engine.models.harvest import DEFAULT_SHARD_ROWS

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
                   help="folder for the harvested activation shards and the training checkpoints (resumable run; "
                        "other hyper-parameters reuse the shards)")
    p.add_argument("--shard-tokens", type=int, default=DEFAULT_SHARD_ROWS, help="activations per shard on disk")
    p.add_argument("--resume", action="store_true", help="continue the run checkpointed in --cache")
    p.add_argument("--checkpoint-minutes", type=float, default=5.0, help="save the training state this often")
    p.add_argument("--stop-after", type=float, default=None, metavar="HOURS",
                   help="pause (harvest: after a shard; training: with a checkpoint) after this many hours")
    p.add_argument("--harvest-only", action="store_true", help="stop once the activations are on disk")
    _train_flags().add(p)
    p.set_defaults(run=run_train_sae)


def _data_key(args: argparse.Namespace, lm: LoadedModel, layer: int, texts: int) -> dict[str, str]:
    """Everything the harvested activations depend on."""
    stat = args.data.stat()
    return {"model": lm.identity, "layer": str(layer), "data": str(args.data.resolve()),
            "data_bytes": str(stat.st_size), "data_mtime": str(int(stat.st_mtime)), "text_field": args.text_field,
            "texts": str(texts), "eval_texts": str(args.eval_texts), "chat": str(not args.plain),
            "max_length": str(args.max_length), "dtype": str(lm.dtype)}


def _bar(what: str, total: int, done: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, initial=done, desc=f"{what} activations", unit="tok", unit_scale=True)


def _harvest_shards(lm: LoadedModel, texts: list[str], layer: int, tokens: int, args: argparse.Namespace,
                    what: str, stop: Callable[[], bool]) -> ShardedActivations:
    from fac_engine.models.activation_cache import ShardedActivations
    from fac_engine.models.harvest import harvest_to_shards

    # --tokens is not part of the key: a store of more tokens serves a smaller --tokens, a stopped one continues.
    key = {**_data_key(args, lm, layer, len(texts)), "shard_tokens": str(args.shard_tokens)}
    store = ShardedActivations(args.cache / what, key)
    with _bar(what, tokens, min(store.rows, tokens)) as bar:
        return harvest_to_shards(lm, texts, store, layer=layer, max_tokens=tokens, shard_rows=args.shard_tokens,
                                 chat=not args.plain, max_length=args.max_length,
                                 progress=lambda done, _total: bar.update(done - bar.n), stop=stop)


def _harvest_now(lm: LoadedModel, texts: list[str], layer: int, tokens: int, args: argparse.Namespace, what: str
                 ) -> torch.Tensor:
    from fac_engine.models.harvest import harvest_activations

    with _bar(what, tokens, 0) as bar:
        return harvest_activations(lm, texts, layer=layer, max_tokens=tokens, chat=not args.plain,
                                   max_length=args.max_length, progress=lambda done, _total: bar.update(done - bar.n))


def _check_options(args: argparse.Namespace) -> None:
    """Refuse bad counts and a file in the --out place before anything slow runs.

    Without this, --eval-texts 0 trains on nothing (texts[:-0] is empty) and a negative
    --tokens crashes torch.empty with a traceback.
    """
    for flag, value in (("--tokens", args.tokens), ("--eval-tokens", args.eval_tokens),
                        ("--eval-texts", args.eval_texts), ("--max-length", args.max_length),
                        ("--shard-tokens", args.shard_tokens)):
        if value < 1:
            raise FacError(f"{flag} must be at least 1, got {value}.")
    check_write_target(args.out, "--out", folder=True)
    if (args.resume or args.harvest_only or args.stop_after is not None) and args.cache is None:
        raise FacError("--resume, --harvest-only and --stop-after need --cache (where the run is kept).")


def _checkpoint_dir(cache: Path, cfg: TrainConfig, tokens: int) -> Path:
    """`<cache>/checkpoint-<digest of the training options and --tokens>` (the device is not an option of the
    run; the cached harvest serves every --tokens, so the token count names the run)."""
    options = json.dumps({**{k: v for k, v in asdict(cfg).items() if k != "device"}, "tokens": tokens},
                         sort_keys=True)
    return cache / f"{CHECKPOINT_PREFIX}{hashlib.sha256(options.encode()).hexdigest()[:12]}"


def _check_model(lm: LoadedModel, layer: int, chat: bool) -> None:
    """Fail on the layer or a missing chat template now, not inside the first harvest batch."""
    from fac_engine.models.capture import check_layer
    from fac_engine.models.template import has_chat_template

    check_layer(layer, lm.num_layers)
    if chat and not has_chat_template(lm.tokenizer):
        raise FacError(f"{lm.name}'s tokenizer has no chat template; pass --plain to read the texts as plain text.")


@contextmanager
def _stop_requests(hours: float | None, signals: bool) -> Iterator[Callable[[], bool]]:
    """A stop() that turns True after `hours`, or (with `signals`) on SIGTERM / Ctrl-C, which then pause
    the run at the next shard or step instead of killing it."""
    deadline = None if hours is None else time.monotonic() + hours * 3600
    asked: list[int] = []

    def handler(signum: int, _frame: FrameType | None) -> None:
        asked.append(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)} if signals else {}
    try:
        yield lambda: bool(asked) or (deadline is not None and time.monotonic() >= deadline)
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_train_sae(args: argparse.Namespace) -> int:
    """Collect activations, train (resumably with --cache), evaluate on held-out texts, save."""
    import torch
    from tqdm import tqdm

    from fac_engine.data.texts import read_texts
    from fac_engine.models.capture import default_layer
    from fac_engine.models.loader import load_model
    from fac_engine.sae.formats.fac import save_sae
    from fac_engine.sae.train import CheckpointPlan, TrainingPaused, train_topk_sae

    _check_options(args)
    from fac_engine.sae.checkpoint import has_checkpoint

    train_cfg = _train_flags().build(args, device=args.device)
    checkpoint_dir = None if args.cache is None else _checkpoint_dir(args.cache, train_cfg, args.tokens)
    if checkpoint_dir is not None and has_checkpoint(checkpoint_dir) and not args.resume:
        raise FacError(f"{checkpoint_dir} already holds a checkpoint of this run; resume it (--resume), or delete "
                       "it to start over")
    texts = read_texts(args.data, args.text_field)
    if len(texts) <= args.eval_texts:
        raise FacError(f"{args.data} has {len(texts)} texts; need more than --eval-texts ({args.eval_texts}).")
    lm = load_model(model_spec(args))
    layer = default_layer(lm.num_layers) if args.layer is None else args.layer
    _check_model(lm, layer, chat=not args.plain)
    train_texts, eval_texts = texts[: -args.eval_texts], texts[-args.eval_texts :]
    start = time.perf_counter()
    with _stop_requests(args.stop_after, signals=args.cache is not None) as stop:
        if args.cache is None:
            train_acts: torch.Tensor | ShardedActivations = _harvest_now(lm, train_texts, layer, args.tokens, args,
                                                                         "train")
            eval_acts = _harvest_now(lm, eval_texts, layer, args.eval_tokens, args, "eval")
            plan = None
        else:
            store = _harvest_shards(lm, train_texts, layer, args.tokens, args, "train", stop)
            eval_store = None if not store.complete else _harvest_shards(lm, eval_texts, layer, args.eval_tokens,
                                                                         args, "eval", stop)
            if eval_store is None or not eval_store.complete:
                done = store.rows if eval_store is None else eval_store.rows
                wanted = args.tokens if eval_store is None else args.eval_tokens
                print(f"harvest paused at {done:,} of {wanted:,} {'train' if eval_store is None else 'eval'} tokens; "
                      "run the same command with --resume to continue")
                return 0
            if args.harvest_only:
                print(f"harvested {store.rows:,} train + {eval_store.rows:,} eval tokens into {args.cache}")
                return 0
            train_acts, eval_acts = store, eval_store.load_all()
            key = "|".join(f"{k}={v}" for k, v in sorted(store.key.items()))
            assert checkpoint_dir is not None
            plan = CheckpointPlan(checkpoint_dir, every_seconds=60 * args.checkpoint_minutes,
                                  resume=args.resume, stop=stop)
        harvest_s = time.perf_counter() - start
        with tqdm(desc="training", unit="step") as bar:

            def progress(step: int, total: int, logs: dict[str, float]) -> None:
                bar.total = total
                bar.update(step - bar.n)
                bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()})

            try:
                result = train_topk_sae(train_acts, train_cfg, hook_layer=layer, model_name=lm.identity,
                                        eval_acts_ND=eval_acts, progress=progress, checkpoint=plan,
                                        data_key=hashlib.sha256(key.encode()).hexdigest() if plan else "")
            except TrainingPaused as paused:
                bar.close()
                print(f"{paused}; run the same command with --resume to continue")
                return 0
    save_sae(result.sae, args.out, dtype=getattr(torch, args.save_dtype))
    m = result.metrics
    rows = train_acts.shape[0] if isinstance(train_acts, torch.Tensor) else train_acts.rows
    print(f"harvested {rows:,} train + {eval_acts.shape[0]:,} eval tokens in {harvest_s:.0f} s; "
          f"trained in {result.sae.cfg.metrics['train_seconds']:.0f} s (all sittings)")
    print(f"saved {args.out}: d_sae {result.sae.cfg.d_sae}{' tied' if train_cfg.tied else ''}, K {train_cfg.k}, "
          f"layer {layer}; held-out FVU {m.fvu:.4f}, L0 {m.l0:.1f}, dead {100 * m.dead_fraction:.2f}%")
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
