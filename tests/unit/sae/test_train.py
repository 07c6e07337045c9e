"""TopK SAE training: K schedule, dead window, config checks, the sparse top-K backward, and runs
on synthetic data that is an exact sparse combination of 256 unit directions."""

import math
from collections.abc import Iterator
from typing import NamedTuple

import pytest
import torch

from fac_engine.errors import FacError
from fac_engine.sae.activation_buffer import estimate_stats, split_holdout
from fac_engine.sae.config import SaeConfig
from fac_engine.sae.metrics import evaluate_sae
from fac_engine.sae.model import SparseAutoencoder
from fac_engine.sae.topk_encode import TopKEncode
from fac_engine.sae.train import (
    TrainConfig,
    TrainResult,
    dead_window_tokens,
    k_at_step,
    resample_due,
    train_topk_sae,
)
from tests.unit.conftest import torch_threads

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# k_at_step and dead_window_tokens


@pytest.mark.parametrize(
    ("step", "expected"),
    # anneal_steps = round(0.5 * 100) = 50; K = 200 - floor(180 * step / 50) until then.
    [(0, 200), (1, 197), (10, 164), (25, 110), (49, 24), (50, 20), (99, 20)],
)
def test_k_anneals_linearly_over_the_first_half(step: int, expected: int) -> None:
    cfg = TrainConfig(k=20, k_anneal_start=200)
    assert k_at_step(cfg, step, total_steps=100) == expected


def test_k_anneal_fraction_and_rounding() -> None:
    whole = TrainConfig(k=20, k_anneal_start=200, k_anneal_fraction=1.0)
    assert [k_at_step(whole, s, 3) for s in range(4)] == [200, 140, 80, 20]
    half = TrainConfig(k=20, k_anneal_start=200)  # round(1.5) = 2 anneal steps
    assert [k_at_step(half, s, 3) for s in range(3)] == [200, 110, 20]
    # A one-step run anneals over max(1, round(0.5)) = 1 step: its only step uses k_anneal_start.
    assert k_at_step(half, 0, 1) == 200


def test_k_is_constant_without_annealing() -> None:
    cfg = TrainConfig(k=7)
    assert {k_at_step(cfg, s, 10) for s in range(10)} == {7}


@pytest.mark.parametrize(
    ("total_tokens", "expected"),
    [(10**9, 1_000_000), (2_000_000, 100_000), (10_000, 4096), (0, 4096)],
)
def test_dead_window_is_five_percent_of_the_run_within_bounds(total_tokens: int, expected: int) -> None:
    # min(dead_after_tokens = 1M, max(total / 20, 8 batches of 512))
    assert dead_window_tokens(TrainConfig(), total_tokens) == expected


def test_resampling_is_due_every_n_batches_until_the_cut() -> None:
    # every 2,048 // 512 = 4 steps, never at step 0, while step < 0.5 * 20 = 10
    cfg = TrainConfig(resample_every_tokens=2048, resample_until=0.5)
    assert [s for s in range(20) if resample_due(cfg, s, total_steps=20, batch_size=512)] == [4, 8]
    # a window shorter than a batch resamples before every step but the first
    short = TrainConfig(resample_every_tokens=100)
    assert [s for s in range(5) if resample_due(short, s, total_steps=5, batch_size=512)] == [1, 2, 3, 4]
    assert not any(resample_due(TrainConfig(), s, total_steps=100, batch_size=512) for s in range(100))


def test_dead_window_never_exceeds_dead_after_tokens() -> None:
    cfg = TrainConfig(batch_size=64, dead_after_tokens=1000)
    assert dead_window_tokens(cfg, 1_000_000) == 1000
    assert dead_window_tokens(cfg, 100) == 512  # 8 batches of 64


# TrainConfig


