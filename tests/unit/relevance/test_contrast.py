"""Relevance by label contrast, by hand, and by an LLM judge with a scripted generator."""

import math
from pathlib import Path

import numpy as np
import pytest

from fac_engine.coverage.relevant_ids import read_relevant_file
from fac_engine.coverage.slices import LOG_ODDS_ALPHA, SliceCounts
from fac_engine.errors import FacError
from fac_engine.features.explain_llm import CANNOT_TELL
from fac_engine.llm.generators import GenerationConfig
from fac_engine.relevance.contrast import ContrastConfig, label_contrast, write_relevant_file
from fac_engine.relevance.judge import JudgeConfig, judge_features, parse_judge_verdict
from tests.unit.fake_generator import ScriptedGenerator

# 4 safe and 2 toxic samples; feature 0 fires on both toxic ones, feature 1 on every safe one,
# feature 2 on one of each.
SLICES = SliceCounts(("safe", "toxic"), np.array([[0, 4, 1], [2, 0, 1]]), np.array([4, 2]), 0.0)
# 100 safe, 20 toxic, 7 unlabelled samples; feature 0 fires on 15 toxic and 2 safe (and on every unlabelled one),
# feature 1 on 4 toxic and 3 safe, feature 2 on 3 toxic and none else, feature 3 on 12 toxic and 40 safe.
BIG = SliceCounts(("(no label)", "safe", "toxic"), np.array([[7, 0, 0, 7], [2, 3, 0, 40], [15, 4, 3, 12]]),
                  np.array([7, 100, 20]), 0.0)


def hypergeom_tail(a: int, n: int, b: int, m: int) -> float:
    """P(X >= a), X ~ Hypergeom(population n + m, a + b successes, n draws): Fisher's one-sided exact p by hand."""
    k, total = a + b, n + m
    return sum(math.comb(k, x) * math.comb(total - k, n - x) for x in range(a, min(k, n) + 1)) / math.comb(total, n)


def test_exact_p_values_by_hand() -> None:
    result = label_contrast(SLICES, ContrastConfig("toxic", min_log_odds=1.0, fdr=0.05, min_samples=2))
    assert result.log_odds == pytest.approx([math.log(45), -math.log(45), math.log(7 / 3)])
    # Feature 0: both toxic samples fire and no safe one: C(2,2) C(4,0) / C(6,2) = 1/15 (the z-test said 0.007).
    assert result.p_value.tolist() == pytest.approx([1 / 15, 1.0, 9 / 15])
    # Benjamini-Hochberg over 3 tests: 1/15 * 3/1 = 0.2; 9/15 * 3/2 = 0.9; 1.
    assert result.q_value.tolist() == pytest.approx([0.2, 1.0, 0.9])
    assert result.features.tolist() == []  # two toxic samples prove nothing at q = 0.05
    assert (result.n_label, result.n_other) == (2, 4)
    lenient = label_contrast(SLICES, ContrastConfig("toxic", fdr=0.2, min_samples=2))
    assert lenient.features.tolist() == [0] and lenient.expected_false == pytest.approx(0.2)


def test_fisher_and_benjamini_hochberg_on_a_larger_table() -> None:
    result = label_contrast(BIG, ContrastConfig("toxic", min_log_odds=1.0, fdr=0.05, min_samples=3))
    # Unlabelled samples take no part: 20 toxic vs 100 safe, whatever the 7 unlabelled ones do.
    assert (result.n_label, result.n_other) == (20, 100)
    p = [hypergeom_tail(15, 20, 2, 100), hypergeom_tail(4, 20, 3, 100), hypergeom_tail(3, 20, 0, 100),
         hypergeom_tail(12, 20, 40, 100)]
    assert result.p_value.tolist() == pytest.approx(p, rel=1e-9)
    order = np.argsort(p)
    ranked = np.array(p)[order] * 4 / np.arange(1, 5)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    expected_q = np.empty(4)
    expected_q[order] = np.minimum(q, 1.0)
    assert result.q_value.tolist() == pytest.approx(expected_q.tolist(), rel=1e-9)
    # Feature 2 (3 of 20 vs 0 of 100): p = C(117,17)/C(120,20) = 0.00406, q = 0.00406 * 4/2 = 0.0081.
    assert result.p_value[2] == pytest.approx(math.comb(117, 17) / math.comb(120, 20), rel=1e-9)
    assert result.q_value[2] == pytest.approx(0.008119, abs=1e-6)
    assert result.q_value[3] == pytest.approx(0.0812, abs=1e-4)  # 12 of 20 vs 40 of 100: not enough
    assert result.features.tolist() == [0, 2, 1]  # strongest log-odds first
    assert result.expected_false == pytest.approx(0.15)


