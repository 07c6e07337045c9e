"""Training data for SAEs: shuffled fp32 minibatches over an in-memory activation tensor.

The activations may be millions of bf16 rows; nothing here copies the whole tensor to fp32.
"""

import math
from collections.abc import Iterator
from typing import NamedTuple

import torch

from fac_engine.errors import FacError

STATS_SAMPLE_ROWS = 32_768
"""Rows sampled to estimate the centre and scale of the data (enough for a stable median)."""

WEISZFELD_ITERATIONS = 40
"""Upper bound on geometric-median iterations; it usually converges in 10-20."""


class ActivationStats(NamedTuple):
    """Robust location and scale of residual activations."""

    centre: torch.Tensor
    """[d_in] geometric median (fp32): b_dec's starting point."""
    median_norm: float
    """Median of ||x - centre|| over the sample: the typical size of a centred token."""


def check_activations(acts_ND: torch.Tensor, name: str, min_rows: int = 1) -> None:
    """Raise FacError unless `acts_ND` is a floating [N, d_in] tensor with enough rows."""
    if acts_ND.dim() != 2 or not acts_ND.is_floating_point():
        raise FacError(f"{name} must be a floating-point [tokens, d_in] tensor, got {acts_ND.dtype} "
                       f"{list(acts_ND.shape)}.")
    if acts_ND.shape[0] < min_rows:
        raise FacError(f"{name} has {acts_ND.shape[0]} rows; at least {min_rows} are needed.")
    if not bool(torch.isfinite(acts_ND[: STATS_SAMPLE_ROWS]).all()):
        raise FacError(f"{name} contains NaN or infinite values (checked the first {STATS_SAMPLE_ROWS} rows).")


def geometric_median(points_ND: torch.Tensor, tol: float = 1e-5) -> torch.Tensor:
    """Weiszfeld's algorithm: the point minimising the summed distance to `points_ND`.

    OpenAI ("Scaling and evaluating sparse autoencoders") and sparsify start b_dec here; unlike
    the mean it is not dragged away by a few huge-norm outlier tokens (e.g. BOS).
    """
    median_D = points_ND.mean(0)
    for _ in range(WEISZFELD_ITERATIONS):
        weights_N = 1.0 / (points_ND - median_D).norm(dim=1).clamp_min(1e-8)
        new_D = weights_N @ points_ND / weights_N.sum()
        shift = float((new_D - median_D).norm())
        median_D = new_D
        if shift <= tol * float(median_D.norm().clamp_min(1e-8)):
            break
    return median_D


def estimate_stats(acts_ND: torch.Tensor, generator: torch.Generator) -> ActivationStats:
    """Centre (geometric median) and median centred norm of a random sample of rows."""
    n = acts_ND.shape[0]
    rows = torch.randperm(n, generator=generator)[:STATS_SAMPLE_ROWS] if n > STATS_SAMPLE_ROWS else None
    sample_ND = (acts_ND if rows is None else acts_ND.index_select(0, rows)).to(torch.float32)
    centre_D = geometric_median(sample_ND)
    median_norm = float((sample_ND - centre_D).norm(dim=1).median())
    return ActivationStats(centre_D, max(median_norm, 1e-8))


def split_holdout(acts_ND: torch.Tensor, fraction: float, max_rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, held-out) views: the held-out rows are the contiguous tail.

    Activations are usually stored document by document, so a tail slice keeps tokens of one
    text from landing on both sides (a random split would leak context into the eval set).
    """
    n = acts_ND.shape[0]
    n_eval = max(1, min(int(n * fraction), max_rows))
    return acts_ND[: n - n_eval], acts_ND[n - n_eval :]


def steps_for(n_rows: int, batch_size: int, epochs: float) -> int:
    """Optimiser steps for `epochs` passes over `n_rows` rows (at least one step)."""
    return max(1, math.ceil(epochs * n_rows / batch_size))


def shuffled_batches(
    acts_ND: torch.Tensor,
    batch_size: int,
    steps: int,
    generator: torch.Generator,
    *,
    scale: float = 1.0,
    device: torch.device | None = None,
) -> Iterator[torch.Tensor]:
    """Yield `steps` full fp32 batches [batch_size, d_in], each row multiplied by `scale`.

    Rows come from a fresh permutation per epoch; a batch may straddle two epochs so every
    batch has the same size (a fractional last epoch simply stops early). Only the batch is
    cast to fp32, never the whole tensor.
    """
    n = acts_ND.shape[0]
    if batch_size > n:
        raise FacError(f"Batch size {batch_size} is larger than the {n} training rows.")
    order = torch.randperm(n, generator=generator)
    cursor = 0
    for _ in range(steps):
        if cursor + batch_size <= n:
            rows = order[cursor : cursor + batch_size]
            cursor += batch_size
        else:
            head = order[cursor:]
            order = torch.randperm(n, generator=generator)
            cursor = batch_size - head.numel()
            rows = torch.cat([head, order[:cursor]])
        batch_ND = acts_ND.index_select(0, rows).to(device=device, dtype=torch.float32)
        yield batch_ND * scale if scale != 1.0 else batch_ND
