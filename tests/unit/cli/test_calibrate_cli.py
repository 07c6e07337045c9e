"""`fac calibrate` end to end on the word-detector workspace of tests/unit/evaluation/test_calibrate.py."""

import json

import pytest

from fac_engine.cli import main
from fac_engine.workspace.datasets import Workspace
from tests.unit.evaluation.test_calibrate import ws  # noqa: F401  (the shared encoded workspace)


def test_calibrate_prints_the_table_and_saves(ws: Workspace, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    args = ["calibrate", "--anchor", "anchor", "--seed", "seed", "--test", "test", "--sizes", "1,2",
            "--holdout", "0.5", "--thresholds", "0,2", "--features", "sae", "--workspace", str(ws.root)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "anchor anchor: 4 'toxic' rows held out, 10 kept as FAC's reference; seed seed: 2 missing features" in out
    assert "seed + 1 covering missing" in out and "cannot tell" in out
    assert (ws.root / ".calibrations" / "calib-seed.json").is_file()
    assert main([*args, "--json", "--name", "again"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["n_missing"] == 2 and [s["name"] for s in data["sets"]][:3] == [
        "seed", "seed + 1 covering missing", "seed + 1 covering none"]


def test_calibrate_errors(ws: Workspace, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    base = ["calibrate", "--anchor", "anchor", "--seed", "seed", "--test", "test", "--workspace", str(ws.root)]
    assert main([*base, "--holdout", "1.5"]) == 2
    assert "error: The held-out share must lie in (0, 1), not 1.5." in capsys.readouterr().err
    assert main([*base, "--category", "nope", "--features", "sae"]) == 2
    assert "has no column 'nope'" in capsys.readouterr().err
    assert main([*base, "--positive", "spam", "--features", "sae"]) == 2
    assert "0 rows labelled 'spam'" in capsys.readouterr().err