# The 20 toxic samples of a 20-toxic / 100-safe anchor split by category: 15 insult, 5 threat. Feature 0 fires on
# 3 threats (no insult) and 1 safe sample, feature 1 on 12 insults (no threat) and 5 safe, feature 2 on 2 insults,
# 1 threat and 20 safe.
POOLED = SliceCounts(("safe", "toxic"), np.array([[1, 5, 20], [3, 12, 3]]), np.array([100, 20]), 0.0)
PARTS = SliceCounts(("insult", "threat"), np.array([[0, 12, 2], [3, 0, 1]]), np.array([15, 5]), 0.0)


def test_parts_of_the_label_are_tested_apart() -> None:
    cfg = ContrastConfig("toxic", fdr=0.01, min_samples=3, by="category")
    pooled = label_contrast(POOLED, cfg)
    # Pooled, feature 0 (3 of 20 vs 1 of 100) has p = 0.01447 and q = 0.01447 * 3/2 = 0.0217 > 0.01.
    assert pooled.p_value[0] == pytest.approx(hypergeom_tail(3, 20, 1, 100), rel=1e-9)
    assert pooled.q_value[0] == pytest.approx(hypergeom_tail(3, 20, 1, 100) * 3 / 2, rel=1e-9)
    assert pooled.features.tolist() == [1] and (pooled.groups, pooled.group) == ((), None)
    split = label_contrast(POOLED, cfg, PARTS)
    # Six tests; threats alone give feature 0 p = tail(3 of 5 vs 1 of 100) = 0.00021, the second smallest: q = p * 6/2.
    p_threat = hypergeom_tail(3, 5, 1, 100)
    assert split.p_value[0] == pytest.approx(p_threat, rel=1e-9) and p_threat == pytest.approx(2.1024e-4, rel=1e-4)
    assert split.q_value[0] == pytest.approx(p_threat * 3, rel=1e-9)
    assert split.p_value[1] == pytest.approx(hypergeom_tail(12, 15, 5, 100), rel=1e-9)
    assert split.q_value[1] == pytest.approx(hypergeom_tail(12, 15, 5, 100) * 6, rel=1e-9)
    # Feature 2's best test is its threat one (p 0.680 against 0.831 for insults).
    assert split.p_value[2] == pytest.approx(hypergeom_tail(1, 5, 20, 100), rel=1e-9)
    a = LOG_ODDS_ALPHA
    odds_0 = math.log((3 + a) / (2 + a)) - math.log((1 + a) / (99 + a))
    odds_1 = math.log((12 + a) / (3 + a)) - math.log((5 + a) / (95 + a))
    assert split.log_odds[:2].tolist() == pytest.approx([odds_0, odds_1], rel=1e-12)
    assert split.features.tolist() == [0, 1]  # odds_0 = 4.53 > odds_1 = 4.13
    assert split.groups == ("insult", "threat") and split.group.tolist() == [1, 0, 1]
    assert [split.group_of(f) for f in (0, 1)] == ["threat", "insult"]
    assert (split.n_label, split.n_other, split.discoveries) == (20, 100, 2)
    assert split.expected_false == pytest.approx(0.02)


def test_the_z_tests_false_positive_does_not_pass() -> None:
    # 3 of 1,000 vs 0 of 2,000: the pooled z-test gave p ~ 0.004; Fisher's exact test gives 0.037.
    slices = SliceCounts(("safe", "toxic"), np.array([[0], [3]]), np.array([2000, 1000]), 0.0)
    result = label_contrast(slices, ContrastConfig("toxic", fdr=0.01, min_samples=3))
    assert result.p_value[0] == pytest.approx(1000 * 999 * 998 / (3000 * 2999 * 2998), rel=1e-9)
    assert result.p_value[0] == pytest.approx(0.037, abs=5e-4)
    assert result.features.tolist() == []


def test_unknown_label_and_bad_config() -> None:
    with pytest.raises(FacError, match="Label 'spam' is not in the anchor; its labels are: safe, toxic"):
        label_contrast(SLICES, ContrastConfig("spam"))
    with pytest.raises(FacError, match="its labels are: safe, toxic"):
        label_contrast(BIG, ContrastConfig("(no label)"))
    for bad in (0.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="false-discovery rate must be in"):
            ContrastConfig("toxic", fdr=bad)
    with pytest.raises(ValueError, match="log-odds floor must be a finite"):
        ContrastConfig("toxic", min_log_odds=float("nan"))


def test_written_file_reads_back(tmp_path: Path) -> None:
    result = label_contrast(SLICES, ContrastConfig("toxic", fdr=0.2, min_samples=2))
    path = tmp_path / "relevant.txt"
    write_relevant_file(path, result, "fac relevance --anchor a --label toxic")
    assert path.read_text(encoding="utf-8").splitlines() == [
        "# fac relevance --anchor a --label toxic",
        "# 1 features relevant to label 'toxic' (false-discovery rate 0.2: about 0.2 by chance)", "0"]
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
