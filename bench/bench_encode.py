"""Benchmark: encoding throughput of FAC Studio's path vs a naive path, same model, SAE, texts, run.

    .venv/bin/python bench/bench_encode.py [--samples 2000] [--sae assets/sae/...] [--device auto]

Ours: `encode_dataset` end to end (length-sorted token-budget batches, forward stopped after the
SAE's layer, sparse SAE encode per micro-batch, shards written to a workspace).
Naive: batches of 32 in dataset order, a full forward with `output_hidden_states=True`, a dense
SAE encode of every position (padding included), max pooling on the dense codes.
Both count the same real tokens; the table gives tokens/s and the ratio.
"""

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from fac_engine.assets import EMBEDDED_SAE_DIR
from fac_engine.data.corpora.corpus import default_corpus_path
from fac_engine.data.schemas import DatasetItem
from fac_engine.encoding.encode import EncodeConfig, encode_dataset, encode_sample, new_manifest
from fac_engine.models.loader import LoadedModel, load_model
from fac_engine.models.spec import ModelSpec
from fac_engine.sae.load import load_sae
from fac_engine.sae.model import SparseAutoencoder
from fac_engine.workspace.datasets import Workspace

NAIVE_BATCH = 32


def naive(lm: LoadedModel, sae: SparseAutoencoder, items: list[DatasetItem], cfg: EncodeConfig) -> tuple[int, float]:
    """(real tokens, seconds) of the naive path."""
    encoded = [encode_sample(lm.tokenizer, item, cfg) for item in items]
    tokens, started = 0, time.perf_counter()
    with torch.inference_mode():
        for first in range(0, len(encoded), NAIVE_BATCH):
            batch = encoded[first : first + NAIVE_BATCH]
            width = max(len(e.ids) for e in batch)
            ids = torch.full((len(batch), width), lm.pad_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for b, e in enumerate(batch):
                ids[b, : len(e.ids)], mask[b, : len(e.ids)] = torch.tensor(e.ids), 1
            out = lm.model(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device), output_hidden_states=True)
            hidden_BTD = out.hidden_states[sae.cfg.hook_layer].to(sae.dtype)
            codes_BTF = sae.encode(hidden_BTD.reshape(-1, hidden_BTD.shape[-1])).reshape(len(batch), width, -1)
            for b, e in enumerate(batch):
                codes_BTF[b, e.content_start : len(e.ids)].amax(dim=0).nonzero()
            tokens += int(mask.sum())
    if lm.device.type == "cuda":
        torch.cuda.synchronize()
    return tokens, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--data", type=Path, default=None, help="parquet with a text column (default: the corpus)")
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--sae", type=Path, default=EMBEDDED_SAE_DIR)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    args = parser.parse_args()
    texts = pd.read_parquet(args.data or default_corpus_path(), columns=["text"])["text"].head(args.samples).tolist()
    items = [DatasetItem(text=t) for t in texts]
    lm = load_model(ModelSpec(args.model, device=args.device, dtype=args.dtype))
    sae = load_sae(args.sae, device=lm.device)
    cfg = EncodeConfig(name="bench")
    naive_tokens, naive_s = naive(lm, sae, items, cfg)
    with tempfile.TemporaryDirectory() as tmp:
        base = new_manifest("bench", lm, sae, str(args.sae), args.data or default_corpus_path(), "bench", len(items),
                            cfg, "text", None)
        started = time.perf_counter()
        summary = encode_dataset(Workspace(Path(tmp)), items, pd.DataFrame(index=range(len(items))), lm, sae, cfg,
                                 base=base)
        ours_s = time.perf_counter() - started
    ours_tokens = summary.manifest.n_tokens
    assert ours_tokens == naive_tokens, (ours_tokens, naive_tokens)
    print(f"{lm.name} on {lm.device} ({lm.dtype}), SAE {sae.cfg.d_sae} latents at layer {sae.cfg.hook_layer}, "
          f"{len(items):,} samples, {ours_tokens:,} tokens, {torch.get_num_threads()} threads")
    print("| path | seconds | tokens/s |")
    print("|---|---|---|")
    print(f"| naive (full forward, hidden_states, dense SAE, batch {NAIVE_BATCH}) | {naive_s:.1f} | "
          f"{naive_tokens / naive_s:,.0f} |")
    print(f"| FAC Studio encode (incl. writing the workspace) | {ours_s:.1f} | {ours_tokens / ours_s:,.0f} |")
    print(f"| ratio | | {naive_s / ours_s:.2f}x |")


if __name__ == "__main__":
    main()
