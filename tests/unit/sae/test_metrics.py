"""FVU, L0, dead latents and MSE on a hand-set SAE whose codes and errors are worked out below.

The SAE reads d_in 2 with 4 latents and keeps K = 1:
  encoder columns e1, e2, -e1, 0.5 e1; decoder rows e1, e2, -e1, e1; b_enc 0.
On x = [3, 1], [-2, 0], [0, 4], [-1, -1] (b_dec subtracted first):
  [3, 1]   pre [3, 1, -3, 1.5] -> latent 0 = 3 -> x_hat [3, 0],  error^2 1
  [-2, 0]  pre [-2, 0, 2, -1]  -> latent 2 = 2 -> x_hat [-2, 0], error^2 0
  [0, 4]   pre [0, 4, 0, 0]    -> latent 1 = 4 -> x_hat [0, 4],  error^2 0
  [-1, -1] pre [-1, -1, 1, -.5] -> latent 2 = 1 -> x_hat [-1, 0], error^2 1
Sum of squared errors 2; mean [0, 1]; sum ||x - mean||^2 = 9 + 5 + 9 + 5 = 28; sum ||x||^2 = 32.
Latent 3 never wins: dead fraction 1/4.
"""

import pytest
import torch

from fac_engine.errors import FacError
from fac_engine.sae.config import SaeConfig
from fac_engine.sae.metrics import SaeMetrics, evaluate_sae, sparse_decode
from fac_engine.sae.model import SparseAutoencoder

X = torch.tensor([[3.0, 1.0], [-2.0, 0.0], [0.0, 4.0], [-1.0, -1.0]])


def hand_sae(b_dec: tuple[float, float] = (0.0, 0.0), **cfg: object) -> SparseAutoencoder:
    config = SaeConfig(d_in=2, d_sae=4, activation="topk", k=1, hook_layer=0, **cfg)  # type: ignore[arg-type]
    tensors = {
        "W_enc": torch.tensor([[1.0, 0.0, -1.0, 0.5], [0.0, 1.0, 0.0, 0.0]]),
        "b_enc": torch.zeros(4),
        "W_dec": torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [1.0, 0.0]]),
        "b_dec": torch.tensor(b_dec),
    }
    return SparseAutoencoder.from_tensors(config, tensors)


HAND = SaeMetrics(fvu=2 / 28, l0=1.0, dead_fraction=0.25, tokens=4, mse=0.5, normalised_mse=2 / 32)


def assert_metrics(got: SaeMetrics, expected: SaeMetrics) -> None:
    assert got.tokens == expected.tokens
    for name in ("fvu", "l0", "dead_fraction", "mse", "normalised_mse"):
        assert getattr(got, name) == pytest.approx(getattr(expected, name), rel=1e-12, abs=1e-15), name


def test_hand_computed_metrics() -> None:
    assert_metrics(evaluate_sae(hand_sae(), X), HAND)


@pytest.mark.parametrize("batch_size", [1, 3, 4096])
def test_batching_does_not_change_the_metrics(batch_size: int) -> None:
    assert_metrics(evaluate_sae(hand_sae(), X, batch_size=batch_size), HAND)


def test_a_large_offset_cancels_exactly() -> None:
    # The same geometry shifted by b_dec = [1000, -1000]: centred quantities are unchanged (the
    # variance is accumulated about b_dec in float64, so nothing cancels catastrophically); only the
    # uncentred normalised MSE sees the offset: sum ||x||^2 = 2004010 + 1996004 + 1992016 + 2000002.
    offset = torch.tensor([1000.0, -1000.0])
    got = evaluate_sae(hand_sae(b_dec=(1000.0, -1000.0)), X + offset)
    assert_metrics(got, HAND._replace(normalised_mse=2 / 7_992_032))


def test_inactive_codes_lower_l0_and_raise_dead() -> None:
    # [0, 0]: every pre-activation is 0, so its one kept code is 0 and does not count as firing.
    x = torch.tensor([[3.0, 1.0], [0.0, 0.0]])
    # errors^2 1 and 0; mean [1.5, 0.5], sum ||x - mean||^2 = 2 * 2.5 = 5; sum ||x||^2 = 10.
    expected = SaeMetrics(fvu=1 / 5, l0=0.5, dead_fraction=0.75, tokens=2, mse=0.5, normalised_mse=1 / 10)
    assert_metrics(evaluate_sae(hand_sae(), x), expected)


def test_metrics_live_in_the_normalised_input_space() -> None:
    # normalization "scale" halves the input first: 2 X reads as X, and errors are measured there.
    sae = hand_sae(normalization="scale", input_scale=0.5)
    assert_metrics(evaluate_sae(sae, 2 * X), HAND)


def test_perfect_reconstruction_has_zero_fvu() -> None:
    x = torch.tensor([[3.0, 0.0], [0.0, 2.0], [-1.0, 0.0]])
    got = evaluate_sae(hand_sae(), x)
    assert (got.fvu, got.mse, got.normalised_mse, got.l0) == (0.0, 0.0, 0.0, 1.0)


@pytest.mark.parametrize(
    "acts",
    [torch.zeros(4, 3), torch.zeros(0, 2), torch.zeros(2), torch.zeros(2, 2, 2)],
    ids=["wrong-width", "no-rows", "1-d", "3-d"],
)
def test_bad_evaluation_input_is_refused(acts: torch.Tensor) -> None:
    with pytest.raises(FacError, match=r"Evaluation activations must be \[tokens > 0, 2\]"):
        evaluate_sae(hand_sae(), acts)


def test_batch_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="batch_size must be positive, got 0"):
        evaluate_sae(hand_sae(), X, batch_size=0)


def test_sparse_decode_matches_the_dense_sum() -> None:
    W_dec = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0], [1.0, 1.0, 1.0]])
    values = torch.tensor([[2.0, 0.5], [1.0, 0.0]])
    indices = torch.tensor([[1, 3], [2, 0]])
    # row 0: 2 * [0, 2, 0] + 0.5 * [1, 1, 1]; row 1: [0, 0, 3] + 0 * [1, 0, 0]
    expected = torch.tensor([[0.5, 4.5, 0.5], [0.0, 0.0, 3.0]])
    torch.testing.assert_close(sparse_decode(values, indices, W_dec, None), expected, rtol=0, atol=0)
    b_dec = torch.tensor([10.0, 20.0, 30.0])
    torch.testing.assert_close(sparse_decode(values, indices, W_dec, b_dec), expected + b_dec, rtol=0, atol=0)


def test_sparse_decode_agrees_with_the_sae_decoder() -> None:
    sae = hand_sae(b_dec=(0.25, -0.5))
    codes = sae.encode_sparse(X)
    torch.testing.assert_close(sparse_decode(codes.values, codes.indices, sae.W_dec, sae.b_dec),
                               sae.decode(sae.encode(X)).detach())


def test_sparse_decode_passes_gradients_to_values_and_decoder() -> None:
    W_dec = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    values = torch.tensor([[2.0]], requires_grad=True)
    sparse_decode(values, torch.tensor([[1]]), W_dec, None).sum().backward()
    assert values.grad is not None and W_dec.grad is not None
    assert values.grad.tolist() == [[7.0]]  # d/dv of v * (3 + 4)
    assert W_dec.grad.tolist() == [[0.0, 0.0], [2.0, 2.0]]
