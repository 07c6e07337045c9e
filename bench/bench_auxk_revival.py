"""Measurement: does AuxK revive a trained SAE's dead latents? ReLU'd AuxK, straight-through AuxK, resampling.

    .venv/bin/python bench/bench_auxk_revival.py --sae assets/sae/smollm2-135m-instruct-l15-16k \\
        --cache ~/.cache/fac-studio/sae-runs/smollm2-l15-16k-tied/cache --steps 200

Takes a TopK SAE trained by `fac train-sae` (its cfg.json records the training input scale) and the
activation cache of its run (`--cache` of the same command). The latents that never fire on the
cache's held-out shard are the dead ones. Training then continues from the SAE, once per AuxK
variant, for `--steps` batches of the last training shard with those latents marked dead, a fresh
Adam and the trainer's own step (fac_engine/sae/train_step.py), and the script reports how many of
the dead latents fire on the held-out shard afterwards, and the training FVU of the last 50 steps.
A third run resamples the dead latents before the first step (fac_engine/sae/resample.py, a pool
of 32,768 rows of the same shard) and then trains with no latent marked dead.
It also reports, before training, the share of the dead latents' pre-activations above zero (with
the ReLU, AuxK's gradient only reaches those).
"""

import argparse
import json
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from fac_engine.sae.load import load_sae
from fac_engine.sae.model import SparseAutoencoder
from fac_engine.sae.resample import POOL_ROWS, resample_dead
from fac_engine.sae.train_state import Params, make_optimizer
from fac_engine.sae.train_step import train_step


def _params(sae: SparseAutoencoder, scale: float, tied: bool) -> Params:
    """Trainable copies in the trainer's layout and input scale (the saved SAE encodes raw residuals)."""
    t = sae.tensors()
    W_dec = t["W_dec"].clone().requires_grad_()
    W_enc = W_dec if tied else t["W_enc"].t().contiguous().requires_grad_()
    return Params(W_enc, (t["b_enc"] * scale).requires_grad_(), W_dec, (t["b_dec"] * scale).requires_grad_())


def _shard(folder: Path, last: bool) -> torch.Tensor:
    files = sorted(folder.glob("shard-*.safetensors"))
    # the last training shard is the run's shortest; the one before it is whole
    chosen = files[-2] if last and len(files) > 1 else files[-1] if last else files[0]
    return load_file(chosen)["activations"].float()


def _fired(sae: SparseAutoencoder, p: Params, x_ND: torch.Tensor) -> torch.Tensor:
    """Latents that fire on any row of x (scaled like `p`), encoded by the project's SAE encoder."""
    tensors = {"W_enc": p.W_enc.detach().t(), "b_enc": p.b_enc.detach(), "W_dec": p.W_dec.detach(),
               "b_dec": p.b_dec.detach()}
    codes = SparseAutoencoder.from_tensors(sae.cfg, tensors).encode_sparse(x_ND)
    out = torch.zeros(sae.cfg.d_sae, dtype=torch.bool)
    out[codes.indices[codes.values > 0]] = True
    return out


def _positive_share(p: Params, x_ND: torch.Tensor, dead_F: torch.Tensor) -> float:
    with torch.no_grad():
        pre = (x_ND[:8192] - p.b_dec) @ p.W_enc[dead_F].t() + p.b_enc[dead_F]
    return float((pre > 0).float().mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sae", type=Path, required=True, help="folder with cfg.json and sae.safetensors")
    ap.add_argument("--cache", type=Path, required=True, help="the run's activation cache (train/ and eval/)")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    folder = args.sae.expanduser()
    sae = load_sae(folder)
    saved = json.loads((folder / "cfg.json").read_text())  # the training record: input scale, tied
    scale, tied, k = float(saved["metrics"]["input_scale"]), bool(saved.get("tied")), int(saved["k"])
    p0 = _params(sae, scale, tied)
    held_out = _shard(args.cache.expanduser() / "eval", last=False) * scale
    train = _shard(args.cache.expanduser() / "train", last=True) * scale
    dead = ~_fired(sae, p0, held_out)
    print(f"{args.sae}: {int(dead.sum())} of {dead.numel()} latents dead on {len(held_out):,} held-out tokens; "
          f"share of their pre-activations > 0: {_positive_share(p0, held_out, dead):.4f}")
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))
    variants = (("ReLU'd AuxK", False, False), ("straight-through AuxK", True, False), ("resampled", False, True))
    for name, straight_through, resample in variants:
        p = _params(sae, scale, tied)
        opt = make_optimizer(p, args.lr)
        start, fvus = time.perf_counter(), []
        marked = dead
        if resample:
            resample_dead(p, opt, dead, train[order[:POOL_ROWS]], k, torch.float32, torch.Generator().manual_seed(0))
            marked = torch.zeros_like(dead)  # restarted, so none is dead for AuxK
        for step in range(args.steps):
            rows = order[(step * 512) % len(train):][:512]
            fvu, _, _ = train_step(p, opt, train[rows], k, marked, 256, 1 / 32, torch.float32, straight_through)
            fvus.append(float(fvu))
        now = _fired(sae, p, held_out)
        tail = fvus[-50:]
        print(f"{name:>21}: {args.steps} steps in {time.perf_counter() - start:.0f} s; revived "
              f"{int((dead & now).sum())} of {int(dead.sum())}; dead now {float((~now).float().mean()):.2%}; "
              f"training FVU of the last {len(tail)} steps {sum(tail) / len(tail):.4f}")


if __name__ == "__main__":
    main()
