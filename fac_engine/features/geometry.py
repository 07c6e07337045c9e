"""Where a feature points: its nearest features by decoder cosine, and the tokens its decoder direction
promotes or suppresses through the unembedding (the "logit lens" view of a latent used by sae_vis and
Neuronpedia). Everything is one mat-vec per query: no d_sae x d_sae matrix is ever built."""

from typing import NamedTuple

import numpy as np
import torch

from fac_engine.errors import FacError
from fac_engine.models.unembedding import Unembedding, model_unembedding

__all__ = ["LogitEffects", "NearFeatures", "Unembedding", "decoder_norms", "logit_effects", "model_unembedding",
           "nearest_features"]

NORM_EPS = 1e-12
"""Decoder rows with a smaller norm (dead latents) get cosine 0 with everything."""


class NearFeatures(NamedTuple):
    """The features whose decoder directions are closest to one feature's."""

    features: np.ndarray
    """int64[k] feature ids, most similar first (ties: lower id first); the feature itself is left out."""
    cosine: np.ndarray
    """float32[k] cosine similarity of each decoder row with the query's."""


class LogitEffects(NamedTuple):
    """Tokens a decoder direction pushes up and down when read straight through the unembedding."""

    promoted: np.ndarray
    """int64[k] token ids with the largest logit change, largest first."""
    promoted_scores: np.ndarray
    """float32[k] their logit changes (W_U @ direction)."""
    suppressed: np.ndarray
    """int64[k] token ids with the most negative change, most negative first."""
    suppressed_scores: np.ndarray
    """float32[k] their logit changes."""


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores, largest first, ties by lower index (deterministic, O(n + k log k))."""
    k = min(k, scores.size)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, k - 1)[:k]
    threshold = scores[part].min()
    candidates = np.flatnonzero(scores >= threshold)  # every tie at the cut, so the lowest ids win
    order = np.lexsort((candidates, -scores[candidates]))
    return candidates[order][:k].astype(np.int64)


def decoder_norms(W_dec_FD: torch.Tensor) -> torch.Tensor:
    """[d_sae] L2 norm of every decoder row, float32 (compute once per SAE and pass to nearest_features)."""
    return W_dec_FD.detach().float().norm(dim=1)


def nearest_features(
    W_dec_FD: torch.Tensor, feature: int, k: int = 10, norms_F: torch.Tensor | None = None
) -> NearFeatures:
    """The k features with the highest decoder cosine to `feature` (one mat-vec over W_dec)."""
    d_sae = W_dec_FD.shape[0]
    if not 0 <= feature < d_sae:
        raise FacError(f"Feature {feature} does not exist; this SAE has features 0..{d_sae - 1}.")
    W = W_dec_FD.detach().float()
    norms = decoder_norms(W) if norms_F is None else norms_F.detach().float()
    query = W[feature]
    dots_F = W @ query
    denom = norms * norms[feature]
    cos_F = torch.where(denom > NORM_EPS, dots_F / denom.clamp_min(NORM_EPS), torch.zeros_like(dots_F))
    cos = cos_F.cpu().numpy()
    cos[feature] = -np.inf
    ids = _top(cos, min(k, d_sae - 1))
    return NearFeatures(ids, cos[ids].astype(np.float32))


def logit_effects(
    direction_D: torch.Tensor, W_U_VD: torch.Tensor, norm_weight_D: torch.Tensor | None = None, k: int = 10
) -> LogitEffects:
    """Promoted and suppressed tokens of a direction: scores = W_U @ (direction * norm weight).

    The final norm rescales the whole residual by one scalar and then each coordinate by its
    weight; the scalar does not change the ranking, the weight can, so it is applied when given.
    """
    if W_U_VD.dim() != 2 or direction_D.shape != (W_U_VD.shape[1],):
        raise FacError(f"The direction has shape {list(direction_D.shape)} but the unembedding is "
                       f"{list(W_U_VD.shape)}; the SAE does not fit this model.")
    vector = direction_D.detach().float().to(W_U_VD.device)
    if norm_weight_D is not None:
        vector = vector * norm_weight_D.detach().float().to(W_U_VD.device)
    scores = (W_U_VD.detach().float() @ vector).cpu().numpy()
    up, down = _top(scores, k), _top(-scores, k)
    return LogitEffects(up, scores[up].astype(np.float32), down, scores[down].astype(np.float32))
