"""Token ids -> per-token sparse SAE codes, many samples per forward pass.

The one batched path shared by dataset encoding and candidate scoring, so a text gets the same
codes in both: token-budget batches (longest first, little padding), the forward pass stopped at
the SAE's layer, the SAE on real tokens only, sparse codes back on the CPU. Every feature above zero
is kept (ragged per token) unless the SAE's `max_active` caps it; then the loss is counted.

On CUDA (`fast`) the SAE selects latents with a bf16 matmul and keeps fp32 values
(sae/sparse_encode.py), and a batch's codes are copied to pinned host memory on a side stream
while the next batch already runs; the codes are the same as on the plain path.
"""

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np
import torch

from fac_engine.models.batching import TokenBatch, batches_by_token_budget
from fac_engine.models.loader import LoadedModel
from fac_engine.sae.model import DEFAULT_CHUNK_ROWS, SparseAutoencoder
from fac_engine.sae.sparse_encode import ChunkCodes


class RowCodes(NamedTuple):
    """One input row's per-token sparse codes, flat: token t owns the next `counts[t]` entries."""

    row: int
    """Index of the row in the input list."""
    counts: np.ndarray
    """[T] int32: features above zero stored for each token."""
    values: np.ndarray
    """[E] float32 activations (> 0), token by token, each token's sorted descending."""
    indices: np.ndarray
    """[E] int32 feature ids matching `values`."""
    dropped: int
    """Activations above zero of this row left out by the SAE's `max_active` cap (0 without one)."""

    def token_of_entry(self) -> np.ndarray:
        """[E] the token position of each entry."""
        return np.repeat(np.arange(self.counts.size), self.counts)


class _HostChunk(NamedTuple):
    values: torch.Tensor
    indices: torch.Tensor
    dropped: torch.Tensor


class _Pending(NamedTuple):
    """A batch whose codes are on their way to the host."""

    rows: list[int]
    lengths: list[int]
    chunks: list[_HostChunk]
    copied: torch.cuda.Event | None


def _to_host(chunk: ChunkCodes, stream: torch.cuda.Stream | None) -> _HostChunk:
    """The chunk on the CPU: at once, or (with a CUDA side stream) into pinned memory, asynchronously."""
    values, indices, dropped = chunk.values.float(), chunk.indices.to(torch.int32), chunk.dropped.to(torch.int32)
    if stream is None:
        return _HostChunk(values.cpu(), indices.cpu(), dropped.cpu())
    stream.wait_stream(torch.cuda.current_stream(values.device))
    out = []
    with torch.cuda.stream(stream):
        for tensor in (values, indices, dropped):
            host = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
            host.copy_(tensor, non_blocking=True)
            tensor.record_stream(stream)  # keep the device memory until the copy has run
            out.append(host)
    return _HostChunk(*out)


def _launch(lm: LoadedModel, sae: SparseAutoencoder, batch: TokenBatch, fast: bool, sae_rows: int,
            stream: torch.cuda.Stream | None) -> _Pending:
    mask = batch.attention_mask.to(lm.device)
    acts_BTD = lm.residuals(batch.input_ids.to(lm.device), mask, sae.cfg.hook_layer)
    real_BT = mask.bool()
    x_ND = acts_BTD[real_BT]
    select = torch.bfloat16 if fast else None
    chunks = [_to_host(c, stream) for c in sae.sparse_chunks(x_ND if fast else x_ND.to(sae.dtype), sae_rows, select)]
    copied = None
    if stream is not None:
        copied = torch.cuda.Event()
        copied.record(stream)
    return _Pending(batch.rows, batch.attention_mask.sum(1).tolist(), chunks, copied)


def _finish(pending: _Pending) -> list[RowCodes]:
    """Per-row flat codes of a launched batch (waits for its host copies)."""
    if pending.copied is not None:
        pending.copied.synchronize()
    counts, values, indices = [], [], []
    for chunk in pending.chunks:
        v, i = chunk.values.numpy(), chunk.indices.numpy()
        active = v > 0
        counts.append(active.sum(1).astype(np.int32))
        values.append(v[active])
        indices.append(i[active])
    counts_N = np.concatenate(counts) if counts else np.zeros(0, np.int32)
    values_E = np.concatenate(values) if values else np.zeros(0, np.float32)
    indices_E = np.concatenate(indices) if indices else np.zeros(0, np.int32)
    dropped_N = np.concatenate([c.dropped.numpy() for c in pending.chunks]) if pending.chunks else counts_N
    token_start = np.concatenate([[0], np.cumsum(pending.lengths)])
    entry_start = np.concatenate([[0], np.cumsum(counts_N, dtype=np.int64)])
    out = []
    for b, row in enumerate(pending.rows):
        t0, t1 = token_start[b], token_start[b + 1]
        e0, e1 = entry_start[t0], entry_start[t1]
        out.append(RowCodes(row, counts_N[t0:t1], values_E[e0:e1], indices_E[e0:e1], int(dropped_N[t0:t1].sum())))
    return out


@torch.no_grad()
def sparse_codes_by_batch(lm: LoadedModel, sae: SparseAutoencoder, token_ids: Sequence[Sequence[int]],
                          token_budget: int, *, sae_rows: int = DEFAULT_CHUNK_ROWS, fast: bool | None = None
                          ) -> Iterator[list[RowCodes]]:
    """Yield, batch by batch, the sparse codes of every row in that batch.

    `fast` (default: on CUDA) selects latents in bf16 with fp32 values and overlaps the copies to
    the host with the next batch; `sae_rows` bounds the SAE's dense chunk.
    """
    fast = lm.device.type == "cuda" if fast is None else fast
    stream = torch.cuda.Stream(lm.device) if fast and lm.device.type == "cuda" else None
    pending: _Pending | None = None
    for batch in batches_by_token_budget(token_ids, token_budget, lm.pad_id):
        launched = _launch(lm, sae, batch, fast, sae_rows, stream)
        if stream is None:
            yield _finish(launched)
            continue
        if pending is not None:
            yield _finish(pending)  # the GPU is busy with `launched` meanwhile
        pending = launched
    if pending is not None:
        yield _finish(pending)
