"""Benchmark: feature matching between two SAEs (`match_codes`, what `fac match` runs after reading the bridge) on a
synthetic bridge whose true correspondence is known: space B holds a noisy copy of every feature of A under
a permuted id (each firing kept with probability 0.8, its value times a log-normal factor) plus firings of
features of its own.

    .venv/bin/python bench/bench_match.py [--samples 5000] [--features-a 4608] [--features-b 8192] [--active 150]
        [--value-noise 0.5]

`active` is the number of pooled features per sample (max pooling over a sample's tokens makes it far larger
than the SAE's per-token K). Prints one table row per run: the real match and the shuffled control; results go
into docs/BENCHMARKS.md.
"""

import argparse
import time

import numpy as np
from scipy import sparse

from fac_engine.crossmodel.bridge import BridgeCodes
from fac_engine.crossmodel.matching import match_codes
from fac_engine.crossmodel.results import CONFIDENT, MatchConfig


def synthetic_bridge(n: int, d_a: int, d_b: int, active: int, noise: float, seed: int) -> tuple[BridgeCodes,
                                                                                             np.ndarray]:
    """The bridge codes and the true counterpart in B of every feature of A."""
    rng = np.random.default_rng(seed)
    popularity = 1 / np.arange(1, d_a + 1) ** 0.8
    rows = np.repeat(np.arange(n), active)
    cols = rng.choice(d_a, size=n * active, p=popularity / popularity.sum())
    a = sparse.csr_matrix((rng.exponential(2.0, rows.size) + 0.01, (rows, cols)), shape=(n, d_a))
    a.sum_duplicates()
    truth = rng.permutation(d_b)[:d_a]
    coo = a.tocoo()
    kept = rng.random(coo.nnz) < 0.8
    own = rng.integers(0, d_b, size=n * active // 4)
    b_rows = np.r_[coo.row[kept], rng.integers(0, n, size=own.size)]
    b_cols = np.r_[truth[coo.col[kept]], own]
    copied = coo.data[kept] * np.exp(rng.normal(0.0, noise, size=int(kept.sum())))
    b_vals = np.r_[copied, rng.exponential(2.0, size=own.size) + 0.01]
    b = sparse.csr_matrix((b_vals, (b_rows, b_cols)), shape=(n, d_b))
    b.sum_duplicates()
    return BridgeCodes(a, b), truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--features-a", type=int, default=4608)
    parser.add_argument("--features-b", type=int, default=8192)
    parser.add_argument("--active", type=int, default=150)
    parser.add_argument("--value-noise", type=float, default=0.5, help="sigma of B's log-normal value factor")
    parser.add_argument("--shuffles", type=int, default=20)
    args = parser.parse_args()
    codes, truth = synthetic_bridge(args.samples, args.features_a, args.features_b, args.active, args.value_noise, 0)
    print(f"bridge: {args.samples:,} samples, A {args.features_a:,} features ({codes.a.nnz:,} pooled rows), "
          f"B {args.features_b:,} features ({codes.b.nnz:,} pooled rows), value noise {args.value_noise:g}, "
          f"{args.shuffles} shuffles")
    print("| run | wall | features of A with a candidate | best = true counterpart | confident (>= 0.5) "
          "| confident and true |")
    print("|---|---|---|---|---|---|")
    for control in (False, True):
        started = time.perf_counter()
        best = match_codes(codes, MatchConfig(shuffles=args.shuffles, shuffled_control=control)).pairs.best()
        wall = time.perf_counter() - started
        right = truth[best.feature_a] == best.feature_b
        confident = best.confidence >= CONFIDENT
        print(f"| {'shuffled control' if control else 'match'} | {wall:.1f} s | {len(best):,} | "
              f"{right.mean():.1%} | {int(confident.sum()):,} | {int((confident & right).sum()):,} |")


if __name__ == "__main__":
    main()
