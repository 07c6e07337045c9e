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
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from fac_engine import __version__
from fac_engine.atomic import atomic_file
from fac_engine.data.dataset import DatasetConfig, read_dataset
from fac_engine.encoding.budget import EncodeBudget, encode_budget
from fac_engine.encoding.feature_stats import DEFAULT_TOP_N, compute_feature_tables
from fac_engine.encoding.pooling import pool_max_entries
from fac_engine.encoding.sparse_batches import RowCodes, sparse_codes_by_batch
from fac_engine.errors import FacError
from fac_engine.log import get_logger
from fac_engine.models.loader import LoadedModel
from fac_engine.models.template import EncodedText, encode_messages, encode_text
from fac_engine.sae.identity import sae_identity
from fac_engine.sae.model import SparseAutoencoder
from fac_engine.workspace.datasets import (
    VOCAB,
    EncodedDataset,
    Manifest,
    Workspace,
    complete_shards,
    merge_pooled,
    shard_path,
    write_manifest,
    write_shard,
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


RESERVED_COLUMNS = ("sample", "n_tokens", "content_start", "truncated", "token_start", "dropped_activations", "text",
                    "label")
"""Columns of the samples table that FAC Studio writes; metadata columns of the same name get a `meta_` prefix."""


@dataclass(frozen=True)
class EncodeConfig:
    """How to encode a dataset."""

    name: str
    """Name of the dataset in the workspace."""
    chat: bool = True
    """Wrap samples in the model's chat template (t0 skips its prefix); False: plain text, t0 = 0."""
    max_length: int = 512
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


def encode_sample(lm: LoadedModel, item: Item, cfg: EncodeConfig) -> EncodedText:
    """Token ids and t0 of one sample: its messages through the chat template, or its text."""
    if cfg.chat and item.messages:
        return encode_messages(lm.tokenizer, item.messages, max_length=cfg.max_length)  # type: ignore[arg-type]
    return encode_text(lm.tokenizer, item.text, chat=cfg.chat, max_length=cfg.max_length)


def sample_columns(items: Sequence[Item], frame: pd.DataFrame) -> pa.Table:
    """text, label and the metadata columns of every sample; columns Arrow cannot type become strings."""
    columns: dict[str, pa.Array] = {"text": pa.array([item.text for item in items], pa.string()),
                                    "label": _arrow_column([item.label for item in items])}
    for name in frame.columns:
        key = f"meta_{name}" if str(name) in RESERVED_COLUMNS else str(name)
        columns[key] = _arrow_column(frame[name])
    return pa.table(columns)


def _arrow_column(values: Sequence[object] | pd.Series) -> pa.Array:
    """Values as Arrow, typed when Arrow can; otherwise as strings (None stays null)."""
    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values])


def _encode_batches(lm: LoadedModel, sae: SparseAutoencoder, encoded: list[EncodedText], budget: EncodeBudget,
                    progress: Callable[[int, int], None]) -> list[RowCodes]:
    codes: dict[int, RowCodes] = {}
    for rows in sparse_codes_by_batch(lm, sae, [e.ids for e in encoded], budget.tokens, sae_rows=budget.sae_rows):
        codes.update((r.row, r) for r in rows)
        progress(sum(len(r.counts) for r in rows), len(rows))
    return [codes[i] for i in range(len(encoded))]


def _shard_tables(first: int, encoded: list[EncodedText], codes: list[RowCodes], meta: pa.Table
                  ) -> dict[str, pa.Table]:
    n_tokens = np.array([len(e.ids) for e in encoded], np.int64)
    token_start = np.concatenate([[0], np.cumsum(n_tokens)[:-1]])
    ids = np.concatenate([np.asarray(e.ids, np.int32) for e in encoded])
    counts_N = np.concatenate([c.counts for c in codes])
    values_E = np.concatenate([c.values for c in codes])
    indices_E = np.concatenate([c.indices for c in codes])
    offsets = np.concatenate([[0], np.cumsum(counts_N, dtype=np.int64)]).astype(np.int32)
    tokens = pa.table({
        "token_id": pa.array(ids, pa.int32()),
        "features": pa.ListArray.from_arrays(pa.array(offsets), pa.array(indices_E, pa.int32())),
        "values": pa.ListArray.from_arrays(pa.array(offsets), pa.array(values_E.astype(np.float16))),
    })
    sample_N = np.repeat(np.arange(first, first + len(encoded), dtype=np.int64), n_tokens)
    position_N = np.arange(ids.size) - np.repeat(token_start, n_tokens)
    content_N = position_N >= np.repeat([e.content_start for e in encoded], n_tokens)
    pooled = pool_max_entries(np.repeat(sample_N, counts_N), np.repeat(position_N, counts_N),
                              np.repeat(content_N, counts_N), values_E, indices_E)
    pooled_table = pa.table({name: pa.array(getattr(pooled, name)) for name in pooled._fields})
    samples = pa.table({
        "sample": pa.array(np.arange(first, first + len(encoded)), pa.int32()),
        "n_tokens": pa.array(n_tokens, pa.int32()),
        "content_start": pa.array([e.content_start for e in encoded], pa.int32()),
        "truncated": pa.array([bool(e.truncated) for e in encoded]),
        "token_start": pa.array(token_start, pa.int64()),
        "dropped_activations": pa.array([c.dropped for c in codes], pa.int64()),
    })
    for name in meta.column_names:
        samples = samples.append_column(name, meta.column(name))
    return {"tokens": tokens, "pooled": pooled_table, "samples": samples}


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


