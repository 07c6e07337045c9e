"""Benchmark: GPU encoding with a Llama-3.1-8B-shaped random model, layer 16, a 65,536-latent TopK SAE.

    .venv/bin/python bench/bench_gpu_encode.py [--sequences 512] [--length 256] [--k 64]

Needs a CUDA GPU and refuses plainly without one (`--smoke` runs tiny shapes on any device to
check the script itself; its numbers are not a measurement). Rows, same inputs, same run:

- naive: batches of 32 sequences, full forward with `output_hidden_states=True` (all 32 blocks and
  the 128,256-wide LM head), the SAE dense in fp32, codes copied to the host batch by batch;
- FAC Studio, fp32 SAE: token budget from free memory, forward stopped after block 16, sparse SAE
  in fp32, no copy overlap (`fast=False`);
- FAC Studio: the same with the SAE selecting latents in bf16 (fp32 values) and host copies
  overlapped with the next batch (the default on CUDA).

Also: the bf16 FLOP ceiling measured with an 8192^3 matmul, the FAC path's share of it (FLOPs of
16 blocks + the SAE matmul per token), the agreement of its top-k sets with the fp32 SAE on the
same activations, and the embedded default (SmolLM2-135M + its SAE) on the same GPU.
"""

import argparse
import sys
import time
from collections.abc import Callable

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from fac_engine.encoding.budget import encode_budget
from fac_engine.encoding.sparse_batches import sparse_codes_by_batch
from fac_engine.models.loader import LoadedModel
from fac_engine.sae.config import SaeConfig
from fac_engine.sae.model import SparseAutoencoder

NAIVE_BATCH = 32
LLAMA_8B = {"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
            "num_key_value_heads": 8, "vocab_size": 128256, "max_position_embeddings": 8192, "rope_theta": 500000.0}
SMOKE = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 4, "num_attention_heads": 4,
         "num_key_value_heads": 2, "vocab_size": 512, "max_position_embeddings": 512}


class _PadOnly:
    """The one tokenizer attribute the batched path reads (token ids here are random)."""

    pad_token_id = 0


def random_lm(shape: dict[str, float], device: torch.device, dtype: torch.dtype) -> LoadedModel:
    """A randomly initialised Llama of `shape` on `device`, as the encoder sees a loaded model."""
    config = LlamaConfig(**shape)
    with torch.device(device):
        model = LlamaForCausalLM._from_config(config, dtype=dtype).eval()
    return LoadedModel(model, _PadOnly(), "random-llama", "random", config.hidden_size,  # type: ignore[arg-type]
                       config.num_hidden_layers, device, dtype)


def random_topk_sae(d_in: int, d_sae: int, k: int, layer: int, device: torch.device) -> SparseAutoencoder:
    g = torch.Generator(device=device).manual_seed(0)
    cfg = SaeConfig(d_in=d_in, d_sae=d_sae, activation="topk", k=k, hook_layer=layer)
    tensors = {"W_enc": torch.randn(d_in, d_sae, device=device, generator=g) / d_in**0.5,
               "b_enc": torch.randn(d_sae, device=device, generator=g) * 0.01,
               "W_dec": torch.randn(d_sae, d_in, device=device, generator=g) / d_in**0.5,
               "b_dec": torch.zeros(d_in, device=device)}
    return SparseAutoencoder.from_tensors(cfg, tensors).to(device)


def flops_per_token(lm: LoadedModel, layers: int, d_sae: int, length: int) -> float:
    """Matmul FLOPs of one token: `layers` blocks (projections, MLP, causal attention) and the SAE encoder."""
    c = lm.model.config
    head = c.hidden_size // c.num_attention_heads
    attn_proj = c.hidden_size * (2 * c.hidden_size + 2 * c.num_key_value_heads * head)
    proj = attn_proj + 3 * c.hidden_size * c.intermediate_size
    attention = 2 * c.hidden_size * length  # QK^T and AV, each 2 * T * d, halved by the causal mask
    return float(layers * (2 * proj + attention) + 2 * c.hidden_size * d_sae)


def bf16_ceiling(device: torch.device, size: int) -> float:
    """Measured bf16 FLOP/s of a large square matmul (the device's practical ceiling)."""
    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    seconds = _timed(lambda: [a @ b for _ in range(10)], device)
    return 10 * 2 * size**3 / seconds


