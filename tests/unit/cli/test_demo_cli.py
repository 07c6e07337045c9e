"""`fac demo` fills the synthesis target list with the seed's missing features (word-detector workspace:
the seed misses dog 2, sat 3, hello 6, world 7), encoding each demo set once with one model load."""

import json
from pathlib import Path

import pytest

from fac_engine.cli import common, main
from fac_engine.cli import demo as demo_cli
from fac_engine.cli.demo import _missing
from fac_engine.data.corpora import demo as corpora_demo
from fac_engine.data.corpora.demo import DemoPaths
from fac_engine.models.loader import LoadedModel, load_model
from fac_engine.models.spec import ModelSpec
from fac_engine.sae.load import load_sae
from fac_engine.sae.model import SparseAutoencoder
from fac_engine.workspace.datasets import Workspace
from fac_engine.workspace.project import Project
from tests.app.conftest import ANCHOR, SEED, build_app_workspace
from tests.unit.encode_fixtures import build_word_model, build_word_sae


def test_missing_features_of_the_demo_seed(tmp_path: Path) -> None:
    ws = build_app_workspace(tmp_path, anchor="demo-anchor", seed="demo-seed")
    assert _missing(Workspace(ws), 0.0) == [2, 3, 6, 7]
    assert _missing(Workspace(ws), 2.0) == [3, 6, 7]  # dog's 2.0 is not above 2.0


def test_missing_task_relevant_features_of_the_demo_seed(tmp_path: Path) -> None:
    ws = build_app_workspace(tmp_path, anchor="demo-anchor", seed="demo-seed")
    assert _missing(Workspace(ws), 0.0, frozenset({2, 6, 1})) == [2, 6]  # 1 (cat) is covered by the seed


@pytest.mark.parametrize("category", [False, True])
def test_demo_encodes_each_set_once_and_sets_up_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str], category: bool) -> None:
    files = {}
    for name, rows in (("anchor", ANCHOR), ("seed", SEED), ("test", SEED)):
        files[name] = tmp_path / f"{name}.jsonl"
        rows_out = [{"text": t, "label": lab} for t, lab in rows]
        if category:
            rows_out = [{**r, "category": "pets" if "dog" in r["text"] or "cat" in r["text"] else "other"}
                        for r in rows_out]
        files[name].write_text("".join(json.dumps(r) + "\n" for r in rows_out), "utf-8")
    model, sae = build_word_model(tmp_path / "model"), build_word_sae(tmp_path / "sae")
    loads: list[str] = []

    def word_model_and_sae(*_: object) -> tuple[LoadedModel, SparseAutoencoder]:
        loads.append("loaded")
        return load_model(ModelSpec(str(model), device="cpu", dtype="float32")), load_sae(sae)

    monkeypatch.setattr(demo_cli, "demo_data", lambda *_, **__: None)  # the package data is not needed here
    monkeypatch.setattr(corpora_demo, "demo_paths", lambda: DemoPaths(**files, manifest=tmp_path / "m.json"))
    monkeypatch.setattr(common, "load_spec_and_sae", word_model_and_sae)
    ws = tmp_path / "ws"
    assert main(["demo", "--workspace", str(ws), "--sae", str(sae)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[:4] for line in out[:3]] == [["encoded", "5", "samples", "(27"], ["encoded", "2", "samples",
                                                      "(10"], ["encoded", "2", "samples", "(10"]]
    # Three toxic rows against two prove nothing at the default false-discovery rate: no feature is marked, so
    # every missing feature is a target.
    per = " per category" if category else ""  # the demo data's category column: tested per category
    assert out[-3:] == [f"marked 0 features relevant to 'toxic' by label contrast{per} on demo-anchor; the "
                        "dashboard counts only task-relevant features",
                        "put the seed's 4 missing task-relevant features into the synthesis target list 'selected'",
                        f"demo project ready in {ws}: anchor demo-anchor, seed demo-seed (project 'default')"]
    project = Project(ws)
    assert (project.config.anchor, project.config.seed, project.config.sae) == ("demo-anchor", "demo-seed", str(sae))
    assert (project.config.relevant_only, project.config.synthesis_mode) == (True, "both")
    assert project.features_in("selected") == [2, 3, 6, 7] and project.explanations()[2] == 'fires on "dog"'
    assert Workspace(ws).names() == ["demo-anchor", "demo-seed", "demo-test"] and loads == ["loaded"]
    # every step done: no model load, nothing encoded
    assert main(["demo", "--workspace", str(ws), "--sae", str(sae)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("demo project ready") and loads == ["loaded"]


def test_demo_refuses_to_move_a_built_project_onto_another_sae(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    ws = build_app_workspace(tmp_path, anchor="demo-anchor", seed="demo-seed")
    project = Project(ws)
    project.set_explanation(2, 'fires on "dog"', "user")
    other = build_word_sae(tmp_path / "other-sae")
    capsys.readouterr()  # the fixtures' own progress output
    assert main(["demo", "--workspace", str(ws), "--sae", str(other)]) == 2
    assert capsys.readouterr().err == (
        f"error: The project in {ws} is built on the SAE {project.config.sae}; its explanations and feature lists "
        f"do not apply to {other}. Build this demo in a new workspace (--workspace DIR), or run `fac demo` with the "
        "project's own SAE.\n")
    assert Project(ws).config.sae == project.config.sae


def test_demo_without_sae_keeps_a_built_project_on_its_own_sae(tmp_path: Path) -> None:
    ws = build_app_workspace(tmp_path, anchor="demo-anchor", seed="demo-seed")
    fresh = Project(tmp_path / "fresh")
    assert demo_cli._demo_sae(fresh, None, "embedded-sae", tmp_path / "fresh") == "embedded-sae"
    assert demo_cli._demo_sae(fresh, "mine", "embedded-sae", tmp_path / "fresh") == "mine"
    project = Project(ws)
    assert demo_cli._demo_sae(project, None, "embedded-sae", ws) == "embedded-sae"  # nothing of its own yet
    project.add_to_list("selected", [2])
    assert demo_cli._demo_sae(project, None, "embedded-sae", ws) == str(tmp_path / "sae")
