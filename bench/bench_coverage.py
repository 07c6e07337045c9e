"""Benchmark: `fac coverage` end to end on two synthetic encoded datasets of 1,000,000 samples x 65,536
features (about 20 active features per sample), as a user runs it (a fresh `fac` process).

    .venv/bin/python bench/bench_coverage.py [--samples 1000000] [--features 65536] [--active 20]

Prints a table; results go into docs/BENCHMARKS.md. The workspace is built in a temporary
folder (about 2 x 160 MB) and removed afterwards.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fac_engine.workspace.datasets import POOLED, Manifest, write_manifest


def synthetic_dataset(root: Path, name: str, n: int, d_sae: int, active: int, seed: int) -> int:
    """A complete workspace entry whose pooled codes have `active` features per sample (Zipf-like ids)."""
    rng = np.random.default_rng(seed)
    # Popular features fire often, rare ones seldom: ids drawn from a power law over a permuted range.
    ranks = np.minimum((rng.pareto(1.1, size=n * active) * 50).astype(np.int64), d_sae - 1)
    feature = rng.permutation(d_sae)[ranks].astype(np.int32)
    sample = np.repeat(np.arange(n, dtype=np.int32), active)
    # One row per (sample, feature): drop repeats inside a sample.
    key = np.unique(sample.astype(np.int64) * d_sae + feature)
    sample, feature = (key // d_sae).astype(np.int32), (key % d_sae).astype(np.int32)
    value = rng.exponential(2.0, size=key.size).astype(np.float32) + np.float32(0.01)
    folder = root / name
    folder.mkdir(parents=True)
    table = pa.table({"sample": sample, "feature": feature, "value": value,
                      "position": np.zeros(key.size, np.int32), "active_tokens": np.ones(key.size, np.int32)})
    pq.write_table(table, folder / POOLED, compression="zstd", row_group_size=1 << 20)
    write_manifest(folder, Manifest(name=name, model="synthetic@0", sae="synthetic", sae_path="-", d_sae=d_sae,
                                    layer=16, dataset_path="-", dataset_hash=name, t0_policy="plain", max_length=256,
                                    shard_samples=n, n_samples=n, versions={}, status="complete"))
    return int(key.size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=65_536)
    parser.add_argument("--active", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        rows = [synthetic_dataset(root, name, args.samples, args.features, args.active, seed)
                for seed, name in enumerate(("anchor", "seed"))]
        print(f"built 2 datasets ({rows[0]:,} and {rows[1]:,} pooled rows) in {time.perf_counter() - started:.1f} s")
        fac = Path(sys.executable).parent / "fac"
        cmd = [str(fac), "coverage", "--anchor", "anchor", "--seed", "seed", "--json", "--workspace", str(root)]
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            times.append(time.perf_counter() - t0)
        startup = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import fac_engine.cli"], check=True)
            startup.append(time.perf_counter() - t0)
        fac_value = out.split('"fac": ')[1].split(",")[0]
        print("| samples | features | pooled rows per dataset | `fac coverage` wall s (median of "
              f"{args.repeats}) | min | python + CLI import s | FAC |")
        print("|---|---|---|---|---|---|---|")
        print(f"| {args.samples:,} | {args.features:,} | {rows[0]:,} | {statistics.median(times):.2f} | "
              f"{min(times):.2f} | {statistics.median(startup):.2f} | {fac_value} |")


if __name__ == "__main__":
    main()
