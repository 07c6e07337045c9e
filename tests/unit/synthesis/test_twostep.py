"""Synthesis modes on the word-detector model (tests/unit/encode_fixtures.py): its SAE reads the embeddings
(layer 0), where every token's residual is a one-hot vector (typical norm 1), and feature f reads coordinate
12 + f. Steering at alpha 8 makes the tied LM head emit WORDS[f]; at 0.5 it barely moves it."""

from pathlib import Path

import pytest

from fac_engine.errors import FacError
from fac_engine.llm.backend import BackendSpec
from fac_engine.llm.generators import GenerationConfig, LocalGenerator
from fac_engine.llm.steering import SteeringConfig
from fac_engine.models.spec import ModelSpec
from fac_engine.synthesis.candidates import SynthesisMode
from fac_engine.synthesis.curation import SynthesisStore
from fac_engine.synthesis.fluency import FluencyConfig
from fac_engine.synthesis.job import JobSettings, run_job
from fac_engine.synthesis.review import regenerate
from fac_engine.synthesis.sampled import Scored, choose_alpha
from fac_engine.synthesis.scoring import SampleScore, Scorer
from fac_engine.synthesis.templates import Demo, Sample
from fac_engine.synthesis.twostep import FeatureTarget, SynthesisConfig, _pair
from fac_engine.workspace.datasets import Workspace
from fac_engine.workspace.project import Project
from tests.app.conftest import build_app_workspace
from tests.unit.synthesis.synthesis_fixtures import PhraseGenerator, word_scorer


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_app_workspace(tmp_path_factory.mktemp("modes"))


@pytest.fixture(scope="module")
def scorer(ws: Path) -> Scorer:
    return word_scorer(ws)


def _job(ws: Path, name: str, mode: SynthesisMode, features: list[int], fluency: FluencyConfig | None = None,
         prefill: bool = False) -> tuple[SynthesisStore, int]:
    """A job on the word-detector model; not pre-filled unless asked (the tiny model's replies are then the same as
    before pre-fill existed)."""
    base = Project(ws).config
    project = Project(ws, name)
    project.update(model=base.model, sae=base.sae, anchor="anchor", seed="seed")
    cfg = SynthesisConfig(n_step1=3, m_step2=3, mode=mode, steering=SteeringConfig(alphas=(0.5, 8.0)), prefill=prefill,
                          generation=GenerationConfig(max_new_tokens=2, batch_size=8),
                          fluency=fluency or FluencyConfig())
    settings = JobSettings(cfg, BackendSpec(model=base.model), ModelSpec(base.model, device="cpu", dtype="float32"),
                           base.sae, None, "anchor", ("seed", "anchor"))
    store = SynthesisStore(project)
    return store, store.create_job(settings.to_json_dict(), features)


def test_steer_mode_sweeps_alpha_then_keeps_the_best_and_records_it(ws: Path, scorer: Scorer) -> None:
    store, job = _job(ws, "steer", "steer", [2, 6])
    run_job(store, job, Workspace(ws), LocalGenerator(scorer.lm), scorer)
    every = store.candidates(job, proposed_only=False)
    for feature, word in ((2, "dog"), (6, "hello")):
        mine = [c for c in every if c.feature == feature]
        assert {(c.step, c.provenance.alpha) for c in mine} == {(1, 0.5), (1, 8.0), (2, 8.0)}  # step 1 sweeps,
        # step 2 keeps the best strength
        assert all(c.provenance.mode == "steer" and c.provenance.layer == 0 for c in mine)
        step2 = [c for c in mine if c.step == 2]
        assert [c.text for c in step2] == [f"{word} {word}"] * 3 and {c.g for c in step2} == {1 + feature / 2}
        assert "Write one test example: one realistic user query" in step2[0].prompt
        assert "phrases" not in step2[0].prompt and step2[0].provenance.prefill == ""
    rows = store.feature_rows(job)
    assert list(rows["pair"]) == ["{}", "{}"]  # no contrastive pair in steer mode
    assert rows["note"][0] == "steered at alpha 8 (layer 0); 3 of 3 step-2 candidates above delta"


