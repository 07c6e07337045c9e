"""Benchmark: what the feature explorer's first visit waits for before its decoder views, cold in a fresh
process: loading the whole causal LM to read its unembedding (before) against reading W_U and the final
norm's weight from the safetensors plus the tokenizer alone (`output_head`, fac_engine/models/unembedding.py).

    .venv/bin/fac prepare                                 # once: the embedded model's folder
    .venv/bin/python bench/bench_unembedding.py [--model embedded] [--repeats 3]

Each run is a new Python process (nothing cached, files in the OS page cache after the first run). It times
the imports (torch, transformers), then the model read, then one decoder direction's promoted and suppressed
tokens with their strings, as fac_app/feature_data.py computes them; the SAE load is the same either way and
left out.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's fac_engine, not an installed one
METHODS = ("full model", "output head")


def child(method: str, model: str) -> None:
    """One cold run in this process; prints its times as JSON."""
    start = time.perf_counter()
    import torch

    from fac_engine.features.geometry import logit_effects
    from fac_engine.models.loader import load_model
    from fac_engine.models.spec import ModelSpec
    from fac_engine.models.unembedding import model_unembedding, output_head

    imported = time.perf_counter()
    spec = ModelSpec(source=model)
    if method == "full model":
        lm = load_model(spec)
        unembedding, tokenizer = model_unembedding(lm.model), lm.tokenizer
    else:
        head = output_head(spec)
        unembedding, tokenizer = head.unembedding, head.tokenizer
    read = time.perf_counter()
    torch.manual_seed(0)
    direction = torch.randn(unembedding.W_U_VD.shape[1])
    effects = logit_effects(direction, unembedding.W_U_VD, unembedding.norm_weight, 10)
    strings = [tokenizer.decode([int(i)]) for i in [*effects.promoted, *effects.suppressed]]
    assert len(strings) == 20
    done = time.perf_counter()
    print(json.dumps({"imports": imported - start, "read": read - imported, "effects": done - read,
                      "total": done - start}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded", help="a model source, as in a project (default: embedded)")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per method")
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.model)
        return
    print("| method | run | imports s | model read s | effects s | in-process total s | process wall s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    totals: dict[str, list[float]] = {m: [] for m in METHODS}
    for run in range(1, args.repeats + 1):
        for method in METHODS:  # interleaved, so a change in the machine's load hits both alike
            start = time.perf_counter()
            out = subprocess.run([sys.executable, __file__, "--child", method, "--model", args.model],
                                 check=True, capture_output=True, text=True).stdout
            wall = time.perf_counter() - start
            t = json.loads(out.strip().splitlines()[-1])
            totals[method].append(wall)
            print(f"| {method} | {run} | {t['imports']:.2f} | {t['read']:.2f} | {t['effects']:.3f} | "
                  f"{t['total']:.2f} | {wall:.2f} |")
    for method in METHODS:
        print(f"median process wall, {method}: {statistics.median(totals[method]):.2f} s")


if __name__ == "__main__":
    main()
