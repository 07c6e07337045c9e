"""LLM explanations (summarise, verify, store) on the word-detector workspace with a scripted generator.

Dataset (tests/unit/encode_fixtures.py: feature f fires on WORDS[f]): "the cat sat", "hello world",
"the dog", "cat cat on the mat". Tokens: "<|im_start|> user" + words + "<|im_end|>", content from 2.
"""

from pathlib import Path

import pytest

from fac_engine.encoding.encode import EncodeConfig, encode_dataset, new_manifest
from fac_engine.features.explain_llm import (
    CANNOT_TELL,
    LlmExplainConfig,
    explain_into_project,
    feature_spans,
    parse_summary,
    parse_verdict,
)
from fac_engine.llm.generators import GenerationConfig, LocalGenerator
from fac_engine.models.loader import load_model
from fac_engine.models.spec import ModelSpec
from fac_engine.sae.load import load_sae
from fac_engine.workspace.datasets import EncodedDataset, Workspace
from fac_engine.workspace.project import Project
from tests.unit.encode_fixtures import build_word_model, build_word_sae, items
from tests.unit.fake_generator import ScriptedGenerator

TEXTS = ["the cat sat", "hello world", "the dog", "cat cat on the mat"]


@pytest.fixture
def data(tmp_path: Path) -> EncodedDataset:
    lm = load_model(ModelSpec(str(build_word_model(tmp_path / "model")), device="cpu", dtype="float32"))
    sae = load_sae(build_word_sae(tmp_path / "sae"))
    cfg = EncodeConfig(name="anchor")
    its, meta = items(TEXTS)
    base = new_manifest("anchor", lm, sae, "sae", Path(__file__), "opts", len(its), cfg, "text", None)
    ws = Workspace(tmp_path / "ws")
    encode_dataset(ws, its, meta, lm, sae, cfg, base=base)
    return ws.open("anchor")


def script(prompt: str, cfg: GenerationConfig) -> str:
    """cat: verified summary; the: the verifier says no; dog: empty output; sat: the model cannot tell."""
    if "VERDICT" in prompt:
        return "VERDICT: yes" if '"The word cat."' in prompt else "Looks off.\nVERDICT: **No**"
    if "<<cat>>" in prompt:
        return "The word cat.\nIt fires on cat."
    if "<<the>>" in prompt:
        return "Summary: **the article**"
    if "<<sat>>" in prompt:
        return "Cannot tell."
    return ""


def test_spans_mark_the_peak_token_in_a_window(data: EncodedDataset) -> None:
    spans = feature_spans(data, [1, 5, 99], LlmExplainConfig(window_before=1, window_after=1))
    # cat: sample 0 (peak at position 3) then sample 3 (first cat, position 2 = content start); 99 never fires.
    assert spans == {1: ["the <<cat>> sat", "<<cat>> cat"], 5: ["the <<mat>> <|im_end|>"]}
    wide = feature_spans(data, [1], LlmExplainConfig(top_spans=1))
    assert wide == {1: ["the <<cat>> sat <|im_end|>"]}


def test_summaries_are_verified_and_stored(data: EncodedDataset, tmp_path: Path) -> None:
    project = Project(tmp_path / "ws")
    fake = ScriptedGenerator(script)
    progress: list[tuple[int, int]] = []
    run = explain_into_project(project, data, fake, [0, 1, 2, 3, 99], progress=lambda d, t: progress.append((d, t)))
    assert project.explanations() == {0: CANNOT_TELL, 1: "The word cat.", 2: CANNOT_TELL, 3: CANNOT_TELL}
    assert set(project.explanation_sources().values()) == {"llm:fake"} and run.source == "llm:fake"
    assert {f: (e.summary, e.verified) for f, e in run.explained.items()} == {
        0: ("the article", False), 1: ("The word cat.", True), 2: (CANNOT_TELL, False), 3: (CANNOT_TELL, False)}
    assert (run.stored, run.no_examples, run.cached, run.user_kept) == (4, [99], [], [])
    # One batched call for the four summaries, one for the two summaries worth verifying.
    assert [len(prompts) for prompts, _ in fake.calls] == [4, 2]
    assert [cfg.max_new_tokens for _, cfg in fake.calls] == [48, 12]
    assert progress == [(4, 4)]
    assert "1. the <<cat>> sat <|im_end|>\n2. <<cat>> cat on the mat\n\nIn one" in fake.calls[0][0][1]


