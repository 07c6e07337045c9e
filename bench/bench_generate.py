"""Benchmark: batched local generation vs one sequence at a time, same model, prompts and settings.

    .venv/bin/python bench/bench_generate.py [--prompts 16] [--tokens 32] [--batch 16]

Issue 5's target: batched at least 4x the samples/s of one-at-a-time. Every sequence is forced
to its full length (min_new_tokens), so both paths generate exactly the same number of tokens.
"""

import argparse
import time

from fac_engine.llm.generators import GenerationConfig, LocalGenerator
from fac_engine.models.loader import load_model
from fac_engine.models.spec import ModelSpec

PROMPTS = ["Write a short question a user might ask a chatbot about cooking.",
           "Write one rude comment someone might post online.",
           "Write a polite request for help with homework.",
           "Write a question about the weather tomorrow."]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--dtype", default="auto")
    args = parser.parse_args()
    lm = load_model(ModelSpec(args.model, dtype=args.dtype))
    gen = LocalGenerator(lm)
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(args.prompts)]
    forced = {"min_new_tokens": args.tokens}
    rows = []
    for label, batch in (("one at a time", 1), (f"batched ({args.batch})", args.batch)):
        cfg = GenerationConfig(max_new_tokens=args.tokens, batch_size=batch, seed=0)
        started = time.perf_counter()
        gen.generate(prompts, n=1, cfg=cfg, **forced)
        seconds = time.perf_counter() - started
        rows.append((label, seconds, len(prompts) / seconds))
    print(f"{lm.name} on {lm.device} ({lm.dtype}), {len(prompts)} prompts x {args.tokens} new tokens")
    print("| path | seconds | samples/s |")
    print("|---|---|---|")
    for label, seconds, rate in rows:
        print(f"| {label} | {seconds:.1f} | {rate:.2f} |")
    print(f"| ratio | | {rows[1][2] / rows[0][2]:.1f}x |")


if __name__ == "__main__":
    main()
