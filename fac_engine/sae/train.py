"""Train a TopK SAE on residual activations: the paper's recipe (docs/METHOD.md section 2).

Recipe: TopK (K 20), 16x width, encoder initialised as the decoder's transpose, b_dec
subtracted before encoding, Adam lr 1e-3, batch 512, optional K annealing (paper code: 200 ->
20 over the first half epoch), plus the AuxK dead-latent loss of OpenAI's "Scaling and
evaluating sparse autoencoders" (Gao et al. 2024), which the paper does not use.

Loss: the centred FVU of the batch, sum ||x - x_hat||^2 / sum ||x - mean_batch(x)||^2. The
paper's ||x - x_hat||^2 / ||x||^2 differs only by a per-batch constant in the denominator,
so gradient directions are the same; the uncentred denominator is dominated by the residual
stream's large mean (which b_dec absorbs), so its value says little, while the centred one
is exactly the FVU we report and sets a meaningful scale for the AuxK term.

Input scale: batches are multiplied by s = sqrt(d_in) / median ||x - centre|| so that lr
1e-3 means the same for the biases whatever the model's residual norm (Adam already makes
the weight updates scale-free). The median, not the mean, keeps a few huge-norm tokens (BOS,
attention sinks) from setting the scale. A TopK SAE trained on s*x is exactly a raw-space SAE
with b_enc/s and b_dec/s (same W_enc, same unit-norm W_dec, codes divided by s), so the saved
SAE has normalization="none" and encodes raw residuals with codes in residual units.

Tied (`TrainConfig.tied`): encoder and decoder are one matrix throughout, as in the paper.
Dead latents: AuxK, optionally straight-through, and resampling (`resample_every_tokens`, resample.py).
Long runs: activations may be shards on disk (read a window at a time, activation_buffer.py),
and a `CheckpointPlan` makes the run resumable exactly (checkpoint.py; docs/EMBEDDED_SAE.md).
"""

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import torch

from fac_engine.errors import FacError
from fac_engine.log import get_logger
from fac_engine.models.device import resolve_device
from fac_engine.sae.activation_buffer import (
    WINDOW_ROWS,
    ActivationShards,
    TensorShards,
    check_activations,
    derived_seed,
    estimate_stats,
    shuffled_batches,
    split_holdout,
    steps_for,
)
from fac_engine.sae.checkpoint import RunIdentity, has_checkpoint, load_checkpoint, save_checkpoint
from fac_engine.sae.config import SaeConfig
from fac_engine.sae.metrics import SaeMetrics, evaluate_sae
from fac_engine.sae.model import SparseAutoencoder
from fac_engine.sae.resample import POOL_ROWS, resample_dead
from fac_engine.sae.train_state import (
    Params,
    ProgressFn,
    Recorder,
    StepLog,
    TrainState,
    init_params,
    make_optimizer,
)
from fac_engine.sae.train_step import SelectionDtype, selection_dtype, train_step

log = get_logger(__name__)

HOLDOUT_MAX_ROWS = 131_072
"""Cap on the held-out slice taken when no eval set is given."""
__all__ = ["CheckpointPlan", "ProgressFn", "StepLog", "TrainConfig", "TrainResult", "TrainingPaused",
           "dead_window_tokens", "k_at_step", "resample_due", "train_topk_sae"]
