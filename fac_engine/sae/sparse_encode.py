"""Sparse codes of one chunk of rows: the only place the dense [rows, d_sae] pre-activation exists.

relu / jumprelu codes keep every feature above zero: a chunk is as wide as its row with the most
active features (narrower rows are padded with zeros), unless `cfg.max_active` caps the width;
then the activations left out are counted per row, never lost silently.

`select_dtype=torch.bfloat16` (the CUDA encode path) runs the big matmul in bf16, but only to
*choose* candidate latents: with slack past the k-th value (topk) or with a rounding-error margin
below the threshold (relu / jumprelu). The candidates' values are recomputed in fp32 from the fp32
weights and the final decision (top k, value > threshold) is taken on those, so codes and values
are the fp32 ones: bf16 rounds pre-activations to 8 significant bits, enough to reorder the k-th
and (k+1)-th latents and to move a value across a threshold, which would change the codes.
"""

from typing import NamedTuple, Protocol

import torch

from fac_engine.sae.config import SaeConfig

BF16_UNIT_ROUNDOFF = 2.0**-8
"""Relative rounding error of one bf16 value (8 significant bits)."""
TOPK_SLACK = 32
"""Candidates chosen in bf16 beyond k: near the k-th value several latents share one bf16 value."""
GATHER_BYTES = 1 << 28
"""fp32 weight rows gathered at once to recompute candidate values (bounds that temporary)."""


class Encoder(Protocol):
    """What these functions need of an SAE (sae/model.py's SparseAutoencoder)."""

    @property
    def cfg(self) -> SaeConfig: ...

    @property
    def W_enc(self) -> torch.Tensor: ...

    @property
    def b_enc(self) -> torch.Tensor: ...

    @property
    def b_dec(self) -> torch.Tensor: ...

    @property
    def threshold(self) -> torch.Tensor: ...

    def normalize(self, x_ND: torch.Tensor) -> torch.Tensor: ...

    def pre_acts(self, x_ND: torch.Tensor) -> torch.Tensor: ...

    def activate(self, pre_NF: torch.Tensor) -> torch.Tensor: ...


class ChunkCodes(NamedTuple):
    """The sparse codes of a chunk of rows."""

    values: torch.Tensor
    """[n, W] fp32 activations, sorted descending per row; 0 in unused slots."""
    indices: torch.Tensor
    """[n, W] int64 feature ids matching `values`."""
    dropped: torch.Tensor
    """[n] int64: features above zero each row lost to `cfg.max_active` (0 without a cap)."""


class SelectWeights(NamedTuple):
    """The SAE's encoder prepared for bf16 selection with fp32 values (one copy per device)."""

    W_sel_DF: torch.Tensor
    """bf16 W_enc for the selection matmul."""
    b_sel: torch.Tensor
    """bf16 b_enc."""
    W_FD: torch.Tensor
    """fp32 W_enc transposed, contiguous: row f holds latent f's encoder, for the exact recompute."""
    w_norm: torch.Tensor
    """fp32 ||W_enc[:, f]||, for the rounding-error margin."""


def select_weights(sae: Encoder) -> SelectWeights:
    """Encoder copies for `bf16_chunk` on the SAE's device."""
    W = sae.W_enc.detach().float()
    return SelectWeights(W.to(torch.bfloat16), sae.b_enc.detach().to(torch.bfloat16), W.t().contiguous(),
                         W.norm(dim=0))


def _keep_active(act_NC: torch.Tensor, index_NC: torch.Tensor | None, cap: int | None) -> ChunkCodes:
    """The entries above zero of `act_NC` (latent ids `index_NC`, or the column when None), widest row first."""
    active_N = (act_NC > 0).sum(dim=1)
    width = int(active_N.max()) if act_NC.shape[0] else 0  # one sync per chunk: the ragged width
    if cap is not None:
        width = min(width, cap)
    top = act_NC.topk(width, dim=1)
    indices = top.indices if index_NC is None else index_NC.gather(1, top.indices)
    return ChunkCodes(top.values, indices, (active_N - width).clamp_min(0))


