"""The candidate of FAC synthesis: as a run records it (`NewCandidate`) and as the curation store holds
it with its review state (`Candidate`), how it was made (`Provenance`), with the row form of the
`candidates` table."""

import json
import sqlite3
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, NamedTuple, get_args

from fac_engine.synthesis.templates import TaskName, TextKind

ReviewStatus = Literal["pending", "accepted", "rejected", "edited"]
"""Where a proposed candidate stands: not decided yet, kept, dropped, or edited by a reviewer (and re-scored)."""
STATUSES: tuple[ReviewStatus, ...] = get_args(ReviewStatus)


class SampleCodes(NamedTuple):
    """Every feature a sample activates and its pooled (max over content tokens) activation, as stored."""

    features: list[int]
    values: list[float]

    def to_json(self) -> str:
        """The stored form: {"features": [...], "values": [...]}."""
        return json.dumps(self._asdict())

SynthesisMode = Literal["prompt", "steer", "both"]
"""`prompt`: the two-step prompts; `steer`: the task alone, the generator steered along the feature's decoder
direction; `both`: the two-step prompts and steering (docs/METHOD.md section 4.1)."""
MODES: tuple[SynthesisMode, ...] = get_args(SynthesisMode)


@dataclass(frozen=True)
class Provenance:
    """How a candidate was made (synthesis mode, steering strength and layer) and the fluency guard's verdict.
    Candidates made before steered synthesis existed read as mode `prompt`, fluency not measured."""

    mode: SynthesisMode = "prompt"
    """How it was synthesised: prompted, steered, or both."""
    alpha: float | None = None
    """Steering strength, in units of the layer's median residual norm; None when not steered."""
    layer: int | None = None
    """The steered layer (hidden_states index); None when not steered."""
    perplexity: float | None = None
    """Perplexity of its content tokens under the unsteered model; None when not measured."""
    repetition: float | None = None
    """Share of its word 3-grams that repeat an earlier one; None when not measured."""
    flagged: bool = False
    """The fluency guard flags it as possible gibberish (perplexity or repetition above the job's limits)."""
    kind: TextKind = "sample"
    """What the text reads as: a sample, a refusal, or meta-text about the task (`templates.text_kind`)."""
    prefill: str = ""
    """The text the generator's reply was started with and continued from (`templates.PREFILLS`); "" when it was
    not pre-filled (the option off, an OpenAI-compatible endpoint, or made before pre-fill existed)."""

    def describe(self) -> str:
        """`mode steer, steered at α 0.5 on layer 15 · perplexity 12.3, repeated 3-grams 0% · reply pre-filled with
        'Query:'`."""
        line = f"mode {self.mode}"
        if self.alpha is not None:
            line += f", steered at α {self.alpha:g} on layer {self.layer}"
        if self.perplexity is not None and self.repetition is not None:
            line += f" · perplexity {self.perplexity:.1f}, repeated 3-grams {self.repetition:.0%}"
        if self.prefill:
            line += f" · reply pre-filled with {self.prefill!r}"
        if self.kind != "sample":
            line += f" · reads as {'a refusal' if self.kind == 'refusal' else 'meta-text about the task'}"
        return line

    def to_json(self) -> str:
        """As the `provenance` column stores it."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | None) -> "Provenance":
        """Read back what `to_json` wrote (NULL, in rows stored before the column existed: the defaults)."""
        return cls() if text is None else cls(**json.loads(text))


@dataclass(frozen=True)
class NewCandidate:
    """A scored candidate as the synthesis run records it."""

    feature: int
    """The missing feature it was generated for."""
    step: int
    """1 = contrastive-pair candidate, 2 = feature-covered synthesis (only step 2 is proposed)."""
    task: TaskName
    label: str | None
    text: str
    """The sample as one text (what is encoded and deduplicated)."""
    fields: dict[str, str]
    """The sample's columns for export (`text`, or `instruction` + `response`, ...)."""
    messages: list[list[str]] | None
    """[[role, content], ...] or None for a single user turn."""
    prompt: str
    """The prompt it answered."""
    generator: str
    params: dict[str, Any]
    """Sampling parameters (temperature, top-p, max tokens, seed...)."""
    g: float
    """Its max activation of the target feature over content tokens."""
    threshold: float
    """delta it was proposed against."""
    span: str
    """The text around the peak token, the peak marked <<like this>>."""
    tokens: list[str]
    activations: list[float]
    """The target feature's activation on each of `tokens`."""
    pooled: SampleCodes
    """Every feature the sample activates (what the live FAC adds)."""
    duplicate_of: str | None = None
    """`dataset:row` or `candidate:id` it nearly repeats, if any."""
    duplicate_similarity: float | None = None
    rank: int | None = None
    """Place among the feature's proposed candidates (0 = best)."""
    proposed: bool = False
    """Shown for review; the others (step 1, below delta) are kept for provenance only."""
    provenance: Provenance = field(default_factory=Provenance)
    """Mode, steering strength and layer, and the fluency guard's verdict."""


@dataclass(frozen=True, kw_only=True)
class Candidate(NewCandidate):
    """A stored candidate: what the run recorded, plus its ids and where its review stands."""

    cand_id: int
    job_id: int
    status: ReviewStatus
    edited: bool
    """A reviewer changed the text (it was re-scored)."""
    original_text: str | None
    """The generated text before the first edit."""
    created_at: str
    updated_at: str
    updated_by: str
    """Who made the last change (a reviewer, or `synthesis`)."""

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "Candidate":
        """A row of `SELECT {CANDIDATE_COLUMNS}` from the candidates table."""
        values = {name: row[name] for name in CANDIDATE_COLUMNS}
        for name in JSON_COLUMNS:
            values[name] = None if values[name] is None else json.loads(values[name])
        values["proposed"], values["edited"] = bool(values["proposed"]), bool(values["edited"])
        values["provenance"] = Provenance.from_json(values["provenance"])
        values["pooled"] = SampleCodes(**json.loads(values["pooled"]))
        return cls(**values)


CANDIDATE_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Candidate))
"""Columns of the candidates table, in `Candidate` field order."""
JSON_COLUMNS = ("fields", "messages", "params", "tokens", "activations")
"""Columns stored as JSON text."""


def insert_row(job_id: int, c: NewCandidate, stamp: str) -> tuple[Any, ...]:
    """The values of `curation._INSERT` for one new candidate."""
    return (job_id, c.feature, c.step, c.task, c.label, c.text, json.dumps(c.fields),
            None if c.messages is None else json.dumps(c.messages), c.prompt, c.generator, json.dumps(c.params),
            float(c.g), float(c.threshold), c.span, json.dumps(c.tokens), json.dumps(c.activations),
            c.pooled.to_json(), c.duplicate_of, c.duplicate_similarity, c.rank, int(c.proposed),
            c.provenance.to_json(), stamp, stamp)
