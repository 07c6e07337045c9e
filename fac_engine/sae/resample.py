"""Resampling dead latents: restart each one along the residual of an input the SAE reconstructs badly.

A TopK latent that falls out of every top K gets no gradient from the reconstruction loss, and on
the CPU-sized runs of this project AuxK did not bring such latents back (docs/EMBEDDED_SAE.md, "Dead
latents: resampling"). Resampling (Bricken et al. 2023, "Towards Monosemanticity", adapted to TopK
with unit-norm decoder rows) gives every dead latent a new direction instead: the unit residual
x - x_hat of one input drawn from a pool of training rows with probability proportional to
||x - x_hat||^4 (the squared loss, squared, as in that paper), so that the latents restart on what the
live ones explain worst. The decoder row (and, untied, the encoder row) becomes that direction, the
encoder bias 0, and the Adam moments of those rows are cleared so that old momentum does not pull
them back. With a unit-norm encoder row along the residual, the latent's pre-activation on its source
input is about ||x - x_hat||, larger than a typical live value, so it enters that input's top K.
"""

import torch

from fac_engine.sae.train_state import Params
from fac_engine.sae.train_step import topk_residual

POOL_ROWS = 32_768
"""Training rows the new directions are drawn from."""
CHUNK_ROWS = 4_096
"""Rows encoded at once while measuring the pool's errors (bounds the [rows, d_sae] temporary)."""


def pool_errors(p: Params, pool_ND: torch.Tensor, k: int, sel_dtype: torch.dtype) -> torch.Tensor:
    """Residuals x - x_hat of the pool's rows under the current parameters (the trainer's TopK encode)."""
    out = []
    with torch.no_grad():
        sel_FD = p.W_enc.detach().to(sel_dtype)
        for start in range(0, len(pool_ND), CHUNK_ROWS):
            out.append(topk_residual(p, pool_ND[start:start + CHUNK_ROWS], k, sel_FD)[3])
    return torch.cat(out)


def resample_dead(p: Params, opt: torch.optim.Optimizer, dead_F: torch.Tensor, pool_ND: torch.Tensor, k: int,
                  sel_dtype: torch.dtype, generator: torch.Generator) -> int:
    """Give every latent marked in `dead_F` a new direction (module docstring); returns how many.

    Inputs are drawn without replacement while the pool has enough rows with a non-zero error, so
    two restarted latents never share a direction; `generator` (on the CPU) makes the draw a
    function of the run's seed and step.
    """
    dead_idx = dead_F.nonzero().squeeze(1)
    if dead_idx.numel() == 0:
        return 0
    err_ND = pool_errors(p, pool_ND, k, sel_dtype)
    norm_N = err_ND.norm(dim=1)
    weights_N = norm_N.double().cpu() ** 4
    usable = int((weights_N > 0).sum())
    if usable == 0:
        return 0  # the pool is reconstructed exactly: nothing to restart the latents on
    picks = torch.multinomial(weights_N, dead_idx.numel(), replacement=dead_idx.numel() > usable,
                              generator=generator).to(err_ND.device)
    directions_AD = err_ND[picks] / norm_N[picks].unsqueeze(1)
    with torch.no_grad():
        p.W_dec[dead_idx] = directions_AD
        if not p.tied:
            p.W_enc[dead_idx] = directions_AD
        p.b_enc[dead_idx] = 0
    for tensor in {id(t): t for t in (p.W_dec, p.W_enc, p.b_enc)}.values():
        state = opt.state.get(tensor, {})
        for key in ("exp_avg", "exp_avg_sq"):
            if key in state:
                state[key][dead_idx] = 0
    return int(dead_idx.numel())
