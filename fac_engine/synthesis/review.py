"""Review actions that need the model (edit = re-encode and re-score, regenerate) and the live FAC of
seed + accepted samples. Plain decisions (accept, reject) are SynthesisStore calls; bulk accept is here.
The model-side types are imported only where used, so deciding and exporting never load torch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from fac_engine.coverage.fac import (
    CoverageConfig,
    CoverageResult,
    FeatureSupport,
    PooledArrays,
    compute_coverage,
    feature_support,
)
from fac_engine.errors import FacError
from fac_engine.synthesis.candidates import Candidate, ReviewStatus, SampleCodes
from fac_engine.synthesis.curation import SynthesisStore
from fac_engine.synthesis.templates import parse_edit

if TYPE_CHECKING:
    from fac_engine.llm.generators import Generator
    from fac_engine.synthesis.scoring import Scorer
    from fac_engine.synthesis.twostep import SynthesisConfig

DECIDED_KEEP: tuple[ReviewStatus, ...] = ("accepted",)
"""Statuses whose samples count as kept (export, live FAC)."""


def edit_candidate(store: SynthesisStore, scorer: Scorer, cand_id: int, text: str, who: str | None = None) -> float:
    """Replace a candidate's text by the reviewer's edit, re-encoded and re-scored; returns the new g."""
    cand = store.candidate(cand_id)
    sample = parse_edit(cand.task, text)
    if sample is None:
        raise FacError(f"The edited text is not a valid {cand.task} sample (see the format of the original); "
                       "nothing was changed.")
    score = scorer.score([sample], [cand.feature])[0]
    store.save_edit(cand_id, sample.text, sample.fields,
                    None if sample.messages is None else [list(m) for m in sample.messages], score.g, score.span,
                    score.tokens, score.activations, SampleCodes(score.pooled_features, score.pooled_values),
                    who)
    return score.g


def accept_above(store: SynthesisStore, job_id: int | None, g_min: float, who: str | None = None) -> list[int]:
    """Accept every pending proposed candidate with g > g_min (bulk accept); returns their ids."""
    ids = [c.cand_id for c in store.candidates(job_id, status=("pending", "edited")) if c.g > g_min]
    store.decide(ids, "accepted", who, detail=f"bulk: g > {g_min:g}", job_id=job_id)
    return ids


def regenerate(store: SynthesisStore, cand_id: int, generator: Generator, scorer: Scorer, cfg: SynthesisConfig,
               who: str | None = None) -> int | None:
    """Sample again from the candidate's step-2 prompt, made as it was (steered at its strength when it was
    steered, pre-filled as it was where this generator pre-fills); the best new sample above delta, fluent before
    flagged, replaces it (the old one is rejected as `regenerated`). Returns the new candidate id, None when nothing
    new activated the feature (or only candidates the job's fluency guard drops; the old candidate is then left as
    it was)."""
    from fac_engine.llm.protocol import prefill_for
    from fac_engine.synthesis.sampled import sample_step, steering, usable
    from fac_engine.synthesis.twostep import new_candidate, provenance

    cand = store.candidate(cand_id)
    made = cand.provenance
    if made.alpha is not None:
        generator = steering(generator, scorer, cfg.steering)
    prefill = prefill_for(generator, made.prefill)
    step = sample_step(generator, scorer, [cand.prompt], [cand.feature], [[made.alpha] * cfg.m_step2], cand.task,
                       cfg.generation, cfg.fluency, prefill)
    kept = [p for p in step.scored[0] if usable(p, cand.threshold, cfg.fluency)]
    if not kept:
        return None
    best = min(kept, key=lambda p: (p.fluency.flagged, -p.score.g))
    new = replace(new_candidate(cand.feature, 2, cand.task, cand.label, best.sample, best.score, cand.prompt,
                                generator.name, cfg.generation, cand.threshold,
                                provenance(best, made.mode, made.layer, prefill)), rank=0, proposed=True)
    (new_id,) = store.add_candidates(cand.job_id, [new])
    store.decide([cand_id], "rejected", who, detail="regenerated")
    return new_id


class LiveCoverage(NamedTuple):
    """FAC before and after adding the accepted samples."""

    before: CoverageResult
    after: CoverageResult
    accepted: int


def pooled_of_candidates(candidates: Sequence[Candidate], d_sae: int) -> PooledArrays:
    """Candidates' stored pooled codes as PooledArrays (one sample per candidate)."""
    pooled = [c.pooled for c in candidates]
    feature = np.array([f for p in pooled for f in p.features], dtype=np.int32)
    value = np.array([v for p in pooled for v in p.values], dtype=np.float32)
    sample = np.repeat(np.arange(len(pooled), dtype=np.int32), [len(p.features) for p in pooled])
    return PooledArrays(sample, feature, value, len(pooled), d_sae)


def combined_support(seed: PooledArrays, extra: PooledArrays, threshold: float) -> FeatureSupport:
    """Support of seed + extra samples (the extra ones appended after the seed)."""
    if seed.d_sae != extra.d_sae:
        raise FacError(f"The samples were scored with an SAE of {extra.d_sae} features, the seed with {seed.d_sae}.")
    both = PooledArrays(None, np.concatenate([seed.feature, extra.feature]),
                        np.concatenate([seed.value, extra.value]), seed.n_samples + extra.n_samples, seed.d_sae)
    return feature_support(both, threshold)


def live_coverage(store: SynthesisStore, seed: PooledArrays, anchor: FeatureSupport, cfg: CoverageConfig
                  ) -> LiveCoverage:
    """FAC of the seed, and of the seed + every accepted candidate of the project, against the anchor."""
    accepted = store.candidates(status=DECIDED_KEEP)
    extra = pooled_of_candidates(accepted, seed.d_sae)
    before = compute_coverage(feature_support(seed, cfg.threshold), anchor, cfg)
    after = compute_coverage(combined_support(seed, extra, cfg.threshold), anchor, cfg)
    return LiveCoverage(before, after, len(accepted))


class RoleBreaks(NamedTuple):
    """How often a job's generator stepped out of its role: refusals and meta-text among its scored candidates."""

    scored: int
    refusals: int
    meta: int

    @property
    def share(self) -> float:
        """(refusals + meta) / scored; 0 when nothing was scored."""
        return (self.refusals + self.meta) / self.scored if self.scored else 0.0


def role_breaks(store: SynthesisStore, job_id: int) -> RoleBreaks:
    """Refusals and meta-text among every candidate a job scored (proposed or not)."""
    kinds = [c.provenance.kind for c in store.candidates(job_id, proposed_only=False)]
    return RoleBreaks(len(kinds), kinds.count("refusal"), kinds.count("meta"))
