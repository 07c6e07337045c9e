"""`fac encode --ray`: the same encoding on a Ray cluster, with Ray Data.

The driver reads the dataset with the reader of `fac encode`, writes the manifest and the vocab
(`start_encode`), then streams the unfinished shards through Ray Data (see ray_stages.py):
tokenising tasks on CPUs, then an actor pool holding one model + SAE per actor (one GPU each
where the cluster has GPUs) that writes each shard's tables into the workspace, samples file
last, atomically. When every shard is there the driver computes the feature tables
(`finalise`), as the single-process path does.

Exactly once: a shard counts when its samples file exists, whoever wrote it. A rerun after the
driver or a worker was killed encodes only the missing shards; Ray Data retries the tasks of a
dead actor, and a shard written twice is overwritten with identical files. A failed block is
never skipped (`max_errored_blocks` = 0), and a user error raised on a worker reaches the caller
as the same FacError the single-process path raises.
"""

import copy
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any, NamedTuple

import pandas as pd

from fac_engine.encoding.encode import EncodeConfig, EncodeStart, EncodeSummary, Item, Progress, finalise, start_encode
from fac_engine.encoding.ray_stages import USER_MESSAGE, ShardEncoder, ShardReceipt, input_row, tokenize_shards
from fac_engine.encoding.shards import samples_in_shards, shard_bounds
from fac_engine.errors import FacError
from fac_engine.log import get_logger
from fac_engine.models.loader import LoadedModel
from fac_engine.models.spec import ModelSpec
from fac_engine.sae.model import SparseAutoencoder
from fac_engine.workspace.datasets import Manifest, Workspace, complete_shards

log = get_logger(__name__)

RAY_MISSING = "Encoding on Ray needs Ray Data: pip install -r requirements-ray.txt"


@dataclass(frozen=True)
class RayConfig:
    """Where and how wide an encode runs on Ray."""

    address: str | None = None
    """None: start a local Ray on this machine; `auto` or `ray://host:port`: connect to a running cluster."""
    actors: int = 1
    """Model + SAE actors, each with its own copy of the model (one per GPU where the cluster has GPUs)."""
    cpus_per_actor: float = 1.0
    """CPUs Ray reserves per actor (on CPU-only clusters also its torch threads)."""
    gpus_per_actor: float | None = None
    """GPUs per actor; None: 1 when the cluster has GPUs, else 0."""

    def __post_init__(self) -> None:
        if self.actors < 1:
            raise ValueError("The number of Ray actors must be at least 1.")
        if self.cpus_per_actor <= 0 or (self.gpus_per_actor is not None and self.gpus_per_actor < 0):
            raise ValueError("CPUs per Ray actor must be positive and GPUs per actor not negative.")


class ActorResources(NamedTuple):
    """What Ray reserves for each model actor."""

    num_cpus: float
    num_gpus: float


def actor_resources(cluster: Mapping[str, float], cfg: RayConfig, device: str = "auto") -> ActorResources:
    """CPUs and GPUs per actor (a GPU each where the cluster has GPUs, unless the model is asked on the
    CPU); FacError when the cluster cannot hold `cfg.actors` of them at once (Ray would otherwise
    wait for resources that never come)."""
    gpus = cfg.gpus_per_actor
    if gpus is None:
        gpus = 1.0 if cluster.get("GPU", 0.0) >= 1 and device != "cpu" else 0.0
    for name, each in (("CPU", cfg.cpus_per_actor), ("GPU", gpus)):
        have = float(cluster.get(name, 0.0))
        if each > 0 and cfg.actors * each > have + 1e-9:
            raise FacError(f"{cfg.actors} Ray actors need {cfg.actors * each:g} {name}s, the Ray cluster has "
                           f"{have:g}; use fewer --ray-actors or add nodes.")
    return ActorResources(cfg.cpus_per_actor, gpus)


class WorkerStats(NamedTuple):
    """Throughput of one model actor over a run."""

    worker: str
    """host:pid of the actor (a restarted actor is a new entry)."""
    gpus: int
    shards: int
    tokens: int
    seconds: float
    """Time spent encoding and writing its shards."""

    @property
    def tokens_per_second(self) -> float:
        """Tokens this actor encoded per second of its own work."""
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


class RayEncodeSummary(NamedTuple):
    """What a Ray encode run did."""

    summary: EncodeSummary
    workers: list[WorkerStats]
    """Per actor, sorted by worker name."""


def worker_stats(receipts: Sequence[ShardReceipt]) -> list[WorkerStats]:
    """Receipts summed per actor."""
    by_worker: dict[str, list[ShardReceipt]] = {}
    for r in receipts:
        by_worker.setdefault(r.worker, []).append(r)
    return [WorkerStats(w, rs[0].gpus, len(rs), sum(r.tokens for r in rs), sum(r.seconds for r in rs))
            for w, rs in sorted(by_worker.items())]


def import_ray() -> ModuleType:
    """The ray module with Ray Data, or FacError saying how to install it."""
    try:
        import ray
        import ray.data  # the extra, not only ray core
    except ImportError as exc:
        raise FacError(RAY_MISSING) from exc
    return ray