def encode_dataset(workspace: Workspace, items: Sequence[Item], meta: pd.DataFrame, lm: LoadedModel,
                   sae: SparseAutoencoder, cfg: EncodeConfig, *, base: Manifest, progress: Progress | None = None
                   ) -> EncodeSummary:
    """Encode `items` (with metadata rows `meta`, one per item) into `workspace/cfg.name`.

    `base` carries the identities and dataset description (see `new_manifest`).
    """
    if not items:
        raise FacError(f"Dataset {cfg.name!r} has no samples to encode.")
    if len(meta) != len(items):
        raise ValueError(f"{len(meta)} metadata rows for {len(items)} items.")
    manifest, done = _prepare_manifest(workspace, base, cfg)
    folder = workspace.folder(cfg.name)
    if done:
        return EncodeSummary(manifest, 0, 0.0, manifest.n_shards, manifest.dropped_activations)
    finished = complete_shards(folder)
    meta_table = sample_columns(items, meta)
    if not (folder / VOCAB).is_file():
        write_vocab(folder, [str(lm.tokenizer.decode([i])) for i in range(len(lm.tokenizer))])
    budget = encode_budget(lm, sae)  # once: after the first batch the allocator's cache hides free memory
    if cfg.token_budget is not None:
        budget = budget._replace(tokens=cfg.token_budget)
    started = time.perf_counter()
    counts = {"tokens": 0, "samples": sum(min(cfg.shard_samples, len(items) - s * cfg.shard_samples) for s in finished)}

    def on_batch(n: int, samples: int) -> None:
        counts["tokens"] += n
        counts["samples"] += samples
        if progress is not None:
            progress(counts["tokens"], counts["samples"])

    on_batch(0, 0)
    for shard in range(manifest.n_shards):
        if shard in finished:
            continue
        first = shard * cfg.shard_samples
        chunk = items[first : first + cfg.shard_samples]
        encoded = [encode_sample(lm, item, cfg) for item in chunk]
        codes = _encode_batches(lm, sae, encoded, budget, on_batch)
        write_shard(folder, shard, _shard_tables(first, encoded, codes, meta_table.slice(first, len(chunk))))
        on_batch(0, 0)  # the shard is on disk now
    seconds = time.perf_counter() - started
    final = finalise(workspace, manifest, cfg.top_n, seconds, counts["tokens"])
    return EncodeSummary(final, counts["tokens"], seconds, len(finished), final.dropped_activations)


def finalise(workspace: Workspace, manifest: Manifest, top_n: int, seconds: float, tokens_run: int) -> Manifest:
    """Compute the feature tables from the pooled shards and mark the dataset complete."""
    folder = workspace.folder(manifest.name)
    data = EncodedDataset(folder, manifest)
    pooled = merge_pooled(folder, manifest.n_shards)
    arrays = [pooled.column(c).to_numpy() for c in ("sample", "feature", "value", "position")]
    tables = compute_feature_tables(*arrays, n_samples=manifest.n_samples, d_sae=manifest.d_sae, top_n=top_n)
    write_feature_tables(folder, tables.stats, tables.examples)
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


def new_manifest(name: str, lm: LoadedModel, sae: SparseAutoencoder, sae_path: str, dataset_path: Path,
                 options: str, n_samples: int, cfg: EncodeConfig, schema: str, label_field: str | None) -> Manifest:
    """The manifest of a dataset about to be encoded."""
    import transformers

    return Manifest(
        name=name, model=lm.identity, sae=sae_identity(sae), sae_path=sae_path, d_sae=sae.cfg.d_sae,
        layer=sae.cfg.hook_layer, dataset_path=str(dataset_path), dataset_hash=dataset_hash(dataset_path, options),
        t0_policy="chat-template" if cfg.chat else "plain", max_length=cfg.max_length,
        shard_samples=cfg.shard_samples, n_samples=n_samples,
        versions={"fac_studio": __version__, "torch": torch.__version__, "transformers": transformers.__version__},
        schema=schema, label_field=label_field, extra={"sae_max_active": sae.cfg.max_active},
    )


def encode_file(workspace: Workspace, path: Path, lm: LoadedModel, sae: SparseAutoencoder, sae_path: str,
                cfg: EncodeConfig, data_cfg: DatasetConfig | None = None, progress: Progress | None = None
                ) -> EncodeSummary:
    """Read a dataset file and encode it as `cfg.name` (what `fac encode` does, for other verbs:
    exported synthetic samples, baseline samples)."""
    data_cfg = data_cfg or DatasetConfig()
    dataset = read_dataset(path, data_cfg)
    base = new_manifest(cfg.name, lm, sae, sae_path, Path(path), repr(data_cfg), len(dataset.items), cfg,
                        dataset.schema, dataset.label_field)
    return encode_dataset(workspace, dataset.items, dataset.frame, lm, sae, cfg, base=base, progress=progress)
