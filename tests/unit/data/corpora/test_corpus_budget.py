"""Kind budgets: caps keep a seeded subset under the token cap, repeats copy training rows, eval rows at the end."""

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from fac_engine.data.corpora.corpus_budget import KindBudget, apply_budgets


def _frame() -> pd.DataFrame:
    kinds = ["question"] * 3 + ["passage"] * 5 + ["chat"] * 2
    return pd.DataFrame({"text": [f"t{i}" for i in range(10)], "kind": kinds, "tokens": [10] * 10})


def test_caps_repeats_and_eval_split() -> None:
    dropped: Counter[str] = Counter()
    budgets = {"question": KindBudget(None, 3), "passage": KindBudget(25)}
    out = apply_budgets(_frame(), budgets, eval_rows=2, rng=np.random.default_rng(0), dropped=dropped)
    assert dropped == {"texts: over the kind budget": 3}  # passage: 2 of 5 rows fit under 25 tokens
    kept = out.drop_duplicates("text")
    assert Counter(kept["kind"]) == {"question": 3, "passage": 2, "chat": 2}
    held = out[out["split"] == "eval"]
    assert len(held) == 2 and (held["copy"] == 0).all()
    assert list(out["split"]) == ["train"] * (len(out) - 2) + ["eval"] * 2  # held-out rows come last
    train = out[out["split"] == "train"]
    for text, rows in train.groupby("text"):
        kind = rows["kind"].iloc[0]
        assert sorted(rows["copy"]) == list(range(3 if kind == "question" else 1)), text
    assert not set(held["text"]) & set(train["text"])


def test_same_seed_same_corpus() -> None:
    runs = [apply_budgets(_frame(), {"passage": KindBudget(25)}, 2, np.random.default_rng(s), Counter())
            for s in (4, 4, 5)]
    assert runs[0].equals(runs[1]) and not runs[0].equals(runs[2])


def test_budget_checks() -> None:
    with pytest.raises(ValueError, match="repeats must be at least 1"):
        KindBudget(repeats=0)
    with pytest.raises(ValueError, match="max_tokens must be >= 0"):
        KindBudget(-1)