def test_resolved_d_sae() -> None:
    assert TrainConfig(expansion=16).resolved_d_sae(64) == 1024
    assert TrainConfig(expansion=16, d_sae=100).resolved_d_sae(64) == 100


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"k": 0}, r"k and expansion must be positive, got k=0, expansion=16\."),
        ({"expansion": 0}, r"k and expansion must be positive, got k=20, expansion=0\."),
        ({"d_sae": 10}, r"d_sae=10 must be at least k"),
        ({"d_sae": 100, "k_anneal_start": 200}, r"d_sae=100 must be at least k \(and k_anneal_start when set\)\."),
        ({"lr": 0.0}, r"lr, batch_size and epochs must be positive, got 0.0, 512, 1.0\."),
        ({"batch_size": 0}, r"lr, batch_size and epochs must be positive, got 0.001, 0, 1.0\."),
        ({"epochs": -1.0}, r"lr, batch_size and epochs must be positive"),
        ({"k_anneal_start": 20}, r"k_anneal_start \(20\) must be larger than k \(20\)\."),
        ({"k_anneal_fraction": 0.0}, r"k_anneal_fraction must be in \(0, 1\], got 0.0\."),
        ({"k_anneal_fraction": 1.5}, r"k_anneal_fraction must be in \(0, 1\], got 1.5\."),
        ({"aux_k": -1}, r"aux_k and aux_coefficient must be >= 0 and dead_after_tokens > 0\."),
        ({"aux_coefficient": -0.1}, r"aux_k and aux_coefficient must be >= 0"),
        ({"dead_after_tokens": 0}, r"dead_after_tokens > 0"),
        ({"resample_every_tokens": -1}, r"resample_every_tokens must be >= 0 and resample_until in \(0, 1\], got -1 "
                                        r"and 0.9\."),
        ({"resample_until": 0.0}, r"resample_every_tokens must be >= 0 and resample_until in \(0, 1\], got 0 "
                                  r"and 0.0\."),
        ({"resample_until": 1.5}, r"resample_until in \(0, 1\], got 0 and 1.5\."),
        ({"holdout_fraction": 0.0}, r"holdout_fraction must be in \(0, 0.5\], got 0.0\."),
        ({"holdout_fraction": 0.6}, r"holdout_fraction must be in \(0, 0.5\], got 0.6\."),
        ({"selection_dtype": "float16"}, r"selection_dtype must be auto, float32 or bfloat16, got 'float16'\."),
        ({"device": "tpu9"}, r"Unknown torch device 'tpu9'\."),
    ],
)
def test_config_refuses_bad_values(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes)  # type: ignore[arg-type]


def test_config_accepts_the_edges() -> None:
    cfg = TrainConfig(k=1, d_sae=1, k_anneal_fraction=1.0, aux_k=0, aux_coefficient=0.0, holdout_fraction=0.5,
                      device="cpu")
    assert cfg.resolved_d_sae(8) == 1


# The sparse top-K encoder's backward


