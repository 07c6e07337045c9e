"""Relevance by label contrast, by hand, and by an LLM judge with a scripted generator."""

import math
from pathlib import Path

import numpy as np
import pytest

from fac_engine.coverage.fac import read_relevant_file
from fac_engine.coverage.slices import SliceCounts
from fac_engine.errors import FacError
from fac_engine.features.explain_llm import CANNOT_TELL
from fac_engine.llm.generators import GenerationConfig
from fac_engine.relevance.contrast import ContrastConfig, label_contrast, write_relevant_file
from fac_engine.relevance.judge import JudgeConfig, judge_features, parse_judge_verdict
from tests.unit.fake_generator import ScriptedGenerator

# 4 safe and 2 toxic samples; feature 0 fires on both toxic ones, feature 1 on every safe one,
# feature 2 on one of each.
SLICES = SliceCounts(("safe", "toxic"), np.array([[0, 4, 1], [2, 0, 1]]), np.array([4, 2]), 0.0)


def test_log_odds_p_values_and_cut_by_hand() -> None:
    result = label_contrast(SLICES, ContrastConfig("toxic", min_log_odds=1.0, max_p=0.01, min_samples=2))
    assert result.log_odds == pytest.approx([math.log(45), -math.log(45), math.log(7 / 3)])
    # Feature 0: rates 1 vs 0, pooled 1/3, se sqrt(1/3 * 2/3 * (1/2 + 1/4)) = sqrt(1/6).
    assert result.p_value[0] == pytest.approx(0.5 * math.erfc(math.sqrt(6) / math.sqrt(2)))
    assert result.p_value[0] == pytest.approx(0.00715, abs=1e-5)
    assert result.features.tolist() == [0]
    assert (result.n_label, result.n_other) == (2, 4)
    strict = label_contrast(SLICES, ContrastConfig("toxic", max_p=0.005, min_samples=2))
    assert strict.features.tolist() == []
    safe = label_contrast(SLICES, ContrastConfig("safe", min_log_odds=1.0, max_p=0.05))
    assert safe.features.tolist() == [1]


def test_unknown_label_and_bad_config() -> None:
    with pytest.raises(FacError, match="Label 'spam' is not in the anchor; its labels are: safe, toxic"):
        label_contrast(SLICES, ContrastConfig("spam"))
    with pytest.raises(ValueError, match="max_p"):
        ContrastConfig("toxic", max_p=0.0)


def test_written_file_reads_back(tmp_path: Path) -> None:
    result = label_contrast(SLICES, ContrastConfig("toxic", max_p=0.01, min_samples=2))
    path = tmp_path / "relevant.txt"
    write_relevant_file(path, result, "fac relevance --anchor a --label toxic")
    assert path.read_text(encoding="utf-8").splitlines() == [
        "# fac relevance --anchor a --label toxic", "# 1 features relevant to label 'toxic'", "0"]
    assert read_relevant_file(path, 3) == frozenset({0})


# LLM judge


def test_judge_verdict_parsing() -> None:
    answers = ["Probably.", "maybe", "**Yes**", "No, not really", "I'd say yes, probably", "garbage", "Nope", ""]
    assert [parse_judge_verdict(a) for a in answers] == ["Probably", "Maybe", "Yes", "No", "Yes", None, None, None]


def test_judge_asks_once_more_then_counts_no() -> None:
    def script(prompt: str, cfg: GenerationConfig) -> str:
        if "insults" in prompt:
            return "**Yes**"
        if "weather" in prompt:
            return "No."
        if "swear words" in prompt:
            return "Probably."
        if "greetings" in prompt:  # garbage first, parseable when asked again
            return "maybe" if cfg.seed == 1 else "Hmm, hard to say"
        return "garbage"

    fake = ScriptedGenerator(script)
    explanations = {1: "insults", 2: "weather talk", 3: "greetings", 4: CANNOT_TELL, 5: "punctuation", 6: "",
                    7: "swear words"}
    progress: list[tuple[int, int]] = []
    result = judge_features(fake, "detecting toxic user queries", explanations, JudgeConfig(features_per_call=4),
                            progress=lambda d, t: progress.append((d, t)))
    assert result.verdicts == {1: "Yes", 2: "No", 3: "Maybe", 5: "No", 7: "Probably"}
    assert result.relevant == frozenset({1, 3, 7})
    assert result.counts == {"Yes": 1, "Probably": 1, "Maybe": 1, "No": 2}
    assert (result.unparsed, result.skipped) == ([5], [4, 6])
    # Batch [1, 2, 3, 5], its re-ask [3, 5], then batch [7].
    assert [len(prompts) for prompts, _ in fake.calls] == [4, 2, 1]
    assert [cfg.seed for _, cfg in fake.calls] == [0, 1, 0]
    assert progress == [(4, 5), (5, 5)]
    assert "Task: detecting toxic user queries\n\nFeature description: insults" in fake.calls[0][0][0]
    with pytest.raises(FacError, match="needs a task rubric"):
        judge_features(fake, "  ", explanations)
