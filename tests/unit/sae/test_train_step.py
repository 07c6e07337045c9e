"""AuxK of one training step: a dead latent whose pre-activations are all negative gets a gradient
only when the AuxK path is straight-through (hand-computed values on a 2-latent SAE)."""

import pytest
import torch

from fac_engine.sae.train_state import Params
from fac_engine.sae.train_step import aux_loss

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _two_latents() -> Params:
    """Untied: latent 0 live, latent 1 dead (encoder row (1, 0), bias -1, decoder row (0.6, 0.8))."""
    W_enc = torch.tensor([[0.0, 1.0], [1.0, 0.0]], requires_grad=True)
    b_enc = torch.tensor([0.0, -1.0], requires_grad=True)
    W_dec = torch.tensor([[0.0, 1.0], [0.6, 0.8]], requires_grad=True)
    b_dec = torch.zeros(2, requires_grad=True)
    return Params(W_enc, b_enc, W_dec, b_dec)


def _aux(straight_through: bool) -> tuple[Params, torch.Tensor]:
    p = _two_latents()
    x_c = torch.tensor([[0.5, 0.0]]) - p.b_dec  # latent 1's pre-activation: 0.5 - 1 = -0.5 (ReLU'd value 0)
    err = torch.tensor([[0.3, 0.4]])   # |err|^2 = 0.25; <decoder row 1, err> = 0.18 + 0.32 = 0.5
    dead = torch.tensor([False, True])
    loss = aux_loss(x_c, err, p, dead, 4, p.W_enc.detach(), straight_through)
    loss.backward()
    return p, loss


def test_straight_through_aux_reaches_a_dead_latent_with_negative_pre_activations() -> None:
    p, loss = _aux(straight_through=True)
    assert float(loss.detach()) == pytest.approx(1.0)  # e_hat = 0: nothing reconstructed yet
    # d loss / d value = -2 <w_dec, err> / |err|^2 = -2 * 0.5 / 0.25 = -4, passed through the ReLU
    assert p.b_enc.grad.tolist() == pytest.approx([0.0, -4.0])
    assert p.W_enc.grad.flatten().tolist() == pytest.approx([0.0, 0.0, -2.0, 0.0])  # -4 * x_c
    assert p.W_dec.grad.flatten().tolist() == [0.0, 0.0, 0.0, 0.0]  # value 0: no decoder gradient
    assert p.b_dec.grad is None  # the centre is left to the reconstruction loss


def test_relu_aux_leaves_that_latent_without_gradient() -> None:
    p, loss = _aux(straight_through=False)
    assert float(loss.detach()) == pytest.approx(1.0)
    assert p.b_enc.grad.tolist() == [0.0, 0.0]
    assert p.W_enc.grad.flatten().tolist() == [0.0, 0.0, 0.0, 0.0]
    assert p.b_dec.grad.tolist() == [0.0, 0.0]


def test_no_dead_latent_means_no_aux_loss() -> None:
    p = _two_latents()
    loss = aux_loss(torch.tensor([[0.5, 0.0]]), torch.tensor([[0.3, 0.4]]), p, torch.tensor([False, False]), 4,
                    p.W_enc.detach(), True)
    assert float(loss) == 0.0