@pytest.mark.parametrize("selection", [torch.float32, torch.bfloat16])
def test_topk_encode_matches_dense_autograd(selection: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(6, 5, generator=gen, requires_grad=True)
    W = torch.randn(12, 5, generator=gen, requires_grad=True)
    b = (torch.randn(12, generator=gen) - 3.0).requires_grad_()  # some chosen pre-activations < 0
    upstream = torch.randn(6, 3, generator=gen)

    values, indices = TopKEncode.apply(x, W, b, W.detach().to(selection), 3)
    (values * upstream).sum().backward()
    grads = [t.grad.clone() for t in (x, W, b)]  # type: ignore[union-attr]

    x_ref, W_ref, b_ref = (t.detach().clone().requires_grad_() for t in (x, W, b))
    ref_values = (x_ref @ W_ref.t() + b_ref).gather(1, indices).relu()  # same latents, dense graph
    (ref_values * upstream).sum().backward()

    # The chosen values are exact fp32 even when the selection ran in bf16.
    torch.testing.assert_close(values.detach(), ref_values.detach())
    assert bool((values == 0).any()) and bool((values > 0).any()), "relu should cut some chosen latents"
    for got, ref in zip(grads, (x_ref.grad, W_ref.grad, b_ref.grad), strict=True):
        torch.testing.assert_close(got, ref)


# Runs on synthetic sparse data


class Synthetic(NamedTuple):
    acts: torch.Tensor
    """[N, D] raw residuals: OFFSET + SCALE * (2 positive multiples of unit directions)."""
    directions: torch.Tensor
    """[F, D] the unit directions."""


D_IN, N_DIRECTIONS, PER_TOKEN, N_TOKENS = 64, 256, 2, 32_768
OFFSET, SCALE = 100.0, 50.0
"""Residual-like: far from the origin and large, so a wrong scale fold cannot go unnoticed."""


def synthetic(n: int = N_TOKENS, seed: int = 1234) -> Synthetic:
    """Directions from `seed`, which must differ from the trainer's: with the same seed its random
    decoder init would be these very directions (it draws randn(d_sae, d_in) first)."""
    gen = torch.Generator().manual_seed(seed)
    directions = torch.randn(N_DIRECTIONS, D_IN, generator=gen)
    directions /= directions.norm(dim=1, keepdim=True)
    chosen = torch.rand(n, N_DIRECTIONS, generator=gen).argsort(dim=1)[:, :PER_TOKEN]  # distinct per token
    coefficients = torch.rand(n, PER_TOKEN, generator=gen) + 0.5
    sparse = torch.einsum("nk,nkd->nd", coefficients, directions[chosen])
    return Synthetic(OFFSET + SCALE * sparse, directions)


SYNTH_CFG = TrainConfig(k=PER_TOKEN, d_sae=N_DIRECTIONS, lr=1e-2, batch_size=256, epochs=3.0, aux_k=32,
                        selection_dtype="float32", device="cpu")
SYNTH_STEPS = 365
"""ceil(3 epochs * 31130 training rows / 256)."""


class SyntheticRun(NamedTuple):
    data: Synthetic
    result: TrainResult
    progress: list[tuple[int, int, dict[str, float]]]


@pytest.fixture(scope="module")
def run() -> Iterator[SyntheticRun]:
    """One training run shared by the tests that only read its result (about 1 s)."""
    data = synthetic()
    calls: list[tuple[int, int, dict[str, float]]] = []
    with torch_threads(1):
        result = train_topk_sae(data.acts, SYNTH_CFG, hook_layer=3, model_name="synthetic@0",
                                progress=lambda step, total, logs: calls.append((step, total, logs)))
    yield SyntheticRun(data, result, calls)


def test_training_recovers_a_sparse_dictionary(run: SyntheticRun) -> None:
    m = run.result.metrics
    # Measured 0.036 from 0.8 at the start; the true dictionary, tied, scores 0.028 (a linear
    # encoder misjudges the coefficients of non-orthogonal directions).
    assert m.fvu < 0.06
    assert run.result.history[0].fvu > 0.5
    assert m.l0 == PER_TOKEN
    assert m.dead_fraction < 0.05
    assert m.tokens == 1638  # int(0.05 * 32768) held-out tail rows
    assert run.result.history[-1].fvu < 0.06


def test_history_and_progress(run: SyntheticRun) -> None:
    history = run.result.history
    # About 100 points: an entry every 365 // 100 = 3 steps, and one at the last step.
    steps = [*range(3, SYNTH_STEPS, 3), SYNTH_STEPS]
    assert [h.step for h in history] == steps
    assert [h.tokens for h in history] == [256 * s for s in steps]
    assert {h.k for h in history} == {PER_TOKEN}
    assert all(h.loss == pytest.approx(h.fvu + SYNTH_CFG.aux_coefficient * h.aux_loss) for h in history)
    assert history[0].fvu > 10 * history[-1].fvu
    assert [(s, t) for s, t, _ in run.progress] == [(s, SYNTH_STEPS) for s in steps]
    assert set(run.progress[-1][2]) == {"loss", "fvu", "aux_loss", "k", "dead_fraction"}
    assert run.progress[-1][2]["fvu"] == history[-1].fvu


def test_saved_config_and_metrics(run: SyntheticRun) -> None:
    sae = run.result.sae
    cfg = sae.cfg
    assert (cfg.d_in, cfg.d_sae, cfg.k, cfg.activation, cfg.hook_layer) == (D_IN, N_DIRECTIONS, PER_TOKEN, "topk", 3)
    assert (cfg.normalization, cfg.apply_b_dec_to_input, cfg.model_name, cfg.source_format) == (
        "none", True, "synthetic@0", "fac")
    assert sae.device == torch.device("cpu")
    torch.testing.assert_close(sae.W_dec.detach().norm(dim=1), torch.ones(N_DIRECTIONS))

    metrics = cfg.metrics
    assert set(metrics) == {
        "fvu", "l0", "dead_fraction", "tokens", "mse", "normalised_mse", "eval_tokens", "tokens_trained", "steps",
        "k", "batch_size", "epochs", "lr", "train_fvu", "train_dead_fraction", "input_scale", "train_seconds",
    }
    assert all(isinstance(v, float) for v in metrics.values())
    for name, value in run.result.metrics._asdict().items():
        assert metrics[name] == value
    assert (metrics["eval_tokens"], metrics["steps"], metrics["tokens_trained"]) == (1638, SYNTH_STEPS, 365 * 256)
    assert (metrics["k"], metrics["batch_size"], metrics["epochs"], metrics["lr"]) == (2, 256, 3.0, 1e-2)
    assert metrics["train_fvu"] == run.result.history[-1].fvu
    assert metrics["train_seconds"] > 0
    # The input scale is sqrt(d_in) / median ||x - geometric median|| over the training split.
    train_rows, _ = split_holdout(run.data.acts, 0.05, 131_072)
    stats = estimate_stats(train_rows, torch.Generator().manual_seed(0))
    assert metrics["input_scale"] == pytest.approx(math.sqrt(D_IN) / stats.median_norm, rel=1e-12)


def test_saved_sae_encodes_raw_residuals(run: SyntheticRun) -> None:
    sae = run.result.sae
    x = run.data.acts[-1638:]
    with torch.no_grad():
        x_hat = sae.decode(sae.encode(x))
    fvu = float((x - x_hat).double().square().sum() / (x - x.mean(0)).double().square().sum())
    assert fvu == pytest.approx(run.result.metrics.fvu, rel=1e-4)
    assert fvu < 0.06

    # The SAE the optimiser saw reads s * x with biases s times larger; its codes are s times ours.
    s = sae.cfg.metrics["input_scale"]
    tensors = sae.tensors()
    trained = SparseAutoencoder.from_tensors(
        SaeConfig(d_in=D_IN, d_sae=N_DIRECTIONS, activation="topk", k=PER_TOKEN, hook_layer=3),
        {**tensors, "b_enc": tensors["b_enc"] * s, "b_dec": tensors["b_dec"] * s},
    )
    with torch.no_grad():
        torch.testing.assert_close(sae.encode(x), trained.encode(x * s) / s, rtol=1e-4, atol=1e-4)
        # Without the fold the raw residuals are decoded into nonsense.
        unfolded = trained.decode(trained.encode(x))
    assert float((x - unfolded).square().sum() / (x - x.mean(0)).square().sum()) > 1.0


def test_scale_folding_is_exact() -> None:
    # Multiplying the data by 2^10 changes every float by an exact power of two: the optimiser sees
    # bit-identical batches, so the saved SAE has the same weights and biases exactly 1024 times larger.
    acts = synthetic(1024).acts
    cfg = TrainConfig(k=2, d_sae=256, batch_size=32, aux_k=8, k_anneal_start=8, seed=1)
    small = train_topk_sae(acts, cfg, hook_layer=1, model_name="m")
    large = train_topk_sae(acts * 1024, cfg, hook_layer=1, model_name="m")
    a, b = small.sae.tensors(), large.sae.tensors()
    for name in ("W_enc", "W_dec"):
        assert torch.equal(a[name], b[name]), name
    for name in ("b_enc", "b_dec"):
        assert torch.equal(a[name] * 1024, b[name]), name
    assert small.sae.cfg.metrics["input_scale"] == large.sae.cfg.metrics["input_scale"] * 1024
    assert small.metrics.fvu == pytest.approx(large.metrics.fvu, rel=1e-12)
    assert any(h.aux_loss > 0 for h in small.history), "AuxK should have run on dead latents"
    x = acts[:8]
    with torch.no_grad():
        assert torch.equal(small.sae.encode(x) * 1024, large.sae.encode(x * 1024))


def test_k_annealing_shows_in_the_history() -> None:
    acts = synthetic(1024).acts
    cfg = TrainConfig(k=2, d_sae=64, batch_size=32, k_anneal_start=8, aux_k=0)
    result = train_topk_sae(acts, cfg, hook_layer=1, model_name="m")
    # 973 training rows / 32 -> 31 steps; anneal over round(15.5) = 16: K = 8 - floor(6 * step / 16).
    assert [h.k for h in result.history] == [8 - 6 * s // 16 for s in range(16)] + [2] * 15
    assert result.metrics.l0 == 2  # the saved SAE keeps the final K
    assert all(h.aux_loss == 0 for h in result.history)  # aux_k 0 switches AuxK off


def test_same_seed_same_sae_other_seed_other_sae() -> None:
    acts = synthetic(512).acts
    cfg = TrainConfig(k=2, d_sae=32, batch_size=32, aux_k=4, seed=5)
    first = train_topk_sae(acts, cfg, hook_layer=1, model_name="m")
    again = train_topk_sae(acts, cfg, hook_layer=1, model_name="m")
    other = train_topk_sae(acts, TrainConfig(k=2, d_sae=32, batch_size=32, aux_k=4, seed=6), hook_layer=1,
                           model_name="m")
    for name, tensor in first.sae.tensors().items():
        assert torch.equal(tensor, again.sae.tensors()[name]), name
    assert first.history == again.history
    assert first.metrics == again.metrics
    assert not torch.equal(first.sae.W_dec, other.sae.W_dec)


def test_an_eval_set_replaces_the_holdout() -> None:
    acts = synthetic(600).acts
    result = train_topk_sae(acts[:500], TrainConfig(k=2, d_sae=32, batch_size=50), hook_layer=1, model_name="m",
                            eval_acts_ND=acts[500:])
    assert result.metrics.tokens == 100
    assert result.sae.cfg.metrics["steps"] == 10  # every one of the 500 rows trains
    assert result.metrics == evaluate_sae(result.sae, acts[500:])


def test_batch_size_is_capped_at_the_training_rows() -> None:
    acts = synthetic(40).acts  # 38 training rows after the 2-row tail
    result = train_topk_sae(acts, TrainConfig(k=2, d_sae=16, epochs=2.0), hook_layer=1, model_name="m")
    assert (result.sae.cfg.metrics["batch_size"], result.sae.cfg.metrics["steps"]) == (38, 2)
    assert result.metrics.tokens == 2


def test_bf16_training_rows_are_read_in_fp32() -> None:
    acts = synthetic(300).acts
    result = train_topk_sae(acts.to(torch.bfloat16), TrainConfig(k=2, d_sae=16, batch_size=32), hook_layer=1,
                            model_name="m")
    assert result.sae.W_enc.dtype == torch.float32
    assert math.isfinite(result.metrics.fvu) and result.metrics.fvu < 1.5


@pytest.mark.parametrize(
    ("train", "eval_", "message"),
    [
        (torch.zeros(1, 4), None, "Training activations has 1 rows; at least 2 are needed"),
        (torch.zeros(0, 4), torch.ones(3, 4), "Training activations has 0 rows; at least 1 are needed"),
        (torch.zeros(8, 4, dtype=torch.int32), None, "Training activations must be a floating-point"),
        (torch.full((8, 4), float("nan")), None, "Training activations contains NaN"),
        (torch.randn(8, 4), torch.randn(3, 5), "Evaluation activations have width 5, training ones 4"),
        (torch.randn(8, 4), torch.full((3, 4), float("inf")), "Evaluation activations contains NaN or infinite"),
        (torch.randn(8, 4), torch.zeros(0, 4), "Evaluation activations has 0 rows"),
    ],
)
def test_bad_activations_are_refused(train: torch.Tensor, eval_: torch.Tensor | None, message: str) -> None:
    with pytest.raises(FacError, match=message):
        train_topk_sae(train, TrainConfig(k=2, d_sae=8), hook_layer=1, model_name="m", eval_acts_ND=eval_)


def test_k_larger_than_the_latents_is_refused() -> None:
    # d_sae = expansion * d_in = 2 * 4 = 8 < k_anneal_start; TrainConfig cannot know d_in.
    with pytest.raises(FacError, match="K \\(and k_anneal_start\\) must not exceed the 8 latents"):
        train_topk_sae(torch.randn(8, 4), TrainConfig(k=4, expansion=2, k_anneal_start=16), hook_layer=1,
                       model_name="m")