@contextmanager
def ray_session(address: str | None) -> Iterator[ModuleType]:
    """Ray, initialised: an existing session is reused; one started or connected here is shut down after."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    try:
        # Worker logs stay in the session's log folder: failures reach the caller as exceptions.
        ray.init(address=address, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise FacError(f"Cannot reach the Ray cluster at {address!r}: {' '.join(str(exc).split())}") from exc
    try:
        yield ray
    finally:
        ray.shutdown()


@contextmanager
def strict_data_context(ray: ModuleType) -> Iterator[None]:
    """Ray Data settings for one encode, restored after: no failed block skipped, workers' own
    exceptions raised (so a FacError stays one), no Ray progress bars (the caller draws its own)."""
    ctx = ray.data.DataContext.get_current()
    wanted = {"max_errored_blocks": 0, "raise_original_map_exception": True, "enable_progress_bars": False}
    before = {name: getattr(ctx, name) for name in wanted}
    data_log = logging.getLogger("ray.data")
    level = data_log.level
    # Ray Data logs every failure before raising it; the caller reports it once.
    data_log.setLevel(logging.CRITICAL)
    for name, value in wanted.items():
        setattr(ctx, name, value)
    try:
        yield
    finally:
        for name, value in before.items():
            setattr(ctx, name, value)
        data_log.setLevel(level)


def user_error(exc: BaseException) -> FacError | None:
    """The FacError a worker raised, when `exc` (Ray's wrapper of it) carries one."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        cause = getattr(current, "cause", None)  # RayTaskError and friends
        if isinstance(cause, FacError):
            return FacError(getattr(cause, USER_MESSAGE, str(cause)))
        stack += [e for e in (cause, current.__cause__, current.__context__) if isinstance(e, BaseException)]
    return None


def encode_dataset_ray(workspace: Workspace, items: Sequence[Item], meta: pd.DataFrame, lm: LoadedModel,
                       sae: SparseAutoencoder, cfg: EncodeConfig, *, base: Manifest, model: ModelSpec,
                       ray_cfg: RayConfig, progress: Progress | None = None) -> RayEncodeSummary:
    """`encode_dataset` on Ray: the same workspace entry, written by Ray Data actors.

    `lm` (the driver's copy: tokenizer and identity; it may live on the CPU) and `base` are as for
    `encode_dataset`; every actor loads `model` itself, and gets the driver's SAE.
    """
    import_ray()  # before anything is written
    start = start_encode(workspace, items, meta, lm.tokenizer, cfg, base)
    manifest = start.manifest
    if start.done:
        return RayEncodeSummary(EncodeSummary(manifest, 0, 0.0, manifest.n_shards, already_complete=True), [])
    started = time.perf_counter()
    receipts: list[ShardReceipt] = []
    if len(start.finished) < manifest.n_shards:  # else only the feature tables were left to do
        with ray_session(ray_cfg.address) as ray, strict_data_context(ray):
            resources = actor_resources(ray.cluster_resources(), ray_cfg, model.device)
            receipts = _run(ray, start, items, lm, sae, cfg, model, ray_cfg, resources, progress)
    seconds = time.perf_counter() - started
    missing = sorted(set(range(manifest.n_shards)) - complete_shards(start.folder))
    if missing:
        raise FacError(f"Ray finished but shards {missing[:5]} of {cfg.name!r} are not in {start.folder}; put the "
                       "workspace on storage every node reaches and rerun the same command.")
    tokens = sum(r.tokens for r in receipts)
    final = finalise(workspace, manifest, cfg.top_n, seconds, tokens)
    workers = worker_stats(receipts)
    for w in workers:
        log.info("%s (%d GPU): %d shards, %d tokens, %.0f tok/s", w.worker, w.gpus, w.shards, w.tokens,
                 w.tokens_per_second)
    return RayEncodeSummary(EncodeSummary(final, tokens, seconds, len(start.finished)), workers)


def _on_cpu(sae: SparseAutoencoder) -> SparseAutoencoder:
    """The SAE as the actors receive it: on the CPU (they move it to their device), the caller's copy untouched."""
    return sae if sae.device.type == "cpu" else copy.deepcopy(sae).cpu()


def _run(ray: ModuleType, start: EncodeStart, items: Sequence[Item], lm: LoadedModel, sae: SparseAutoencoder,
         cfg: EncodeConfig, model: ModelSpec, ray_cfg: RayConfig, resources: ActorResources,
         progress: Progress | None) -> list[ShardReceipt]:
    """Build the Ray Data pipeline over the unfinished shards and drain it, reporting progress per shard."""
    n = len(items)
    rows = []
    for shard in range(start.manifest.n_shards):
        if shard not in start.finished:
            first, size = shard_bounds(shard, cfg.shard_samples, n)
            rows.append(input_row(shard, first, items[first : first + size], start.meta.slice(first, size)))
    data: Any = ray.data.from_arrow(rows)
    # Tokenising is cheap next to the forward pass; it reserves no CPU so it never starves the actors.
    data = data.map_batches(tokenize_shards, fn_kwargs={"tokenizer": lm.tokenizer, "cfg": cfg}, batch_size=1,
                            batch_format="pyarrow", num_cpus=0,
                            compute=ray.data.TaskPoolStrategy(size=ray_cfg.actors))
    data = data.map_batches(
        ShardEncoder, batch_size=1, batch_format="pyarrow", num_cpus=resources.num_cpus, num_gpus=resources.num_gpus,
        compute=ray.data.ActorPoolStrategy(size=ray_cfg.actors),
        fn_constructor_kwargs={"spec": model, "sae": _on_cpu(sae), "folder": str(start.folder),
                               "model_identity": start.manifest.model, "token_budget": cfg.token_budget,
                               "num_cpus": resources.num_cpus, "num_gpus": resources.num_gpus})
    receipts: list[ShardReceipt] = []
    tokens, samples = 0, samples_in_shards(start.finished, cfg.shard_samples, n)
    if progress is not None:
        progress(tokens, samples)
    try:
        for row in data.iter_rows():
            receipt = ShardReceipt(**row)
            receipts.append(receipt)
            tokens, samples = tokens + receipt.tokens, samples + receipt.samples
            if progress is not None:
                progress(tokens, samples)
    except Exception as exc:
        error = user_error(exc)
        if error is None:
            raise
        raise error from None
    return receipts
