"""LLM feature explanations in the paper's style (docs/METHOD.md section 3).

For each feature, its top activating spans on an encoded dataset (usually the anchor) are shown
to a generator, the peak token of each marked `<<like this>>`. A first prompt asks for a short
summary of what the feature detects ("Cannot tell" when the spans share no pattern); a second
prompt checks the summary against the same spans and must answer `VERDICT: yes` or `VERDICT: no`.
Only verified summaries are kept; everything else is stored as "Cannot tell".

Explanations go into the project under the source `llm:<generator name>`, which doubles as a
cache: a feature already explained by the same generator is not asked again unless refreshed,
and a user's own explanation is never replaced (and never asked for).
"""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from fac_engine.features.spans import PEAK_CLOSE, PEAK_OPEN, token_separator
from fac_engine.llm.generators import GenerationConfig, Generator
from fac_engine.log import get_logger
from fac_engine.workspace.datasets import EncodedDataset
from fac_engine.workspace.project import Project

log = get_logger(__name__)

CANNOT_TELL = "Cannot tell"
"""What is stored for a feature whose spans show no pattern, or whose summary did not verify."""

SUMMARY_PROMPT = """We are studying one feature of a language model. Below are text spans where it activates \
most strongly; in each span the token where it fires hardest is marked {open}like this{close}.

{spans}

In one short phrase (at most 15 words), say what this feature detects. If the spans share no clear \
pattern, answer exactly: {cannot}.
Answer:"""

VERIFY_PROMPT = """A feature of a language model was described as: "{summary}"

Here are the text spans where it activates most strongly (the peak token is marked {open}like this{close}):

{spans}

Does the description fit most of these spans, in particular the marked tokens? Reply with one line, \
either "VERDICT: yes" or "VERDICT: no"."""


@dataclass(frozen=True)
class LlmExplainConfig:
    """How LLM explanations are asked for."""

    top_spans: int = 10
    """Top activating samples of each feature shown to the generator (the paper: 10)."""
    window_before: int = 32
    """Tokens kept before the peak token (the paper: at most 32)."""
    window_after: int = 4
    """Tokens kept after the peak token, for context."""
    features_per_call: int = 8
    """Features whose prompts go to the generator together (the local backend batches them)."""
    max_new_tokens: int = 48
    """Longest summary, in tokens."""
    verify_max_new_tokens: int = 12
    """Longest verification answer, in tokens."""
    temperature: float = 0.1
    """The paper uses 0 (greedy); the samplers need > 0, so a small value stands in for it."""
    seed: int = 0
    """Seeds local sampling."""

    def __post_init__(self) -> None:
        if min(self.top_spans, self.features_per_call, self.max_new_tokens, self.verify_max_new_tokens) < 1:
            raise ValueError("top_spans, features_per_call, max_new_tokens and verify_max_new_tokens must be "
                             "at least 1.")
        if self.window_before < 0 or self.window_after < 0:
            raise ValueError("The span windows cannot be negative.")
        if self.temperature <= 0:
            raise ValueError("The temperature must be > 0.")

    def generation(self, max_new_tokens: int) -> GenerationConfig:
        """Sampling settings for one kind of prompt. No repetition penalty: a summary should be
        free to reuse the words of the spans it summarises."""
        return GenerationConfig(temperature=self.temperature, top_p=1.0, max_new_tokens=max_new_tokens,
                                seed=self.seed, batch_size=self.features_per_call, repetition_penalty=1.0)


@dataclass(frozen=True)
class LlmExplanation:
    """What the generator said about one feature."""

    feature: int
    summary: str
    """The parsed summary of prompt 1 ("Cannot tell" when empty or declined)."""
    verified: bool
    """Whether prompt 2 confirmed the summary."""

    @property
    def text(self) -> str:
        """What is stored: the summary when verified, else "Cannot tell"."""
        return self.summary if self.verified else CANNOT_TELL


