"""Texts -> residual-stream activations of content tokens, for SAE training and evaluation."""

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice

import torch

from fac_engine.errors import FacError
from fac_engine.log import get_logger
from fac_engine.models.activation_cache import ShardedActivations
from fac_engine.models.batching import batches_by_token_budget
from fac_engine.models.loader import LoadedModel
from fac_engine.models.template import EncodedText, encode_text

log = get_logger(__name__)

TEXTS_PER_CHUNK = 256
"""Texts tokenised at once; batches are then formed by token budget inside a chunk."""

DEFAULT_SHARD_ROWS = 262_144
"""Rows per activation shard on disk (302 MB at d_model 576 in bf16; about a minute of CPU harvest)."""

CPU_TOKEN_BUDGET = 2048
"""Padded tokens per forward pass on CPU: larger batches are no faster there (measured 4.0k tok/s
at 2048 vs 0.6k at 16384 for SmolLM2-135M in bf16 on 2 cores: attention and cache misses)."""
GPU_TOKEN_BUDGET = 32768
"""Padded tokens per forward pass on a GPU, where large batches fill the device."""


def default_token_budget(device: torch.device) -> int:
    """Padded tokens per forward pass that run fastest on `device`."""
    return GPU_TOKEN_BUDGET if device.type == "cuda" else CPU_TOKEN_BUDGET

Progress = Callable[[int, int], None]
"""Called with (tokens collected, tokens wanted)."""


def _chunks(texts: Iterable[str], size: int) -> Iterator[list[str]]:
    it = iter(texts)
    while chunk := list(islice(it, size)):
        yield chunk


def _content_rows(encoded: Sequence[EncodedText], rows: list[int], acts_BTD: torch.Tensor) -> list[torch.Tensor]:
    """The activations of each row's content tokens (never template tokens, special tokens or padding)."""
    out = []
    for b, row in enumerate(rows):
        sample = encoded[row]
        mask = torch.tensor(sample.content(), dtype=torch.bool, device=acts_BTD.device)
        out.append(acts_BTD[b, : len(sample.ids)][mask])
    return out


def _chunk_activations(lm: LoadedModel, chunk: list[str], layer: int, chat: bool, max_length: int, budget: int
                       ) -> Iterator[torch.Tensor]:
    """bf16 content-token activations of one chunk of texts, batch by batch (longest texts first)."""
    encoded = [encode_text(lm.tokenizer, t, chat=chat, max_length=max_length) for t in chunk]
    pad_id = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    for batch in batches_by_token_budget([e.ids for e in encoded], budget, pad_id):
        acts = lm.residuals(batch.input_ids.to(lm.device), batch.attention_mask.to(lm.device), layer)
        parts = _content_rows(encoded, batch.rows, acts.float().cpu())
        yield torch.cat(parts).to(torch.bfloat16) if parts else torch.empty(0, lm.hidden_size, dtype=torch.bfloat16)


def harvest_activations(
    lm: LoadedModel,
    texts: Iterable[str],
    *,
    layer: int,
    max_tokens: int,
    chat: bool = True,
    max_length: int = 256,
    token_budget: int | None = None,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Residual activations [N, d_model] (bf16, CPU) of content tokens, N <= max_tokens.

    Texts are wrapped as user turns when `chat` (the template prefix is skipped, as FAC
    pooling skips it); padding never contributes. `token_budget` defaults to
    `default_token_budget(lm.device)`.
    """
    budget = default_token_budget(lm.device) if token_budget is None else token_budget
    buffer = torch.empty(max_tokens, lm.hidden_size, dtype=torch.bfloat16)
    filled = 0
    for chunk in _chunks(texts, TEXTS_PER_CHUNK):
        for part in _chunk_activations(lm, chunk, layer, chat, max_length, budget):
            take = min(part.shape[0], max_tokens - filled)
            buffer[filled : filled + take] = part[:take]
            filled += take
            if progress is not None:
                progress(filled, max_tokens)
            if filled >= max_tokens:
                return buffer
    log.info("harvested %d content tokens (wanted %d)", filled, max_tokens)
    return buffer[:filled].clone()


def harvest_to_shards(
    lm: LoadedModel,
    texts: Sequence[str],
    store: ShardedActivations,
    *,
    layer: int,
    max_tokens: int,
    shard_rows: int = DEFAULT_SHARD_ROWS,
    chat: bool = True,
    max_length: int = 256,
    token_budget: int | None = None,
    progress: Progress | None = None,
    stop: Callable[[], bool] | None = None,
) -> ShardedActivations:
    """Fill `store` with the same activations `harvest_activations` returns, a shard at a time, resuming.

    A shard holds whole chunks of TEXTS_PER_CHUNK texts (at least `shard_rows` rows, the last
    one fewer), so a resumed harvest batches every chunk as an uninterrupted one would and the
    shards come out identical. `stop()` is asked after each shard: True leaves the store
    incomplete, to be continued by a later call with the same store. A later call may ask for
    fewer or more tokens: the store is read, or continued, as that target's harvest from scratch
    (`ShardedActivations.fit_to`).
    """
    budget = default_token_budget(lm.device) if token_budget is None else token_budget
    store.fit_to(max_tokens)
    filled, start = store.rows, store.texts_done
    if store.complete:
        return store
    if start % TEXTS_PER_CHUNK:
        raise FacError(f"{store.folder} stops mid-chunk at text {start}; delete it to harvest again")
    pending: list[torch.Tensor] = []
    pending_rows = 0
    for chunk_start in range(start, len(texts), TEXTS_PER_CHUNK):
        chunk_end = min(chunk_start + TEXTS_PER_CHUNK, len(texts))
        for part in _chunk_activations(lm, list(texts[chunk_start:chunk_end]), layer, chat, max_length, budget):
            take = min(part.shape[0], max_tokens - filled - pending_rows)
            pending.append(part[:take])
            pending_rows += take
            if progress is not None:
                progress(filled + pending_rows, max_tokens)
            if filled + pending_rows >= max_tokens:
                break
        full = filled + pending_rows >= max_tokens
        if pending_rows >= shard_rows or full or chunk_end == len(texts):
            store.append(torch.cat(pending) if pending else torch.empty(0, lm.hidden_size), chunk_end)
            filled, pending, pending_rows = filled + pending_rows, [], 0
            if full:
                break
            if stop is not None and stop() and chunk_end < len(texts):
                log.info("harvest paused after %d tokens (%d texts)", filled, chunk_end)
                return store
    store.finish()
    log.info("harvested %d content tokens into %d shards (wanted %d)", store.rows, len(store.shards), max_tokens)
    return store
