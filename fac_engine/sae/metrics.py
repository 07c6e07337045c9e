"""How well an SAE reconstructs activations: FVU, L0 and dead latents on a set of tokens."""

from typing import NamedTuple

import torch
import torch.nn.functional as F

from fac_engine.errors import FacError
from fac_engine.sae.model import SparseAutoencoder


class SaeMetrics(NamedTuple):
    """Reconstruction quality of an SAE on one set of tokens."""

    fvu: float
    """Fraction of variance unexplained: sum ||x - x_hat||^2 / sum ||x - mean(x)||^2."""
    l0: float
    """Mean number of nonzero codes per token (at most k for a topk SAE)."""
    dead_fraction: float
    """Fraction of latents that never fire (code > 0) on these tokens. Depends on how many
    tokens there are: a latent firing once per 100k tokens looks dead on 50k of them."""
    tokens: int
    """Number of tokens evaluated."""
    mse: float
    """Mean over tokens of ||x - x_hat||^2 (in the SAE's normalised input space)."""
    normalised_mse: float
    """sum ||x - x_hat||^2 / sum ||x||^2: the paper's (uncentred) normalised MSE."""


def sparse_decode(
    values_BK: torch.Tensor, indices_BK: torch.Tensor, W_dec_FD: torch.Tensor, b_dec_D: torch.Tensor | None
) -> torch.Tensor:
    """x_hat[B, d_in] = sum_k values[b, k] * W_dec[indices[b, k]] (+ b_dec), never densifying codes.

    Measured on 2 CPU threads, d_sae 9216, d_in 576, k 20, batch 512 (forward + backward):
    embedding_bag 2.4 ms, gather-and-sum (W_dec[indices]) 23 ms, dense scatter + matmul 81 ms.
    """
    out_BD = F.embedding_bag(indices_BK, W_dec_FD, per_sample_weights=values_BK.to(W_dec_FD.dtype), mode="sum")
    return out_BD if b_dec_D is None else out_BD + b_dec_D


class _Totals:
    """Running float64 sums; deviations are taken about a fixed shift to avoid cancellation."""

    def __init__(self, shift_D: torch.Tensor, d_sae: int) -> None:
        self.shift_D = shift_D
        self.sum_D = torch.zeros_like(shift_D, dtype=torch.float64)
        self.sq_shifted = 0.0
        self.sq_raw = 0.0
        self.sq_err = 0.0
        self.active = 0
        self.tokens = 0
        self.fired_F = torch.zeros(d_sae, dtype=torch.bool, device=shift_D.device)

    def add(self, x_ND: torch.Tensor, x_hat_ND: torch.Tensor, values_NW: torch.Tensor, indices_NW: torch.Tensor
            ) -> None:
        shifted_ND = (x_ND - self.shift_D).double()
        self.sum_D += shifted_ND.sum(0)
        self.sq_shifted += float(shifted_ND.square().sum())
        self.sq_raw += float(x_ND.double().square().sum())
        self.sq_err += float((x_ND - x_hat_ND).double().square().sum())
        on_NW = values_NW > 0
        self.active += int(on_NW.sum())
        self.tokens += x_ND.shape[0]
        self.fired_F[indices_NW[on_NW]] = True

    def metrics(self) -> SaeMetrics:
        # sum ||x - mean||^2 = sum ||x - c||^2 - N ||mean - c||^2, for any shift c.
        total_var = self.sq_shifted - float(self.sum_D.square().sum()) / self.tokens
        return SaeMetrics(
            fvu=self.sq_err / max(total_var, 1e-30),
            l0=self.active / self.tokens,
            dead_fraction=1.0 - float(self.fired_F.float().mean()),
            tokens=self.tokens,
            mse=self.sq_err / self.tokens,
            normalised_mse=self.sq_err / max(self.sq_raw, 1e-30),
        )


@torch.no_grad()
def evaluate_sae(sae: SparseAutoencoder, acts_ND: torch.Tensor, *, batch_size: int = 4096) -> SaeMetrics:
    """FVU, L0, dead fraction and MSE of `sae` on `acts_ND` [N, d_in] (raw residuals).

    Reconstructions are compared in the SAE's normalised input space (where decode lives);
    for `normalization="none"` that is the raw residual space.
    """
    if acts_ND.dim() != 2 or acts_ND.shape[0] == 0 or acts_ND.shape[1] != sae.cfg.d_in:
        raise FacError(f"Evaluation activations must be [tokens > 0, {sae.cfg.d_in}], got {list(acts_ND.shape)}.")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}.")
    totals = _Totals(sae.b_dec.detach().clone(), sae.cfg.d_sae)
    for start in range(0, acts_ND.shape[0], batch_size):
        x_ND = acts_ND[start : start + batch_size].to(device=sae.device, dtype=sae.dtype)
        codes = sae.encode_sparse(x_ND, chunk_rows=batch_size)
        x_hat_ND = sparse_decode(codes.values, codes.indices, sae.W_dec, sae.b_dec)
        totals.add(sae.normalize(x_ND), x_hat_ND, codes.values, codes.indices)
    return totals.metrics()