@dataclass(frozen=True)
class LlmExplainRun:
    """The outcome of explaining features into a project."""

    source: str
    """The explanations' source in the project (`llm:<generator name>`)."""
    explained: dict[int, LlmExplanation]
    """Features asked for in this run."""
    stored: int
    """Explanations written to the project."""
    cached: list[int]
    """Features skipped: already explained by the same generator."""
    user_kept: list[int]
    """Features skipped: the user wrote their own explanation."""
    no_examples: list[int]
    """Features skipped: no activating sample in the dataset."""
    kept_earlier: list[int]
    """Features answered "Cannot tell" that keep the explanation they had from another source."""


def llm_source(generator: Generator) -> str:
    """The project source of explanations written by `generator`."""
    return f"llm:{generator.name}"


def first_word(text: str, words: Sequence[str]) -> str | None:
    """The first of `words` appearing as a whole word in `text` (case-insensitive), as spelled in `words`."""
    match = re.search(r"\b(" + "|".join(re.escape(w) for w in words) + r")\b", text, re.IGNORECASE)
    if match is None:
        return None
    return next(w for w in words if w.lower() == match[1].lower())


def ask(generator: Generator, prompts: Sequence[str], cfg: GenerationConfig) -> list[str]:
    """One completion per prompt, stripped; "" where the generator returned nothing."""
    if not prompts:
        return []
    answers = list(generator.generate(prompts, 1, cfg))
    if len(answers) != len(prompts):
        log.warning("%s answered %d of %d prompts; the rest count as empty", generator.name, len(answers),
                    len(prompts))
    answers += [[]] * (len(prompts) - len(answers))
    return [str((a[0] if a else "") or "").strip() for a in answers[: len(prompts)]]


def parse_summary(answer: str) -> str:
    """The summary in an answer: its first non-empty line without labels, quotes or markdown."""
    line = next((s.strip() for s in answer.splitlines() if s.strip()), "")
    line = re.sub(r"^(answer|summary|description)\s*:\s*", "", line.replace("**", ""), flags=re.IGNORECASE)
    line = line.strip()
    if len(line) > 1 and line[0] == line[-1] and line[0] in "\"'`":
        line = line[1:-1].strip()
    if not line or line.lower().rstrip(".").startswith(CANNOT_TELL.lower()):
        return CANNOT_TELL
    return line[:200]


def parse_verdict(answer: str) -> bool | None:
    """True / False from "VERDICT: yes/no" (or the first yes/no when the label is missing); None if neither."""
    label = re.search(r"verdict", answer, re.IGNORECASE)
    word = first_word(answer[label.end():] if label else answer, ("yes", "no"))
    return None if word is None else word == "yes"


def feature_spans(data: EncodedDataset, features: Sequence[int], cfg: LlmExplainConfig) -> dict[int, list[str]]:
    """The top spans of each feature (strongest first), peak token marked; features without samples are left out."""
    table = data.feature_table("examples")
    keep = pc.and_(pc.and_(pc.equal(table["kind"], "top"), pc.less(table["rank"], cfg.top_spans)),
                   pc.is_in(table["feature"], value_set=pa.array(sorted(set(features)), pa.int32())))
    rows = sorted(table.filter(keep).to_pylist(), key=lambda e: (e["feature"], e["rank"]))
    samples = sorted({int(e["sample"]) for e in rows})
    starts = dict(zip(samples, data.sample_rows(samples, ["content_start"]).column("content_start").to_pylist(),
                      strict=True))
    token_ids = {s: t.column("token_id").to_pylist() for s, t in data.sample_tokens(samples).items()}
    vocab = data.vocab()
    sep = token_separator(vocab)
    out: dict[int, list[str]] = {}
    for e in rows:
        ids, peak = token_ids[int(e["sample"])], int(e["position"])
        first = max(int(starts[int(e["sample"])]), peak - cfg.window_before)
        words = [vocab[i] if i < len(vocab) else "<?>" for i in ids[first : peak + cfg.window_after + 1]]
        words[peak - first] = PEAK_OPEN + words[peak - first] + PEAK_CLOSE
        out.setdefault(int(e["feature"]), []).append(sep.join(words).strip())
    return out


