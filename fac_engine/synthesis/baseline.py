"""The feature-agnostic baseline: plain prompting for labelled queries, with the same generator and budget
as FAC synthesis (docs/METHOD.md section 5 compares the two).

Each label has a few fixed prompts ("Write one test example: one toxic user query ...") used in
turn, framed as FAC synthesis frames its prompts (test data for a content-safety classifier) and,
on a local generator, with the reply pre-filled with `Query:`; nothing about features or coverage
steers it. Outputs are cleaned (`clean_output`); empty and repeated outputs are dropped, counted
and refilled in further rounds (a new sampling seed each round) until every label has its count
or `max_rounds` is reached.
"""

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

import pandas as pd

from fac_engine.atomic import atomic_file
from fac_engine.llm.generators import GenerationConfig, Generator
from fac_engine.llm.protocol import generate_replies, prefill_for
from fac_engine.log import get_logger
from fac_engine.synthesis.templates import PREFILLS, framed_prompt

log = get_logger(__name__)

SOURCE = "baseline"
"""The `source` column of every baseline row."""
GENERIC_PROMPT = framed_prompt("one {label} user query that someone might send to an AI chatbot")
"""Prompt for a label that has no prompts of its own."""
DEFAULT_PROMPTS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "toxic": (
        GENERIC_PROMPT.format(label="toxic"),
        framed_prompt("a rude, offensive or harmful message that a user might type to a chatbot"),
        framed_prompt("a user request to a chatbot that a content moderator would flag as toxic"),
    ),
    "safe": (
        GENERIC_PROMPT.format(label="harmless"),
        framed_prompt("an ordinary, polite question that a user might ask a chatbot"),
        framed_prompt("an everyday request that a user might type to a chatbot"),
    ),
})
"""Prompts per label, used in turn."""
_LEAD_IN = re.compile(r"^(sure|okay|ok|certainly|here)\b[^\n]*:\s*$", re.IGNORECASE)
_LABEL_PREFIX = re.compile(r"^(user\s+)?(query|request|question|message|prompt)\s*:\s*", re.IGNORECASE)
_QUOTES = ('"', "'", "“", "”", "‘", "’", "`")

Progress = Callable[[int, int], None]
"""Called with (rows kept so far, rows wanted)."""


BASELINE_GENERATION = GenerationConfig(max_new_tokens=64, batch_size=8)
"""Default sampling of the baseline: one user query fits in 64 tokens."""


@dataclass(frozen=True)
class BaselineConfig:
    """What the baseline generates."""

    counts: Mapping[str, int]
    """Rows wanted per label, e.g. {"toxic": 200, "safe": 1000}."""
    prompts: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: DEFAULT_PROMPTS)
    """Prompts per label, used in turn; a label without any gets GENERIC_PROMPT."""
    generation: GenerationConfig = BASELINE_GENERATION
    """Sampling settings (temperature and top-p as in FAC synthesis, so only the prompting differs)."""
    max_rounds: int = 5
    """Generation rounds per label at most: the first asks for the count, later ones refill what was dropped."""
    prefill: bool = True
    """Start the local generator's reply with `Query:` and let it continue (as FAC synthesis does); an
    OpenAI-compatible endpoint is never pre-filled."""

    def __post_init__(self) -> None:
        counts = {str(k): int(v) for k, v in self.counts.items()}
        if not counts or any(v < 0 for v in counts.values()) or sum(counts.values()) == 0:
            raise ValueError("Ask for at least one baseline row, and no negative counts.")
        prompts = {str(k): tuple(v) for k, v in self.prompts.items()}
        if any(not v or not all(p.strip() for p in v) for v in prompts.values()):
            raise ValueError("Every label's prompt list needs at least one non-empty prompt.")
        if self.max_rounds < 1:
            raise ValueError(f"max_rounds must be at least 1, not {self.max_rounds}.")
        object.__setattr__(self, "counts", MappingProxyType(counts))
        object.__setattr__(self, "prompts", MappingProxyType(prompts))

    def prompts_for(self, label: str) -> tuple[str, ...]:
        """The label's prompts (GENERIC_PROMPT when it has none)."""
        return self.prompts.get(label) or (GENERIC_PROMPT.format(label=label),)


