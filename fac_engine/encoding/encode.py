"""Dataset -> SAE codes in the workspace: batched by token budget, sharded, resumable.

Samples are split into fixed shards of `shard_samples` in dataset order. Inside a shard they
are sorted by length and batched by token budget (little padding); the forward pass stops at
the SAE's layer; the SAE runs per micro-batch on the model's device and only sparse codes
come back to the CPU. Each finished shard is written at once, so memory stays flat and a
rerun of the same command skips the finished shards. Batches depend only on the shard's
samples, so a resumed run writes exactly what an uninterrupted one would.
"""

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple, Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
from transformers import PreTrainedTokenizerBase

from fac_engine import __version__
from fac_engine.atomic import atomic_file, crash_point
from fac_engine.data.dataset import Dataset, DatasetConfig, read_dataset
from fac_engine.encoding.budget import encode_budget
from fac_engine.encoding.columns import sample_columns
from fac_engine.encoding.feature_stats import DEFAULT_TOP_N, compute_feature_tables
from fac_engine.encoding.shards import encode_shard, samples_in_shards, shard_bounds
from fac_engine.errors import FacError
from fac_engine.log import get_logger
from fac_engine.models.loader import LoadedModel
from fac_engine.models.template import POOLING_POLICY, EncodedText, encode_messages, encode_text
from fac_engine.sae.identity import sae_identity
from fac_engine.sae.model import SparseAutoencoder
from fac_engine.workspace.datasets import (
    VOCAB,
    EncodedDataset,
    Manifest,
    Workspace,
    check_name,
    complete_shards,
    merge_pooled,
    shard_path,
    write_manifest,
    write_vocab,
)

log = get_logger(__name__)

Progress = Callable[[int, int], None]
"""Called with (tokens encoded by this run, samples done including resumed shards)."""


class Item(Protocol):
    """One dataset sample as the encoder needs it."""

    @property
    def text(self) -> str: ...

    @property
    def messages(self) -> Sequence[object] | None: ...

    @property
    def label(self) -> object: ...


DEFAULT_MAX_LENGTH = 512
"""Default context limit of dataset encoding (and of scoring candidates against those datasets)."""
@dataclass(frozen=True)
class EncodeConfig:
    """How to encode a dataset."""

    name: str
    """Name of the dataset in the workspace."""
    chat: bool = True
    """Wrap samples in the model's chat template (t0 skips its prefix); False: plain text, t0 = 0."""
    max_length: int = DEFAULT_MAX_LENGTH
    """Context limit in tokens; longer samples are truncated (and counted)."""
    shard_samples: int = 1024
    """Samples per shard: the unit of resumption and of memory use."""
    token_budget: int | None = None
    """Padded tokens per forward pass; None: the device's default (encoding/budget.py: sized from free
    memory on CUDA)."""
    top_n: int = DEFAULT_TOP_N
    """Top activating samples kept per feature."""
    overwrite: bool = False
    """Replace an existing dataset of the same name encoded from other inputs."""

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.max_length < 2 or self.shard_samples < 1 or self.top_n < 1:
            raise ValueError("max_length must be >= 2, shard_samples and top_n >= 1.")
        if self.token_budget is not None and self.token_budget < 1:
            raise ValueError("token_budget must be positive.")


class EncodeSummary(NamedTuple):
    """What an encode run did."""

    manifest: Manifest
    tokens_encoded: int
    """Tokens encoded by this run (0 when everything was already done)."""
    seconds: float
    resumed_shards: int
    """Shards found complete from an earlier run and skipped."""
    dropped_activations: int = 0
    """Activations above zero left out by the SAE's max_active cap, all shards (0: every one is stored)."""
    already_complete: bool = False
    """The dataset was completely encoded before this run: it did nothing (else it at least merged the
    pooled codes and wrote the feature tables)."""

    @property
    def tokens_per_second(self) -> float:
        """Throughput of this run."""
        return self.tokens_encoded / self.seconds if self.seconds > 0 else 0.0


def dataset_hash(path: Path, options: str) -> str:
    """sha256 over the dataset's bytes (every file of a folder, by relative name) and reading options."""
    digest = hashlib.sha256(options.encode())
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        with file.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def encode_sample(tokenizer: PreTrainedTokenizerBase, item: Item, cfg: EncodeConfig) -> EncodedText:
    """Token ids and t0 of one sample: its messages through the chat template, or its text."""
    if cfg.chat and item.messages:
        return encode_messages(tokenizer, item.messages, max_length=cfg.max_length)  # type: ignore[arg-type]
    return encode_text(tokenizer, item.text, chat=cfg.chat, max_length=cfg.max_length)