def test_a_local_generator_is_prefilled_and_provenance_records_it(ws: Path, scorer: Scorer) -> None:
    store, job = _job(ws, "prefill", "steer", [6], prefill=True)
    run_job(store, job, Workspace(ws), LocalGenerator(scorer.lm), scorer)
    every = store.candidates(job, proposed_only=False)
    # "Query:" opens every reply; the parsed sample is what follows it. At alpha 0.5 the tiny model only closes the
    # turn after the pre-fill (nothing left to parse), at 8 it writes the word its feature detects.
    assert {(c.step, c.provenance.alpha, c.text) for c in every} == {(1, 8.0, "hello hello"), (2, 8.0, "hello hello")}
    assert {c.provenance.prefill for c in every} == {"Query:"}
    assert store.feature_rows(job)["note"][0] == ("steered at alpha 8 (layer 0); 2 empty or malformed outputs; 3 of 3 "
                                                  "step-2 candidates above delta")
    old = store.candidates(job)[0]
    assert "pre-filled with 'Query:'" in old.provenance.describe()
    cfg = JobSettings.from_json_dict(store.job_config(job)).synthesis
    new = regenerate(store, old.cand_id, LocalGenerator(scorer.lm), scorer, cfg)
    assert new is not None
    fresh = store.candidate(new)
    assert (fresh.text, fresh.provenance.prefill) == ("hello hello", "Query:")  # made again as it was made


def test_a_generator_that_cannot_be_prefilled_gets_the_prompt_alone(ws: Path, scorer: Scorer) -> None:
    store, job = _job(ws, "no-prefill", "prompt", [2], prefill=True)
    run_job(store, job, Workspace(ws), PhraseGenerator(), scorer)
    every = store.candidates(job, proposed_only=False)
    assert every and {c.provenance.prefill for c in every} == {""}


def test_regenerating_a_steered_candidate_steers_at_its_strength(ws: Path, scorer: Scorer) -> None:
    store, job = _job(ws, "regen-steer", "steer", [6])
    run_job(store, job, Workspace(ws), LocalGenerator(scorer.lm), scorer)
    old = store.candidates(job)[0]
    cfg = JobSettings.from_json_dict(store.job_config(job)).synthesis
    new = regenerate(store, old.cand_id, LocalGenerator(scorer.lm), scorer, cfg)  # unsteered: steered here
    assert new is not None
    fresh = store.candidate(new)
    assert (fresh.text, fresh.g, fresh.prompt) == ("hello hello", 4.0, old.prompt)
    assert (fresh.provenance.mode, fresh.provenance.alpha, fresh.provenance.layer) == ("steer", 8.0, 0)
    assert fresh.provenance.perplexity is not None


def test_steered_modes_refuse_a_generator_that_cannot_be_steered(ws: Path, scorer: Scorer) -> None:
    store, job = _job(ws, "both", "both", [2])
    with pytest.raises(FacError, match="an HTTP endpoint cannot be steered"):
        run_job(store, job, Workspace(ws), PhraseGenerator(), scorer)
    assert store.progress(job).state == "failed"


def test_flagged_candidates_can_be_dropped_before_review(ws: Path, scorer: Scorer) -> None:
    store, job = _job(ws, "drop", "prompt", [2], FluencyConfig(max_perplexity=1.01, drop_flagged=True))
    run_job(store, job, Workspace(ws), PhraseGenerator(), scorer)
    kept = store.candidates(job, proposed_only=False)
    assert len(store.candidates(job)) == 0 and [c.text for c in kept] == ["the dog !", "the dog !", "cat", "cat"]
    assert all(c.provenance.flagged for c in kept)
    assert store.feature_rows(job)["note"][0] == ("2 empty or malformed outputs; 1 of 2 step-2 candidates above "
                                                  "delta; 4 flagged by the fluency guard and dropped")