def exact_chunk(sae: Encoder, x_ND: torch.Tensor) -> ChunkCodes:
    """Codes from the SAE's own dtype (fp32): dense pre-activations, then top k or every active latent."""
    pre_NF = sae.pre_acts(x_ND)
    if sae.cfg.activation == "topk":
        assert sae.cfg.k is not None
        top = pre_NF.topk(sae.cfg.k, dim=-1)
        return ChunkCodes(torch.relu(top.values), top.indices, torch.zeros(pre_NF.shape[0], dtype=torch.int64,
                                                                           device=pre_NF.device))
    return _keep_active(sae.activate(pre_NF), None, sae.cfg.max_active)


def _exact_values(x_ND: torch.Tensor, weights: SelectWeights, b_F: torch.Tensor, index_NC: torch.Tensor
                  ) -> torch.Tensor:
    """fp32 pre-activations [n, C] of the latents `index_NC` of each row, a few rows at a time."""
    n, width = index_NC.shape
    out_NC = torch.empty(n, width, dtype=torch.float32, device=x_ND.device)
    rows = max(1, GATHER_BYTES // max(1, width * x_ND.shape[1] * 4))
    for s in range(0, n, rows):
        idx = index_NC[s : s + rows]
        out_NC[s : s + rows] = torch.bmm(weights.W_FD[idx], x_ND[s : s + rows, :, None]).squeeze(-1) + b_F[idx]
    return out_NC


def bf16_chunk(sae: Encoder, x_ND: torch.Tensor, weights: SelectWeights) -> ChunkCodes:
    """Codes equal to `exact_chunk`'s, with the [n, d_sae] matmul in bf16 (see the module docstring)."""
    cfg = sae.cfg
    x = sae.normalize(x_ND.float())
    if cfg.apply_b_dec_to_input:
        x = x - sae.b_dec.float()
    pre_NF = torch.addmm(weights.b_sel, x.to(torch.bfloat16), weights.W_sel_DF)
    b_F = sae.b_enc.float()
    if cfg.activation == "topk":
        assert cfg.k is not None
        chosen = pre_NF.topk(min(cfg.d_sae, cfg.k + TOPK_SLACK), dim=1, sorted=False).indices
        top = _exact_values(x, weights, b_F, chosen).topk(cfg.k, dim=1)
        return ChunkCodes(torch.relu(top.values), chosen.gather(1, top.indices),
                          torch.zeros(x.shape[0], dtype=torch.int64, device=x.device))
    bound_F = sae.threshold.float().clamp_min(0.0) if cfg.activation == "jumprelu" else torch.zeros_like(b_F)
    # |bf16 - fp32| <= u (2 sum_i |x_i W_if| + |b_f| + |pre|) and sum_i |x_i W_if| <= ||x|| ||W_f||; the margin
    # doubles that bound, which covers the rounding of the margin itself.
    u = BF16_UNIT_ROUNDOFF
    pre_NF = pre_NF.float()
    upper_NF = torch.outer(x.norm(dim=1), weights.w_norm)
    upper_NF.add_(pre_NF.abs()).mul_(4 * u).add_(2 * u * b_F.abs()).add_(pre_NF)
    candidate_NF = upper_NF > bound_F
    del upper_NF
    width = int(candidate_NF.sum(dim=1).max()) if x.shape[0] else 0
    picked = pre_NF.masked_fill_(~candidate_NF, float("-inf")).topk(width, dim=1)
    index_NC = picked.indices
    valid_NC = picked.values > float("-inf")
    exact_NC = _exact_values(x, weights, b_F, index_NC)
    if cfg.activation == "jumprelu":
        valid_NC &= exact_NC > sae.threshold.float()[index_NC]
    return _keep_active(torch.relu(exact_NC) * valid_NC, index_NC, cfg.max_active)
