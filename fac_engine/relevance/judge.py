"""Task-relevant features by an LLM judge (docs/METHOD.md section 3, the paper's third call).

The generator reads a task rubric (e.g. "detecting toxic user queries") and one feature's
explanation, and answers Yes / Probably / Maybe / No; relevant = "Maybe" or better. The first of
those words in the answer counts (case-insensitive, markdown ignored); an answer without any is
asked once more, then counts as "No" and is logged.
"""

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from fac_engine.errors import FacError
from fac_engine.features.explain_llm import CANNOT_TELL, ask, first_word
from fac_engine.llm.generators import GenerationConfig, Generator
from fac_engine.log import get_logger
from fac_engine.workspace.project import RELEVANT_VERDICTS, VERDICTS, Verdict

log = get_logger(__name__)

JUDGE_PROMPT = """You are auditing the features of a language model for one task.

Task: {task}

Feature description: {explanation}

Would a model need this feature for the task? Answer with exactly one word: Yes, Probably, Maybe or No.
Answer:"""


@dataclass(frozen=True)
class JudgeConfig:
    """How the judge is asked."""

    features_per_call: int = 16
    """Features whose prompts go to the generator together (the local backend batches them)."""
    max_new_tokens: int = 8
    """Longest answer, in tokens (one word is wanted)."""
    temperature: float = 0.1
    """The paper uses 0 (greedy); the samplers need > 0, so a small value stands in for it."""
    seed: int = 0
    """Seeds local sampling; the one re-ask of an unparseable answer uses seed + 1."""

    def __post_init__(self) -> None:
        if self.features_per_call < 1 or self.max_new_tokens < 1:
            raise ValueError("features_per_call and max_new_tokens must be at least 1.")
        if self.temperature <= 0:
            raise ValueError("The temperature must be > 0.")

    def generation(self, retry: bool = False) -> GenerationConfig:
        """Sampling settings (a different seed for the re-ask, so a sampler does not repeat itself)."""
        return GenerationConfig(temperature=self.temperature, top_p=1.0, max_new_tokens=self.max_new_tokens,
                                seed=self.seed + int(retry), batch_size=self.features_per_call,
                                repetition_penalty=1.0)


@dataclass(frozen=True)
class JudgeResult:
    """The judge's verdict on every feature it read."""

    task: str
    """The rubric the features were judged against."""
    verdicts: dict[int, Verdict]
    """Verdict by feature."""
    unparsed: list[int]
    """Features whose answers held no verdict twice (counted as "No")."""
    skipped: list[int]
    """Features not judged: no explanation, or "Cannot tell"."""

    @property
    def relevant(self) -> frozenset[int]:
        """Features judged "Maybe" or better."""
        return frozenset(f for f, v in self.verdicts.items() if v in RELEVANT_VERDICTS)

    @property
    def counts(self) -> dict[Verdict, int]:
        """Features per verdict, every verdict listed."""
        found = Counter(self.verdicts.values())
        return {v: found[v] for v in VERDICTS}


def parse_judge_verdict(answer: str) -> Verdict | None:
    """The first of Yes / Probably / Maybe / No in an answer, or None."""
    word = first_word(answer, VERDICTS)
    return next((v for v in VERDICTS if v == word), None)


def judge_features(generator: Generator, task: str, explanations: Mapping[int, str], cfg: JudgeConfig | None = None,
                   progress: Callable[[int, int], None] | None = None) -> JudgeResult:
    """Ask `generator` whether each explained feature matters for `task`. `progress(done, total)` counts features."""
    cfg = cfg or JudgeConfig()
    if not task.strip():
        raise FacError("The judge needs a task rubric, e.g. \"detecting toxic user queries\".")
    usable = {f: " ".join(t.split()) for f, t in explanations.items() if t.strip() and t.strip() != CANNOT_TELL}
    skipped = sorted(set(explanations) - set(usable))
    features = sorted(usable)
    verdicts: dict[int, Verdict] = {}
    unparsed: list[int] = []
    for first in range(0, len(features), cfg.features_per_call):
        batch = features[first : first + cfg.features_per_call]
        found = _ask_verdicts(generator, task, {f: usable[f] for f in batch}, cfg.generation())
        again = [f for f in batch if found[f] is None]
        if again:
            found.update(_ask_verdicts(generator, task, {f: usable[f] for f in again}, cfg.generation(retry=True)))
        for f in batch:
            verdict = found[f]
            if verdict is None:
                log.warning("%s gave no Yes/Probably/Maybe/No for feature %d twice; counted as No", generator.name,
                            f)
                unparsed.append(f)
            verdicts[f] = verdict or "No"
        if progress is not None:
            progress(len(verdicts), len(features))
    return JudgeResult(task, verdicts, unparsed, skipped)


def _ask_verdicts(generator: Generator, task: str, explanations: dict[int, str], cfg: GenerationConfig
                  ) -> dict[int, Verdict | None]:
    prompts = [JUDGE_PROMPT.format(task=task.strip(), explanation=t) for t in explanations.values()]
    answers = ask(generator, prompts, cfg)
    return {f: parse_judge_verdict(a) for f, a in zip(explanations, answers, strict=True)}
