"""Two-step FAC Synthesis for one batch of missing features (docs/METHOD.md section 4), prompted, steered or both.

Step 1 samples n candidates per feature from its description and top anchor spans, scores
each by re-encoding (g_i) and forms the contrastive pair: x+ = highest g_i, x- = lowest; when
no candidate activates the feature, x+ falls back to the anchor's top span (as the authors'
code does). Step 2 samples m candidates from the contrastive prompt, keeps those with
g_i > delta, ranks them by g_i and proposes the top ones for review. Several features go
through each step together, so the local generator fills its batches.

Modes: `prompt` is the above; `steer` prompts with the task alone while the generator is steered
along the feature's decoder direction (fac_engine/llm/steering.py); `both` steers the two-step
prompts. When steering, step 1 sweeps the strengths and step 2 uses the best one per feature.
Every candidate's perplexity and repetition are measured; the fluency guard flags gibberish.
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from fac_engine.errors import FacError, check_threshold
from fac_engine.llm.generators import GenerationConfig, Generator
from fac_engine.llm.protocol import prefill_for
from fac_engine.llm.steering import SteeredGenerator, SteeringConfig
from fac_engine.log import get_logger
from fac_engine.synthesis.candidates import MODES, NewCandidate, Provenance, SampleCodes, SynthesisMode
from fac_engine.synthesis.dedup import ShingleIndex
from fac_engine.synthesis.fluency import FluencyConfig
from fac_engine.synthesis.sampled import Scored, choose_alpha, sample_step, step_alphas, usable
from fac_engine.synthesis.scoring import SampleScore, Scorer
from fac_engine.synthesis.templates import (
    EVIDENCE,
    PREFILLS,
    Demo,
    Evidence,
    FeatureBrief,
    Sample,
    TaskName,
    neutral_prompt,
    step1_prompt,
    step2_prompt,
    text_kind,
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
    propose: int = 1
    """Candidates proposed for review per feature (best g_i above delta); 1 as in the paper, more is an option."""
    threshold: float = 0.0
    """delta: a candidate covers the feature when g_i > delta."""
    label: str = "auto"
    """Label given to the samples: a fixed value, or `auto` = the most common label among the feature's
    top anchor samples."""
    instructions: str = ""
    """Extra words added to every prompt (tone, language, domain)."""
    evidence: Evidence = "phrases"
    """What the prompts show of each feature: `phrases` (its top anchor samples' peak phrases, asked to appear),
    `spans` (its top anchor spans, the peak token marked, not to be copied) or `both`."""
    prefill: bool = True
    """Start the local generator's reply with the opening of the sample's format (`Query:`, `Instruction:`,
    `{"prompt": "`) and let it continue from there, which keeps instruct models writing the sample. An
    OpenAI-compatible endpoint is never pre-filled (continuing a reply is not portable across servers)."""
    features_per_batch: int = 4
    """Features taken through each step together (fills the local generator's batches)."""
    duplicate_jaccard: float = 0.7
    """Word 3-gram Jaccard similarity from which a candidate is flagged as a near duplicate."""
    generation: GenerationConfig = SYNTHESIS_GENERATION
    """Sampling settings (paper: temperature 0.8, top-p 0.9)."""
    mode: SynthesisMode = "prompt"
    """`prompt`: the two-step prompts; `steer`: the task alone, the generator steered along the feature's decoder
    direction; `both`: the two-step prompts and steering. Steering needs the local generator to be the SAE's model."""
    steering: SteeringConfig = field(default_factory=SteeringConfig)
    """Steering strengths swept in step 1 and where to steer (`steer` and `both` modes)."""
    fluency: FluencyConfig = field(default_factory=FluencyConfig)
    """When a candidate is flagged as gibberish, and whether flagged ones are dropped before review."""

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
        if self.evidence not in EVIDENCE:
            raise ValueError(f"Unknown prompt evidence {self.evidence!r}; use phrases, spans or both.")
        if self.mode not in MODES:
            raise ValueError(f"Unknown synthesis mode {self.mode!r}; use prompt, steer or both.")
        if self.mode != "prompt" and self.n_step1 < len(self.steering.alphas):
            raise ValueError(f"Step 1 sweeps the {len(self.steering.alphas)} steering strengths, so it needs at least "
                             f"that many candidates per feature (n_step1 is {self.n_step1}).")

    @property
    def steered(self) -> bool:
        """Whether this mode steers the generator."""
        return self.mode != "prompt"

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON (stored with the job)."""
        return asdict(self)

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> "SynthesisConfig":
        """Read back what `to_json_dict` wrote."""
        steering = dict(data.get("steering", {}))
        if "alphas" in steering:
            steering["alphas"] = tuple(float(a) for a in steering["alphas"])
        # Jobs saved before pre-fill existed resume as they were made: not pre-filled.
        return cls(**{"prefill": False, **data, "generation": GenerationConfig(**data.get("generation", {})),
                      "steering": SteeringConfig(**steering), "fluency": FluencyConfig(**data.get("fluency", {}))})


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
    """x+ and x- (text, g, span, source) used in step 2 (empty in `steer` mode, whose step 2 uses no pair)."""
    note: str
    """What happened, for the user (malformed outputs, fallback used, nothing above delta...)."""


def new_candidate(feature: int, step: int, task: TaskName, label: str | None, sample: Sample, score: SampleScore,
                  prompt: str, generator: str, generation: GenerationConfig, threshold: float,
                  provenance: Provenance | None = None) -> NewCandidate:
    """A scored sample as the store records it, with its sampling parameters and how it was made."""
    return NewCandidate(
        feature=feature, step=step, task=task, label=label, text=sample.text, fields=sample.fields,
        messages=None if sample.messages is None else [list(m) for m in sample.messages], prompt=prompt,
        generator=generator, params=asdict(generation), g=score.g, threshold=threshold, span=score.span,
        tokens=score.tokens, activations=score.activations,
        pooled=SampleCodes(score.pooled_features, score.pooled_values),
        provenance=provenance or Provenance())


def provenance(item: Scored, mode: SynthesisMode, layer: int | None, prefill: str) -> Provenance:
    """How a candidate was made (mode, steering strength and layer, pre-fill) and the fluency guard's verdict on it."""
    return Provenance(mode, item.alpha, None if item.alpha is None else layer, item.fluency.perplexity,
                      item.fluency.repetition, item.fluency.flagged, text_kind(item.sample.text), prefill)


def step_prefill(generator: Generator, cfg: SynthesisConfig) -> str:
    """What the generator's replies are opened with: the task's format opening when `cfg.prefill` is on and the
    generator can be pre-filled (the local one), else ""."""
    return prefill_for(generator, PREFILLS[cfg.task]) if cfg.prefill else ""


def _demo(item: Scored) -> Demo:
    return Demo(item.sample.text, item.score.g, item.score.span)


def _pair(target: FeatureTarget, step1: list[Scored], threshold: float) -> tuple[Demo, Demo, str]:
    ranked = sorted(step1, key=lambda p: -p.score.g)
    notes = []
    if ranked and ranked[0].score.g > threshold:
        good = _demo(ranked[0])
    elif target.fallback is not None:
        good = target.fallback
        notes.append("no step-1 candidate activated the feature: x+ is the anchor's top sample")
    else:
        good = _demo(ranked[0]) if ranked else Demo("(none)", 0.0, "")
        notes.append("no step-1 candidate activated the feature and it has no anchor sample")
    # x- is the weakest candidate that is not x+ itself: a pair of one text teaches the generator nothing.
    others = [p for p in ranked if p.sample.text != good.text]
    bad = _demo(others[-1]) if others else Demo("(none)", 0.0, "")
    if ranked and not others:
        notes.append("one step-1 text only: no x- to contrast")
    return good, bad, "; ".join(notes)


def _steerer(generator: Generator, cfg: SynthesisConfig) -> SteeredGenerator | None:
    if not cfg.steered:
        return None
    if not isinstance(generator, SteeredGenerator):
        raise FacError(f"Mode {cfg.mode!r} steers the generator, but {generator.name} is not a steered local "
                       "generator; use --mode prompt or the local model the SAE was trained on.")
    return generator


def synthesise_batch(targets: Sequence[FeatureTarget], generator: Generator, scorer: Scorer, cfg: SynthesisConfig,
                     duplicates: ShingleIndex) -> list[FeatureOutcome]:
    """Both steps for a batch of features; near duplicates are flagged against `duplicates` (then added to it).
    Steered modes need `generator` to be a `SteeredGenerator` (fac_engine/llm/steering.py)."""
    steerer = _steerer(generator, cfg)
    features = [t.brief.feature for t in targets]
    prompts1 = [neutral_prompt(cfg.task, cfg.instructions) if cfg.mode == "steer" else
                step1_prompt(cfg.task, t.brief, cfg.instructions, cfg.evidence) for t in targets]
    sweep: tuple[float | None, ...] = cfg.steering.alphas if steerer else (None,)
    prefill = step_prefill(generator, cfg)
    step1 = sample_step(generator, scorer, prompts1, features, [step_alphas(cfg.n_step1, sweep)] * len(targets),
                        cfg.task, cfg.generation, cfg.fluency, prefill)
    alphas = [choose_alpha(s1, a1, cfg.threshold) for s1, a1 in zip(step1.scored, step1.alphas, strict=True)]
    pairs = [_pair(t, s1, cfg.threshold) for t, s1 in zip(targets, step1.scored, strict=True)]
    prompts2 = [neutral_prompt(cfg.task, cfg.instructions) if cfg.mode == "steer" else
                step2_prompt(cfg.task, t.brief, good, bad, cfg.instructions, cfg.evidence)
                for t, (good, bad, _) in zip(targets, pairs, strict=True)]
    step2 = sample_step(generator, scorer, prompts2, features, [[a] * cfg.m_step2 for a in alphas], cfg.task,
                        cfg.generation, cfg.fluency, prefill)
    layer = steerer.layer if steerer else None
    return [_outcome(target, pairs[k], step1.scored[k], step2.scored[k], prompts1[k], prompts2[k],
                     step1.malformed[k] + step2.malformed[k], generator.name, cfg, duplicates, alphas[k], layer,
                     prefill)
            for k, target in enumerate(targets)]


def _outcome(target: FeatureTarget, pair: tuple[Demo, Demo, str], step1: list[Scored], step2: list[Scored],
             prompt1: str, prompt2: str, malformed: int, generator: str, cfg: SynthesisConfig,
             duplicates: ShingleIndex, alpha: float | None, layer: int | None, prefill: str) -> FeatureOutcome:
    """Rank one feature's usable candidates, flag near duplicates, pick the proposals."""
    good, bad, note = pair

    def candidate(step: int, item: Scored, prompt: str) -> NewCandidate:
        return new_candidate(target.brief.feature, step, cfg.task, target.label, item.sample, item.score, prompt,
                             generator, cfg.generation, cfg.threshold, provenance(item, cfg.mode, layer, prefill))

    def kept_of(items: list[Scored]) -> list[Scored]:
        return sorted((p for p in items if usable(p, cfg.threshold, cfg.fluency)), key=lambda p: -p.score.g)

    above2 = kept_of(step2)
    # When step 2 finds nothing usable, step-1 candidates that are usable are proposed rather than none.
    step, kept = (2, above2) if above2 or not step1 else (1, kept_of(step1))
    matches = [duplicates.closest(item.sample.text) for item in kept]
    # In role before refusals and meta-text, fluent before flagged, unique before near duplicates; a proposed one
    # keeps its warnings.
    order = sorted(range(len(kept)), key=lambda i: (text_kind(kept[i].sample.text) != "sample",
                                                    kept[i].fluency.flagged, matches[i] is not None, i))
    chosen = set(order[: cfg.propose])
    cands = []
    for rank, (item, match) in enumerate(zip(kept, matches, strict=True)):
        cands.append(replace(candidate(step, item, prompt2 if step == 2 else prompt1), rank=rank,
                             proposed=rank in chosen, duplicate_of=match.key if match else None,
                             duplicate_similarity=match.similarity if match else None))
        if rank in chosen:
            duplicates.add(f"feature{target.brief.feature}:{rank}", item.sample.text)
    in_kept = {id(item) for item in kept}
    cands += [candidate(1, p, prompt1) for p in step1 if id(p) not in in_kept]
    cands += [candidate(2, p, prompt2) for p in step2 if id(p) not in in_kept]
    flagged = sum(p.fluency.flagged for p in step1 + step2)
    dropped = " and dropped" if cfg.fluency.drop_flagged else ""
    n_above2 = sum(p.score.g > cfg.threshold for p in step2)
    notes = [n for n in (note if cfg.mode != "steer" else "",
                         f"steered at alpha {alpha:g} (layer {layer})" if alpha is not None else "",
                         f"{malformed} empty or malformed outputs" if malformed else "",
                         f"{n_above2} of {len(step2)} step-2 candidates above delta",
                         "step-1 candidates above delta proposed instead" if step == 1 and kept else "",
                         f"{flagged} flagged by the fluency guard{dropped}" if flagged else "",
                         f"{sum(m is not None for m in matches)} near duplicates flagged" if any(matches) else "")
             if n]
    log.info("feature %d: %d candidates, %d proposed (%s)", target.brief.feature, len(cands), len(chosen),
             "; ".join(notes))
    pair_json = {} if cfg.mode == "steer" else {"x_plus": asdict_demo(good), "x_minus": asdict_demo(bad)}
    return FeatureOutcome(target.brief.feature, cands, pair_json, "; ".join(notes))


def asdict_demo(demo: Demo) -> dict[str, Any]:
    """A demonstration as JSON."""
    return {"text": demo.text, "g": demo.score, "span": demo.span, "source": demo.source}
