"""The fluency guard: over-steered gibberish is flagged (or dropped) before a reviewer sees it.

Each candidate gets its perplexity under the unsteered scoring model (the generator itself when
steering, so this is how surprising the text is to the model without the push) and its repetition
rate, the share of its word 3-grams that repeat an earlier one (a steered model often loops on the
feature's token). A candidate over either threshold is flagged.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F

from fac_engine.models.batching import batches_by_token_budget
from fac_engine.models.loader import LoadedModel
from fac_engine.models.template import EncodedText
from fac_engine.synthesis.dedup import words

PERPLEXITY_TOKEN_BUDGET = 1024
"""Padded tokens per forward pass: the logits of a batch hold budget x vocabulary floats."""


@dataclass(frozen=True)
class FluencyConfig:
    """When a candidate counts as gibberish."""

    max_perplexity: float = 100.0
    """Flag a candidate whose perplexity under the unsteered model is above this. On the demo, fluent queries
    written by the embedded model scored 7-60 under it, over-steered word salad from 108 up to
    several thousand (docs/RESULTS.md, steered synthesis)."""
    max_repetition: float = 0.3
    """Flag a candidate when more than this share of its word 3-grams repeat an earlier one (0 = none repeat)."""
    drop_flagged: bool = False
    """Drop flagged candidates before review (they stay in the job's record, never proposed); off: they are
    proposed only after unflagged ones, with a warning on the Review page."""

    def __post_init__(self) -> None:
        if self.max_perplexity <= 1:
            raise ValueError("The perplexity limit must be above 1 (a perfectly predicted text scores 1).")
        if not 0 <= self.max_repetition <= 1:
            raise ValueError("The repetition limit is a share of word 3-grams, in [0, 1].")


class Fluency(NamedTuple):
    """One candidate's fluency and whether the guard flags it."""

    perplexity: float
    """exp(mean negative log-likelihood) of its content tokens under the unsteered model."""
    repetition: float
    """Share of its word 3-grams that repeat an earlier one."""
    flagged: bool


def repetition_rate(text: str, n: int = 3) -> float:
    """Share of the word n-grams of `text` that repeat an earlier one (0.0 when it has fewer than n words)."""
    tokens = words(text)
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return 1.0 - len(set(grams)) / len(grams) if grams else 0.0


def perplexities(lm: LoadedModel, encoded: Sequence[EncodedText]) -> list[float]:
    """Perplexity of each text's content tokens (those after the first token; 1.0 when there are none)."""
    targets = [[t >= 1 and c for t, c in enumerate(e.content())] for e in encoded]
    out = [1.0] * len(encoded)
    for batch in batches_by_token_budget([e.ids for e in encoded], PERPLEXITY_TOKEN_BUDGET, lm.pad_id):
        ids_BT = batch.input_ids.to(lm.device)
        with torch.inference_mode():
            logits_BTV = lm.model(input_ids=ids_BT, attention_mask=batch.attention_mask.to(lm.device)).logits
        nll_BT = F.cross_entropy(logits_BTV[:, :-1].float().transpose(1, 2), ids_BT[:, 1:], reduction="none")
        for b, row in enumerate(batch.rows):
            scored = torch.tensor(targets[row][1:], dtype=torch.bool, device=nll_BT.device)
            if scored.any():
                out[row] = math.exp(float(nll_BT[b, : len(scored)][scored].mean()))
    return out


def fluency(lm: LoadedModel, encoded: Sequence[EncodedText], texts: Sequence[str], cfg: FluencyConfig
            ) -> list[Fluency]:
    """Perplexity, repetition and the flag of each candidate (`encoded[k]` is `texts[k]` as the SAE reads it)."""
    out = []
    for ppl, text in zip(perplexities(lm, encoded), texts, strict=True):
        rep = repetition_rate(text)
        out.append(Fluency(ppl, rep, ppl > cfg.max_perplexity or rep > cfg.max_repetition))
    return out
