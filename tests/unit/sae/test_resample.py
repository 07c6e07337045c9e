"""Resampling dead latents (fac_engine/sae/resample.py) on hand-built 3-latent SAEs with exact values."""

import pytest
import torch

from fac_engine.sae.resample import pool_errors, resample_dead
from fac_engine.sae.train_state import Params, make_optimizer

pytestmark = pytest.mark.usefixtures("one_torch_thread")

POOL = torch.tensor([[2.0, 0.0], [0.0, 3.0]])
"""Row 0 is reconstructed exactly by latent 0; row 1 (0, 3) by nothing, so its residual is (0, 3)."""


def _untied() -> Params:
    """Latent 0 live along (1, 0); latents 1 and 2 point at (-1, 0) with bias -10 and never fire."""
    W_enc = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [-1.0, 0.0]], requires_grad=True)
    b_enc = torch.tensor([0.0, -10.0, -10.0], requires_grad=True)
    W_dec = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [-1.0, 0.0]], requires_grad=True)
    return Params(W_enc, b_enc, W_dec, torch.zeros(2, requires_grad=True))


def _with_adam_state(p: Params) -> torch.optim.Optimizer:
    opt = make_optimizer(p, 0.0)
    for _, t in p.named():
        t.grad = torch.ones_like(t)
    opt.step()  # every moment is now non-zero; lr 0 leaves the parameters as built
    return opt


def _generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def test_pool_errors_are_the_topk_residuals() -> None:
    assert pool_errors(_untied(), POOL, 1, torch.float32).tolist() == [[0.0, 0.0], [0.0, 3.0]]


def test_a_dead_latent_restarts_along_the_worst_residual_with_fresh_moments() -> None:
    p = _untied()
    opt = _with_adam_state(p)
    before = {name: t.detach().clone() for name, t in p.named()}
    n = resample_dead(p, opt, torch.tensor([False, True, False]), POOL, 1, torch.float32, _generator())
    assert n == 1
    # only row 1 has an error, so it is drawn; its unit residual is (0, 1)
    assert p.W_dec[1].tolist() == [0.0, 1.0] and p.W_enc[1].tolist() == [0.0, 1.0] and p.b_enc.tolist()[1] == 0.0
    for name in ("W_enc", "W_dec"):
        assert torch.equal(getattr(p, name)[[0, 2]], before[name][[0, 2]])  # the other latents are untouched
    assert torch.equal(p.b_dec, before["b_dec"])
    for tensor in (p.W_enc, p.W_dec, p.b_enc):
        for key in ("exp_avg", "exp_avg_sq"):
            moments = opt.state[tensor][key]
            assert not moments[1].any() and moments[0].abs().min() > 0 and moments[2].abs().min() > 0


def test_more_dead_latents_than_bad_rows_share_the_rows() -> None:
    p = _untied()
    n = resample_dead(p, _with_adam_state(p), torch.tensor([False, True, True]), POOL, 1, torch.float32, _generator())
    assert n == 2
    assert p.W_dec[1:].tolist() == [[0.0, 1.0], [0.0, 1.0]]


def test_a_pool_reconstructed_exactly_changes_nothing() -> None:
    p = _untied()
    before = {name: t.detach().clone() for name, t in p.named()}
    assert resample_dead(p, _with_adam_state(p), torch.tensor([False, True, False]), POOL[:1], 1, torch.float32,
                         _generator()) == 0
    assert all(torch.equal(t, before[name]) for name, t in p.named())


def test_no_dead_latent_is_a_no_op() -> None:
    p = _untied()
    assert resample_dead(p, make_optimizer(p, 1e-3), torch.zeros(3, dtype=torch.bool), POOL, 1, torch.float32,
                         _generator()) == 0


def test_tied_weights_restart_as_one_matrix() -> None:
    u = _untied()
    W = u.W_dec.detach().clone().requires_grad_()
    p = Params(W, u.b_enc, W, u.b_dec)
    opt = _with_adam_state(p)
    resample_dead(p, opt, torch.tensor([False, True, False]), POOL, 1, torch.float32, _generator())
    assert p.W_enc is p.W_dec and p.W_dec[1].tolist() == [0.0, 1.0]
    assert not opt.state[W]["exp_avg"][1].any()
