"""One synthesis step's outputs, sampled (steered or not), parsed, scored (g_i) and fluency-checked, and the
choice of the steering strength per feature from the step-1 sweep."""

from collections.abc import Sequence
from typing import NamedTuple

from fac_engine.llm.generators import GenerationConfig, Generator
from fac_engine.llm.protocol import generate_replies
from fac_engine.llm.steering import Steer, SteeredGenerator, SteeringConfig, steered_generator
from fac_engine.synthesis.fluency import Fluency, FluencyConfig, fluency
from fac_engine.synthesis.scoring import SampleScore, Scorer
from fac_engine.synthesis.templates import Sample, TaskName, parse_output


class Scored(NamedTuple):
    """A parsed candidate with its target activation, the steering strength it was sampled at and its fluency."""

    sample: Sample
    score: SampleScore
    alpha: float | None
    """Steering strength (units of the layer's typical residual norm); None when not steered."""
    fluency: Fluency


class StepOutputs(NamedTuple):
    """Per prompt: its usable candidates, how many outputs were unusable, and the strength of every output."""

    scored: list[list[Scored]]
    malformed: list[int]
    alphas: list[list[float | None]]


def steering(generator: Generator, scorer: Scorer, cfg: SteeringConfig) -> SteeredGenerator:
    """`generator` made to steer along the scorer's SAE (one that already steers, as it is); FacError for a
    backend or model that cannot be steered."""
    if isinstance(generator, SteeredGenerator):
        return generator
    return steered_generator(generator, scorer.sae, scorer.lm, cfg)


def _generate(generator: Generator, prompts: Sequence[str], features: Sequence[int],
              alphas: Sequence[Sequence[float | None]], cfg: GenerationConfig, prefill: str) -> list[list[str]]:
    """Raw outputs per prompt: `len(alphas[k])` for prompt k, output j steered at `alphas[k][j]`, each opened with
    `prefill` where the generator pre-fills."""
    if not isinstance(generator, SteeredGenerator) or all(a is None for row in alphas for a in row):
        return generate_replies(generator, prompts, len(alphas[0]) if alphas else 1, cfg, prefill)
    rows = [(k, a) for k, row in enumerate(alphas) for a in row]
    flat = generator.generate_steered([prompts[k] for k, _ in rows],
                                      [None if a is None else Steer(features[k], a) for k, a in rows], 1, cfg,
                                      prefill=prefill)
    out: list[list[str]] = [[] for _ in prompts]
    for (k, _), texts in zip(rows, flat, strict=True):
        out[k].extend(texts)
    return out


def sample_step(generator: Generator, scorer: Scorer, prompts: Sequence[str], features: Sequence[int],
                alphas: Sequence[Sequence[float | None]], task: TaskName, generation: GenerationConfig,
                fluency_cfg: FluencyConfig, prefill: str = "") -> StepOutputs:
    """Sample `len(alphas[k])` outputs for prompt k (steered at those strengths when the generator steers, opened
    with `prefill` when it pre-fills), parse them, score each valid one for its prompt's feature and measure its
    fluency under the unsteered model."""
    raw = _generate(generator, prompts, features, alphas, generation, prefill)
    parsed = [[(s, alphas[k][j]) for j, r in enumerate(outs) if (s := parse_output(task, r)) is not None]
              for k, outs in enumerate(raw)]
    flat = [(k, s, a) for k, ok in enumerate(parsed) for s, a in ok]
    samples = [s for _, s, _ in flat]
    scores = scorer.score(samples, [features[k] for k, _, _ in flat]) if flat else []
    fluent = fluency(scorer.lm, [scorer.encode(s) for s in samples], [s.text for s in samples], fluency_cfg)
    out: list[list[Scored]] = [[] for _ in prompts]
    for (k, sample, alpha), score, flu in zip(flat, scores, fluent, strict=True):
        out[k].append(Scored(sample, score, alpha, flu))
    malformed = [len(outs) - len(ok) for outs, ok in zip(raw, parsed, strict=True)]
    return StepOutputs(out, malformed, [list(a) for a in alphas])


def usable(item: Scored, threshold: float, fluency_cfg: FluencyConfig) -> bool:
    """Whether a candidate may be kept: above delta, and not dropped by the fluency guard."""
    return item.score.g > threshold and not (fluency_cfg.drop_flagged and item.fluency.flagged)


def choose_alpha(scored: Sequence[Scored], generated: Sequence[float | None], threshold: float) -> float | None:
    """The sweep's best strength for one feature: the highest mean g_i per output counting only fluent candidates
    above delta (a flagged, malformed or inactive output adds 0); ties go to fewer flagged outputs, then to the
    gentler strength. None when nothing was steered."""
    swept = [a for a in dict.fromkeys(generated) if a is not None]
    if not swept:
        return None

    def merit(alpha: float) -> tuple[float, float, float]:
        mine = [s for s in scored if s.alpha == alpha]
        n = generated.count(alpha)
        gain = sum(s.score.g for s in mine if s.score.g > threshold and not s.fluency.flagged)
        return gain / n, -sum(s.fluency.flagged for s in mine) / n, -alpha

    return max(swept, key=merit)


def step_alphas(n: int, sweep: Sequence[float | None]) -> list[float | None]:
    """Strengths of a step's n outputs: the sweep's values in turn (one value: all the same)."""
    return [sweep[j % len(sweep)] for j in range(n)]
