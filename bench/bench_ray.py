"""Benchmark: `fac encode --ray` throughput with 1 vs 2 model actors on this machine, same texts, one run.

    .venv/bin/python bench/bench_ray.py [--samples 400] [--shard-samples 25] [--data anchor.jsonl]

The first --samples rows of the demo anchor set (`fac demo-data`; or --data, any file `fac encode`
reads) through the embedded SmolLM2-135M-Instruct (fp32 on CPU) and the embedded SAE, in the
same process: the single-process path for reference (torch on every core), then Ray Data with a
local Ray (one logical CPU per core) for each actor layout of --layouts (actors x CPUs each; an
actor runs as many torch threads as it has CPUs). Per row: wall seconds of the whole encode
(Ray start-up of the actors and their model load included), the time to the first finished
shard, tokens/s over the whole run and after the first shard (the steady state), and the sum of
the actors' own tokens/s. Every Ray result is checked to equal the single-process one.
"""

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import ray
import torch

from fac_engine.assets import EMBEDDED_SAE_DIR
from fac_engine.data.corpora.demo import demo_paths
from fac_engine.data.dataset import DatasetConfig, read_dataset
from fac_engine.encoding.encode import EncodeConfig, encode_dataset, new_manifest
from fac_engine.encoding.ray_encode import RayConfig, encode_dataset_ray
from fac_engine.models.loader import load_model
from fac_engine.models.spec import ModelSpec
from fac_engine.sae.load import load_sae
from fac_engine.workspace.datasets import POOLED, Workspace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--shard-samples", type=int, default=25, help="shards are what actors share out")
    parser.add_argument("--data", type=Path, default=None, help="dataset file (default: the demo anchor set)")
    parser.add_argument("--layouts", default="1x1,2x1,1x2", help="ACTORSxCPUS, comma-separated")
    args = parser.parse_args()
    data_cfg = DatasetConfig(limit=args.samples)
    path = args.data or demo_paths().anchor
    dataset = read_dataset(path, data_cfg)
    spec = ModelSpec("embedded", device="cpu", dtype="float32")
    lm = load_model(spec)
    sae = load_sae(EMBEDDED_SAE_DIR)
    cfg = EncodeConfig(name="bench", shard_samples=args.shard_samples)
    base = new_manifest("bench", lm, sae, str(EMBEDDED_SAE_DIR), path, repr(data_cfg), len(dataset.items), cfg,
                        dataset.schema, dataset.label_field)
    cores = os.cpu_count() or 1
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        single = Workspace(Path(tmp) / "single")
        started = time.perf_counter()
        ref = encode_dataset(single, dataset.items, dataset.frame, lm, sae, cfg, base=base)
        wall = time.perf_counter() - started
        tokens = ref.manifest.n_tokens
        rows.append((f"single process, {torch.get_num_threads()} torch threads", wall, None, tokens / wall, None, None))
        ray.init(num_cpus=cores, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
        for layout in args.layouts.split(","):
            actors, cpus = (int(x) for x in layout.split("x"))
            receipts: list[tuple[float, int]] = []  # (when, tokens so far) at each finished shard

            def on_progress(done_tokens: int, samples: int, receipts: list[tuple[float, int]] = receipts) -> None:
                if samples:
                    receipts.append((time.perf_counter(), done_tokens))

            ws = Workspace(Path(tmp) / f"ray-{layout}")
            started = time.perf_counter()
            run = encode_dataset_ray(ws, dataset.items, dataset.frame, lm, sae, cfg, base=base, model=spec,
                                     ray_cfg=RayConfig(actors=actors, cpus_per_actor=cpus), progress=on_progress)
            wall = time.perf_counter() - started
            assert pq.read_table(ws.folder("bench") / POOLED).equals(pq.read_table(single.folder("bench") / POOLED))
            (t_first, n_first), (t_last, n_last) = receipts[0], receipts[-1]
            first_shard, steady = t_first - started, (n_last - n_first) / (t_last - t_first)
            actor_sum = sum(w.tokens_per_second for w in run.workers)
            rows.append((f"Ray, {actors} actor(s) x {cpus} CPU", wall, first_shard, tokens / wall, steady, actor_sum))
        ray.shutdown()
    print(f"{lm.name} ({lm.dtype}) on {cores} CPU cores, SAE {sae.cfg.d_sae} latents at layer {sae.cfg.hook_layer}, "
          f"{len(dataset.items):,} samples ({tokens:,} tokens) in {ref.manifest.n_shards} shards of "
          f"{args.shard_samples}; load average {os.getloadavg()[0]:.1f}")
    print("| path | wall s | first shard s | tokens/s (wall) | tokens/s after first shard | sum of actors' tokens/s |")
    print("|---|---|---|---|---|---|")
    for name, wall, first, total, steady, actor_sum in rows:
        cells = [f"{wall:.1f}", "" if first is None else f"{first:.1f}", f"{total:,.0f}",
                 "" if steady is None else f"{steady:,.0f}", "" if actor_sum is None else f"{actor_sum:,.0f}"]
        print(f"| {name} | " + " | ".join(cells) + " |")
    by_name = {r[0]: r for r in rows}
    one, two = by_name.get("Ray, 1 actor(s) x 1 CPU"), by_name.get("Ray, 2 actor(s) x 1 CPU")
    if one and two:
        print(f"2 vs 1 actors: {two[3] / one[3]:.2f}x tokens/s (wall), {two[4] / one[4]:.2f}x after the first shard")


if __name__ == "__main__":
    main()
