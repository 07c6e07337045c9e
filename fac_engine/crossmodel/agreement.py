"""Do two feature spaces tell the same coverage story? (docs/METHOD.md section 6.3)

FAC of the same datasets measured in both spaces side by side with the Spearman r across datasets; Cohen's
kappa of covered / missing on the confidently mapped pairs; the share of features with a confident
counterpart; and linear CKA of the paired decoder directions against pairings shuffled at random.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from scipy import stats

from fac_engine.coverage.fac import CoverageConfig, FeatureSupport, compute_coverage, feature_support
from fac_engine.crossmodel.agreement_results import (
    AgreementConfig,
    AgreementResult,
    CkaResult,
    CoverTable,
    SeedAgreement,
)
from fac_engine.crossmodel.bridge import BridgePair, FeatureSpace, resolve_pair
from fac_engine.crossmodel.results import FeatureMap, MatchPairs
from fac_engine.crossmodel.transfer import confident_pairs
from fac_engine.errors import FacError
from fac_engine.workspace.datasets import Workspace

DecoderLoader = Callable[[FeatureSpace], np.ndarray]
"""Returns float32[d_sae, d_in] decoder rows of a space's SAE."""
NORM_EPS = 1e-12


def dataset_pairs(workspace: Workspace, fmap: FeatureMap, entries: list[tuple[str, str | None]]) -> list[BridgePair]:
    """Check that each (A name, B name or None) holds the same samples in the map's two spaces, finding missing B
    names; every dataset of a side must be comparable with the side's first (same pooling, template, length)."""
    if not entries:
        raise FacError("Give at least one dataset pair.")
    out: list[BridgePair] = []
    for a, b in entries:
        refs = (workspace.open(out[0].a).manifest, workspace.open(out[0].b).manifest) if out else (None, None)
        out.append(resolve_pair(workspace, a, b, fmap.space_a, fmap.space_b, *refs))
    return out


def cover_table(anchor_a: FeatureSupport, anchor_b: FeatureSupport, seed_a: FeatureSupport, seed_b: FeatureSupport,
                pairs: MatchPairs) -> CoverTable:
    """Covered / missing of each pair whose two features are both anchor features, in A and in B."""
    a, b = pairs.feature_a.astype(np.int64), pairs.feature_b.astype(np.int64)
    on_anchor = anchor_a.active[a] & anchor_b.active[b]
    ca, cb = seed_a.active[a][on_anchor], seed_b.active[b][on_anchor]
    return CoverTable(int((ca & cb).sum()), int((ca & ~cb).sum()), int((~ca & cb).sum()), int((~ca & ~cb).sum()))


def one_per_b(pairs: MatchPairs) -> MatchPairs:
    """Keep, for each B feature, only its pair with the highest r (ties: the lower A id): a 1:1 set of pairs."""
    order = np.lexsort((pairs.feature_a, -pairs.pearson, pairs.feature_b))
    b = pairs.feature_b[order]
    first = np.r_[True, b[1:] != b[:-1]] if b.size else np.zeros(0, bool)
    keep = np.zeros(len(pairs), bool)
    keep[order[first]] = True
    return pairs.take(keep)


def _unit_centred(rows: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(rows, axis=1, keepdims=True)
    unit = np.divide(rows, norm, out=np.zeros_like(rows), where=norm > NORM_EPS)
    return unit - unit.mean(axis=0, keepdims=True)


def cka_with_null(x_ND: np.ndarray, y_NE: np.ndarray, shuffles: int, seed: int) -> CkaResult:
    """Linear CKA (Kornblith et al. 2019) of paired rows of any widths, ||Y'X||^2 / (||X'X|| ||Y'Y||) after scaling
    each row to unit norm (a decoder row's direction is the feature; its norm is a training convention) and
    centring; and of `shuffles` random pairings (rows of y permuted): p = (1 + #null >= cka) / (1 + shuffles)."""
    x, y = _unit_centred(x_ND.astype(np.float64)), _unit_centred(y_NE.astype(np.float64))
    den = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)  # unchanged by a permutation of the pairs
    if den <= 0:
        raise FacError("The paired decoder rows are all alike (or zero): CKA is undefined.")
    rng = np.random.default_rng(seed)
    observed = float(np.linalg.norm(y.T @ x) ** 2 / den)
    null = [float(np.linalg.norm(y[rng.permutation(y.shape[0])].T @ x) ** 2 / den) for _ in range(shuffles)]
    values = np.asarray(null)
    return CkaResult(int(x.shape[0]), observed, float(values.mean()) if null else None,
                     float(np.quantile(values, 0.95)) if null else None,
                     (1 + int((values >= observed - 1e-12).sum())) / (1 + shuffles), tuple(null))