def _timed(run: Callable[[], object], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - started


def naive(lm: LoadedModel, sae: SparseAutoencoder, ids: list[list[int]]) -> None:
    """Full forward with every hidden state, the SAE dense in fp32, a synchronous copy per batch."""
    with torch.inference_mode():
        for first in range(0, len(ids), NAIVE_BATCH):
            batch = torch.tensor(ids[first : first + NAIVE_BATCH], device=lm.device)
            out = lm.model(input_ids=batch, attention_mask=torch.ones_like(batch), output_hidden_states=True)
            hidden = out.hidden_states[sae.cfg.hook_layer].float().reshape(-1, lm.hidden_size)
            codes = sae.encode(hidden)
            top = codes.topk(sae.cfg.k or 1, dim=-1)
            top.values.cpu(), top.indices.cpu()


def ours(lm: LoadedModel, sae: SparseAutoencoder, ids: list[list[int]], fast: bool) -> int:
    budget = encode_budget(lm, sae)
    return sum(len(r.counts) for rows in sparse_codes_by_batch(lm, sae, ids, budget.tokens, sae_rows=budget.sae_rows,
                                                                  fast=fast) for r in rows)


def topk_agreement(lm: LoadedModel, sae: SparseAutoencoder, ids: list[list[int]]) -> float:
    """Share of the fp32 SAE's (token, latent) pairs the bf16-selection path also returns, same activations."""
    batch = torch.tensor(ids[:8], device=lm.device)
    x = lm.residuals(batch, torch.ones_like(batch), sae.cfg.hook_layer).reshape(-1, lm.hidden_size)
    exact = sae.encode_sparse(x.float())
    fast = sae.encode_sparse(x, select_dtype=torch.bfloat16)
    rows = torch.arange(x.shape[0], device=x.device)[:, None]
    a = torch.zeros(x.shape[0], sae.cfg.d_sae, dtype=torch.bool, device=x.device)
    b = torch.zeros_like(a)
    a[rows, exact.indices] = exact.values > 0
    b[rows, fast.indices] = fast.values > 0
    return float((a & b).sum() / a.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sequences", type=int, default=512)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--layer", type=int, default=16)
    parser.add_argument("--d-sae", type=int, default=65536)
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--smoke", action="store_true", help="tiny shapes on any device: checks the script only")
    args = parser.parse_args()
    if not torch.cuda.is_available() and not args.smoke:
        print("bench_gpu_encode.py needs a CUDA GPU and none is visible (torch.cuda.is_available() is False); "
              "nothing was measured.", file=sys.stderr)
        sys.exit(2)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    shape, d_sae, layer = (SMOKE, 256, 2) if args.smoke else (LLAMA_8B, args.d_sae, args.layer)
    sequences, length = (16, 32) if args.smoke else (args.sequences, args.length)
    lm = random_lm(shape, device, torch.bfloat16)
    sae = random_topk_sae(lm.hidden_size, d_sae, args.k, layer, device)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, int(shape["vocab_size"]), (sequences, length), generator=g).tolist()
    tokens = sequences * length
    ours(lm, sae, ids[: max(2, sequences // 8)], fast=True)  # warm-up: kernels, allocator, pinned pools
    rows = [("naive: full forward + hidden_states, dense fp32 SAE, batch 32, sync copies",
             _timed(lambda: naive(lm, sae, ids), device)),
            ("FAC Studio, fp32 SAE, no overlap", _timed(lambda: ours(lm, sae, ids, fast=False), device)),
            ("FAC Studio: bf16 selection + fp32 values, overlapped copies", _timed(lambda: ours(lm, sae, ids, True),
                                                                                 device))]
    ceiling = bf16_ceiling(device, 1024 if args.smoke else 8192)
    flops = flops_per_token(lm, layer, d_sae, length)
    budget = encode_budget(lm, sae)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu (SMOKE RUN: not a measurement)"
    print(f"{name}; random Llama {shape['hidden_size']}x{shape['num_hidden_layers']} bf16, layer {layer}, TopK SAE "
          f"{d_sae:,} latents k {args.k}; {sequences} x {length} tokens; budget {budget.tokens:,} tokens, SAE chunk "
          f"{budget.sae_rows:,} rows")
    print("| path | seconds | tokens/s |")
    print("|---|---|---|")
    for label, seconds in rows:
        print(f"| {label} | {seconds:.2f} | {tokens / seconds:,.0f} |")
    print(f"| **ratio** FAC Studio vs naive | | **{rows[0][1] / rows[2][1]:.2f}x** |")
    achieved = tokens / rows[2][1] * flops
    print(f"bf16 ceiling (8192^3 matmul): {ceiling / 1e12:,.0f} TFLOP/s; FAC path {achieved / 1e12:,.0f} TFLOP/s "
          f"({flops / 1e9:.2f} GFLOP per token) = {100 * achieved / ceiling:.0f} % of it")
    print(f"top-k agreement of bf16 selection with the fp32 SAE on the same activations: "
          f"{100 * topk_agreement(lm, sae, ids):.3f} %")


if __name__ == "__main__":
    main()
