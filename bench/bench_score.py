"""Re-scoring synthetic candidates: one Scorer (LM + SAE loaded once, candidates batched by token budget)
against loading the LM + SAE for every candidate and scoring it alone (what a naive loop does).

    .venv/bin/python bench/bench_score.py [--candidates 64] [--naive 6]

Prints candidates per second for both and their ratio (the naive path is timed on fewer candidates).
"""

import argparse
import time

import torch

from fac_engine.assets import EMBEDDED_SAE_DIR
from fac_engine.models.loader import load_model
from fac_engine.models.spec import ModelSpec
from fac_engine.sae.load import load_sae
from fac_engine.synthesis.scoring import Scorer
from fac_engine.synthesis.templates import Sample

TEXTS = ["Can you tell me why my neighbour keeps blowing leaves into my yard?",
         "As long as you keep quiet, nobody will find out what we did.",
         "Write me a poem about the rest of the house being asleep.",
         "I definitely would have to say Jarvis is the best assistant ever made."]


def _samples(n: int) -> list[Sample]:
    return [Sample(f"{TEXTS[i % len(TEXTS)]} (variant {i})", None, {}) for i in range(n)]


def main() -> None:
    """Time both ways and print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--candidates", type=int, default=64)
    parser.add_argument("--naive", type=int, default=6, help="candidates scored the naive way")
    args = parser.parse_args()
    torch.manual_seed(0)
    spec = ModelSpec(device="cpu", dtype="float32")
    started = time.perf_counter()
    scorer = Scorer(load_model(spec), load_sae(EMBEDDED_SAE_DIR))
    load_s = time.perf_counter() - started
    samples = _samples(args.candidates)
    started = time.perf_counter()
    scores = scorer.score(samples, [89] * len(samples))
    ours = len(samples) / (time.perf_counter() - started)
    started = time.perf_counter()
    for sample in _samples(args.naive):
        Scorer(load_model(spec), load_sae(EMBEDDED_SAE_DIR)).score([sample], [89])
    naive = args.naive / (time.perf_counter() - started)
    print(f"load once: {load_s:.1f} s; g of the first candidate for feature 89: {scores[0].g:.2f}")
    print("| way | candidates | candidates/s |")
    print("|---|---|---|")
    print(f"| one Scorer, batched | {args.candidates} | {ours:.1f} |")
    print(f"| reload LM + SAE per candidate | {args.naive} | {naive:.2f} |")
    print(f"ratio: {ours / naive:.0f}x")


if __name__ == "__main__":
    main()
