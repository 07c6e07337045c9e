"""Feature matching between two SAEs over a bridge corpus (docs/METHOD.md section 6).

Tokenisers differ, so features are compared on what both spaces share, the samples: feature a of space A and
b of space B are alike when g_a(x) and g_b(x) rise and fall together over the bridge samples. Pearson r comes
from sparse sums: with S the sums, Q the sums of squares and C = X_A^T X_B the co-sums over N samples,
r_ab = (C_ab - S_a S_b / N) / sqrt((Q_a - S_a^2 / N)(Q_b - S_b^2 / N)). Since g >= 0, a pair that never fires
together has r <= 0, so only the non-zeros of C can be candidates; C is built a block of A features at a time
and never as a dense d_A x d_B matrix.
"""

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

from fac_engine.crossmodel.bridge import Bridge, BridgeCodes, bridge_codes
from fac_engine.crossmodel.results import CONFIDENT, FeatureMap, MatchConfig, MatchPairs
from fac_engine.log import get_logger
from fac_engine.workspace.datasets import Workspace

log = get_logger(__name__)

Progress = Callable[[int, int], None]
"""progress(steps done, steps in all): one step per block of A features, then one per shuffle."""
BLOCK_ENTRIES = 1 << 22
"""Entries of one dense block of correlations (d_B per A feature): 32 MB of float64."""
R_EPS = 1e-9
"""Correlations at or below this are no evidence of likeness (rounding around 0 included)."""
FLAT_VAR = 1e-9
"""A feature whose centred sum of squares is below this share of its raw one is constant on the bridge."""
ASSIGN_CHUNK = 1 << 16
"""Pairs whose co-firing counts are computed at once."""
UNMATCHED_WEIGHT = 1e-6
"""What leaving a feature out of the 1:1 assignment is worth (below any real pair's r)."""


class Moments(NamedTuple):
    """Per-feature sums over the bridge samples."""

    total: np.ndarray
    """float64[F] sum of g."""
    var: np.ndarray
    """float64[F] centred sum of squares, sum (g - mean)^2 (0 for a feature constant on the bridge)."""
    firing: np.ndarray
    """int64[F] samples on which the feature fires."""


class MatchOutcome(NamedTuple):
    """What matching the codes gives, before names and metadata are attached."""

    pairs: MatchPairs
    """The candidates."""
    count_a: np.ndarray
    """int64[d_A] bridge samples firing each A feature."""
    count_b: np.ndarray
    """int64[d_B] bridge samples firing each B feature."""


def moments(x_NF: sparse.csr_matrix) -> Moments:
    """Sums, centred sums of squares and firing counts of every column."""
    n = max(x_NF.shape[0], 1)
    total = np.asarray(x_NF.sum(axis=0), dtype=np.float64).ravel()
    squares = np.asarray(x_NF.multiply(x_NF).sum(axis=0), dtype=np.float64).ravel()
    var = squares - total**2 / n
    var[var <= FLAT_VAR * squares] = 0.0
    count = np.bincount(x_NF.indices, minlength=x_NF.shape[1]).astype(np.int64)
    return Moments(total, var, count)


def correlation_block(at_FN: sparse.csr_matrix, b_NF: sparse.csr_matrix, ma: Moments, mb: Moments,
                      rows: np.ndarray) -> np.ndarray:
    """float64[R, d_B] Pearson r of the A features `rows` with every B feature: the co-sums of the block come
    from one sparse product (`at_FN` holds the A codes transposed), the rest from the moments."""
    co = (at_FN[rows] @ b_NF).toarray()
    n = max(b_NF.shape[0], 1)
    cov = co - np.outer(ma.total[rows], mb.total) / n
    den = np.sqrt(np.outer(ma.var[rows], mb.var))
    return np.minimum(np.divide(cov, den, out=np.zeros_like(cov), where=den > 0), 1.0)


def _blocks(ids: np.ndarray, d_b: int) -> list[np.ndarray]:
    size = max(1, BLOCK_ENTRIES // max(d_b, 1))
    return [ids[s:s + size] for s in range(0, ids.size, size)]


def top_candidates(r_RB: np.ndarray, rows: np.ndarray, keep: int) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                             np.ndarray]:
    """(a, b, r, rank from 0) of each row's `keep` best positive correlations, best first, ties to the lower B id."""
    k = min(keep, r_RB.shape[1])
    if k == 0 or r_RB.shape[0] == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0), empty
    kth = -np.partition(-r_RB, k - 1, axis=1)[:, k - 1]
    i, b = np.nonzero((r_RB >= kth[:, None]) & (r_RB > R_EPS))  # ties at the cut too, so the lowest ids win
    r = r_RB[i, b]
    order = np.lexsort((b, -r, i))
    i, b, r = i[order], b[order], r[order]
    rank = np.arange(i.size) - np.searchsorted(i, i)
    kept = rank < keep
    return rows[i[kept]].astype(np.int64), b[kept].astype(np.int64), r[kept], rank[kept]


