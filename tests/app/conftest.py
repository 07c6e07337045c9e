"""A small encoded workspace for page tests: the word-detector model and SAE (tests/unit/encode_fixtures.py),
an anchor with toxic/safe labels and a narrower seed, set as the default project's anchor and seed."""

import json
from pathlib import Path

import pytest

from fac_engine.cli import main
from fac_engine.workspace.project import Project
from tests.unit.encode_fixtures import build_word_model, build_word_sae

ANCHOR = [("the cat sat", "safe"), ("hello world", "safe"), ("the dog", "toxic"), ("dog dog mat", "toxic"),
          ("<script>alert(1)</script> the", "toxic")]
SEED = [("the cat", "safe"), ("the mat", "safe")]


def build_app_workspace(tmp_path: Path, anchor: str = "anchor", seed: str = "seed") -> Path:
    """Datasets `anchor` and `seed` (names as given) encoded into `tmp_path/ws`, project `default` on them."""
    model, sae = build_word_model(tmp_path / "model"), build_word_sae(tmp_path / "sae")
    ws = tmp_path / "ws"
    for name, rows in ((anchor, ANCHOR), (seed, SEED)):
        data = tmp_path / f"{name}.jsonl"
        data.write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in rows), encoding="utf-8")
        argv = ["encode", str(data), "--name", name, "--label-field", "label", "--model", str(model), "--sae",
                str(sae), "--workspace", str(ws), "--device", "cpu"]
        assert main(argv) == 0
    Project(ws).update(model=str(model), sae=str(sae), anchor=anchor, seed=seed)
    return ws


@pytest.fixture
def app_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """FAC_WORKSPACE with datasets `anchor` and `seed` and project `default` pointing at them."""
    ws = build_app_workspace(tmp_path)
    monkeypatch.setenv("FAC_WORKSPACE", str(ws))
    monkeypatch.setenv("FAC_HOME", str(tmp_path / "fac-home"))
    return ws
