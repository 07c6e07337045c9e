"""Mean-pooled residual-stream hidden states of encoded datasets: the features of the head-only
probe (docs/METHOD.md section 5: frozen LM, linear head).

The token ids are the ones stored when the dataset was encoded (tokens/shard-*.parquet), so the
hidden states see exactly the tokens the SAE codes came from (chat template, t0 and truncation
included) and no tokenizer or template choice is made a second time here. A sample's vector is
the mean of the residual stream at the SAE's layer over its content tokens t >= t0.

The vectors are cached per dataset as safetensors in `<dataset>/hidden/`, keyed by the model
identity, the layer and the dataset's content hash (activation_cache.py); a stale or missing
cache is recomputed.
"""

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow.parquet as pq
import torch

from fac_engine.errors import FacError
from fac_engine.log import get_logger
from fac_engine.models.activation_cache import cached_activations
from fac_engine.models.batching import batches_by_token_budget
from fac_engine.models.harvest import default_token_budget
from fac_engine.models.loader import LoadedModel
from fac_engine.workspace.datasets import EncodedDataset, content_flags, shard_path

log = get_logger(__name__)

HIDDEN_FOLDER = "hidden"
"""Sub-folder of an encoded dataset that holds its hidden-state caches."""
POOLING = "mean-content"
"""How token states become one vector per sample (part of the cache key)."""

Progress = Callable[[int, int], None]
"""Called with (samples done, samples in the dataset)."""


class StoredTokens(NamedTuple):
    """The token ids of every sample of an encoded dataset, as the encoder fed them to the model."""

    ids: list[list[int]]
    """Per sample, its token ids (template included, truncated as encoded)."""
    content_start: np.ndarray
    """int64[N] t0 of each sample."""
    content: list[np.ndarray]
    """Per sample, bool per token: pooled content token (the exact pooling policy of its encode)."""


def hidden_cache_path(data: EncodedDataset, model_identity: str, layer: int) -> Path:
    """Where the mean-pooled states of `data` under this model and layer are cached."""
    digest = hashlib.sha256(f"{model_identity}|{layer}|{POOLING}".encode()).hexdigest()[:12]
    return data.folder / HIDDEN_FOLDER / f"{POOLING}-L{layer}-{digest}.safetensors"


def hidden_cache_key(data: EncodedDataset, model_identity: str, layer: int) -> dict[str, str]:
    """Everything the cached states depend on; any difference makes the cache stale."""
    m = data.manifest
    return {"model": model_identity, "layer": str(layer), "pooling": POOLING, "dataset_hash": m.dataset_hash,
            "n_samples": str(m.n_samples), "t0_policy": m.t0_policy, "max_length": str(m.max_length),
            "content": m.pooling}


def stored_tokens(data: EncodedDataset) -> StoredTokens:
    """Every sample's token ids and t0, read from the token shards (no tokenizer needed)."""
    meta = data.samples(["sample", "n_tokens", "content_start", "token_start"])
    sample, n_tokens, t0, start = (meta.column(c).to_numpy() for c in
                                   ("sample", "n_tokens", "content_start", "token_start"))
    size = data.manifest.shard_samples
    shards, flags = {}, {}
    for s in sorted({int(i) // size for i in sample}):
        table = pq.read_table(shard_path(data.folder, "tokens", s))
        rows = (sample // size) == s
        shards[s] = table.column("token_id").to_numpy()
        flags[s] = content_flags(table, n_tokens[rows], t0[rows])
    ids = [shards[int(s) // size][int(a) : int(a) + int(n)].tolist()
           for s, a, n in zip(sample, start, n_tokens, strict=True)]
    content = [flags[int(s) // size][int(a) : int(a) + int(n)] for s, a, n in zip(sample, start, n_tokens, strict=True)]
    return StoredTokens(ids, t0.astype(np.int64), content)


def mean_hidden_states(lm: LoadedModel, data: EncodedDataset, layer: int, *, token_budget: int | None = None,
                       progress: Progress | None = None) -> np.ndarray:
    """float32[N, D]: the residual stream after `layer`, averaged over each sample's content tokens.

    A sample whose content was cut away entirely (t0 at the context limit) gets the mean over its
    last token only, so every row is defined. Batched by token budget; the forward pass stops at
    `layer` and runs without gradients (LoadedModel.residuals).
    """
    tokens = stored_tokens(data)
    n = len(tokens.ids)
    out_ND = np.zeros((n, lm.hidden_size), dtype=np.float32)
    budget = token_budget or default_token_budget(lm.device)
    done = 0
    for batch in batches_by_token_budget(tokens.ids, budget, lm.pad_id):
        mask_BT = batch.attention_mask.to(lm.device)
        acts_BTD = lm.residuals(batch.input_ids.to(lm.device), mask_BT, layer).float()
        content_BT = torch.zeros(mask_BT.shape, dtype=torch.float32, device=lm.device)
        for b, row in enumerate(batch.rows):
            flags = torch.as_tensor(tokens.content[row], device=lm.device)
            if not bool(flags.any()):  # content cut away entirely: the last token stands in
                flags = torch.zeros_like(flags)
                flags[-1] = True
            content_BT[b, : flags.numel()] = flags.float()
        mean_BD = (acts_BTD * content_BT[:, :, None]).sum(1) / content_BT.sum(1, keepdim=True)
        out_ND[batch.rows] = mean_BD.cpu().numpy()
        done += len(batch.rows)
        if progress is not None:
            progress(done, n)
    return out_ND


def cached_hidden_states(data: EncodedDataset, load_model: Callable[[], LoadedModel], *,
                         token_budget: int | None = None, progress: Progress | None = None) -> np.ndarray:
    """float32[N, D] mean content-token states of `data` at its SAE's layer, from the cache or computed.

    `load_model` is called only on a cache miss; the model must be the one the dataset was
    encoded with (the stored token ids are that model's), otherwise FacError.
    """
    m = data.manifest
    path, key = hidden_cache_path(data, m.model, m.layer), hidden_cache_key(data, m.model, m.layer)

    def compute() -> torch.Tensor:
        lm = load_model()
        if lm.identity != m.model:
            raise FacError(f"{data.name!r} was encoded with {m.model}, but the loaded model is {lm.identity}; "
                           "hidden states need the encoding model (pass the same --model).")
        log.info("computing mean hidden states of %s at layer %d", data.name, m.layer)
        return torch.from_numpy(mean_hidden_states(lm, data, m.layer, token_budget=token_budget, progress=progress))

    states = cached_activations(path, key, compute)
    if progress is not None:
        progress(m.n_samples, m.n_samples)
    return states.float().numpy()