"""StepLog and ProgressFn live in train_state but belong to this module's API (TrainResult.history, progress)."""


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one TopK SAE training run."""

    k: int = 20
    """Latents kept per token (paper: 20)."""
    expansion: int = 16
    """d_sae = expansion * d_in (paper: 16x)."""
    d_sae: int | None = None
    """Explicit number of latents; overrides `expansion`."""
    lr: float = 1e-3
    """Adam learning rate (default betas)."""
    batch_size: int = 512
    """Tokens per optimiser step (capped at the number of training rows)."""
    epochs: float = 1.0
    """Passes over the training activations; fractions allowed."""
    k_anneal_start: int | None = None
    """If set (e.g. 200), K starts here and falls linearly to `k` (see `k_at_step`)."""
    k_anneal_fraction: float = 0.5
    """Fraction of all steps over which K is annealed."""
    aux_k: int = 256
    """Dead latents used by the AuxK loss (Gao et al. 2024: d_in / 2); 0 disables it."""
    aux_coefficient: float = 1 / 32
    """Weight of the AuxK loss (Gao et al. 2024)."""
    aux_straight_through: bool = False
    """Let the AuxK gradient pass the ReLU, so that it reaches dead latents whose pre-activations
    are negative on every token (with the ReLU their gradient is 0 and they stay dead; see
    docs/EMBEDDED_SAE.md). Off: the ReLU'd AuxK of Gao et al. 2024."""
    resample_every_tokens: int = 0
    """Every this many training tokens, restart the latents dead by the window counter along the residuals
    of badly reconstructed training rows (sae/resample.py; docs/EMBEDDED_SAE.md measured it). 0: never."""
    resample_until: float = 0.9
    """Fraction of the run after which nothing is resampled, so the last restarted latents have steps to settle."""
    dead_after_tokens: int = 1_000_000
    """A latent is dead after this many training tokens without firing; short runs use a
    shorter window, see `dead_window_tokens`."""
    tied_init: bool = True
    """Initialise W_enc as W_dec^T (OpenAI ties at init only). Decoder rows are kept unit-norm either way."""
    tied: bool = False
    """Share one matrix: W_enc = W_dec^T throughout training, as the paper does; the saved SAE stores
    it once (half the file)."""
    shuffle_window_rows: int = WINDOW_ROWS
    """Rows of sharded activations shuffled together (see activation_buffer.WINDOW_ROWS)."""
    seed: int = 0
    """Seeds the initialisation, the batch order and the held-out split's statistics."""
    device: str = "auto"
    """torch device; "auto" picks cuda when available, else cpu."""
    holdout_fraction: float = 0.05
    """Share of rows held out for evaluation when no eval set is given (at most 131,072)."""
    selection_dtype: SelectionDtype = "auto"
    """Precision of the dense encoder matmul that picks the top K. bfloat16 is 4x faster on
    CPUs with native bf16 (measured 6.7 vs 26.6 ms per 512-token batch); values and gradients
    are recomputed in fp32 for the chosen latents. "auto": bf16 on cuda or bf16-capable CPUs."""

    def __post_init__(self) -> None:
        if self.k <= 0 or self.expansion <= 0:
            raise ValueError(f"k and expansion must be positive, got k={self.k}, expansion={self.expansion}.")
        if self.d_sae is not None and self.d_sae < max(self.k, self.k_anneal_start or 0):
            raise ValueError(f"d_sae={self.d_sae} must be at least k (and k_anneal_start when set).")
        if self.lr <= 0 or self.batch_size <= 0 or self.epochs <= 0:
            raise ValueError(f"lr, batch_size and epochs must be positive, got {self.lr}, {self.batch_size}, "
                             f"{self.epochs}.")
        if self.k_anneal_start is not None and self.k_anneal_start <= self.k:
            raise ValueError(f"k_anneal_start ({self.k_anneal_start}) must be larger than k ({self.k}).")
        if not 0 < self.k_anneal_fraction <= 1:
            raise ValueError(f"k_anneal_fraction must be in (0, 1], got {self.k_anneal_fraction}.")
        if self.aux_k < 0 or self.aux_coefficient < 0 or self.dead_after_tokens <= 0:
            raise ValueError("aux_k and aux_coefficient must be >= 0 and dead_after_tokens > 0.")
        if self.resample_every_tokens < 0 or not 0 < self.resample_until <= 1:
            raise ValueError(f"resample_every_tokens must be >= 0 and resample_until in (0, 1], got "
                             f"{self.resample_every_tokens} and {self.resample_until}.")
        if not 0 < self.holdout_fraction <= 0.5:
            raise ValueError(f"holdout_fraction must be in (0, 0.5], got {self.holdout_fraction}.")
        if self.shuffle_window_rows <= 0:
            raise ValueError(f"shuffle_window_rows must be positive, got {self.shuffle_window_rows}.")
        if self.selection_dtype not in ("auto", "float32", "bfloat16"):
            raise ValueError(f"selection_dtype must be auto, float32 or bfloat16, got {self.selection_dtype!r}.")
        if self.device != "auto":
            try:
                torch.device(self.device)
            except RuntimeError as exc:
                raise ValueError(f"Unknown torch device {self.device!r}.") from exc

    def resolved_d_sae(self, d_in: int) -> int:
        """Number of latents for a residual stream of width `d_in`."""
        return self.d_sae if self.d_sae is not None else self.expansion * d_in


