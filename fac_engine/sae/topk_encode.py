"""The TopK encoder as an autograd function with a sparse backward (used by the SAE trainer)."""

from typing import Any

import torch
import torch.nn.functional as F


class TopKEncode(torch.autograd.Function):
    """(values, indices) of the top K pre-activations with a sparse backward.

    The dense backward of x @ W_enc costs as much as the forward matmul; only K of d_sae
    pre-activations per token get a gradient, so index_add over those rows is ~10x cheaper
    (sparsify's fused encoder does the same on GPU).

    `straight_through` passes the gradient to every chosen latent as if there were no ReLU. The
    trainer's AuxK path needs it: a dead latent is one whose pre-activation is negative on every
    token, so after the ReLU its value is 0 and so is its gradient, and the loss meant to revive it
    cannot reach it (docs/EMBEDDED_SAE.md, "Why AuxK did not revive dead latents").
    """

    @staticmethod
    def forward(ctx: Any, x_BD: torch.Tensor, W_FD: torch.Tensor, b_F: torch.Tensor, sel_FD: torch.Tensor, k: int,
                straight_through: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        pre_BF = torch.addmm(b_F.to(sel_FD.dtype), x_BD.to(sel_FD.dtype), sel_FD.t())
        indices_BK = pre_BF.topk(k, dim=1, sorted=False).indices
        if sel_FD.dtype == W_FD.dtype:
            values_BK = pre_BF.gather(1, indices_BK)
        else:  # exact fp32 values for the chosen latents
            values_BK = torch.bmm(W_FD[indices_BK], x_BD.unsqueeze(2)).squeeze(2) + b_F[indices_BK]
        values_BK = values_BK.relu_()
        ctx.save_for_backward(x_BD, W_FD, values_BK, indices_BK)
        ctx.straight_through = straight_through
        ctx.mark_non_differentiable(indices_BK)
        return values_BK, indices_BK

    @staticmethod
    def backward(ctx: Any, grad_BK: torch.Tensor, _: Any) -> tuple[torch.Tensor | None, ...]:
        x_BD, W_FD, values_BK, indices_BK = ctx.saved_tensors
        g_BK = grad_BK if ctx.straight_through else grad_BK * (values_BK > 0)
        flat_K = indices_BK.flatten()
        grad_b = torch.zeros(W_FD.shape[0], dtype=g_BK.dtype, device=g_BK.device).index_add_(0, flat_K, g_BK.flatten())
        rows = (g_BK.unsqueeze(2) * x_BD.unsqueeze(1)).flatten(0, 1)
        grad_W = torch.zeros_like(W_FD).index_add_(0, flat_K, rows)
        grad_x = F.embedding_bag(indices_BK, W_FD, per_sample_weights=g_BK, mode="sum") if ctx.needs_input_grad[0] \
            else None
        return grad_x, grad_W, grad_b, None, None, None
