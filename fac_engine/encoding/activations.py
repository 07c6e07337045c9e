"""One feature's activation on each token: the one computation the synthesis scorer, the explorer's token
highlighting and the text probe share (numpy only, so table verbs never import torch for it)."""

import numpy as np


def feature_activations(values: np.ndarray, indices: np.ndarray, feature: int, counts: np.ndarray | None = None
                        ) -> np.ndarray:
    """[T] one feature's activation on each token (0 where it is not in the token's code).

    The codes are either padded per token (`values_TW`, `indices_TW`, zeros in unused slots) or, with `counts`,
    flat (token t owns the next `counts[t]` entries: how encoding stores them and how the token shards hold them).
    """
    if counts is None:
        return np.where(indices == feature, values, 0.0).max(axis=1, initial=0.0).astype(np.float32)
    out = np.zeros(len(counts), np.float32)
    hit = np.asarray(indices) == feature
    out[np.repeat(np.arange(len(counts)), counts)[hit]] = np.asarray(values, np.float32)[hit]  # once per token
    return out
