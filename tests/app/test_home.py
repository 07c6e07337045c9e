"""The home page on the word-detector workspace (tests/app/conftest.py).

Feature f fires on WORDS[f] = the cat dog sat on mat hello world with activation 1 + f/2.
Anchor: "the cat sat" {0,1,3}, "hello world" {6,7}, "the dog" {0,2}, "dog dog mat" {2,5},
"<script>... the" {0}: F(anchor) = {0,1,2,3,5,6,7}, counts 3,1,2,1,1,1,1 (sum 10), mean g 1, 1.5, 2,
2.5, 3.5, 4, 4.5 (sum 19). Seed: "the cat" {0,1}, "the mat" {0,5}: covered {0,1,5}, missing {2,3,6,7}.
At delta 0: FAC 3/7, FAC_freq (3+1+1)/10, FAC_magnitude (1+1.5+3.5)/19.
"""

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from fac_app import encode_panel
from fac_app.state import FEATURE_KEY, PROJECT_KEY
from fac_engine.errors import FacError
from fac_engine.workspace.datasets import Workspace, write_manifest
from fac_engine.workspace.jobs import job_status, list_jobs
from fac_engine.workspace.project import Project, ProjectConfig

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def _home() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _wait_for_job(ws: Path, name: str, timeout: float = 240.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = job_status(ws, name)
        if status is not None and status.state != "running":
            return status.state
        time.sleep(0.5)
    raise AssertionError(f"the job encoding {name} did not finish")


def test_headline_has_exact_fac_numbers(app_workspace: Path) -> None:
    at = _home()
    assert _metrics(at) == {"FAC": "42.86 %", "Covered features": "3", "Missing features": "4",
                            "Anchor features": "7", "FAC_freq": "50.00 %", "FAC_magnitude": "31.58 %"}
    assert any("intersect with the anchor's features" in c.value for c in at.caption)
    assert at.selectbox(key="home_anchor::default").value == "anchor"
    assert at.selectbox(key="home_seed::default").value == "seed"
    assert at.button(key="enc_start").label == "Start encoding"
    table = at.dataframe[0].value
    assert table["dataset"].tolist() == ["anchor", "seed"]
    assert table["role"].tolist() == ["anchor", "seed"]
    assert table["samples"].tolist() == [5, 2]
    assert table["labels"].tolist() == ["label", "label"]
    assert table["SAE codes"].tolist() == ["all active kept", "all active kept"]
    assert not [m for m in at.markdown if m.proto.allow_html and "<script>" in m.value]


def test_threshold_slider_changes_fac_and_is_saved(app_workspace: Path) -> None:
    at = _home()
    at.slider[0].set_value(1.0).run()  # "the" (g = 1.0) no longer counts: anchor {1,2,3,5,6,7}, seed {1,5}
    assert not at.exception
    assert _metrics(at) == {"FAC": "33.33 %", "Covered features": "2", "Missing features": "4",
                            "Anchor features": "6", "FAC_freq": "28.57 %", "FAC_magnitude": "27.78 %"}  # 2/7, 5/18
    assert Project(app_workspace).config.threshold == 1.0
    at.slider[0].set_value(1.5).run()  # anchor {2,3,5,6,7}, seed {5}
    assert (_metrics(at)["FAC"], _metrics(at)["Covered features"], _metrics(at)["Anchor features"]) == (
        "20.00 %", "1", "5")


def test_choosing_roles_saves_them(app_workspace: Path) -> None:
    at = _home()
    at.selectbox(key="home_seed::default").set_value("anchor").run()
    assert not at.exception
    assert Project(app_workspace).config.seed == "anchor"
    assert _metrics(at)["FAC"] == "100.00 %" and _metrics(at)["Missing features"] == "0"


def test_new_project_starts_without_roles(app_workspace: Path) -> None:
    at = _home()
    at.text_input(key="home_new_project").set_value("second")
    at.button(key="home_create_project").click().run()
    assert not at.exception
    assert at.session_state[PROJECT_KEY] == "second"
    assert Project.names(app_workspace) == ["default", "second"]
    second = Project(app_workspace, "second").config
    assert (second.model, second.sae, second.anchor) == (Project(app_workspace).config.model,
                                                          Project(app_workspace).config.sae, None)
    assert any("Pick the **anchor**" in i.value for i in at.info)
    assert not at.metric


def test_bad_project_name_is_an_error_not_a_traceback(app_workspace: Path) -> None:
    at = _home()
    at.text_input(key="home_new_project").set_value("../evil")
    at.button(key="home_create_project").click().run()
    assert not at.exception
    assert any("Invalid dataset name" in e.value for e in at.error)


def test_empty_workspace_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAC_WORKSPACE", str(tmp_path / "empty"))
    at = _home()
    assert any("No encoded datasets yet" in i.value and "Start encoding" in i.value for i in at.info)
    assert not at.metric
    assert at.button(key="enc_start")
    at.button(key="enc_start").click().run()
    assert any("Upload a file or give a path first" in e.value for e in at.error)


def test_upload_encodes_in_the_background(app_workspace: Path) -> None:
    at = _home()
    rows = [{"text": "the dog sat on the mat", "label": "toxic"}, {"text": "hello", "label": "safe"}]
    content = "".join(json.dumps(r) + "\n" for r in rows).encode()
    at.file_uploader(key="enc_upload").set_value(("more data.jsonl", content, "application/json")).run()
    assert at.text_input(key="enc_name").placeholder == "more-data"
    at.text_input(key="enc_label_field").set_value("label")
    at.button(key="enc_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert (app_workspace / ".uploads" / "more-data.jsonl").read_bytes() == content
    assert [j.name for j in list_jobs(app_workspace)] == ["more-data"]
    assert _wait_for_job(app_workspace, "more-data") == "done"
    at.run()  # a fresh run (a reload) finds the finished job and lists the dataset
    assert not at.exception
    assert [s.value for s in at.success] == ["Encoded **more-data** (2 samples)."]
    assert at.dataframe[0].value["dataset"].tolist() == ["anchor", "more-data", "seed"]
    assert "more-data" in at.selectbox(key="home_seed::default").options
    at.run()
    assert not at.success  # said once


def test_first_dataset_becomes_the_anchor(app_workspace: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = Project(app_workspace).config
    ws = tmp_path / "fresh"
    Project(ws).update(model=cfg.model, sae=cfg.sae)
    monkeypatch.setenv("FAC_WORKSPACE", str(ws))
    at = _home()
    at.radio(key="enc_source").set_value("path").run()
    at.text_input(key="enc_path").set_value(str(app_workspace.parent / "anchor.jsonl"))
    at.text_input(key="enc_label_field").set_value("label")
    at.button(key="enc_start").click().run()
    assert not at.exception and not at.error
    assert _wait_for_job(ws, "anchor") == "done"
    at.run()
    assert [s.value for s in at.success] == ["Encoded **anchor** (5 samples). It is now the project's anchor."]
    assert Project(ws).config.anchor == "anchor"
    assert at.selectbox(key="home_anchor::default").value == "anchor"
    assert at.selectbox(key="home_seed::default").value is None


def test_failed_job_shows_its_message_and_can_be_dismissed(app_workspace: Path) -> None:
    at = _home()
    at.file_uploader(key="enc_upload").set_value(("bad.jsonl", b'{"text": "the cat"}\n', "application/json"))
    at.text_input(key="enc_name").set_value("bad")
    at.text_input(key="enc_text_field").set_value("body")
    at.button(key="enc_start").click().run()
    assert _wait_for_job(app_workspace, "bad") == "failed"
    at.run()
    errors = [e.value for e in at.error]
    assert any(e.startswith("Encoding **bad** failed: error:") and "body" in e for e in errors), errors
    at.button(key="job_dismiss_bad").click().run()
    assert not at.exception
    assert not at.error and list_jobs(app_workspace) == []


def test_encode_options_and_names() -> None:
    cfg = ProjectConfig(model="m", sae="s", layer=3)
    assert encode_panel.encode_options(cfg, text_field=" body ", label_field="", schema="text", limit=10, chat=False,
                               max_length=256, overwrite=True) == [
        "--model", "m", "--sae", "s", "--schema", "text", "--max-length", "256", "--layer", "3",
        "--text-field", "body", "--limit", "10", "--plain", "--overwrite"]
    assert encode_panel.encode_options(ProjectConfig(model="m", sae="s"), text_field="", label_field="y", schema="auto",
                               limit=0, chat=True, max_length=512, overwrite=False) == [
        "--model", "m", "--sae", "s", "--schema", "auto", "--max-length", "512", "--label-field", "y"]
    assert encode_panel.suggested_name("My Data (v2).csv") == "My-Data-v2"
    assert encode_panel.suggested_name("...") == "dataset"
    assert encode_panel.safe_upload_name("set", "x.JSONL") == "set.jsonl"
    with pytest.raises(FacError, match="unsupported file type"):
        encode_panel.safe_upload_name("set", "x.exe")


def test_feature_links_open_the_explorer(app_workspace: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["feature"] = "5"
    at.query_params["project"] = "default"
    at.run()
    assert at.session_state[FEATURE_KEY] == 5
    bad = AppTest.from_file(APP, default_timeout=60)
    bad.query_params["feature"] = "5"
    bad.query_params["project"] = "nope"
    bad.run()
    assert not bad.exception
    assert any("Ignored a link" in w.value for w in bad.warning)
    assert Project.names(app_workspace) == ["default"]  # no project made up from a link


def test_dropped_activations_show_a_warning_badge(app_workspace: Path) -> None:
    seed = Workspace(app_workspace).manifest("seed")
    assert seed is not None
    write_manifest(Workspace(app_workspace).folder("seed"), replace(seed, dropped_activations=1234))
    table = _home().dataframe[0].value
    assert table["SAE codes"].tolist() == ["all active kept", "⚠️ 1,234 dropped (SAE max_active cap)"]