class TrainResult(NamedTuple):
    """A trained SAE, its held-out metrics and its training curve."""

    sae: SparseAutoencoder
    metrics: SaeMetrics
    history: list[StepLog]


def k_at_step(cfg: TrainConfig, step: int, total_steps: int) -> int:
    """K used at 0-based `step`: k_start - floor((k_start - k) * step / anneal_steps) while annealing.

    anneal_steps = max(1, round(k_anneal_fraction * total_steps)); K is `cfg.k` from then on.
    """
    if cfg.k_anneal_start is None:
        return cfg.k
    anneal_steps = max(1, round(cfg.k_anneal_fraction * total_steps))
    if step >= anneal_steps:
        return cfg.k
    return cfg.k_anneal_start - (cfg.k_anneal_start - cfg.k) * step // anneal_steps


def dead_window_tokens(cfg: TrainConfig, total_tokens: int) -> int:
    """Tokens without firing after which a latent counts as dead: min(dead_after_tokens, 5% of the run).

    OpenAI and sparsify use 10M tokens on runs of billions; on a run of a few million tokens a
    fixed 1M window would leave AuxK idle for a third of it. Never below 8 batches.
    """
    return min(cfg.dead_after_tokens, max(total_tokens // 20, 8 * cfg.batch_size))


def resample_due(cfg: TrainConfig, step: int, total_steps: int, batch_size: int) -> bool:
    """Whether dead latents are resampled before 0-based `step`.

    Every max(1, resample_every_tokens // batch_size) steps (never at step 0), while step <
    resample_until * total_steps; never when resample_every_tokens is 0.
    """
    if cfg.resample_every_tokens == 0 or step == 0:
        return False
    every = max(1, cfg.resample_every_tokens // batch_size)
    return step % every == 0 and step < cfg.resample_until * total_steps


@dataclass(frozen=True)
class CheckpointPlan:
    """Where and how often a run saves its state, and whether it continues a saved one."""

    folder: Path
    """Checkpoint folder (sae/checkpoint.py); outside the repository for long runs."""
    every_seconds: float = 300.0
    """Save at least this often (and when stopped, and at the end)."""
    resume: bool = False
    """Continue the run saved in `folder`; without it an existing checkpoint is refused."""
    stop: Callable[[], bool] | None = field(default=None, compare=False)
    """Asked after every step: True saves a checkpoint and raises TrainingPaused (a signal, a deadline)."""


class TrainingPaused(Exception):  # noqa: N818 (a pause, not an error)
    """Raised when `CheckpointPlan.stop` asked the run to stop; the checkpoint continues it."""

    def __init__(self, step: int, total_steps: int, folder: Path) -> None:
        super().__init__(f"training paused at step {step:,} of {total_steps:,}; checkpoint in {folder}")
        self.step, self.total_steps, self.folder = step, total_steps, folder


def _to_sae(p: Params, scale: float, cfg: TrainConfig, hook_layer: int, model_name: str) -> SparseAutoencoder:
    """Fold the input scale back (b_enc / s, b_dec / s) so the SAE encodes raw residuals."""
    d_sae, d_in = p.W_dec.shape
    sae_cfg = SaeConfig(d_in=d_in, d_sae=d_sae, activation="topk", hook_layer=hook_layer, k=cfg.k,
                        apply_b_dec_to_input=True, normalization="none", model_name=model_name, source_format="fac")
    tensors = {"W_enc": p.W_enc.detach().t(), "b_enc": p.b_enc.detach() / scale,
               "W_dec": p.W_dec.detach(), "b_dec": p.b_dec.detach() / scale}
    return SparseAutoencoder.from_tensors(sae_cfg, tensors).to(p.W_dec.device)


def _split(train: torch.Tensor | ActivationShards, eval_ND: torch.Tensor | None, cfg: TrainConfig
           ) -> tuple[ActivationShards, torch.Tensor]:
    if not isinstance(train, torch.Tensor):
        if eval_ND is None:
            raise FacError("Sharded training activations need an evaluation set (eval_acts_ND).")
        if sum(train.shard_rows) < 1:
            raise FacError("Training activations have no rows.")
        check_activations(train.load(0), "Training activations")
    else:
        check_activations(train, "Training activations", min_rows=1 if eval_ND is not None else 2)
        if eval_ND is None:
            head, tail = split_holdout(train, cfg.holdout_fraction, HOLDOUT_MAX_ROWS)
            return TensorShards(head), tail
    check_activations(eval_ND, "Evaluation activations")
    d_train = (train if isinstance(train, torch.Tensor) else train.load(0)).shape[1]
    if eval_ND.shape[1] != d_train:
        raise FacError(f"Evaluation activations have width {eval_ND.shape[1]}, training ones {d_train}.")
    return (TensorShards(train) if isinstance(train, torch.Tensor) else train), eval_ND


class _Run(NamedTuple):
    """What is fixed for a whole run."""

    cfg: TrainConfig
    total_steps: int
    batch_size: int
    scale: float
    sel_dtype: torch.dtype
    dead_window: int


def _resample(state: TrainState, shards: ActivationShards, run: _Run) -> None:
    """Resample the latents dead at this step on a pool drawn from one shard; a function of (seed, step)."""
    dead_F = state.since_fired >= run.dead_window
    if not bool(dead_F.any()):
        return
    generator = torch.Generator().manual_seed(derived_seed(run.cfg.seed, "resample", state.step))
    filled = [i for i, n in enumerate(shards.shard_rows) if n > 0]
    rows = shards.load(filled[int(torch.randint(len(filled), (1,), generator=generator))])
    take = torch.randperm(rows.shape[0], generator=generator)[:POOL_ROWS]
    device = state.params.W_dec.device
    pool_ND = rows[take].to(device=device, dtype=torch.float32) * run.scale
    k = k_at_step(run.cfg, state.step, run.total_steps)
    n = resample_dead(state.params, state.optimizer, dead_F, pool_ND, k, run.sel_dtype, generator)
    state.since_fired[dead_F] = 0
    log.info("Step %d: resampled %d dead latents (%.2f%%).", state.step, n, 100 * n / dead_F.numel())


def _run_steps(state: TrainState, batches: Iterator[torch.Tensor], run: _Run, plan: CheckpointPlan | None,
               identity: RunIdentity, generator: torch.Generator, shards: ActivationShards) -> None:
    """Every remaining step, saving a checkpoint on time, when asked to stop, and at the end."""
    sitting_start = last_save = time.monotonic()
    base_seconds = state.seconds

    def save() -> None:
        assert plan is not None
        state.seconds = base_seconds + time.monotonic() - sitting_start
        save_checkpoint(plan.folder, state, identity, generator)

    for x_BD in batches:
        if resample_due(run.cfg, state.step, run.total_steps, run.batch_size):
            _resample(state, shards, run)
        k = k_at_step(run.cfg, state.step, run.total_steps)
        fvu, aux, fired = train_step(state.params, state.optimizer, x_BD, k, state.since_fired >= run.dead_window,
                                     run.cfg.aux_k, run.cfg.aux_coefficient, run.sel_dtype,
                                     run.cfg.aux_straight_through)
        state.since_fired += run.batch_size
        state.since_fired[fired] = 0
        state.recorder.add(state.step, k, fvu, aux, state.since_fired >= run.dead_window)
        state.step += 1
        if plan is None or state.step == run.total_steps:
            continue
        if plan.stop is not None and plan.stop():
            save()
            raise TrainingPaused(state.step, run.total_steps, plan.folder)
        if time.monotonic() - last_save >= plan.every_seconds:
            save()
            last_save = time.monotonic()
    state.seconds = base_seconds + time.monotonic() - sitting_start
    if plan is not None:
        save_checkpoint(plan.folder, state, identity, generator)


def _identity(run: _Run, d_in: int, d_sae: int, shard_rows: list[int], hook_layer: int, model_name: str,
              data_key: str) -> RunIdentity:
    config = {k: v for k, v in asdict(run.cfg).items() if k != "device"}
    return {"config": config, "d_in": d_in, "d_sae": d_sae, "shard_rows": shard_rows, "steps": run.total_steps,
            "batch_size": run.batch_size, "input_scale": run.scale, "selection_dtype": str(run.sel_dtype),
            "hook_layer": hook_layer, "model_name": model_name, "data": data_key}


def train_topk_sae(
    train_acts: torch.Tensor | ActivationShards,
    cfg: TrainConfig,
    *,
    hook_layer: int,
    model_name: str,
    eval_acts_ND: torch.Tensor | None = None,
    progress: ProgressFn | None = None,
    checkpoint: CheckpointPlan | None = None,
    data_key: str = "",
) -> TrainResult:
    """Train a TopK SAE on raw residuals and evaluate it on `eval_acts_ND` or a held-out tail.

    `train_acts` is an [N, d_in] tensor or shards on disk (then `eval_acts_ND` is required). The
    returned SAE (on CPU) encodes raw residuals; its `cfg.metrics` holds the evaluation metrics and
    the run's size. `progress(step, total_steps, {"loss", "fvu", "k", ...})` is called about 100
    times. With `checkpoint`, the run saves its whole state there and, with `resume`, continues a
    saved run exactly (same batches, K schedule, AuxK counters, Adam state); `data_key` names the
    data so that a checkpoint of other data is refused.
    """
    shards, eval_ND = _split(train_acts, eval_acts_ND, cfg)
    first = shards.load(0)
    d_in, n_rows = first.shape[1], sum(shards.shard_rows)
    d_sae = cfg.resolved_d_sae(d_in)
    if not max(cfg.k, cfg.k_anneal_start or 0) <= d_sae:
        raise FacError(f"K (and k_anneal_start) must not exceed the {d_sae} latents.")
    device, generator = resolve_device(cfg.device), torch.Generator().manual_seed(cfg.seed)
    stats = estimate_stats(first, generator)
    batch_size = min(cfg.batch_size, n_rows)
    total_steps = steps_for(n_rows, batch_size, cfg.epochs)
    run = _Run(cfg, total_steps, batch_size, math.sqrt(d_in) / stats.median_norm,
               selection_dtype(cfg.selection_dtype, device), dead_window_tokens(cfg, total_steps * batch_size))
    log.info("Training a %d-latent TopK SAE (k=%d%s) on %d tokens: %d steps of %d, selection in %s, on %s.",
             d_sae, cfg.k, ", tied" if cfg.tied else "", n_rows, total_steps, batch_size, run.sel_dtype, device)
    params = init_params((stats.centre * run.scale).to(device), d_sae, cfg.tied, cfg.tied_init, generator)
    state = TrainState(params, make_optimizer(params, cfg.lr), torch.zeros(d_sae, dtype=torch.int64, device=device),
                       Recorder(total_steps, cfg.aux_coefficient, batch_size, progress))
    identity = _identity(run, d_in, d_sae, shards.shard_rows, hook_layer, model_name, data_key)
    if checkpoint is not None and has_checkpoint(checkpoint.folder):
        if not checkpoint.resume:
            raise FacError(f"{checkpoint.folder} already holds a checkpoint; resume it, or delete it to start over")
        load_checkpoint(checkpoint.folder, state, identity, generator)
    batches = shuffled_batches(shards, batch_size, total_steps - state.step, cfg.seed, first_step=state.step,
                               window_rows=cfg.shuffle_window_rows, scale=run.scale, device=device)
    _run_steps(state, batches, run, checkpoint, identity, generator, shards)
    sae = _to_sae(params, run.scale, cfg, hook_layer, model_name)
    metrics = evaluate_sae(sae, eval_ND)
    history = state.recorder.history
    summary = {**metrics._asdict(), "eval_tokens": metrics.tokens, "tokens_trained": total_steps * batch_size,
               "steps": total_steps, "k": cfg.k, "batch_size": batch_size, "epochs": cfg.epochs, "lr": cfg.lr,
               "train_fvu": history[-1].fvu, "train_dead_fraction": history[-1].dead_fraction,
               "input_scale": run.scale, "train_seconds": state.seconds}
    log.info("SAE trained in %.0f s: FVU %.4f, L0 %.1f, dead %.2f%% of latents on %d held-out tokens.",
             state.seconds, metrics.fvu, metrics.l0, 100 * metrics.dead_fraction, metrics.tokens)
    sae = sae.with_config(metrics={name: float(value) for name, value in summary.items()}).cpu()
    return TrainResult(sae, metrics, history)
