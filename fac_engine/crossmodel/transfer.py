"""Carry a feature list (e.g. A's missing features) into space B through a feature map (docs/METHOD.md 6.2).

Each listed feature of A is mapped (its confident counterpart in B is its own), ambiguous (the counterpart is
also the confident counterpart of other features of A: many-to-one, so covering it in B does not say which of
them is covered) or unmapped (no confident counterpart: inactive on the bridge, no feature of B correlates
with it, its best candidate is below the confidence, or not mutual / not in the 1:1 assignment when only those
pairs count): possibly a feature only A has.
"""

from collections import Counter
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from fac_engine.crossmodel.results import CONFIDENT, FeatureMap, MatchPairs
from fac_engine.errors import FacError
from fac_engine.workspace.project import Project

PairKind = Literal["best", "mutual", "assigned"]
PAIR_KINDS: tuple[PairKind, ...] = ("best", "mutual", "assigned")
"""Which pairs may carry a feature: each A feature's best candidate, only mutual nearest neighbours, or only
the 1:1 assignment (needs a map made with one_to_one)."""
UnmappedReason = Literal["inactive on the bridge", "no correlated feature in B", "below the confidence",
                         "not mutual", "not assigned"]


class MappedFeature(NamedTuple):
    """A feature of A and its confident counterpart in B."""

    feature_a: int
    """Feature of A."""
    feature_b: int
    """Its counterpart in B."""
    confidence: float
    """The pair's confidence."""
    pearson: float
    """The pair's Pearson r over the bridge."""
    mutual: bool
    """Whether they are mutual nearest neighbours."""


class UnmappedFeature(NamedTuple):
    """A feature of A without a confident counterpart in B."""

    feature_a: int
    """Feature of A."""
    reason: UnmappedReason
    """Why."""
    best_b: int | None
    """Its best candidate in B, when it has one."""
    confidence: float
    """That candidate's confidence (0 without one)."""


@dataclass(frozen=True)
class TransferResult:
    """A list of A features carried into B."""

    map_name: str
    """The feature map used."""
    min_confidence: float
    """Confidence from which a pair counts."""
    pairs: PairKind
    """Which pairs counted."""
    mapped: tuple[MappedFeature, ...]
    """Features with a counterpart of their own, by A id."""
    ambiguous: tuple[MappedFeature, ...]
    """Features whose counterpart other A features share (many-to-one), by A id."""
    unmapped: tuple[UnmappedFeature, ...]
    """Features without a confident counterpart (possibly only in A), by A id."""

    def targets(self, with_ambiguous: bool = False) -> list[int]:
        """The B features the list becomes, sorted and unique (ambiguous counterparts only when asked)."""
        chosen = [*self.mapped, *(self.ambiguous if with_ambiguous else ())]
        return sorted({m.feature_b for m in chosen})


def confident_pairs(fmap: FeatureMap, min_confidence: float = CONFIDENT, pairs: PairKind = "best") -> MatchPairs:
    """The pairs that make an A feature's counterpart, at most one per A feature: its best candidate (or its pair
    in the 1:1 assignment) at `min_confidence` or more, mutual ones only when asked."""
    if pairs not in PAIR_KINDS:
        raise FacError(f"Unknown pair kind {pairs!r}; use {', '.join(PAIR_KINDS)}.")
    if not 0.0 <= min_confidence <= 1.0:
        raise FacError(f"The confidence must lie in [0, 1], not {min_confidence}.")
    p = fmap.pairs
    if pairs == "assigned" and not fmap.config.one_to_one:
        raise FacError(f"Feature map {fmap.name!r} was made without a 1:1 assignment; rerun `fac match` with "
                       "--one-to-one or use --pairs best or mutual.")
    # Below rank 1 a pair's confidence is 0 (it is not distinct), so at any confidence > 0 the assigned pairs
    # are the best pairs that the assignment did not drop (the weaker side of a many-to-one).
    chosen = (p.assigned if pairs == "assigned" else p.rank == 1) & (p.confidence >= min_confidence)
    if pairs == "mutual":
        chosen &= p.mutual
    return p.take(chosen)


def transfer_features(fmap: FeatureMap, features: list[int], min_confidence: float = CONFIDENT,
                      pairs: PairKind = "best") -> TransferResult:
    """Sort the A features `features` into mapped, ambiguous and unmapped through the map."""
    bad = [f for f in features if not 0 <= f < fmap.space_a.d_sae]
    if bad:
        raise FacError(f"Feature {bad[0]} is not a feature of space A (0..{fmap.space_a.d_sae - 1}).")
    confident = confident_pairs(fmap, min_confidence, pairs)
    shared = Counter(int(b) for b in confident.feature_b)
    counterpart = {int(a): i for i, a in enumerate(confident.feature_a)}
    best = fmap.pairs.best()
    best_of = {int(a): i for i, a in enumerate(best.feature_a)}
    mapped: list[MappedFeature] = []
    ambiguous: list[MappedFeature] = []
    unmapped: list[UnmappedFeature] = []
    for f in sorted(set(features)):
        if f in counterpart:
            i = counterpart[f]
            m = MappedFeature(f, int(confident.feature_b[i]), float(confident.confidence[i]),
                              float(confident.pearson[i]), bool(confident.mutual[i]))
            (ambiguous if shared[m.feature_b] > 1 else mapped).append(m)
        elif f in best_of:
            i = best_of[f]
            why: UnmappedReason = "below the confidence" if best.confidence[i] < min_confidence else \
                "not mutual" if pairs == "mutual" else "not assigned"
            unmapped.append(UnmappedFeature(f, why, int(best.feature_b[i]), float(best.confidence[i])))
        else:
            why = "inactive on the bridge" if fmap.count_a[f] == 0 else "no correlated feature in B"
            unmapped.append(UnmappedFeature(f, why, None, 0.0))
    return TransferResult(fmap.name, float(min_confidence), pairs, tuple(mapped), tuple(ambiguous), tuple(unmapped))


def check_project_space(project: Project, fmap: FeatureMap, side: Literal["a", "b"], anchor_sae: str | None) -> None:
    """Refuse a project whose anchor was encoded with another SAE than the map's side (`anchor_sae`: the SAE
    identity of the project's anchor dataset; None when it has none, which cannot be checked)."""
    space = fmap.space_a if side == "a" else fmap.space_b
    if anchor_sae is not None and anchor_sae != space.sae:
        raise FacError(f"Project {project.name!r} works in another feature space (its anchor was encoded with SAE "
                       f"{anchor_sae}, space {side.upper()} of map {fmap.name!r} is SAE {space.sae}); pick the project "
                       f"of {space.model}.")


def write_transfer(project: Project, list_name: str, result: TransferResult, with_ambiguous: bool = False) -> list[int]:
    """Replace the feature list `list_name` of B's project with the transferred targets; returns them."""
    targets = result.targets(with_ambiguous)
    project.delete_list(list_name)
    project.add_to_list(list_name, np.asarray(targets, np.int64).tolist())
    return targets
