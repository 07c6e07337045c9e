"""Training data for SAEs: shuffled fp32 minibatches over activations in memory or in shards on disk.

The activations may be tens of millions of bf16 rows; nothing here copies them all to fp32, and
sharded activations are read one window of shards at a time.
"""

import hashlib
import math
from collections.abc import Iterator, Sequence
from typing import NamedTuple, Protocol

import torch

from fac_engine.errors import FacError

STATS_SAMPLE_ROWS = 32_768
"""Rows sampled to estimate the centre and scale of the data (enough for a stable median)."""

WINDOW_ROWS = 1_048_576
"""Rows shuffled together: shards are loaded into windows of at least this many rows (1.2 GB of bf16
at d_in 576); a tensor in memory is one shard, hence one window."""

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


class ActivationShards(Protocol):
    """Training activations split into shards that are loaded one window at a time."""

    @property
    def shard_rows(self) -> list[int]:
        """Rows of each shard, in storage order."""
        ...

    def load(self, index: int) -> torch.Tensor:
        """Shard `index` as a [rows, d_in] floating tensor."""
        ...


class TensorShards:
    """In-memory tensors used as shards (a single tensor is a single shard)."""

    def __init__(self, *tensors: torch.Tensor) -> None:
        self.tensors = tensors

    @property
    def shard_rows(self) -> list[int]:
        """Rows of each tensor."""
        return [t.shape[0] for t in self.tensors]

    def load(self, index: int) -> torch.Tensor:
        """The tensor itself (no copy)."""
        return self.tensors[index]


def derived_seed(seed: int, *parts: object) -> int:
    """A 63-bit seed for one use of the run's randomness (e.g. `("rows", epoch, window)`).

    Each shuffle draws from its own generator seeded this way, so the batch order of any step is
    a function of (seed, step) alone: a resumed run needs no generator state to continue exactly.
    """
    digest = hashlib.blake2b(repr((seed, *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def _generator(seed: int, *parts: object) -> torch.Generator:
    return torch.Generator().manual_seed(derived_seed(seed, *parts))


def epoch_windows(shard_rows: Sequence[int], window_rows: int, seed: int, epoch: int) -> list[list[int]]:
    """Shards of one epoch grouped into windows: a seeded shard order, cut where a window reaches `window_rows`."""
    order = torch.randperm(len(shard_rows), generator=_generator(seed, "shards", epoch)).tolist()
    windows: list[list[int]] = []
    current: list[int] = []
    rows = 0
    for index in order:
        current.append(index)
        rows += shard_rows[index]
        if rows >= window_rows:
            windows.append(current)
            current, rows = [], 0
    if current:
        windows.append(current)
    return windows


def window_permutation(rows: int, seed: int, epoch: int, window: int) -> torch.Tensor:
    """The order in which the rows of one window are read."""
    return torch.randperm(rows, generator=_generator(seed, "rows", epoch, window))


def shuffled_batches(
    data: ActivationShards | torch.Tensor,
    batch_size: int,
    steps: int,
    seed: int,
    *,
    first_step: int = 0,
    window_rows: int = WINDOW_ROWS,
    scale: float = 1.0,
    device: torch.device | None = None,
) -> Iterator[torch.Tensor]:
    """Yield the fp32 batches [batch_size, d_in] of steps first_step .. first_step + steps - 1, times `scale`.

    Each epoch reads every row once: windows of shards in a seeded order (`epoch_windows`), the
    rows of each window in a seeded order (`window_permutation`); only one window is in memory.
    Batches are consecutive slices of that stream, straddling windows and epochs, so every batch
    has the same size and step s always gets the same rows. Only a batch is cast to fp32.
    """
    shards = TensorShards(data) if isinstance(data, torch.Tensor) else data
    shard_rows = shards.shard_rows
    n = sum(shard_rows)
    if batch_size > n:
        raise FacError(f"Batch size {batch_size} is larger than the {n} training rows.")
    if steps <= 0:
        return
    epoch, offset = divmod(first_step * batch_size, n)
    pending: list[torch.Tensor] = []
    pending_rows = produced = 0
    while True:
        for w, window in enumerate(epoch_windows(shard_rows, window_rows, seed, epoch)):
            rows = sum(shard_rows[i] for i in window)
            if offset >= rows:
                offset -= rows
                continue
            acts = shards.load(window[0]) if len(window) == 1 else torch.cat([shards.load(i) for i in window])
            order = window_permutation(rows, seed, epoch, w)
            cursor, offset = offset, 0
            while cursor < rows:
                take = min(batch_size - pending_rows, rows - cursor)
                pending.append(acts.index_select(0, order[cursor : cursor + take]))
                pending_rows += take
                cursor += take
                if pending_rows == batch_size:
                    batch_ND = torch.cat(pending).to(device=device, dtype=torch.float32)
                    yield batch_ND * scale if scale != 1.0 else batch_ND
                    pending, pending_rows, produced = [], 0, produced + 1
                    if produced == steps:
                        return
        epoch += 1