@dataclass(frozen=True, eq=False)
class BaselineResult:
    """The generated rows and what was dropped on the way."""

    frame: pd.DataFrame
    """One row per kept output: text, label, source ("baseline"), generator (its name), sampling
    (the GenerationConfig of its round as a JSON string), gen_prompt (the prompt it answered)."""
    empty: int
    """Outputs dropped because nothing was left after cleaning."""
    duplicates: int
    """Outputs dropped because the same text was already kept."""
    rounds: Mapping[str, int]
    """Generation rounds used per label."""
    short: Mapping[str, int]
    """Rows still missing per label after max_rounds (only labels that fell short)."""


def clean_output(text: str) -> str:
    """One query from a raw completion: a leading "Query:" label and lead-in lines ("Sure, here is one:")
    dropped, the first remaining line kept, a "Query:" prefix and surrounding quotes removed; "" when nothing
    is left."""
    # A pre-filled "Query:" may be followed by a line break, then the query.
    lines = [line.strip() for line in _LABEL_PREFIX.sub("", text.strip()).splitlines() if line.strip()]
    while lines and _LEAD_IN.match(lines[0]):
        lines.pop(0)
    if not lines:
        return ""
    line = _LABEL_PREFIX.sub("", lines[0]).strip()
    while len(line) >= 2 and line[0] in _QUOTES and line[-1] in _QUOTES:
        line = line[1:-1].strip()
    return line


def generate_baseline(generator: Generator, cfg: BaselineConfig, progress: Progress | None = None
                      ) -> BaselineResult:
    """Generate `cfg.counts` rows per label by plain prompting, refilling dropped outputs."""
    rows: list[dict[str, object]] = []
    seen: set[str] = set()
    dropped = {"empty": 0, "duplicates": 0}
    rounds: dict[str, int] = {}
    short: dict[str, int] = {}
    wanted_total = sum(cfg.counts.values())
    prefill = prefill_for(generator, PREFILLS["query"]) if cfg.prefill else ""
    for label, wanted in cfg.counts.items():
        prompts, kept, asked, rounds[label] = cfg.prompts_for(label), 0, 0, 0
        while kept < wanted and rounds[label] < cfg.max_rounds:
            gen_cfg = replace(cfg.generation, seed=cfg.generation.seed + rounds[label])
            batch = [prompts[(asked + i) % len(prompts)] for i in range(wanted - kept)]
            asked += len(batch)
            rounds[label] += 1
            for prompt, texts in zip(batch, generate_replies(generator, batch, 1, gen_cfg, prefill), strict=True):
                text = clean_output(texts[0]) if texts else ""
                if not text:
                    dropped["empty"] += 1
                elif text in seen:
                    dropped["duplicates"] += 1
                else:
                    seen.add(text)
                    rows.append(_row(text, label, prompt, generator.name, gen_cfg, prefill))
                    kept += 1
            if progress is not None:
                progress(len(rows), wanted_total)
        if kept < wanted:
            short[label] = wanted - kept
            log.warning("baseline: only %d of %d %r rows after %d rounds", kept, wanted, label, cfg.max_rounds)
    log.info("baseline: %d rows, %d empty and %d duplicate outputs dropped", len(rows), dropped["empty"],
             dropped["duplicates"])
    columns = list(_row("", "", "", "", cfg.generation, ""))
    return BaselineResult(pd.DataFrame(rows, columns=columns), dropped["empty"], dropped["duplicates"],
                          MappingProxyType(rounds), MappingProxyType(short))


def _row(text: str, label: str, prompt: str, generator: str, cfg: GenerationConfig, prefill: str
         ) -> dict[str, object]:
    """One output with the provenance columns FAC synthesis exports (synthesis/export.py) use too, and the text
    its reply was pre-filled with ("" when none)."""
    return {"text": text, "label": label, "source": SOURCE, "generator": generator,
            "sampling": json.dumps(asdict(cfg)), "gen_prompt": prompt, "prefill": prefill}


def write_jsonl(frame: pd.DataFrame, path: Path) -> Path:
    """The rows as JSON lines (UTF-8, one object per line), written atomically."""
    path = Path(path)
    with atomic_file(path) as tmp:
        frame.to_json(tmp, orient="records", lines=True, force_ascii=False)
    return path
