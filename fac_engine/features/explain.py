"""Offline feature explanations, no LLM: the tokens most characteristic of where a feature fires.

For each feature, its top activating samples (features/examples.parquet) are read token by token;
every content token on which the feature is active adds its activation to that token's weight,
and weights are multiplied by the token's inverse document frequency in the dataset, so that
common tokens ("the", ",") only win when the feature really is about them. The explanation lists
the strongest tokens, e.g. `"blow", "blown", "blast"`. All shards are read once, vectorised.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fac_engine.workspace.datasets import EncodedDataset, content_flags, shard_path


@dataclass(frozen=True)
class ExplainConfig:
    """How offline explanations are made."""

    top_samples: int = 10
    """Top activating samples of each feature that are read (the paper uses the top 10 spans)."""
    tokens: int = 4
    """Tokens listed per explanation."""

    def __post_init__(self) -> None:
        if self.top_samples < 1 or self.tokens < 1:
            raise ValueError("top_samples and tokens must be at least 1.")


def _display(token: str) -> str:
    """A token as it reads in an explanation (whitespace trimmed, quotes escaped, blanks shown)."""
    text = token.strip()
    return '"' + (text.replace('"', '\\"') if text else "␣") + '"'


def token_weights(data: EncodedDataset, cfg: ExplainConfig, vocab_size: int,
                  progress: Callable[[int, int], None] | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(feature, token id, summed activation, document frequency of every token id) over the top samples."""
    d_sae = data.manifest.d_sae
    examples = data.feature_table("examples").to_pandas()
    top = examples[(examples["kind"] == "top") & (examples["rank"] < cfg.top_samples)]
    wanted = np.unique(top["sample"].to_numpy(np.int64) * d_sae + top["feature"].to_numpy(np.int64))
    doc_freq = np.zeros(vocab_size, np.int64)
    keys, weights = [], []
    n_shards = data.manifest.n_shards
    for shard in range(n_shards):
        meta = pq.read_table(shard_path(data.folder, "samples", shard), columns=["sample", "n_tokens", "content_start"])
        tokens = pq.read_table(shard_path(data.folder, "tokens", shard))
        n_tokens = meta.column("n_tokens").to_numpy().astype(np.int64)
        sample_T = np.repeat(meta.column("sample").to_numpy().astype(np.int64), n_tokens)
        content_T = content_flags(tokens, n_tokens, meta.column("content_start").to_numpy())
        token_T = tokens.column("token_id").to_numpy().astype(np.int64)
        # Document frequency: samples containing each token (content tokens only).
        pairs = np.unique(sample_T[content_T] * vocab_size + token_T[content_T])
        doc_freq += np.bincount(pairs % vocab_size, minlength=vocab_size)
        feats, vals = tokens.column("features").combine_chunks(), tokens.column("values").combine_chunks()
        parent = pc.list_parent_indices(feats).to_numpy()
        flat_f = pc.list_flatten(feats).to_numpy().astype(np.int64)
        flat_v = pc.list_flatten(vals).to_numpy().astype(np.float64)
        hit = content_T[parent] & np.isin(sample_T[parent] * d_sae + flat_f, wanted)
        keys.append(flat_f[hit] * vocab_size + token_T[parent[hit]])
        weights.append(flat_v[hit])
        if progress is not None:
            progress(shard + 1, n_shards)
    key = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    uniq, inverse = np.unique(key, return_inverse=True)
    summed = np.bincount(inverse, weights=np.concatenate(weights) if weights else None, minlength=uniq.size)
    return uniq // vocab_size, uniq % vocab_size, summed, doc_freq


def offline_explanations(data: EncodedDataset, cfg: ExplainConfig | None = None,
                         progress: Callable[[int, int], None] | None = None) -> dict[int, str]:
    """An explanation for every feature active in `data`: its most characteristic tokens."""
    cfg = cfg or ExplainConfig()
    vocab = data.vocab()
    feature, token, weight, doc_freq = token_weights(data, cfg, len(vocab), progress)
    n_docs = max(data.manifest.n_samples, 1)
    idf = np.log((n_docs + 1) / (doc_freq[token] + 1)) + 1.0
    score = weight * idf
    order = np.lexsort((-score, feature))
    feature, token = feature[order], token[order]
    first = np.ones(feature.size, bool)
    first[1:] = feature[1:] != feature[:-1]
    rank = np.arange(feature.size) - np.maximum.accumulate(np.where(first, np.arange(feature.size), 0))
    keep = rank < cfg.tokens
    out: dict[int, list[str]] = {}
    for f, t in zip(feature[keep].tolist(), token[keep].tolist(), strict=True):
        out.setdefault(int(f), []).append(_display(vocab[t]))
    return {f: "fires on " + ", ".join(words) for f, words in out.items()}

