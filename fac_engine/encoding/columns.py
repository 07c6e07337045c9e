"""The per-sample columns of an encoded dataset's samples table: text, label and the file's metadata."""

from collections.abc import Sequence
from typing import Protocol

import pandas as pd
import pyarrow as pa


class _Item(Protocol):
    @property
    def text(self) -> str: ...

    @property
    def label(self) -> object: ...


RESERVED_COLUMNS = ("sample", "n_tokens", "content_start", "truncated", "token_start", "dropped_activations", "text",
                    "label")
"""Columns of the samples table that FAC Studio writes; metadata columns of the same name get a `meta_` prefix."""



def sample_columns(items: Sequence[_Item], frame: pd.DataFrame) -> pa.Table:
    """text, label and the metadata columns of every sample; columns Arrow cannot type become strings."""
    columns: dict[str, pa.Array] = {"text": pa.array([item.text for item in items], pa.string()),
                                    "label": _arrow_column([item.label for item in items])}
    for name in frame.columns:
        key = f"meta_{name}" if str(name) in RESERVED_COLUMNS else str(name)
        columns[key] = _arrow_column(frame[name])
    return pa.table(columns)


def _arrow_column(values: Sequence[object] | pd.Series) -> pa.Array:
    """Values as Arrow, typed when Arrow can; otherwise as strings (None stays null)."""
    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values])