def measure_agreement(workspace: Workspace, fmap: FeatureMap, anchor: BridgePair, seeds: list[BridgePair],
                      cfg: AgreementConfig, decoders: DecoderLoader | None) -> AgreementResult:
    """Every agreement figure of the map on the anchor and seed datasets (pairs checked by `dataset_pairs`, the
    anchor first); CKA only when `decoders` is given and at least 3 one-to-one confident pairs exist."""
    if not seeds:
        raise FacError("Give at least one seed dataset pair to compare FAC across the spaces.")
    sides = {pair: (feature_support(workspace.open(pair.a).pooled_arrays(), cfg.threshold),
                    feature_support(workspace.open(pair.b).pooled_arrays(), cfg.threshold))
             for pair in [anchor, *seeds]}
    anchor_a, anchor_b = sides[anchor]
    pairs = confident_pairs(fmap, cfg.min_confidence, cfg.pairs)
    coverage = CoverageConfig(threshold=cfg.threshold)
    rows, pooled = [], CoverTable(0, 0, 0, 0)
    for seed in seeds:
        seed_a, seed_b = sides[seed]
        table = cover_table(anchor_a, anchor_b, seed_a, seed_b, pairs)
        pooled = CoverTable(*(x + y for x, y in zip(pooled, table, strict=True)))
        rows.append(SeedAgreement(seed.a, seed.b, compute_coverage(seed_a, anchor_a, coverage).fac,
                                  compute_coverage(seed_b, anchor_b, coverage).fac, table))
    fac_a, fac_b = [r.fac_a for r in rows], [r.fac_b for r in rows]
    spearman = None
    if len(rows) >= 3 and np.ptp(fac_a) > 0 and np.ptp(fac_b) > 0:
        spearman = float(stats.spearmanr(fac_a, fac_b).statistic)
    cka = None
    one_to_one = one_per_b(pairs)
    if decoders is not None and len(one_to_one) >= 3:
        cka = cka_with_null(decoders(fmap.space_a)[one_to_one.feature_a], decoders(fmap.space_b)[one_to_one.feature_b],
                            cfg.shuffles, cfg.seed)
    return AgreementResult(
        map_name=fmap.name, anchor=anchor, config=cfg, seeds=tuple(rows), spearman=spearman, pooled=pooled,
        active_a=int((fmap.count_a > 0).sum()), active_b=int((fmap.count_b > 0).sum()),
        confident_a=len(pairs), confident_b=len(set(pairs.feature_b.tolist())), cka=cka,
        created=datetime.now(UTC).isoformat(timespec="seconds"))


@dataclass(frozen=True)
class SaeDecoders:
    """Loads a space's decoder rows from its SAE (the path recorded when encoding, or an override)."""

    overrides: dict[str, str]
    """SAE identity -> path to load it from instead of the recorded one."""

    def __call__(self, space: FeatureSpace) -> np.ndarray:
        from fac_engine.sae.identity import sae_identity
        from fac_engine.sae.load import load_sae

        path = self.overrides.get(space.sae, space.sae_path)
        sae = load_sae(path, hook_layer=space.layer)
        if sae_identity(sae) != space.sae:
            raise FacError(f"The SAE at {path} is not the one {space.model} was encoded with (SAE {space.sae}); "
                           "give the right one with --sae-a / --sae-b.")
        return np.asarray(sae.W_dec.detach().float().numpy())
