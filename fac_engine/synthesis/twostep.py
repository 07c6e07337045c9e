"""Two-step FAC Synthesis for one batch of missing features (docs/METHOD.md section 4).

Step 1 samples n candidates per feature from its description and top anchor spans, scores
each by re-encoding (g_i) and forms the contrastive pair: x+ = highest g_i, x- = lowest; when
no candidate activates the feature, x+ falls back to the anchor's top span (as the authors'
code does). Step 2 samples m candidates from the contrastive prompt, keeps those with
g_i > delta, ranks them by g_i and proposes the top ones for review. Several features go
through each step together, so the local generator fills its batches.
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from fac_engine.errors import check_threshold
from fac_engine.llm.generators import GenerationConfig, Generator
from fac_engine.log import get_logger
from fac_engine.synthesis.candidates import NewCandidate
from fac_engine.synthesis.dedup import ShingleIndex
from fac_engine.synthesis.scoring import SampleScore, Scorer
from fac_engine.synthesis.templates import (
    Demo,
    FeatureBrief,
    Sample,
    TaskName,
    parse_output,
    step1_prompt,
    step2_prompt,
)

log = get_logger(__name__)


SYNTHESIS_GENERATION = GenerationConfig(max_new_tokens=96, batch_size=16)
"""Default sampling of synthesis: the paper's temperature and top-p; a query or a short instruction fits in
96 tokens."""


@dataclass(frozen=True)
class SynthesisConfig:
    """How a synthesis job samples, scores and proposes."""

    task: TaskName = "query"
    """Sample shape: `query` (toxicity-style user query), `instruction` (+ response), `preference` pair."""
    n_step1: int = 4
    """Step-1 candidates per feature (for the contrastive pair)."""
    m_step2: int = 6
    """Step-2 candidates per feature."""
    propose: int = 2
    """Candidates proposed for review per feature (best g_i above delta); the paper keeps 1."""
    threshold: float = 0.0
    """delta: a candidate covers the feature when g_i > delta."""
    label: str = "auto"
    """Label given to the samples: a fixed value, or `auto` = the most common label among the feature's
    top anchor samples."""
    instructions: str = ""
    """Extra words added to every prompt (tone, language, domain)."""
    features_per_batch: int = 4
    """Features taken through each step together (fills the local generator's batches)."""
    duplicate_jaccard: float = 0.7
    """Word 3-gram Jaccard similarity from which a candidate is flagged as a near duplicate."""
    generation: GenerationConfig = SYNTHESIS_GENERATION
    """Sampling settings (paper: temperature 0.8, top-p 0.9)."""

    def __post_init__(self) -> None:
        if self.task not in ("query", "instruction", "preference"):
            raise ValueError(f"Unknown task {self.task!r}; use query, instruction or preference.")
        if min(self.n_step1, self.m_step2, self.propose, self.features_per_batch) < 1:
            raise ValueError("n_step1, m_step2, propose and features_per_batch must be at least 1.")
        check_threshold(self.threshold, "The threshold delta")
        if not 0 < self.duplicate_jaccard <= 1:
            raise ValueError("The near-duplicate similarity must be in (0, 1].")
        if not self.label.strip():
            raise ValueError("The label is empty; give one or use 'auto'.")

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON (stored with the job)."""
        return asdict(self)

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> "SynthesisConfig":
        """Read back what `to_json_dict` wrote."""
        return cls(**{**data, "generation": GenerationConfig(**data.get("generation", {}))})


@dataclass(frozen=True)
class FeatureTarget:
    """A feature to synthesise for, with what the prompts and the fallback need."""

    brief: FeatureBrief
    label: str | None
    """Label for its samples."""
    fallback: Demo | None
    """The anchor's top sample (x+ when no step-1 candidate activates); None without anchor examples."""


@dataclass(frozen=True)
class FeatureOutcome:
    """One feature's scored candidates and its contrastive pair."""

    feature: int
    candidates: list[NewCandidate]
    pair: dict[str, Any]
    """x+ and x- (text, g, span, source) used in step 2."""
    note: str
    """What happened, for the user (malformed outputs, fallback used, nothing above delta...)."""


Scored = list[tuple[Sample, SampleScore]]


def _scored(generator: Generator, scorer: Scorer, prompts: Sequence[str], features: Sequence[int], n: int,
            cfg: SynthesisConfig) -> tuple[list[list[tuple[Sample, SampleScore]]], list[int]]:
    """Generate n outputs per prompt, parse, score each valid one for its prompt's feature.
    Returns per prompt the (sample, score) pairs, and per prompt how many outputs were unusable."""
    raw = generator.generate(prompts, n, cfg.generation)
    parsed = [[s for s in (parse_output(cfg.task, r) for r in outs) if s is not None] for outs in raw]
    bad = [len(outs) - len(ok) for outs, ok in zip(raw, parsed, strict=True)]
    flat = [(k, s) for k, ok in enumerate(parsed) for s in ok]
    scores = scorer.score([s for _, s in flat], [features[k] for k, _ in flat]) if flat else []
    out: list[list[tuple[Sample, SampleScore]]] = [[] for _ in prompts]
    for (k, sample), score in zip(flat, scores, strict=True):
        out[k].append((sample, score))
    return out, bad


def new_candidate(feature: int, step: int, task: TaskName, label: str | None, sample: Sample, score: SampleScore,
                  prompt: str, generator: str, generation: GenerationConfig, threshold: float) -> NewCandidate:
    """A scored sample as the store records it, with its provenance."""
    return NewCandidate(
        feature=feature, step=step, task=task, label=label, text=sample.text, fields=sample.fields,
        messages=None if sample.messages is None else [list(m) for m in sample.messages], prompt=prompt,
        generator=generator, params=asdict(generation), g=score.g, threshold=threshold, span=score.span,
        tokens=score.tokens, activations=score.activations,
        pooled={"features": score.pooled_features, "values": score.pooled_values})


def _candidate(target: FeatureTarget, step: int, sample: Sample, score: SampleScore, prompt: str, generator: str,
               cfg: SynthesisConfig) -> NewCandidate:
    return new_candidate(target.brief.feature, step, cfg.task, target.label, sample, score, prompt, generator,
                         cfg.generation, cfg.threshold)


def _pair(target: FeatureTarget, step1: list[tuple[Sample, SampleScore]], threshold: float
          ) -> tuple[Demo, Demo, str]:
    ranked = sorted(step1, key=lambda p: -p[1].g)
    notes = []
    if ranked and ranked[0][1].g > threshold:
        good = Demo(ranked[0][0].text, ranked[0][1].g, ranked[0][1].span)
    elif target.fallback is not None:
        good = target.fallback
        notes.append("no step-1 candidate activated the feature: x+ is the anchor's top sample")
    else:
        good = Demo(ranked[0][0].text, ranked[0][1].g, ranked[0][1].span) if ranked else Demo("(none)", 0.0, "")
        notes.append("no step-1 candidate activated the feature and it has no anchor sample")
    bad = Demo(ranked[-1][0].text, ranked[-1][1].g, ranked[-1][1].span) if ranked else Demo("(none)", 0.0, "")
    return good, bad, "; ".join(notes)


def synthesise_batch(targets: Sequence[FeatureTarget], generator: Generator, scorer: Scorer, cfg: SynthesisConfig,
                     duplicates: ShingleIndex) -> list[FeatureOutcome]:
    """Both steps for a batch of features; near duplicates are flagged against `duplicates` (then added to it)."""
    features = [t.brief.feature for t in targets]
    prompts1 = [step1_prompt(cfg.task, t.brief, cfg.instructions) for t in targets]
    step1, bad1 = _scored(generator, scorer, prompts1, features, cfg.n_step1, cfg)
    pairs = [_pair(t, s1, cfg.threshold) for t, s1 in zip(targets, step1, strict=True)]
    prompts2 = [step2_prompt(cfg.task, t.brief, good, bad, cfg.instructions)
                for t, (good, bad, _) in zip(targets, pairs, strict=True)]
    step2, bad2 = _scored(generator, scorer, prompts2, features, cfg.m_step2, cfg)
    return [_outcome(target, pairs[k], step1[k], step2[k], prompts1[k], prompts2[k], bad1[k] + bad2[k], generator.name,
                     cfg, duplicates) for k, target in enumerate(targets)]


def _outcome(target: FeatureTarget, pair: tuple[Demo, Demo, str], step1: Scored, step2: Scored, prompt1: str,
             prompt2: str, malformed: int, generator: str, cfg: SynthesisConfig, duplicates: ShingleIndex
             ) -> FeatureOutcome:
    """Rank one feature's candidates above delta, flag near duplicates, pick the proposals."""
    good, bad, note = pair
    above2 = sorted((p for p in step2 if p[1].g > cfg.threshold), key=lambda p: -p[1].g)
    # When step 2 finds nothing above delta, step-1 candidates that do are proposed rather than none.
    step, kept = (2, above2) if above2 or not step1 else (1, sorted(
        (p for p in step1 if p[1].g > cfg.threshold), key=lambda p: -p[1].g))
    matches = [duplicates.closest(sample.text) for sample, _ in kept]
    # Unique candidates are proposed before near duplicates; a proposed duplicate keeps its warning.
    chosen = set(sorted(range(len(kept)), key=lambda i: (matches[i] is not None, i))[: cfg.propose])
    cands = []
    for rank, ((sample, score), match) in enumerate(zip(kept, matches, strict=True)):
        cand = _candidate(target, step, sample, score, prompt2 if step == 2 else prompt1, generator, cfg)
        cands.append(replace(cand, rank=rank, proposed=rank in chosen, duplicate_of=match.key if match else None,
                             duplicate_similarity=match.similarity if match else None))
        if rank in chosen:
            duplicates.add(f"feature{target.brief.feature}:{rank}", sample.text)
    cands += [_candidate(target, 1, s, sc, prompt1, generator, cfg) for s, sc in step1
              if step == 2 or sc.g <= cfg.threshold]  # step-1 ones above delta are already in `kept`
    cands += [_candidate(target, 2, s, sc, prompt2, generator, cfg) for s, sc in step2 if sc.g <= cfg.threshold]
    notes = [n for n in (note, f"{malformed} empty or malformed outputs" if malformed else "",
                         f"{len(above2)} of {len(step2)} step-2 candidates above delta",
                         "step-1 candidates above delta proposed instead" if step == 1 and kept else "",
                         f"{sum(m is not None for m in matches)} near duplicates flagged" if any(matches) else "")
             if n]
    log.info("feature %d: %d candidates, %d proposed (%s)", target.brief.feature, len(cands), len(chosen),
             "; ".join(notes))
    return FeatureOutcome(target.brief.feature, cands, {"x_plus": asdict_demo(good), "x_minus": asdict_demo(bad)},
                          "; ".join(notes))


def asdict_demo(demo: Demo) -> dict[str, Any]:
    """A demonstration as JSON."""
    return {"text": demo.text, "g": demo.score, "span": demo.span}
