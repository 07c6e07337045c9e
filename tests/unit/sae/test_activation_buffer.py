"""SAE training data: input checks, robust centre and scale, tail hold-out, shuffled fp32 batches over
tensors and shards, startable at any step."""

import math

import pytest
import torch

from fac_engine.errors import FacError
from fac_engine.sae.activation_buffer import (
    STATS_SAMPLE_ROWS,
    TensorShards,
    check_activations,
    derived_seed,
    epoch_windows,
    estimate_stats,
    geometric_median,
    shuffled_batches,
    split_holdout,
    steps_for,
    window_permutation,
)


def _rows(n: int, d: int = 1) -> torch.Tensor:
    """Row i holds the value i in every column, so a batch tells which rows it took."""
    return torch.arange(n, dtype=torch.float32).unsqueeze(1).expand(n, d).contiguous()


# check_activations


def test_check_accepts_a_floating_matrix() -> None:
    check_activations(torch.zeros(3, 4, dtype=torch.bfloat16), "Acts", min_rows=3)


@pytest.mark.parametrize(
    ("acts", "message"),
    [
        (torch.zeros(4), r"Acts must be a floating-point \[tokens, d_in\] tensor, got torch.float32 \[4\]"),
        (torch.zeros(2, 3, 4), r"got torch.float32 \[2, 3, 4\]"),
        (torch.zeros(3, 4, dtype=torch.int64), r"got torch.int64 \[3, 4\]"),
        (torch.zeros(1, 4), "Acts has 1 rows; at least 2 are needed"),
        (torch.tensor([[0.0, float("nan")], [1.0, 2.0]]), "Acts contains NaN or infinite values"),
        (torch.tensor([[0.0, 1.0], [float("-inf"), 2.0]]), "Acts contains NaN or infinite values"),
    ],
)
def test_check_refuses_bad_activations(acts: torch.Tensor, message: str) -> None:
    with pytest.raises(FacError, match=message):
        check_activations(acts, "Acts", min_rows=2)


def test_check_looks_for_nan_only_in_the_first_sample_rows() -> None:
    acts = torch.zeros(STATS_SAMPLE_ROWS + 1, 1)
    acts[-1, 0] = float("nan")
    check_activations(acts, "Acts")  # documented: only the first STATS_SAMPLE_ROWS rows are scanned
    acts[STATS_SAMPLE_ROWS - 1, 0] = float("nan")
    with pytest.raises(FacError, match="NaN"):
        check_activations(acts, "Acts")


# geometric_median and estimate_stats


def test_geometric_median_of_a_symmetric_cloud_is_its_centre() -> None:
    centre = torch.tensor([10.0, -5.0, 3.0])
    offsets = torch.cat([2 * torch.eye(3), -2 * torch.eye(3)])
    torch.testing.assert_close(geometric_median(centre + offsets), centre)


def test_geometric_median_of_three_points_on_a_line_is_the_middle_one() -> None:
    # The 1-D median; the mean (37) is dragged far off by the outlier.
    points = torch.tensor([[0.0], [1.0], [110.0]])
    assert float(geometric_median(points)[0]) == pytest.approx(1.0, abs=1e-3)


def test_geometric_median_ignores_an_outlier_and_is_optimal() -> None:
    gen = torch.Generator().manual_seed(0)
    cluster = torch.randn(99, 4, generator=gen)
    points = torch.cat([cluster, torch.full((1, 4), 1000.0)])
    median = geometric_median(points)
    assert float(points.mean(0).norm()) > 15.0
    assert float(median.norm()) < 0.5
    # First-order optimality: the unit vectors from the points to the median sum to ~0
    # (each has norm 1, so 100 random ones would sum to ~10).
    units = (median - points) / (median - points).norm(dim=1, keepdim=True)
    assert float(units.sum(0).norm()) < 0.05


def test_estimate_stats_gives_centre_and_median_centred_norm() -> None:
    centre = torch.tensor([10.0, -5.0, 3.0])
    directions = torch.cat([torch.eye(3), -torch.eye(3)])
    radii = torch.tensor([1.0, 2.0, 2.0]).repeat(2)  # +e_i and -e_i share a radius: the centre stays put
    points = centre + radii.unsqueeze(1) * directions
    stats = estimate_stats(points, torch.Generator().manual_seed(0))
    torch.testing.assert_close(stats.centre, centre)
    assert stats.median_norm == pytest.approx(2.0, rel=1e-5)  # torch's median: the lower middle of 1,1,2,2,2,2


def test_estimate_stats_reads_bf16_and_floors_a_zero_scale() -> None:
    points = torch.full((5, 3), 4.0, dtype=torch.bfloat16)
    stats = estimate_stats(points, torch.Generator().manual_seed(0))
    assert stats.centre.dtype == torch.float32
    torch.testing.assert_close(stats.centre, torch.full((3,), 4.0))
    assert stats.median_norm == 1e-8  # identical rows: no spread, floored so the input scale stays finite


@pytest.mark.usefixtures("one_torch_thread")
def test_estimate_stats_samples_large_inputs() -> None:
    # Above STATS_SAMPLE_ROWS rows it reads a random sample; two seeds give close statistics.
    gen = torch.Generator().manual_seed(0)
    acts = torch.randn(STATS_SAMPLE_ROWS + 5000, 2, generator=gen) * 3.0 + 1.0
    a = estimate_stats(acts, torch.Generator().manual_seed(1))
    b = estimate_stats(acts, torch.Generator().manual_seed(2))
    torch.testing.assert_close(a.centre, torch.ones(2), atol=0.1, rtol=0)
    # The median norm of a 2-D Gaussian with sigma 3 is 3 * sqrt(2 ln 2) = 3.532.
    assert a.median_norm == pytest.approx(3 * math.sqrt(2 * math.log(2)), rel=0.02)
    assert a.median_norm == pytest.approx(b.median_norm, rel=0.02)


