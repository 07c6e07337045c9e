"""Benchmark: render times of the feature explorer and the feature map on a synthetic workspace of
100,000 samples encoded with a 65,536-feature SAE (the issue's target: first render < 3 s, feature
switch < 1 s), measured server-side with Streamlit's AppTest in a fresh process.

    .venv/bin/python bench/bench_feature_pages.py [--samples 100000] [--features 65536] [--tokens 16]

The model is the embedded SmolLM2-135M-Instruct (run `fac prepare` first); the SAE is random
(TopK, k 20, d_in 576); token codes are random, 20 features per token drawn from 40 per sample with
Zipf-like popularity. The feature map is a random layout written into the cache (the UMAP itself is
timed separately, see fac_engine/features/map.py). Everything lives in a temporary folder, whose FAC_HOME
links to the real user cache's models/ so the embedded model is not converted again.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

from fac_engine.encoding.encode import finalise
from fac_engine.encoding.pooling import pool_max_rows
from fac_engine.features.map import MapConfig, feature_map_path, write_map
from fac_engine.paths import models_dir
from fac_engine.sae.config import SaeConfig
from fac_engine.sae.formats.fac import save_sae
from fac_engine.sae.identity import sae_identity
from fac_engine.sae.load import load_sae
from fac_engine.sae.model import SparseAutoencoder
from fac_engine.workspace.datasets import Manifest, Workspace, write_manifest, write_shard, write_vocab
from fac_engine.workspace.project import Project

D_IN, LAYER, VOCAB, SHARD = 576, 15, 49_152, 10_000


def random_sae(folder: Path, d_sae: int) -> str:
    generator = torch.Generator().manual_seed(0)
    W_dec = torch.nn.functional.normalize(torch.randn(d_sae, D_IN, generator=generator), dim=1)
    cfg = SaeConfig(d_in=D_IN, d_sae=d_sae, activation="topk", k=20, hook_layer=LAYER)
    sae = SparseAutoencoder.from_tensors(cfg, {"W_enc": W_dec.t().contiguous(), "b_enc": torch.zeros(d_sae),
                                               "W_dec": W_dec, "b_dec": torch.zeros(D_IN)})
    save_sae(sae, folder, dtype=torch.bfloat16)
    return sae_identity(load_sae(folder))


def synthetic_dataset(ws: Workspace, name: str, n: int, d_sae: int, tokens: int, sae_id: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    popular = rng.permutation(d_sae)
    manifest = Manifest(name=name, model="synthetic@0", sae=sae_id, sae_path="-", d_sae=d_sae, layer=LAYER,
                        dataset_path="-", dataset_hash=name, t0_policy="plain", max_length=256, shard_samples=SHARD,
                        n_samples=n, versions={}, label_field="label")
    folder = ws.folder(name)
    write_manifest(folder, manifest)
    write_vocab(folder, [f" tok{i}" for i in range(VOCAB)])
    for shard in range(manifest.n_shards):
        first = shard * SHARD
        m = min(SHARD, n - first)
        pool = popular[np.minimum((rng.pareto(1.1, size=(m, 40)) * 50).astype(np.int64), d_sae - 1)]
        pick = np.argsort(rng.random((m, tokens, 40)), axis=2)[:, :, :20]
        indices = np.take_along_axis(np.repeat(pool[:, None, :], tokens, 1), pick, 2).reshape(-1, 20).astype(np.int32)
        values = np.sort(rng.exponential(2.0, size=indices.shape).astype(np.float32), axis=1)[:, ::-1]
        offsets = np.arange(0, indices.size + 1, 20, dtype=np.int32)
        token_table = pa.table({
            "token_id": pa.array(rng.integers(0, VOCAB, m * tokens), pa.int32()),
            "features": pa.ListArray.from_arrays(pa.array(offsets), pa.array(indices.reshape(-1))),
            "values": pa.ListArray.from_arrays(pa.array(offsets), pa.array(values.reshape(-1).astype(np.float16)))})
        sample_N = np.repeat(np.arange(first, first + m), tokens)
        position_N = np.tile(np.arange(tokens), m)
        pooled = pool_max_rows(sample_N, position_N, np.ones(m * tokens, bool), values, indices)
        samples = pa.table({
            "sample": pa.array(np.arange(first, first + m), pa.int32()),
            "n_tokens": pa.array(np.full(m, tokens), pa.int32()),
            "content_start": pa.array(np.zeros(m), pa.int32()),
            "truncated": pa.array(np.zeros(m, bool)),
            "token_start": pa.array(np.arange(m) * tokens, pa.int64()),
            "text": pa.array([f"synthetic sample {first + i} <b>not bold</b>" for i in range(m)]),
            "label": pa.array(np.where(rng.random(m) < 0.2, "toxic", "safe"))})
        write_shard(folder, shard, {"tokens": token_table, "samples": samples,
                                    "pooled": pa.table({k: pa.array(getattr(pooled, k)) for k in pooled._fields})})
    finalise(ws, manifest, 50, 0.0, n * tokens)


TIMER = r'''
import sys, time
from streamlit.testing.v1 import AppTest
from fac_app.state import FEATURE_KEY


def session(page, feature):
    at = AppTest.from_file(page, default_timeout=600)
    if feature is not None:
        at.session_state[FEATURE_KEY] = feature
    t = time.perf_counter(); at.run(); seconds = time.perf_counter() - t
    assert not at.exception, [e.value for e in at.exception]
    return at, seconds


page, features = sys.argv[1], [int(f) for f in sys.argv[2:]] or [None, None]
_, cold = session(page, features[0])
at, warm = session(page, features[1])
print(f"cold server (loads model + SAE) {cold:.2f} s; new session on a warm server {warm:.2f} s")
for f in features[2:]:
    t = time.perf_counter(); at.number_input(key="explorer_feature_id").set_value(f).run()
    assert not at.exception, [e.value for e in at.exception]
    print(f"switch to feature {f} {time.perf_counter() - t:.2f} s")
'''


def build_workspace(tmp: Path, samples: int, features: int, tokens: int) -> tuple[dict[str, str], Workspace]:
    """The synthetic anchor (`samples`) and seed (a fifth) workspace, its project, a cached random map;
    returns the environment to run the app in (FAC_WORKSPACE, FAC_HOME) and the workspace."""
    started = time.perf_counter()
    sae_dir = tmp / "sae"
    sae_id = random_sae(sae_dir, features)
    ws = Workspace(tmp / "ws")
    synthetic_dataset(ws, "anchor", samples, features, tokens, sae_id, 0)
    synthetic_dataset(ws, "seed", samples // 5, features, tokens, sae_id, 1)
    Project(ws.root).update(model="embedded", sae=str(sae_dir), anchor="anchor", seed="seed")
    env = {**os.environ, "FAC_WORKSPACE": str(ws.root), "FAC_HOME": str(tmp / "home")}
    (tmp / "home").mkdir(exist_ok=True)  # the converted embedded model is shared, not converted again
    (tmp / "home" / "models").symlink_to(models_dir(), target_is_directory=True)
    os.environ["FAC_HOME"] = env["FAC_HOME"]
    layout = np.random.default_rng(0).random((features, 2)).astype(np.float32)
    write_map(feature_map_path(sae_id), pd.DataFrame(
        {"feature": np.arange(features), "x": layout[:, 0], "y": layout[:, 1]}), MapConfig())
    print(f"built the workspace ({samples:,} + {samples // 5:,} samples, {features:,} features) "
          f"in {time.perf_counter() - started:.0f} s")
    return env, ws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=65_536)
    parser.add_argument("--tokens", type=int, default=16, help="tokens per sample")
    parser.add_argument("--keep", type=Path, help="build into this (new) folder and keep it, for profiling")
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as scratch:
        env, ws = build_workspace(Path(args.keep or scratch), args.samples, args.features, args.tokens)
        stats = ws.open("anchor").feature_table("stats").to_pandas().sort_values("n_active", ascending=False)
        picks = [int(stats["feature"].iloc[min(i, len(stats) - 1)]) for i in (0, 1, 10, 1000, 5000, 20000)]
        for label, page, features in (("explorer", "app_pages/2_Feature_explorer.py", picks),
                                      ("feature map", "app_pages/3_Feature_map.py", [])):
            out = subprocess.run([sys.executable, "-c", TIMER, str(root / page), *map(str, features)], env=env,
                                 capture_output=True, text=True, check=False)
            print(f"{label} (fresh process): " + (out.stdout.strip().replace("\n", "; ") or out.stderr[-2000:]))


if __name__ == "__main__":
    main()