def _scored(g: float, alpha: float, flagged: bool = False) -> Scored:
    from fac_engine.synthesis.fluency import Fluency

    score = SampleScore(g, 0, "", [], [], [], [])
    return Scored(Sample("x", None, {}), score, alpha, Fluency(10.0, 0.0, flagged))


def test_choose_alpha_weighs_g_above_delta_and_fluency() -> None:
    generated = [1.0, 2.0, 4.0, 1.0, 2.0, 4.0]
    # alpha 4 has the highest g, but both of its candidates are gibberish: it counts 0 per output.
    scored = [_scored(3.0, 1.0), _scored(0.0, 1.0), _scored(2.0, 2.0), _scored(2.0, 2.0),
              _scored(9.0, 4.0, flagged=True), _scored(9.0, 4.0, flagged=True)]
    assert choose_alpha(scored, generated, threshold=0.0) == 2.0  # 2.0 per output beats alpha 1's 1.5
    assert choose_alpha(scored, generated, threshold=2.5) == 1.0  # only alpha 1's 3.0 is above delta
    # Nothing usable anywhere: fewer flagged outputs first, then the gentler strength.
    assert choose_alpha(scored, generated, threshold=10.0) == 1.0
    assert choose_alpha([], [None, None], threshold=0.0) is None


def test_config_round_trip_and_checks() -> None:
    cfg = SynthesisConfig(n_step1=3, mode="both", steering=SteeringConfig(alphas=(1.0, 2.0, 3.0), steer_prompt=True),
                          fluency=FluencyConfig(max_perplexity=80.0, drop_flagged=True))
    assert SynthesisConfig.from_json_dict(cfg.to_json_dict()) == cfg
    old = {k: v for k, v in SynthesisConfig().to_json_dict().items()
           if k not in ("mode", "steering", "fluency", "prefill")}
    assert SynthesisConfig.from_json_dict(old).mode == "prompt"  # jobs saved before the modes existed
    assert SynthesisConfig().prefill and not SynthesisConfig.from_json_dict(old).prefill  # nor pre-fill
    with pytest.raises(ValueError, match="at least that many candidates"):
        SynthesisConfig(n_step1=2, mode="steer")
    with pytest.raises(ValueError, match="Unknown synthesis mode"):
        SynthesisConfig(mode="magic")  # type: ignore[arg-type]
    assert SynthesisConfig.from_json_dict({k: v for k, v in old.items() if k != "evidence"}).evidence == "phrases"
    with pytest.raises(ValueError, match=r"Unknown prompt evidence 'words'; use phrases, spans or both\."):
        SynthesisConfig(evidence="words")  # type: ignore[arg-type]


def test_the_pair_never_contrasts_a_text_with_itself() -> None:
    top = Demo("anchor top", 5.0, "<<top>>", source="anchor")
    target = FeatureTarget(brief=None, label="toxic", fallback=top)  # type: ignore[arg-type]
    one = [_scored(3.0, None)._replace(sample=Sample("only one", None, {"text": "only one"}))]
    good, bad, note = _pair(target, one, threshold=0.0)
    assert (good.text, bad.text, note) == ("only one", "(none)", "one step-1 text only: no x- to contrast")
    # Below delta the anchor's top sample is x+, so the lone candidate is x-.
    good, bad, note = _pair(target, one, threshold=4.0)
    assert (good, bad.text, bad.source) == (top, "only one", "step 1")
    assert note == "no step-1 candidate activated the feature: x+ is the anchor's top sample"
    two = [*one, _scored(1.0, None)._replace(sample=Sample("weaker", None, {"text": "weaker"}))]
    assert _pair(target, two, threshold=0.0)[:2] == (Demo("only one", 3.0, one[0].score.span),
                                                    Demo("weaker", 1.0, two[1].score.span))