def _prepare_manifest(workspace: Workspace, manifest: Manifest, cfg: EncodeConfig) -> tuple[Manifest, bool]:
    """(manifest to use, already complete); refuses to mix inputs under one name."""
    folder = workspace.folder(cfg.name)
    existing = workspace.manifest(cfg.name)
    if existing is not None and existing.key() == manifest.key():
        return existing, existing.status == "complete"
    if folder.exists():
        if not cfg.overwrite:
            raise FacError(f"Dataset {cfg.name!r} already exists in {workspace.root}, encoded from other inputs "
                           "(model, SAE, layer, data or options). Use another --name or --overwrite.")
        workspace.remove(cfg.name)
    write_manifest(folder, manifest)
    return manifest, False


class EncodeStart(NamedTuple):
    """Where an encode run starts (the same for the single-process and the Ray Data path)."""

    manifest: Manifest
    folder: Path
    done: bool
    """The dataset is already completely encoded: nothing to do."""
    finished: set[int]
    """Shards complete from an earlier run (skipped)."""
    meta: pa.Table
    """text, label and metadata columns of every sample (`sample_columns`); empty when done."""


def start_encode(workspace: Workspace, items: Sequence[Item], meta: pd.DataFrame, tokenizer: PreTrainedTokenizerBase,
                 cfg: EncodeConfig, base: Manifest) -> EncodeStart:
    """Check the inputs, write or reuse the manifest and the vocab, find the finished shards."""
    if not items:
        raise FacError(f"Dataset {cfg.name!r} has no samples to encode.")
    if len(meta) != len(items):
        raise ValueError(f"{len(meta)} metadata rows for {len(items)} items.")
    manifest, done = _prepare_manifest(workspace, base, cfg)
    folder = workspace.folder(cfg.name)
    if done:
        return EncodeStart(manifest, folder, True, set(range(manifest.n_shards)), pa.table({}))
    if not (folder / VOCAB).is_file():
        write_vocab(folder, [str(tokenizer.decode([i])) for i in range(len(tokenizer))])
    return EncodeStart(manifest, folder, False, complete_shards(folder), sample_columns(items, meta))


def encode_dataset(workspace: Workspace, items: Sequence[Item], meta: pd.DataFrame, lm: LoadedModel,
                   sae: SparseAutoencoder, cfg: EncodeConfig, *, base: Manifest, progress: Progress | None = None
                   ) -> EncodeSummary:
    """Encode `items` (with metadata rows `meta`, one per item) into `workspace/cfg.name`.

    `base` carries the identities and dataset description (see `new_manifest`).
    """
    start = start_encode(workspace, items, meta, lm.tokenizer, cfg, base)
    manifest = start.manifest
    if start.done:
        return EncodeSummary(manifest, 0, 0.0, manifest.n_shards, manifest.dropped_activations,
                             already_complete=True)
    budget = encode_budget(lm, sae, token_budget=cfg.token_budget)  # once: later the allocator's cache hides memory
    started = time.perf_counter()
    counts = {"tokens": 0, "samples": samples_in_shards(start.finished, cfg.shard_samples, len(items))}

    def on_batch(n: int, samples: int) -> None:
        counts["tokens"] += n
        counts["samples"] += samples
        if progress is not None:
            progress(counts["tokens"], counts["samples"])

    on_batch(0, 0)
    for shard in range(manifest.n_shards):
        if shard in start.finished:
            continue
        first, size = shard_bounds(shard, cfg.shard_samples, len(items))
        encoded = [encode_sample(lm.tokenizer, item, cfg) for item in items[first : first + size]]
        encode_shard(lm, sae, start.folder, shard, first, encoded, start.meta.slice(first, size), budget, on_batch)
        crash_point(f"encode-shard-{shard}")
        on_batch(0, 0)  # the shard is on disk now
    seconds = time.perf_counter() - started
    final = finalise(workspace, manifest, cfg.top_n, seconds, counts["tokens"])
    return EncodeSummary(final, counts["tokens"], seconds, len(start.finished), final.dropped_activations)