def null_rows(count: np.ndarray, per_level: int, rng: np.random.Generator) -> np.ndarray:
    """A features whose shuffled correlations make the null: up to `per_level` per support level, ascending."""
    active = np.flatnonzero(count > 0)
    levels = _levels(count[active])
    chosen = [ids if ids.size <= per_level else rng.choice(ids, per_level, replace=False)
              for ids in (active[levels == v] for v in np.unique(levels))]
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)


def _levels(count: np.ndarray) -> np.ndarray:
    """Support level of each firing count: floor(log2(count))."""
    return np.floor(np.log2(np.maximum(count, 1))).astype(np.int64)


def null_levels(maxima_KR: np.ndarray, rows: np.ndarray, count: np.ndarray, quantile: float) -> np.ndarray:
    """float64[d_A] each A feature's null: the `quantile` of the best r that the sampled features `rows` of its
    support level reach against shuffled samples, pooled over the K shuffles (the chance best depends mainly
    on how often a feature fires). 0 without shuffles."""
    null = np.zeros(count.shape[0])
    if maxima_KR.shape[0] == 0 or rows.size == 0:
        return null
    sampled, level = _levels(count[rows]), _levels(count)
    for v in np.unique(sampled):
        null[(count > 0) & (level == v)] = np.quantile(maxima_KR[:, sampled == v], quantile)
    return null


def pair_confidence(r: np.ndarray, margin: np.ndarray, support: np.ndarray, null: np.ndarray,
                    cfg: MatchConfig) -> np.ndarray:
    """confidence = above-null share x distinctness x support, each in [0, 1]:
    (r - null) / (1 - null), margin / margin_scale and support / min_support, clipped."""
    above = np.clip(np.divide(r - null, 1.0 - null, out=np.zeros_like(r), where=null < 1.0), 0.0, 1.0)
    distinct = np.clip(margin / cfg.margin_scale, 0.0, 1.0)
    backed = np.minimum(1.0, support / cfg.min_support)
    return np.asarray(above * distinct * backed, dtype=np.float64)


