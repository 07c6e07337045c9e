"""Benchmark: do bf16 SAE codes equal the fp32 ones? Plain bf16 vs FAC Studio's bf16 selection with fp32 values.

    .venv/bin/python bench/bench_bf16_selection.py [--tokens 256] [--d-in 4096] [--d-sae 65536] [--device auto]

Random Llama-8B-sized SAEs (TopK k 64; JumpReLU with thresholds set for an L0 near 100) on random
residual-like inputs (unit Gaussian plus four massive dimensions, as real residual streams have).
For each: the share of the fp32 codes' (token, latent) pairs that the bf16 path also returns, the
number of pairs it adds, and the largest relative error of the values both hold. "plain bf16" is
the SAE cast to bf16 (what encoding in the LM's dtype would do); "selection" is the CUDA encode
path (sae/sparse_encode.py); "fp64" shows how far fp32 itself is from exact arithmetic (another
summation order moves the odd pre-activation across a threshold). Runs on the CPU too (bf16
matmuls round the same way there).
"""

import argparse

import torch

from fac_engine.sae.config import SaeConfig
from fac_engine.sae.model import SparseAutoencoder, SparseCodes


def _sae(activation: str, d_in: int, d_sae: int, x: torch.Tensor, device: torch.device) -> SparseAutoencoder:
    g = torch.Generator(device=device).manual_seed(0)
    W = torch.randn(d_in, d_sae, device=device, generator=g) / d_in**0.5
    b = torch.randn(d_sae, device=device, generator=g) * 0.1
    threshold = torch.zeros(d_sae, device=device)
    if activation == "jumprelu":  # one threshold, at the quantile that leaves ~100 of d_sae latents active
        threshold += torch.quantile((x[:64] @ W + b).flatten(), 1 - 100 / d_sae)
    cfg = SaeConfig(d_in=d_in, d_sae=d_sae, activation=activation, hook_layer=16,  # type: ignore[arg-type]
                    k=64 if activation == "topk" else None)
    return SparseAutoencoder.from_tensors(cfg, {"W_enc": W, "b_enc": b, "W_dec": W.t().contiguous(),
                                                "b_dec": torch.zeros(d_in, device=device), "threshold": threshold})


PATHS = ("fp64", "plain bf16", "bf16 selection + fp32 values")


def _encode(sae: SparseAutoencoder, x: torch.Tensor, path: str) -> SparseCodes:
    if path == "fp64":
        return sae.with_config().to(torch.float64).encode_sparse(x.double())
    if path == "plain bf16":
        return sae.with_config().to(torch.bfloat16).encode_sparse(x)
    return sae.encode_sparse(x, select_dtype=torch.bfloat16)


def _pairs(codes: SparseCodes) -> dict[tuple[int, int], float]:
    rows, slots = torch.nonzero(codes.values > 0, as_tuple=True)
    keys = zip(rows.tolist(), codes.indices[rows, slots].tolist(), strict=True)
    return dict(zip(keys, codes.values[rows, slots].double().tolist(), strict=True))


def _compare(exact: dict[tuple[int, int], float], other: dict[tuple[int, int], float]) -> tuple[float, int, float]:
    shared = exact.keys() & other.keys()
    worst = max((abs(other[p] - exact[p]) / exact[p] for p in shared), default=0.0)
    return len(shared) / len(exact), len(other.keys() - exact.keys()), worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--d-in", type=int, default=4096)
    parser.add_argument("--d-sae", type=int, default=65536)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    g = torch.Generator(device=device).manual_seed(1)
    x = torch.randn(args.tokens, args.d_in, device=device, generator=g)
    x[:, :4] *= 20  # massive activations in a few dimensions
    x = x.to(torch.bfloat16).float()  # the LM hands over bf16 residuals on CUDA
    print(f"{device}: {args.tokens} tokens, SAE {args.d_in} -> {args.d_sae:,}")
    print("| SAE | path | fp32 pairs kept | extra pairs | max relative value error |")
    print("|---|---|---|---|---|")
    for activation in ("topk", "jumprelu"):
        sae = _sae(activation, args.d_in, args.d_sae, x, device)
        exact = _pairs(sae.encode_sparse(x))
        for label in PATHS:
            codes = _encode(sae, x, label)
            kept, extra, worst = _compare(exact, _pairs(codes))  # fp32 is the reference each row is held to
            print(f"| {activation} (L0 {len(exact) / args.tokens:.0f}) | {label} | {100 * kept:.3f} % | {extra:,} | "
                  f"{worst:.1e} |")


if __name__ == "__main__":
    main()
