"""Benchmark: render and interaction times of the home, coverage and missing-features pages on a synthetic
workspace of 100,000 anchor samples (labels toxic / safe) and a 20,000-sample seed, encoded with a
65,536-feature SAE (the issue's target: first render < 3 s, interactions < 1 s). Measured server-side
with Streamlit's AppTest, each page in a fresh process (cold caches).

    .venv/bin/python bench/bench_dashboard.py [--samples 100000] [--features 65536] [--active 100]

Pooled codes are written directly: `--active` features per sample with Zipf-like popularity and
exponential activations; the SAE is random (TopK, k 20, d_in 576) and only used for the decoder
clustering. Everything lives in a temporary folder.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from fac_engine.sae.config import SaeConfig
from fac_engine.sae.formats.fac import save_sae
from fac_engine.sae.model import SparseAutoencoder
from fac_engine.workspace.datasets import POOLED, Manifest, shard_path, write_manifest
from fac_engine.workspace.project import Project

D_IN, LAYER = 576, 15
WORDS = np.array(["the", "a", "cat", "dog", "sat", "on", "mat", "hello", "world", "how", "do", "i", "make", "bake",
                  "bread", "kill", "hate", "love", "you", "me", "it"])


def random_sae(folder: Path, d_sae: int) -> None:
    generator = torch.Generator().manual_seed(0)
    W_dec = torch.nn.functional.normalize(torch.randn(d_sae, D_IN, generator=generator), dim=1)
    cfg = SaeConfig(d_in=D_IN, d_sae=d_sae, activation="topk", k=20, hook_layer=LAYER)
    save_sae(SparseAutoencoder.from_tensors(cfg, {"W_enc": W_dec.t().contiguous(), "b_enc": torch.zeros(d_sae),
                                                  "W_dec": W_dec, "b_dec": torch.zeros(D_IN)}), folder,
             dtype=torch.bfloat16)


def synthetic_dataset(root: Path, name: str, n: int, d_sae: int, active: int, seed: int) -> int:
    """A complete workspace entry with pooled codes, labels and short texts; returns its pooled rows."""
    rng = np.random.default_rng(seed)
    ranks = np.minimum((rng.pareto(1.1, size=n * active) * 50).astype(np.int64), d_sae - 1)
    feature = np.random.default_rng(0).permutation(d_sae)[ranks].astype(np.int64)
    key = np.unique(np.repeat(np.arange(n, dtype=np.int64), active) * d_sae + feature)
    sample, feature = (key // d_sae).astype(np.int32), (key % d_sae).astype(np.int32)
    value = rng.exponential(2.0, size=key.size).astype(np.float32) + np.float32(0.01)
    folder = root / name
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"sample": sample, "feature": feature, "value": value,
                             "position": np.zeros(key.size, np.int32), "active_tokens": np.ones(key.size, np.int32)}),
                   folder / POOLED, compression="zstd", row_group_size=1 << 20)
    texts = [" ".join(row) for row in WORDS[rng.integers(0, WORDS.size, (n, 12))]]
    samples = pa.table({"sample": pa.array(np.arange(n), pa.int32()), "text": pa.array(texts),
                        "label": pa.array(np.where(rng.random(n) < 0.2, "toxic", "safe"))})
    path = shard_path(folder, "samples", 0)
    path.parent.mkdir(parents=True)
    pq.write_table(samples, path)
    write_manifest(folder, Manifest(name=name, model="synthetic@0", sae="synthetic", sae_path="-", d_sae=d_sae,
                                    layer=LAYER, dataset_path="-", dataset_hash=name, t0_policy="plain",
                                    max_length=256, shard_samples=n, n_samples=n, versions={}, status="complete",
                                    label_field="label"))
    return int(key.size)


TIMER = r'''
import sys, time
from streamlit.testing.v1 import AppTest
app, page = sys.argv[1], sys.argv[2]

def timed(label, action):
    t = time.perf_counter(); action(); at.run()
    assert not at.exception, [e.value for e in at.exception]
    print(f"{label} {time.perf_counter() - t:.2f} s")

at = AppTest.from_file(app, default_timeout=600)
if page != "app.py":
    at.switch_page(page)
timed("first render", lambda: None)
timed("rerun", lambda: None)
timed("threshold 0.6", lambda: at.slider[0].set_value(0.6))
if page == "app_pages/1_Coverage.py":
    timed("1000 features", lambda: at.number_input(key="cov_top_n").set_value(1000))
    timed("log colours", lambda: at.toggle(key="cov_log").set_value(True))
    timed("decoder clusters (first)", lambda: at.radio(key="cov_grouping").set_value("clusters"))
    timed("threshold 1.2 (clusters)", lambda: at.slider[0].set_value(1.2))
if page == "app_pages/4_Missing_features.py":
    timed("label filter", lambda: at.selectbox(key="missing_label").set_value("toxic"))
    timed("select all shown", lambda: at.button(key="missing_select_all").click())
    timed("sort by log-odds", lambda: at.selectbox(key="missing_sort").set_value("log_odds"))
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=65_536)
    parser.add_argument("--active", type=int, default=100, help="active features per sample (before dedup)")
    args = parser.parse_args()
    repo = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        ws = Path(tmp) / "ws"
        random_sae(Path(tmp) / "sae", args.features)
        rows = [synthetic_dataset(ws, name, n, args.features, args.active, seed)
                for seed, (name, n) in enumerate((("anchor", args.samples), ("seed", args.samples // 5)))]
        Project(ws).update(model="embedded", sae=str(Path(tmp) / "sae"), anchor="anchor", seed="seed")
        print(f"built anchor ({args.samples:,} samples, {rows[0]:,} pooled rows) and seed ({args.samples // 5:,}, "
              f"{rows[1]:,}) with {args.features:,} features in {time.perf_counter() - started:.0f} s")
        env = {**os.environ, "FAC_WORKSPACE": str(ws), "FAC_HOME": str(Path(tmp) / "home")}
        for page in ("app.py", "app_pages/1_Coverage.py", "app_pages/4_Missing_features.py"):
            Project(ws).update(threshold=0.0)
            out = subprocess.run([sys.executable, "-c", TIMER, str(repo / "app.py"), page], env=env, cwd=repo,
                                 capture_output=True, text=True, check=False)
            print(f"{page}: " + ("; ".join(out.stdout.split("\n")).strip("; ") or out.stderr[-3000:]))


if __name__ == "__main__":
    main()