def _spans_block(spans: list[str]) -> str:
    return "\n".join(f"{i + 1}. {' '.join(s.split())}" for i, s in enumerate(spans))


def explain_batch(generator: Generator, spans: dict[int, list[str]], cfg: LlmExplainConfig
                  ) -> dict[int, LlmExplanation]:
    """Summarise, then verify, the features of `spans` with two generator calls."""
    features = sorted(spans)
    blocks = {f: _spans_block(spans[f]) for f in features}
    prompts = [SUMMARY_PROMPT.format(spans=blocks[f], open=PEAK_OPEN, close=PEAK_CLOSE, cannot=CANNOT_TELL)
               for f in features]
    summaries = dict(zip(features, ask(generator, prompts, cfg.generation(cfg.max_new_tokens)), strict=True))
    for f, answer in summaries.items():
        if not answer:
            log.warning("%s gave an empty summary for feature %d; stored as %r", generator.name, f, CANNOT_TELL)
        summaries[f] = parse_summary(answer)
    to_verify = [f for f in features if summaries[f] != CANNOT_TELL]
    prompts = [VERIFY_PROMPT.format(summary=summaries[f], spans=blocks[f], open=PEAK_OPEN, close=PEAK_CLOSE)
               for f in to_verify]
    verdicts = dict(zip(to_verify, ask(generator, prompts, cfg.generation(cfg.verify_max_new_tokens)), strict=True))
    out = {}
    for f in features:
        verdict = parse_verdict(verdicts[f]) if f in verdicts else False
        if verdict is None:
            log.warning("%s gave no yes/no verdict for feature %d (%r); its summary counts as unverified",
                        generator.name, f, verdicts[f][:80])
        out[f] = LlmExplanation(f, summaries[f], bool(verdict))
    return out


def explain_into_project(project: Project, data: EncodedDataset, generator: Generator, features: Sequence[int],
                         cfg: LlmExplainConfig | None = None, refresh: bool = False,
                         progress: Callable[[int, int], None] | None = None) -> LlmExplainRun:
    """Explain `features` with `generator` and store them in `project`, batch by batch (an interrupted
    run keeps what it stored). `progress(done, total)` counts the features asked for."""
    cfg = cfg or LlmExplainConfig()
    source = llm_source(generator)
    sources = project.explanation_sources()
    user_kept = sorted(f for f in set(features) if sources.get(f) == "user")
    cached = [] if refresh else sorted(f for f in set(features) if sources.get(f) == source)
    todo = sorted(set(features) - set(user_kept) - set(cached))
    spans = feature_spans(data, todo, cfg)
    no_examples = [f for f in todo if f not in spans]
    if no_examples:
        log.info("%d features have no activating sample in %s and were skipped", len(no_examples), data.name)
    asked = sorted(spans)
    # An unverified answer never replaces what another source said (synthesis prompts quote it).
    earlier = {f for f, s in sources.items() if s != source}
    explained: dict[int, LlmExplanation] = {}
    kept_earlier: list[int] = []
    stored = 0
    for first in range(0, len(asked), cfg.features_per_call):
        batch = explain_batch(generator, {f: spans[f] for f in asked[first : first + cfg.features_per_call]}, cfg)
        explained.update(batch)
        kept = sorted(f for f, e in batch.items() if not e.verified and f in earlier)
        kept_earlier += kept
        stored += project.set_explanations({f: e.text for f, e in batch.items() if f not in kept}, source=source)
        if progress is not None:
            progress(len(explained), len(asked))
    return LlmExplainRun(source, explained, stored, cached, user_kept, no_examples, kept_earlier)