# split_holdout and steps_for


def test_split_holdout_takes_the_contiguous_tail() -> None:
    acts = _rows(100)
    train, held = split_holdout(acts, 0.05, max_rows=1000)
    assert (train.shape[0], held.shape[0]) == (95, 5)
    assert held[:, 0].tolist() == [95.0, 96.0, 97.0, 98.0, 99.0]
    assert train[-1, 0] == 94.0


@pytest.mark.parametrize(
    ("n", "fraction", "max_rows", "expected"), [(100, 0.5, 7, 7), (10, 0.05, 99, 1), (2, 0.5, 9, 1)]
)
def test_split_holdout_size(n: int, fraction: float, max_rows: int, expected: int) -> None:
    train, held = split_holdout(_rows(n), fraction, max_rows)
    assert (train.shape[0], held.shape[0]) == (n - expected, expected)


@pytest.mark.parametrize(
    ("rows", "batch", "epochs", "expected"),
    [(100, 10, 1.0, 10), (100, 30, 1.0, 4), (100, 10, 0.25, 3), (5, 10, 0.01, 1)],
)
def test_steps_for(rows: int, batch: int, epochs: float, expected: int) -> None:
    assert steps_for(rows, batch, epochs) == expected


# shuffled_batches


def _ids(batches: list[torch.Tensor]) -> list[int]:
    return torch.cat(batches)[:, 0].long().tolist()


def test_batches_cover_every_row_once_per_epoch() -> None:
    acts = _rows(10).to(torch.bfloat16)
    batches = list(shuffled_batches(acts, 4, 5, seed=3))
    assert len(batches) == 5
    assert all(b.shape == (4, 1) and b.dtype == torch.float32 for b in batches)
    order = _ids(batches)
    # 20 rows = exactly two epochs; the third batch straddles them (2 rows of each).
    assert sorted(order[:10]) == list(range(10))
    assert sorted(order[10:]) == list(range(10))
    assert order[:10] != order[10:], "each epoch has its own order"


def test_a_tensor_is_one_window_read_in_its_seeded_order() -> None:
    first = next(shuffled_batches(_rows(10), 4, 1, seed=3))
    assert first[:, 0].long().tolist() == window_permutation(10, 3, 0, 0)[:4].tolist()


def test_shards_are_read_window_by_window() -> None:
    shards = TensorShards(_rows(4), _rows(6) + 4, _rows(5) + 10)  # rows 0-3, 4-9, 10-14
    windows = epoch_windows(shards.shard_rows, 6, seed=1, epoch=0)
    assert sorted(i for w in windows for i in w) == [0, 1, 2]
    assert all(sum(shards.shard_rows[i] for i in w[:-1]) < 6 for w in windows)  # cut once a window has 6 rows
    order = _ids(list(shuffled_batches(shards, 5, 3, seed=1, window_rows=6)))
    expected = []
    for w, window in enumerate(windows):
        rows = torch.cat([shards.load(i)[:, 0] for i in window]).long()
        expected += rows[window_permutation(len(rows), 1, 0, w)].tolist()
    assert order == expected


def test_any_step_can_be_started_from() -> None:
    # What a resumed run relies on: the batches from step s equal those of an uninterrupted stream.
    shards = TensorShards(_rows(7), _rows(9) + 7, _rows(3) + 16)
    whole = list(shuffled_batches(shards, 4, 12, seed=5, window_rows=8, scale=0.5))
    for start in (1, 4, 5, 11):
        tail = list(shuffled_batches(shards, 4, 12 - start, seed=5, first_step=start, window_rows=8, scale=0.5))
        assert all(torch.equal(a, b) for a, b in zip(whole[start:], tail, strict=True))


def test_batches_are_scaled_and_reproducible() -> None:
    acts = _rows(6, d=2)
    plain = list(shuffled_batches(acts, 3, 4, seed=0))
    scaled = list(shuffled_batches(acts, 3, 4, seed=0, scale=2.5))
    for a, b in zip(plain, scaled, strict=True):
        torch.testing.assert_close(b, a * 2.5, rtol=0, atol=0)
    assert _ids(list(shuffled_batches(acts, 3, 4, seed=1))) != _ids(plain)


def test_fractional_epoch_stops_early() -> None:
    batches = list(shuffled_batches(_rows(10), 4, steps_for(10, 4, 0.5), seed=0))
    assert len(batches) == 2  # ceil(0.5 * 10 / 4)
    assert len(set(_ids(batches))) == 8  # all from the first epoch's permutation: no repeats


def test_no_steps_no_batches() -> None:
    assert list(shuffled_batches(_rows(10), 4, 0, seed=0)) == []


def test_derived_seeds_differ_per_use() -> None:
    seeds = {derived_seed(0, "rows", 0, 0), derived_seed(0, "rows", 0, 1), derived_seed(0, "rows", 1, 0),
             derived_seed(1, "rows", 0, 0), derived_seed(0, "shards", 0)}
    assert len(seeds) == 5 and all(0 <= s < 2**63 for s in seeds)
    assert derived_seed(7, "x") == derived_seed(7, "x")


def test_batch_larger_than_the_data_is_refused() -> None:
    with pytest.raises(FacError, match="Batch size 11 is larger than the 10 training rows"):
        next(shuffled_batches(_rows(10), 11, 1, seed=0))
