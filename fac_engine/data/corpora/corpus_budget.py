"""Balancing the training corpus by kind: a token cap and a repeat count per kind, and the eval split."""

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fac_engine.data.corpora.kinds import CorpusKind


@dataclass(frozen=True)
class KindBudget:
    """How much of one kind of text goes into the training corpus."""

    max_tokens: int | None = None
    """Cap on the kind's distinct tokens (a seeded random subset of its texts is kept); None keeps all."""
    repeats: int = 1
    """Copies of each training text of this kind (scarce, valuable kinds are weighted up this way)."""

    def __post_init__(self) -> None:
        if self.max_tokens is not None and self.max_tokens < 0:
            raise ValueError(f"max_tokens must be >= 0 or None, got {self.max_tokens}.")
        if self.repeats < 1:
            raise ValueError(f"repeats must be at least 1, got {self.repeats}.")


DEFAULT_BUDGETS: Mapping[CorpusKind, KindBudget] = {
    "instruction": KindBudget(None, 2),
    "question": KindBudget(None, 2),
    "harmful": KindBudget(None, 4),
    "toxic": KindBudget(None, 4),
    "chat": KindBudget(5_000_000),
    "answer": KindBudget(8_000_000),
    "passage": KindBudget(8_000_000),
    "literature": KindBudget(None),
    "review": KindBudget(None),
}
"""User-query-like kinds (docs/EMBEDDED_SAE.md: what the paper's SAE saw) kept whole and repeated;
answers, passages and chat capped so they do not drown them (measured sizes in docs/EMBEDDED_SAE.md)."""


def _within_cap(tokens: np.ndarray, cap: int | None, rng: np.random.Generator) -> np.ndarray:
    """Positions (into `tokens`) of a random subset whose tokens add up to at most `cap`, in original order."""
    if cap is None or int(tokens.sum()) <= cap:
        return np.arange(len(tokens))
    order = rng.permutation(len(tokens))
    keep = order[np.cumsum(tokens[order]) <= cap]
    return np.sort(keep)


def apply_budgets(frame: pd.DataFrame, budgets: Mapping[CorpusKind, KindBudget], eval_rows: int,
                  rng: np.random.Generator, dropped: Counter[str]) -> pd.DataFrame:
    """Cap each kind, hold out `eval_rows` rows, repeat the training rows; adds `split` and `copy`.

    Output order: the shuffled training rows, then the shuffled held-out rows. Held-out rows are
    drawn after the caps (so they follow the training mixture) and are never repeated.
    """
    kept_parts = []
    for kind, rows in frame.groupby("kind", sort=True):
        budget = budgets.get(str(kind), KindBudget())  # type: ignore[call-overload]
        positions = _within_cap(rows["tokens"].to_numpy(), budget.max_tokens, rng)
        dropped["texts: over the kind budget"] += len(rows) - len(positions)
        kept_parts.append(rows.iloc[positions])
    kept = pd.concat(kept_parts).sort_index()
    held = np.zeros(len(kept), dtype=bool)
    held[rng.choice(len(kept), size=min(eval_rows, len(kept)), replace=False)] = True
    train, held_out = kept[~held], kept[held]
    repeats = train["kind"].map(lambda k: budgets.get(k, KindBudget()).repeats).to_numpy()
    train = train.loc[train.index.repeat(repeats)].copy()
    train["copy"] = train.groupby(level=0).cumcount().to_numpy()
    train["split"] = "train"
    held_out = held_out.assign(copy=0, split="eval")
    train = train.iloc[rng.permutation(len(train))]
    held_out = held_out.iloc[rng.permutation(len(held_out))]
    return pd.concat([train, held_out]).reset_index(drop=True)