def test_cache_skips_refresh_asks_again_and_user_edits_stay(data: EncodedDataset, tmp_path: Path) -> None:
    project = Project(tmp_path / "ws")
    project.set_explanation(0, "my own words")
    fake = ScriptedGenerator(script)
    cfg = LlmExplainConfig(features_per_call=1)
    progress: list[tuple[int, int]] = []
    first = explain_into_project(project, data, fake, [0, 1, 2], cfg, progress=lambda d, t: progress.append((d, t)))
    assert first.user_kept == [0] and sorted(first.explained) == [1, 2] and progress == [(1, 2), (2, 2)]
    assert not any("<<the>>" in p for p in fake.prompts)  # a user's feature is never asked about
    calls = len(fake.calls)
    again = explain_into_project(project, data, fake, [0, 1, 2], cfg)
    assert len(fake.calls) == calls and again.cached == [1, 2] and again.explained == {}
    refreshed = explain_into_project(project, data, fake, [0, 1, 2], cfg, refresh=True)
    assert len(fake.calls) > calls and sorted(refreshed.explained) == [1, 2]
    assert project.explanations() == {0: "my own words", 1: "The word cat.", 2: CANNOT_TELL}
    other = ScriptedGenerator(script, name="other")  # another generator is not a cache hit
    assert sorted(explain_into_project(project, data, other, [1], cfg).explained) == [1]
    assert project.explanation_sources()[1] == "llm:other"


def test_an_unverified_answer_keeps_the_earlier_explanation(data: EncodedDataset, tmp_path: Path) -> None:
    project = Project(tmp_path / "ws")
    project.set_explanations({0: "offline: the", 1: "offline: cat", 3: "offline: sat"}, source="offline:anchor")
    run = explain_into_project(project, data, ScriptedGenerator(script), [0, 1, 2, 3])
    # the: verifier says no; cat: verified; dog: empty, nothing earlier; sat: cannot tell.
    assert project.explanations() == {0: "offline: the", 1: "The word cat.", 2: CANNOT_TELL, 3: "offline: sat"}
    assert project.explanation_sources() == {0: "offline:anchor", 1: "llm:fake", 2: "llm:fake", 3: "offline:anchor"}
    assert (run.stored, run.kept_earlier) == (2, [0, 3])
    again = explain_into_project(project, data, ScriptedGenerator(script), [0, 1, 2, 3])
    assert (again.cached, sorted(again.explained), again.kept_earlier) == ([1, 2], [0, 3], [0, 3])


def test_missing_and_malformed_answers_are_cannot_tell(data: EncodedDataset, tmp_path: Path) -> None:
    class Short(ScriptedGenerator):
        def generate(self, prompts, n, cfg):  # type: ignore[no-untyped-def]
            self.calls.append((list(prompts), cfg))
            return [["The word cat."]] if "VERDICT" not in prompts[0] else [[]]

    project = Project(tmp_path / "ws")
    run = explain_into_project(project, data, Short(script), [1, 2])  # two prompts, one answer; no verdict
    assert project.explanations() == {1: CANNOT_TELL, 2: CANNOT_TELL}
    assert run.explained[1].summary == "The word cat." and not run.explained[1].verified


def test_parsers() -> None:
    assert parse_summary('\n  "Insults about intelligence"  \nmore') == "Insults about intelligence"
    assert parse_summary("Answer: **Insults** about 'smart'") == "Insults about 'smart'"
    assert parse_summary("  ") == CANNOT_TELL and parse_summary("cannot tell - no pattern") == CANNOT_TELL
    assert [parse_verdict(a) for a in ("VERDICT: yes", "verdict - NO.", "**Yes**, it fits", "The spans say no",
                                       "Yes... VERDICT: no", "unsure")] == [True, False, True, False, False, None]
    with pytest.raises(ValueError, match="at least 1"):
        LlmExplainConfig(top_spans=0)


def test_local_generator_runs_and_stores(data: EncodedDataset, tmp_path: Path, tiny_model_dir: Path,
                                         one_torch_thread: None) -> None:
    lm = load_model(ModelSpec(str(tiny_model_dir), device="cpu", dtype="float32"))
    project = Project(tmp_path / "ws")
    cfg = LlmExplainConfig(max_new_tokens=6, verify_max_new_tokens=4)
    run = explain_into_project(project, data, LocalGenerator(lm), [1, 6, 7], cfg)
    assert sorted(run.explained) == [1, 6, 7] and run.stored == 3
    assert set(project.explanation_sources().values()) == {f"llm:{lm.name}"}
    assert all(text.strip() for text in project.explanations().values())
