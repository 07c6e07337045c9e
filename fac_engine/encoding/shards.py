"""One fixed shard of tokenised samples -> its tokens, pooled and samples tables in the workspace.

The single-process path and the Ray Data path both call `encode_shard`, so they write the same
files. Inside a shard, samples are batched by token budget (longest first) and only the shard's
own samples decide the batches, so a shard's codes do not depend on which run, process or node
encodes it: a resumed or distributed run writes exactly what an uninterrupted one would.
"""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa

from fac_engine.encoding.budget import EncodeBudget
from fac_engine.encoding.pooling import pool_max_entries
from fac_engine.encoding.sparse_batches import RowCodes, sparse_codes_by_batch
from fac_engine.models.loader import LoadedModel
from fac_engine.models.template import EncodedText
from fac_engine.sae.model import SparseAutoencoder
from fac_engine.workspace.datasets import write_shard

BatchProgress = Callable[[int, int], None]
"""Called after each forward batch with (real tokens, samples) of that batch."""


def shard_bounds(shard: int, shard_samples: int, n_samples: int) -> tuple[int, int]:
    """(first sample, number of samples) of a shard."""
    first = shard * shard_samples
    return first, max(0, min(shard_samples, n_samples - first))


def samples_in_shards(shards: set[int], shard_samples: int, n_samples: int) -> int:
    """Samples held by the given shards."""
    return sum(shard_bounds(s, shard_samples, n_samples)[1] for s in shards)


def _encode_batches(lm: LoadedModel, sae: SparseAutoencoder, encoded: list[EncodedText], budget: EncodeBudget,
                    progress: BatchProgress | None) -> list[RowCodes]:
    codes: dict[int, RowCodes] = {}
    for rows in sparse_codes_by_batch(lm, sae, [e.ids for e in encoded], budget.tokens, sae_rows=budget.sae_rows):
        codes.update((r.row, r) for r in rows)
        if progress is not None:
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
    sample_N = np.repeat(np.arange(first, first + len(encoded), dtype=np.int64), n_tokens)
    position_N = np.arange(ids.size) - np.repeat(token_start, n_tokens)
    content_N = np.concatenate([np.asarray(e.content(), bool) for e in encoded])
    tokens = pa.table({
        "token_id": pa.array(ids, pa.int32()),
        "features": pa.ListArray.from_arrays(pa.array(offsets), pa.array(indices_E, pa.int32())),
        "values": pa.ListArray.from_arrays(pa.array(offsets), pa.array(values_E.astype(np.float16))),
        "content": pa.array(content_N),
    })
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


def encode_shard(lm: LoadedModel, sae: SparseAutoencoder, folder: Path, shard: int, first: int,
                 encoded: list[EncodedText], meta: pa.Table, budget: EncodeBudget,
                 progress: BatchProgress | None = None) -> int:
    """Encode one shard's tokenised samples and write its three tables (samples last); returns its tokens.

    `meta` holds the shard's rows of the samples' text, label and metadata columns (`sample_columns`);
    `budget` is `encode_budget` of the device, sized once per run.
    """
    codes = _encode_batches(lm, sae, encoded, budget, progress)
    write_shard(folder, shard, _shard_tables(first, encoded, codes, meta))
    return sum(len(e.ids) for e in encoded)
