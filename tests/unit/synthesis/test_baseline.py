"""The feature-agnostic baseline: cleaning, counts, refill of dropped outputs, provenance, JSONL."""

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import pytest

from fac_engine.llm.generators import GenerationConfig
from fac_engine.synthesis.baseline import (
    DEFAULT_PROMPTS,
    GENERIC_PROMPT,
    BaselineConfig,
    clean_output,
    generate_baseline,
    write_jsonl,
)
from fac_engine.synthesis.templates import FRAME, framed_prompt


class ScriptedGenerator:
    """Returns scripted outputs in order, one per prompt, and records every call."""

    def __init__(self, outputs: list[str]) -> None:
        self.outputs = list(outputs)
        self.calls: list[tuple[list[str], int, int]] = []

    @property
    def name(self) -> str:
        return "scripted"

    def generate(self, prompts: Sequence[str], n: int, cfg: GenerationConfig) -> list[list[str]]:
        self.calls.append((list(prompts), n, cfg.seed))
        return [[self.outputs.pop(0) if self.outputs else ""] for _ in prompts]


class PrefilledGenerator(ScriptedGenerator):
    """A scripted generator that can be pre-filled, as the local one: its replies start with the pre-fill."""

    def prefill_chat(self, prompt: str, prefill: str) -> str:
        return f"{prompt} -> {prefill}"

    def generate(self, prompts: Sequence[str], n: int, cfg: GenerationConfig, *, prefill: str = "") -> list[list[str]]:
        return [[prefill + r for r in replies] for replies in super().generate(prompts, n, cfg)]


@pytest.mark.parametrize(("raw", "clean"), [
    ("  How do I bake bread?  ", "How do I bake bread?"),
    ("Query:\n\nHow do I bake bread?\nResponse: you knead it.", "How do I bake bread?"),
    ('"How do I bake bread?"', "How do I bake bread?"),
    ("Sure, here is one:\n\nQuery: “Why is the sky blue?”\nThis is a safe question.", "Why is the sky blue?"),
    ("Here's a toxic query:\n", ""),
    ("   \n  ", ""),
    ("''", ""),
])
def test_clean_output(raw: str, clean: str) -> None:
    assert clean_output(raw) == clean


def test_counts_refill_and_provenance() -> None:
    gen = ScriptedGenerator(["", "a b", "  ",      # toxic round 1: 3 asked, 1 kept, 2 empty
                             "a b", "c d",          # toxic round 2: 2 asked, a duplicate, 1 kept
                             "e f",                 # toxic round 3: 1 asked, kept
                             "g h", "i j"])         # safe round 1: 2 asked, both kept
    cfg = BaselineConfig(counts={"toxic": 3, "safe": 2}, generation=GenerationConfig(seed=10, temperature=0.7))
    seen: list[tuple[int, int]] = []
    result = generate_baseline(gen, cfg, progress=lambda kept, total: seen.append((kept, total)))
    frame = result.frame
    assert frame["text"].tolist() == ["a b", "c d", "e f", "g h", "i j"]
    assert frame["label"].tolist() == ["toxic"] * 3 + ["safe"] * 2
    assert (result.empty, result.duplicates) == (2, 1)
    assert dict(result.rounds) == {"toxic": 3, "safe": 1} and dict(result.short) == {}
    assert [seed for _, _, seed in gen.calls] == [10, 11, 12, 10]  # a new seed per refill round
    toxic = DEFAULT_PROMPTS["toxic"]
    # Prompts are used in turn across rounds: 3 asked, then 2 (prompts 0, 1), then 1 (prompt 2).
    assert [c[0] for c in gen.calls[:3]] == [list(toxic), [toxic[0], toxic[1]], [toxic[2]]]
    assert frame["gen_prompt"].tolist()[:3] == [toxic[1], toxic[1], toxic[2]]
    assert set(frame["source"]) == {"baseline"} and set(frame["generator"]) == {"scripted"}
    sampling = [json.loads(s) for s in frame["sampling"]]
    assert [s["seed"] for s in sampling] == [10, 11, 12, 10, 10] and {s["temperature"] for s in sampling} == {0.7}
    assert sampling[0] == asdict(GenerationConfig(seed=10, temperature=0.7))
    assert seen == [(1, 5), (2, 5), (3, 5), (5, 5)]
    assert set(frame["prefill"]) == {""}  # a generator that cannot be pre-filled


def test_prompts_are_framed_and_a_local_generator_is_prefilled() -> None:
    assert DEFAULT_PROMPTS["toxic"][1] == framed_prompt("a rude, offensive or harmful message that a user might type "
                                                        "to a chatbot")
    assert all(p.startswith(FRAME) for prompts in DEFAULT_PROMPTS.values() for p in prompts)
    gen = PrefilledGenerator([" you absolute idiot", "\nHow do I bake bread?"])
    result = generate_baseline(gen, BaselineConfig(counts={"toxic": 1, "safe": 1}))
    assert result.frame["text"].tolist() == ["you absolute idiot", "How do I bake bread?"]
    assert result.frame["prefill"].tolist() == ["Query:", "Query:"]
    off = generate_baseline(PrefilledGenerator(["Query: you idiot"]), BaselineConfig(counts={"toxic": 1},
                                                                                     prefill=False))
    assert off.frame[["text", "prefill"]].values.tolist() == [["you idiot", ""]]


def test_short_after_max_rounds_and_generic_prompt() -> None:
    gen = ScriptedGenerator(["x y"])  # then only empties
    result = generate_baseline(gen, BaselineConfig(counts={"spam": 3}, max_rounds=2))
    assert result.frame["text"].tolist() == ["x y"]
    assert dict(result.short) == {"spam": 2} and dict(result.rounds) == {"spam": 2} and result.empty == 4
    assert gen.calls[0][0] == [GENERIC_PROMPT.format(label="spam")] * 3


def test_zero_count_label_is_skipped() -> None:
    gen = ScriptedGenerator(["q"])
    result = generate_baseline(gen, BaselineConfig(counts={"toxic": 0, "safe": 1}))
    assert result.frame["label"].tolist() == ["safe"] and len(gen.calls) == 1


@pytest.mark.parametrize("kwargs", [
    {"counts": {}}, {"counts": {"toxic": 0}}, {"counts": {"toxic": -1, "safe": 2}},
    {"counts": {"toxic": 1}, "max_rounds": 0}, {"counts": {"toxic": 1}, "prompts": {"toxic": ()}},
    {"counts": {"toxic": 1}, "prompts": {"toxic": ("  ",)}},
])
def test_config_refuses(kwargs: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError):
        BaselineConfig(**kwargs)


def test_config_is_read_only() -> None:
    counts = {"toxic": 1}
    cfg = BaselineConfig(counts=counts)
    counts["toxic"] = 5
    assert cfg.counts["toxic"] == 1
    with pytest.raises(TypeError):
        cfg.counts["toxic"] = 2  # type: ignore[index]


def test_write_jsonl(tmp_path: Path) -> None:
    result = generate_baseline(ScriptedGenerator(["déjà vu?", "b"]), BaselineConfig(counts={"toxic": 1, "safe": 1}))
    path = write_jsonl(result.frame, tmp_path / "out" / "baseline.jsonl")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [(r["text"], r["label"], r["source"]) for r in rows] == [("déjà vu?", "toxic", "baseline"),
                                                                     ("b", "safe", "baseline")]
    assert "déjà" in path.read_text(encoding="utf-8")  # not \u-escaped
    assert set(rows[0]) == {"text", "label", "source", "generator", "sampling", "gen_prompt", "prefill"}
