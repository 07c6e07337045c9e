"""Benchmark: SAE harvest and training throughput for the embedded SAE recipe (issue 12), on this machine.

    .venv/bin/python bench/bench_sae_train.py [--corpus PATH] [--harvest-tokens 60000] [--steps 40] [--threads 1]
    .venv/bin/python bench/bench_sae_train.py --relative --threads 1

Harvest: SmolLM2-135M-Instruct in bf16 at layer 15, texts from the training corpus as user turns,
written to activation shards on disk (as `fac train-sae --cache` does). Training: TopK SAE steps of
512 tokens on those activations, per latent count, tied or not, at the final K and at an annealing K.
Tokens/s exclude model loading and the held-out evaluation; the estimate for a full run is
tokens / rate. The machine's load is printed: other jobs on the cores slow every wall-clock number,
so the CPU time this process used is measured too. Run it with `--threads 1` on a busy machine:
with two threads each waits (spinning, which counts as CPU time) whenever the other is descheduled,
while one thread's CPU time is its work. Tokens per CPU-second is then the one-core rate of an idle
machine; two cores give at most twice that.
"""

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch

from fac_engine.data.corpora.corpus import default_corpus_path, load_texts
from fac_engine.models.activation_cache import ShardedActivations
from fac_engine.models.embedded import EMBEDDED_DEFAULT_LAYER
from fac_engine.models.harvest import harvest_to_shards
from fac_engine.models.loader import load_model
from fac_engine.models.spec import ModelSpec
from fac_engine.sae.train import TrainConfig, train_topk_sae
from fac_engine.sae.train_state import init_params, make_optimizer
from fac_engine.sae.train_step import train_step


class Rate(NamedTuple):
    wall: float
    """Tokens per wall-clock second."""
    cpu: float
    """Tokens per CPU-second of this process."""

    def idle(self) -> float:
        """Tokens/s on one free core per thread (exact for one thread, an upper bound for more)."""
        return self.cpu * torch.get_num_threads()


def _timed(run: Callable[[], int]) -> Rate:
    wall, cpu = time.perf_counter(), time.process_time()
    tokens = run()
    return Rate(tokens / (time.perf_counter() - wall), tokens / (time.process_time() - cpu))


def _harvest(texts: list[str], tokens: int, folder: Path) -> tuple[torch.Tensor, Rate]:
    lm = load_model(ModelSpec(source="embedded", device="cpu", dtype="bfloat16"))
    store = ShardedActivations(folder, {"bench": "1"})

    def run() -> int:
        return harvest_to_shards(lm, texts, store, layer=EMBEDDED_DEFAULT_LAYER, max_tokens=tokens).rows

    rate = _timed(run)
    return store.load_all(), rate


def _train_rate(acts: torch.Tensor, d_sae: int, k: int, tied: bool, steps: int) -> Rate:
    cfg = TrainConfig(k=k, d_sae=d_sae, tied=tied, batch_size=512, epochs=steps * 512 / acts.shape[0], aux_k=256,
                      device="cpu")
    warm = TrainConfig(**{**cfg.__dict__, "epochs": 2 * 512 / acts.shape[0]})
    train_topk_sae(acts, warm, hook_layer=EMBEDDED_DEFAULT_LAYER, model_name="bench", eval_acts_ND=acts[:512])

    def run() -> int:
        train_topk_sae(acts, cfg, hook_layer=EMBEDDED_DEFAULT_LAYER, model_name="bench", eval_acts_ND=acts[:512])
        return steps * 512

    return _timed(run)


STEP_CONFIGS: tuple[tuple[int, bool, int], ...] = (
    (4_608, False, 20), (16_384, True, 32), (16_384, False, 32), (32_768, True, 32), (32_768, False, 32),
    (32_768, True, 64), (32_768, True, 128),
)
"""(latents, tied, K) timed by --relative; the first is the shipped SAE's recipe, the reference."""


def _relative_step_costs(rounds: int = 3, steps: int = 5) -> None:
    """CPU time per 512-token step of each STEP_CONFIGS entry, interleaved so load changes hit all alike."""
    x_BD = torch.randn(512, 576, generator=torch.Generator().manual_seed(0)) * 3
    runs = []
    for d_sae, tied, k in STEP_CONFIGS:
        params = init_params(torch.zeros(576), d_sae, tied, True, torch.Generator().manual_seed(0))
        runs.append((params, make_optimizer(params, 1e-3), torch.zeros(d_sae, dtype=torch.bool), k))
    best = [float("inf")] * len(runs)
    for _ in range(rounds):
        for i, (params, opt, dead, k) in enumerate(runs):
            started = time.process_time()
            for _ in range(steps):
                train_step(params, opt, x_BD, k, dead, 256, 1 / 32, torch.bfloat16)
            best[i] = min(best[i], (time.process_time() - started) / steps)
    print("\n| latents | tied | K | CPU ms per step | vs the 4,608 recipe |\n|---:|---|---:|---:|---:|")
    for (d_sae, tied, k), seconds in zip(STEP_CONFIGS, best, strict=True):
        print(f"| {d_sae:,} | {'yes' if tied else 'no'} | {k} | {1000 * seconds:.0f} | {seconds / best[0]:.2f} |")


def _row(name: str, rate: Rate, full: float, unit: str) -> str:
    return (f"| {name} | {rate.wall:,.0f} | {rate.idle():,.0f} | {full / rate.wall / 3600:.1f} {unit} | "
            f"{full / rate.idle() / 3600:.1f} {unit} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument("--harvest-tokens", type=int, default=60_000)
    parser.add_argument("--steps", type=int, default=40, help="training steps per configuration")
    parser.add_argument("--latents", type=int, nargs="+", default=[16_384, 32_768])
    parser.add_argument("--full-tokens", type=float, default=30e6, help="tokens of the full run to estimate")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--relative", action="store_true", help="only the per-step cost of each SAE size")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.relative:
        _relative_step_costs()
        return
    texts = load_texts(args.corpus or default_corpus_path())[:50_000]
    print(f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        acts, harvest_rate = _harvest(texts, args.harvest_tokens, Path(tmp) / "acts")
    full = f"{args.full_tokens / 1e6:.0f}M tokens"
    print(f"\n| stage | tokens/s (wall) | tokens/s (idle machine, from CPU time) | {full} (wall) | {full} (idle) |",
          flush=True)
    print("|---|---:|---:|---:|---:|")
    print(_row(f"harvest (bf16, layer {EMBEDDED_DEFAULT_LAYER}, shards on disk)", harvest_rate, args.full_tokens, "h"),
          flush=True)
    for d_sae in args.latents:
        for tied in (True, False):
            for k in (32, 128):
                rate = _train_rate(acts, d_sae, k, tied, args.steps)
                name = f"train {d_sae:,} latents, {'tied' if tied else 'untied'}, K {k}"
                print(_row(name, rate, args.full_tokens, "h / epoch"), flush=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
