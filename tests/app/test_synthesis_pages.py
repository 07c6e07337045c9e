"""The Synthesis and Review pages on the word-detector workspace (tests/app/conftest.py).

The seed misses features dog(2), sat(3), hello(6), world(7); seed FAC 3/7. A job run with the
scripted PhraseGenerator (tests/unit/synthesis/synthesis_fixtures.py) proposes one candidate per
feature: "the dog !" (g 2.0), "the cat sat !" (2.5), "hello world !" (4.0 for hello, 4.5 for world).
"""

import json
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from fac_engine.synthesis.curation import SynthesisStore
from fac_engine.synthesis.job import JobSettings
from fac_engine.workspace.datasets import Workspace
from fac_engine.workspace.project import Project
from tests.unit.synthesis.synthesis_fixtures import scripted_job

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def _page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metric(at: AppTest, label: str) -> str:
    return next(str(m.value) for m in at.metric if m.label == label)


def test_synthesis_page_starts_a_background_job(app_workspace: Path) -> None:
    at = _page("app_pages/5_Synthesis.py")
    assert "Target list: selected (0 features)" in [s.value for s in at.subheader]
    Project(app_workspace).add_to_list("selected", [2, 6])
    at = _page("app_pages/5_Synthesis.py")
    assert at.dataframe[0].value["feature"].tolist() == [2, 6]
    local = at.selectbox(key="syn_local_model")  # the project's model first, then the named offline generators
    assert local.options[1:] == ["Qwen2.5-Coder-0.5B-Instruct (downloaded on first use, 491 MB)",
                                 "Qwen2.5-Coder-1.5B-Instruct (downloaded on first use, 1,117 MB)"]
    assert local.options[0].startswith("the project's model (") and local.index == 0
    at.number_input(key="syn_n1").set_value(2)
    at.number_input(key="syn_m2").set_value(2)
    at.number_input(key="syn_max_new").set_value(8)
    at.selectbox(key="syn_mode").set_value("steer")
    at.text_input(key="syn_alphas").set_value("0.5, 8")
    assert at.checkbox(key="syn_prefill").value  # on by default
    at.checkbox(key="syn_prefill").uncheck()
    at.button[0].click().run()  # the form's submit button
    assert not at.exception, [e.value for e in at.exception]
    store = SynthesisStore(Project(app_workspace))
    assert store.job_ids() == [1]
    settings = JobSettings.from_json_dict(store.job_config(1))
    assert (settings.synthesis.n_step1, settings.synthesis.m_step2, settings.synthesis.generation.max_new_tokens) == (
        2, 2, 8)
    assert settings.backend.kind == "local" and settings.anchor == "anchor"
    assert (settings.synthesis.mode, settings.synthesis.steering.alphas, settings.synthesis.prefill) == (
        "steer", (0.5, 8.0), False)
    deadline = time.time() + 120
    while store.progress(1).state in ("queued", "running") and time.time() < deadline:
        time.sleep(0.5)
    progress = store.progress(1)
    assert (progress.state, progress.features_done, progress.features_total) == ("done", 2, 2), progress.message
    at = _page("app_pages/5_Synthesis.py")
    assert any("Job 1 · done · 2 of 2 features" in str(p.proto.text) for p in at.get("progress"))


def test_the_projects_mode_is_preselected_and_steering_another_model_is_refused(app_workspace: Path) -> None:
    Project(app_workspace).update(synthesis_mode="both")
    Project(app_workspace).add_to_list("selected", [2])
    at = _page("app_pages/5_Synthesis.py")
    assert at.selectbox(key="syn_mode").value == "both"
    at.selectbox(key="syn_local_model").set_value("qwen2.5-0.5b")
    at.button[0].click().run()
    errors = [e.value.replace("\\", "") for e in at.error]  # shown as escaped Markdown
    model = Project(app_workspace).config.model
    assert errors == ["Mode Both (two-step prompts + steering) steers the SAE's own model, so the generator must be "
                      f"the project's local model ({model}); choose it, or the mode Prompt (two-step)."]
    assert SynthesisStore(Project(app_workspace)).job_ids() == []


def test_review_accept_reject_edit_and_live_fac(app_workspace: Path) -> None:
    store, ids = scripted_job(app_workspace)
    with store.project.db() as db:  # as if no step-1 candidate had activated feature 7: x+ came from the anchor
        db.execute("UPDATE synth_features SET pair = json_set(pair, '$.x_plus.source', 'anchor') WHERE feature = 7")
    at = _page("app_pages/6_Review.py")
    queue = at.dataframe[-1].value
    assert dict(zip(queue["feature"], queue["x+ from anchor"], strict=True)) == {2: False, 3: False, 6: False, 7: True}
    assert _metric(at, "FAC of the seed") == "42.86%" and _metric(at, "FAC of seed + accepted") == "42.86%"
    assert any("Candidate 1 of 4" in m.value for m in at.markdown)
    # The word model is random beyond its embeddings, so every text is unlikely under it: flagged.
    assert any(c.value.startswith("How it was made: mode prompt · perplexity") for c in at.caption)
    assert any("fluency guard flags this candidate" in w.value for w in at.warning)
    at.button(key="review_accept").click().run()  # best-first within features: feature 2 comes first
    assert store.candidate(ids[2]).status == "accepted"
    assert _metric(at, "FAC of seed + accepted") == "57.14%" and _metric(at, "Accepted samples") == "1"
    at.button(key="review_reject").click().run()
    assert store.candidate(ids[3]).status == "rejected"
    at.button(key="review_edit").click().run()
    at.text_area(key=f"review_text_{ids[6]}").set_value("hello cat")
    next(b for b in at.button if b.label == "Save and re-score").click().run()
    assert not at.exception, [e.value for e in at.exception]
    edited = store.candidate(ids[6])
    assert (edited.status, edited.text, edited.g, edited.original_text) == (
        "edited", "hello cat", 4.0, "hello world !")
    at = _page("app_pages/6_Review.py")  # a fresh session (a reload): decisions are in the project
    assert any("Candidate 1 of 2" in m.value for m in at.markdown)  # the edited one and world remain
    at.number_input(key="review_bulk_g").set_value(3.0)
    at.button(key="review_bulk").click().run()
    assert {store.candidate(ids[f]).status for f in (6, 7)} == {"accepted"}
    assert _metric(at, "FAC of seed + accepted") == "85.71%"  # sat (3) was rejected


def test_review_exports_and_encodes_accepted_samples(app_workspace: Path) -> None:
    store, ids = scripted_job(app_workspace)
    store.decide([ids[2], ids[7]], "accepted")
    at = _page("app_pages/6_Review.py")
    at.checkbox(key="review_export_merge").check().run()
    at.text_input(key="review_encode_name").set_value("after")
    at.button(key="review_encode").click().run()
    assert not at.exception, [e.value for e in at.exception]
    exported = app_workspace / ".exports" / "after.jsonl"
    assert [json.loads(line)["text"] for line in exported.read_text().splitlines()] == [
        "the cat", "the mat", "the dog !", "hello world !"]
    deadline = time.time() + 120
    while (Workspace(app_workspace).manifest("after") is None
           or Workspace(app_workspace).manifest("after").status != "complete") and time.time() < deadline:  # type: ignore[union-attr]
        time.sleep(0.5)
    manifest = Workspace(app_workspace).manifest("after")
    assert manifest is not None and manifest.n_samples == 4 and manifest.label_field == "label"