def finalise(workspace: Workspace, manifest: Manifest, top_n: int, seconds: float, tokens_run: int) -> Manifest:
    """Compute the feature tables from the pooled shards and mark the dataset complete."""
    folder = workspace.folder(manifest.name)
    data = EncodedDataset(folder, manifest)
    pooled = merge_pooled(folder, manifest.n_shards)
    arrays = [pooled.column(c).to_numpy() for c in ("sample", "feature", "value", "position")]
    tables = compute_feature_tables(*arrays, n_samples=manifest.n_samples, d_sae=manifest.d_sae, top_n=top_n)
    write_feature_tables(folder, tables.stats, tables.examples)
    crash_point("encode-tables")
    columns = ["n_tokens", "truncated"]
    if "dropped_activations" in pq.read_schema(shard_path(folder, "samples", 0)).names:  # absent before it was counted
        columns.append("dropped_activations")
    samples = data.samples(columns)
    dropped = int(pc.sum(samples.column("dropped_activations")).as_py() or 0) if len(columns) == 3 else 0
    final = Manifest(**{**manifest.__dict__, "status": "complete", "dropped_activations": dropped,
                        "n_tokens": int(pc.sum(samples.column("n_tokens")).as_py() or 0),
                        "truncated_samples": int(pc.sum(samples.column("truncated").cast(pa.int64())).as_py()
                                                 or 0),
                        "extra": {**manifest.extra, "encode_seconds_last_run": round(seconds, 2),
                                  "tokens_last_run": tokens_run}})
    write_manifest(folder, final)
    log.info("%s: %d samples, %d tokens encoded", manifest.name, final.n_samples, final.n_tokens)
    if dropped:
        log.warning("%s: %d active features were left out by the SAE's max_active cap (%s per token)", manifest.name,
                    dropped, manifest.extra.get("sae_max_active"))
    return final


def write_feature_tables(folder: Path, stats: pa.Table, examples: pa.Table) -> None:
    """features/stats.parquet and features/examples.parquet, atomically, sorted by feature."""
    (folder / "features").mkdir(parents=True, exist_ok=True)
    for kind, table in (("stats", stats), ("examples", examples)):
        with atomic_file(folder / "features" / f"{kind}.parquet") as tmp:
            pq.write_table(table, tmp, compression="zstd", row_group_size=16384)
        crash_point(f"encode-{kind}")


def new_manifest(name: str, lm: LoadedModel, sae: SparseAutoencoder, sae_path: str, dataset_path: Path,
                 options: str, n_samples: int, cfg: EncodeConfig, schema: str, label_field: str | None) -> Manifest:
    """The manifest of a dataset about to be encoded."""
    import transformers

    return Manifest(
        name=name, model=lm.identity, sae=sae_identity(sae), sae_path=sae_path, d_sae=sae.cfg.d_sae,
        layer=sae.cfg.hook_layer, dataset_path=str(dataset_path), dataset_hash=dataset_hash(dataset_path, options),
        t0_policy="chat-template" if cfg.chat else "plain", max_length=cfg.max_length, pooling=POOLING_POLICY,
        shard_samples=cfg.shard_samples, n_samples=n_samples,
        versions={"fac_studio": __version__, "torch": torch.__version__, "transformers": transformers.__version__},
        schema=schema, label_field=label_field, extra={"sae_max_active": sae.cfg.max_active},
    )


def fit_context(cfg: EncodeConfig, lm: LoadedModel) -> EncodeConfig:
    """`cfg` with max_length capped at the model's context: longer inputs have no position embeddings."""
    context = lm.context_length
    return cfg if context is None or cfg.max_length <= context else replace(cfg, max_length=context)


def encode_file(workspace: Workspace, path: Path, lm: LoadedModel, sae: SparseAutoencoder, sae_path: str,
                cfg: EncodeConfig, data_cfg: DatasetConfig | None = None, progress: Progress | None = None,
                dataset: Dataset | None = None) -> EncodeSummary:
    """Read a dataset file (or take `dataset`, already read from it with `data_cfg`) and encode it as
    `cfg.name`: what `fac encode`, `fac export --encode-as`, `fac baseline --encode-as` and `fac demo` do."""
    data_cfg = data_cfg or DatasetConfig()
    dataset = dataset if dataset is not None else read_dataset(path, data_cfg)
    fitted = fit_context(cfg, lm)
    if fitted != cfg:
        log.warning("max_length %d is above %s's context of %d tokens; using %d", cfg.max_length, lm.name,
                    fitted.max_length, fitted.max_length)
    base = file_manifest(path, dataset, data_cfg, lm, sae, sae_path, fitted)
    return encode_dataset(workspace, dataset.items, dataset.frame, lm, sae, fitted, base=base, progress=progress)


def file_manifest(path: Path, dataset: Dataset, data_cfg: DatasetConfig, lm: LoadedModel, sae: SparseAutoencoder,
                  sae_path: str, cfg: EncodeConfig) -> Manifest:
    """The manifest of a dataset read from `path` with `data_cfg` (`new_manifest` for a file; the Ray path
    takes it too)."""
    return new_manifest(cfg.name, lm, sae, sae_path, Path(path), repr(data_cfg), len(dataset.items), cfg,
                        dataset.schema, dataset.label_field)
