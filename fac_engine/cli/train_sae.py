"""`fac train-sae`: train a TopK SAE on residual activations of a text dataset."""

import argparse
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from fac_engine.cli.common import add_model_options, model_spec
from fac_engine.data.texts import read_texts
from fac_engine.errors import FacError
from fac_engine.models.activation_cache import cached_activations
from fac_engine.models.capture import check_layer, default_layer
from fac_engine.models.harvest import harvest_activations
from fac_engine.models.loader import LoadedModel, load_model
from fac_engine.models.template import has_chat_template
from fac_engine.sae.formats.fac import save_sae
from fac_engine.sae.train import TrainConfig, train_topk_sae

SAVE_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def register(sub: Any) -> None:
    """Add the `train-sae` verb."""
    p = sub.add_parser("train-sae", help="train a TopK SAE on a dataset's residual stream")
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
    defaults = TrainConfig()
    p.add_argument("--k", type=int, default=defaults.k)
    p.add_argument("--expansion", type=int, default=defaults.expansion)
    p.add_argument("--lr", type=float, default=defaults.lr)
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--epochs", type=float, default=defaults.epochs)
    p.add_argument("--k-anneal-start", type=int, default=None, help="anneal K from this value (paper code: 200)")
    p.add_argument("--aux-k", type=int, default=defaults.aux_k, help="AuxK dead-latent loss latents (0: off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-dtype", choices=sorted(SAVE_DTYPES), default="float32")
    p.add_argument("--cache", type=Path, default=None,
                   help="folder keeping the harvested activations; a rerun with the same inputs reuses them")
    p.set_defaults(run=run)


def _harvest(lm: LoadedModel, texts: list[str], layer: int, tokens: int, args: argparse.Namespace, what: str
             ) -> torch.Tensor:
    """Activations of `texts`, through the --cache folder when one is given."""
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
    if args.out.exists() and not args.out.is_dir():
        raise FacError(f"--out {args.out} is a file; give a folder to write the SAE into.")


def _check_model(lm: LoadedModel, layer: int, chat: bool) -> None:
    """Fail on the layer or a missing chat template now, not inside the first harvest batch."""
    check_layer(layer, lm.num_layers)
    if chat and not has_chat_template(lm.tokenizer):
        raise FacError(f"{lm.name}'s tokenizer has no chat template; pass --plain to read the texts as plain text.")


def run(args: argparse.Namespace) -> int:
    """Collect activations, train, evaluate on held-out texts, save."""
    _check_options(args)
    try:
        train_cfg = TrainConfig(
            k=args.k, expansion=args.expansion, lr=args.lr, batch_size=args.batch_size, epochs=args.epochs,
            k_anneal_start=args.k_anneal_start, aux_k=args.aux_k, seed=args.seed, device=args.device,
        )
    except ValueError as exc:
        raise FacError(str(exc)) from exc
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
    save_sae(result.sae, args.out, dtype=SAVE_DTYPES[args.save_dtype])
    m = result.metrics
    print(f"harvested {train_acts.shape[0]:,} train + {eval_acts.shape[0]:,} eval tokens in {harvest_s:.0f} s; "
          f"trained in {time.perf_counter() - start - harvest_s:.0f} s")
    print(f"saved {args.out}: d_sae {result.sae.cfg.d_sae}, K {args.k}, layer {layer}; "
          f"held-out FVU {m.fvu:.4f}, L0 {m.l0:.1f}, dead {100 * m.dead_fraction:.2f}%")
    return 0
