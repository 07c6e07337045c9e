"""Per-category scores of a probe: which kinds of positive test rows a training set catches and which it misses.

A test set whose rows say what kind they are (a `category` column, as in the demo's test set) shows more
than one AUPRC can: a seed that lacks a kind of toxicity scores low on exactly that kind, and a synthesis
that filled the gap should lift it. For every category that holds positive test rows two numbers per seed:

- recall of the positive class at the decision threshold: the share of that category's positive rows
  scored >= the threshold (the rule F1 uses);
- AUPRC of that category's positive rows against all negative rows (every negative stays in, so the
  category's positives are ranked among the same negatives the overall AUPRC ranks them among).

Rows without a category (None, NaN or empty) count in the overall metrics only.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from sklearn.metrics import average_precision_score

from fac_engine.workspace.datasets import EncodedDataset


@dataclass(frozen=True)
class CategoryCount:
    """A category of the test set that holds positive rows."""

    name: str
    """The category as the test set writes it."""
    n_positive: int
    """Labelled test rows of the category with the positive label."""


@dataclass(frozen=True)
class CategoryScore:
    """One probe's scores on the positive test rows of one category."""

    category: str
    """The category (`CategoryCount.name`)."""
    recall: float
    """Share of the category's positive rows scored >= the decision threshold."""
    auprc: float
    """Average precision of the category's positive rows against all negative test rows."""


class CategoryIndex(NamedTuple):
    """The categories of the labelled test rows, ready for scoring."""

    categories: tuple[CategoryCount, ...]
    """Categories with positive rows, sorted by name."""
    of_row: np.ndarray
    """int64[N]: each labelled test row's position in `categories`; -1 for a row without a category or in a
    category with no positive rows."""


def _category(value: object) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == "":
        return None
    return str(value)


def category_index(values: Sequence[object], is_positive: np.ndarray) -> CategoryIndex:
    """Group the labelled rows (`values[i]` is row i's category) by the categories that have positive rows."""
    names = [_category(v) for v in values]
    positive = np.asarray(is_positive, dtype=bool)
    counts: dict[str, int] = {}
    for name, pos in zip(names, positive.tolist(), strict=True):
        if name is not None and pos:
            counts[name] = counts.get(name, 0) + 1
    order = {name: i for i, name in enumerate(sorted(counts))}
    index = np.array([order.get(n, -1) if n is not None else -1 for n in names], dtype=np.int64)
    return CategoryIndex(tuple(CategoryCount(n, counts[n]) for n in sorted(counts)), index)


def read_categories(data: EncodedDataset, rows: np.ndarray, is_positive: np.ndarray,
                    column: str | None) -> CategoryIndex | None:
    """The categories of the dataset's labelled `rows` from its `column`; None without the column (or with no
    category holding positive rows), so a dataset without one simply has no per-category scores."""
    table = data.samples()
    if column is None or column not in table.column_names:
        return None
    values = table.column(column).to_pylist()
    index = category_index([values[int(r)] for r in rows], is_positive)
    return index if index.categories else None


def category_scores(index: CategoryIndex, is_positive: np.ndarray, scores_N: np.ndarray,
                    threshold: float) -> tuple[CategoryScore, ...]:
    """Recall at `threshold` and AUPRC against all negatives of each category's positive rows (the test set
    holds negatives: the evaluation checks both classes first)."""
    y = np.asarray(is_positive, dtype=bool)
    scores = np.asarray(scores_N)
    out = []
    for i, category in enumerate(index.categories):
        mine = y & (index.of_row == i)
        ranked = mine | ~y
        out.append(CategoryScore(category.name, float(np.mean(scores[mine] >= threshold)),
                                 float(average_precision_score(y[ranked], scores[ranked]))))
    return tuple(out)