def _co_firing(at_FN: sparse.csr_matrix, bt_FN: sparse.csr_matrix, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """int64[P] samples on which both features of each pair fire."""
    out = np.zeros(a.size, np.int64)
    fire_a, fire_b = at_FN.astype(bool).astype(np.int64), bt_FN.astype(bool).astype(np.int64)
    for s in range(0, a.size, ASSIGN_CHUNK):
        both = fire_a[a[s:s + ASSIGN_CHUNK]].multiply(fire_b[b[s:s + ASSIGN_CHUNK]])
        out[s:s + ASSIGN_CHUNK] = np.asarray(both.sum(axis=1)).ravel()
    return out


def assign_one_to_one(a: np.ndarray, b: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """bool[P]: the pairs of a 1:1 assignment maximising the total weight (> 0); any feature may stay unpaired
    (a dummy partner per A feature makes a full matching always exist)."""
    if a.size == 0:
        return np.zeros(0, bool)
    rows, ri = np.unique(a, return_inverse=True)
    cols, ci = np.unique(b, return_inverse=True)
    nr, nc = rows.size, cols.size
    graph = sparse.csr_matrix((np.r_[weight, np.full(nr, UNMATCHED_WEIGHT)],
                               (np.r_[ri, np.arange(nr)], np.r_[ci, nc + np.arange(nr)])), shape=(nr, nc + nr))
    row_ind, col_ind = min_weight_full_bipartite_matching(graph, maximize=True)
    partner = np.full(nr, -1, np.int64)
    partner[row_ind] = col_ind
    return np.asarray(partner[ri] == ci)


def match_codes(codes: BridgeCodes, cfg: MatchConfig, progress: Progress | None = None) -> MatchOutcome:
    """Match every feature of A with its best candidates in B (see the module docstring and docs/METHOD.md)."""
    a_NF, b_NF = codes.a.tocsr(), codes.b.tocsr()
    if a_NF.shape[0] != b_NF.shape[0]:
        raise ValueError(f"The bridge has {a_NF.shape[0]} samples in A but {b_NF.shape[0]} in B.")
    n, d_a, d_b = a_NF.shape[0], a_NF.shape[1], b_NF.shape[1]
    if cfg.shuffled_control:
        b_NF = b_NF[np.random.default_rng([cfg.seed, 1]).permutation(n)]
    at_FN, bt_FN = a_NF.T.tocsr(), b_NF.T.tocsr()
    ma, mb = moments(a_NF), moments(b_NF)
    blocks = _blocks(np.arange(d_a), d_b)
    total, done = len(blocks) + cfg.shuffles, 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    keep = max(cfg.top, 2)  # the runner-up is needed for the margin even when only one candidate is kept
    found: list[tuple[np.ndarray, ...]] = []
    best_r_b, best_a_b = np.zeros(d_b), np.full(d_b, -1, np.int64)
    for rows in blocks:
        r_RB = correlation_block(at_FN, b_NF, ma, mb, rows)
        found.append(top_candidates(r_RB, rows, keep))
        if r_RB.shape[0]:
            top_i = np.argmax(r_RB, axis=0)  # each B feature's best A in this block (the first: lowest id on ties)
            top_r = r_RB[top_i, np.arange(d_b)]
            better = top_r > np.maximum(best_r_b, R_EPS)  # strict: an earlier block's (lower) A id keeps a tie
            best_r_b[better], best_a_b[better] = top_r[better], rows[top_i[better]]
        tick()

    rng = np.random.default_rng(cfg.seed)
    sampled = null_rows(ma.firing, cfg.null_features, rng) if cfg.shuffles else np.zeros(0, np.int64)
    maxima = np.zeros((cfg.shuffles, sampled.size))
    for k in range(cfg.shuffles):
        shuffled = b_NF[rng.permutation(n)]
        at = 0
        for rows in _blocks(sampled, d_b):
            maxima[k, at:at + rows.size] = np.maximum(correlation_block(at_FN, shuffled, ma, mb, rows).max(
                axis=1, initial=0.0), 0.0)
            at += rows.size
        tick()
    null = null_levels(maxima, sampled, ma.firing, cfg.null_quantile)

    a, b, r, rank = (np.concatenate([f[i] for f in found]) if found else np.zeros(0) for i in range(4))
    a, b, rank = a.astype(np.int64), b.astype(np.int64), rank.astype(np.int64)
    r1, r2 = np.zeros(d_a), np.zeros(d_a)
    r1[a[rank == 0]], r2[a[rank == 1]] = r[rank == 0], r[rank == 1]
    margin = np.where(rank == 0, r - r2[a], r - r1[a])
    kept = rank < cfg.top
    a, b, r, rank, margin = a[kept], b[kept], r[kept], rank[kept], margin[kept]
    support = _co_firing(at_FN, bt_FN, a, b)
    union = ma.firing[a] + mb.firing[b] - support
    confidence = pair_confidence(r, margin, support, null[a], cfg)
    mutual = (rank == 0) & (best_a_b[b] == a)
    assigned = np.zeros(a.size, bool)
    if cfg.one_to_one:
        above = r > null[a]
        assigned[above] = assign_one_to_one(a[above], b[above], r[above])
    pairs = MatchPairs(a.astype(np.int32), b.astype(np.int32), (rank + 1).astype(np.int16), r.astype(np.float32),
                       (support / np.maximum(union, 1)).astype(np.float32), support.astype(np.int32),
                       margin.astype(np.float32), null[a].astype(np.float32), confidence.astype(np.float32), mutual,
                       assigned)
    return MatchOutcome(pairs, ma.firing, mb.firing)


def match_features(workspace: Workspace, bridge: Bridge, cfg: MatchConfig, name: str,
                   progress: Progress | None = None) -> FeatureMap:
    """Read the bridge's codes in both spaces and match them into a named FeatureMap (not yet saved)."""
    started = time.monotonic()
    outcome = match_codes(bridge_codes(workspace, bridge), cfg, progress)
    best = outcome.pairs.best()
    log.info("matched %d features of A over %d bridge samples: %d confident, %d mutual", len(best),
             bridge.n_samples, int((best.confidence >= CONFIDENT).sum()), int(best.mutual.sum()))
    return FeatureMap(name=name, config=cfg, space_a=bridge.space_a, space_b=bridge.space_b, bridge=bridge.pairs,
                      bridge_hash=bridge.hash, n_samples=bridge.n_samples, pairs=outcome.pairs,
                      count_a=outcome.count_a, count_b=outcome.count_b, seconds=time.monotonic() - started,
                      created=datetime.now(UTC).isoformat(timespec="seconds"))
