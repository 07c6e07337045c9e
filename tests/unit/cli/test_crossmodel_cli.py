"""`fac match`, `fac match transfer` and `fac match agreement` on two word-detector models with different
tokenisers (tests/unit/crossmodel_fixtures.py): the true correspondence is known, so the recovered map is exact."""

import json
import math
from typing import Any

import pytest

from fac_engine.cli import main
from fac_engine.crossmodel.results import map_names
from fac_engine.workspace.project import Project
from tests.unit.crossmodel_fixtures import COUNTERPART, CrossWorkspace


def _run(cw: CrossWorkspace, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    assert main([*argv, "--workspace", str(cw.ws)]) == 0
    return capsys.readouterr().out


def _error(cw: CrossWorkspace, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    assert main([*argv, "--workspace", str(cw.ws)]) == 2
    return capsys.readouterr().err


@pytest.fixture(scope="module")
def matched(cross_workspace: CrossWorkspace) -> CrossWorkspace:
    """The map `cli-words` saved in the shared workspace."""
    assert main(["match", "--from", "bridge", "--to", "bridge-b", "--out", "cli-words", "--workspace",
                 str(cross_workspace.ws)]) == 0
    return cross_workspace


def test_match_recovers_the_known_correspondence(cross_workspace: CrossWorkspace,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out: dict[str, Any] = json.loads(_run(cross_workspace, capsys, "match", "--from", "bridge", "--to", "bridge-b",
                                          "--out", "cli-json", "--json"))
    best = {row["feature_a"]: row for row in out["best"]}
    assert {a: row["feature_b"] for a, row in best.items()} == COUNTERPART  # A's 4 ("on") has no candidate
    for a in (0, 1, 2, 3, 5, 6):  # the 1:1 words: identical firing, exact
        assert (best[a]["rank"], best[a]["pearson"], best[a]["jaccard"], best[a]["support"]) == (1, 1.0, 1.0, 256)
        assert (best[a]["confidence"], best[a]["mutual"]) == (1.0, True)
    world = best[7]  # B 2 fires on hello or world; world only comes with hello
    assert world["pearson"] == pytest.approx(math.sqrt(0.6)) and world["jaccard"] == 0.75
    assert world["support"] == 192 and world["mutual"] is False
    assert world["margin"] == pytest.approx(math.sqrt(0.6) - 1 / math.sqrt(15), abs=1e-6)  # runner-up: green
    assert 0 < world["null"] < 0.2
    assert world["confidence"] == pytest.approx((world["pearson"] - world["null"]) / (1 - world["null"]), abs=1e-6)
    assert (out["confident"], out["mutual"], out["n_samples"]) == (7, 6, 512)
    assert out["saved"].endswith("/.matches/cli-json") and "cli-json" in map_names(cross_workspace.ws)


def test_match_prints_the_pairs(matched: CrossWorkspace, capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(matched, capsys, "match", "--from", "bridge", "--to", "bridge-b", "--out", "cli-text", "--show", "3")
    lines = out.splitlines()
    assert lines[0].startswith("bridge: bridge=bridge-b: 512 samples (hash ") and "small: a few thousand" in lines[0]
    assert lines[1].endswith("8 features), 8 fire on the bridge") and lines[2].endswith("7 fire on the bridge")
    assert lines[3] == "7 features of A have a candidate: 7 confident (>= 0.5), 6 mutual"
    assert lines[4].split() == ["A", "B", "r", "jaccard", "support", "margin", "null", "confidence", "mutual"]
    assert [line.split()[:2] for line in lines[5:8]] == [["0", "1"], ["1", "3"], ["2", "0"]]
    assert lines[5].split()[-2:] == ["1.000", "yes"] and lines[8].startswith("saved ")


def test_the_shuffled_control_gives_no_confident_pairs(cross_workspace: CrossWorkspace,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(cross_workspace, capsys, "match", "--from", "bridge", "--to", "bridge-b", "--out", "cli-control",
               "--shuffled-control")
    assert out.splitlines()[-1] == ("negative control (B's samples shuffled, not saved): 0 confident pairs; a sound "
                                    "bridge gives none")
    assert "cli-control" not in map_names(cross_workspace.ws)


def test_match_errors(cross_workspace: CrossWorkspace, capsys: pytest.CaptureFixture[str]) -> None:
    assert "error: Name both feature spaces" in _error(cross_workspace, capsys, "match", "--from", "bridge")
    err = _error(cross_workspace, capsys, "match", "--from", "bridge", "--to", "bridge-b", "--bridge", "bridge=seed1-b")
    assert err.startswith("error: 'bridge' and 'seed1-b' do not hold the same samples") and err.count("\n") == 1
    assert "error: Keep at least one candidate" in _error(cross_workspace, capsys, "match", "--from", "bridge", "--to",
                                                          "bridge-b", "--top", "0")


def test_transfer_the_missing_features_of_a_seed(matched: CrossWorkspace, capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(matched, capsys, "match", "transfer", "--map", "cli-words", "--to-project", "cli-b", "--anchor",
               "bridge", "--seed", "seed1")
    assert out.splitlines() == [
        "5 features of A (the missing features of 'seed1' against 'bridge') through map 'cli-words' (best pairs, "
        "confidence >= 0.5):",
        "mapped (2): 3->5 (1.00, mutual), 5->4 (1.00, mutual)",
        "ambiguous, many-to-one (2): 6->2 (1.00, mutual), 7->2 (0.74)",
        "unmapped, possibly only in A (1): 4 (no correlated feature in B)",
        "wrote 2 features to list 'from-cli-words' of project 'cli-b': 4, 5",
    ]
    assert Project(matched.ws, "cli-b").features_in("from-cli-words") == [4, 5]


def test_transfer_a_project_list(matched: CrossWorkspace, capsys: pytest.CaptureFixture[str]) -> None:
    source = Project(matched.ws, "cli-a")
    source.update(anchor="bridge")
    source.add_to_list("targets", [3, 6])
    Project(matched.ws, "cli-b2").update(anchor="bridge-b")
    out = json.loads(_run(matched, capsys, "match", "transfer", "--map", "cli-words", "--to-project", "cli-b2",
                          "--from-project", "cli-a", "--list", "targets", "--with-ambiguous", "--list-name", "got",
                          "--json"))
    assert out["targets"] == [2, 5] and out["list"] == "got" and out["source"] == "list 'targets' of project 'cli-a'"
    assert [m["feature_a"] for m in out["mapped"]] == [3] and [m["feature_a"] for m in out["ambiguous"]] == [6]
    assert Project(matched.ws, "cli-b2").features_in("got") == [2, 5]
    dry = _run(matched, capsys, "match", "transfer", "--map", "cli-words", "--to-project", "cli-b2", "--features",
               "0-2", "--list-name", "never", "--dry-run")
    assert dry.splitlines()[-1] == "would write 3 features to list 'never' of project 'cli-b2': 0, 1, 3"
    assert "never" not in Project(matched.ws, "cli-b2").list_names()


def test_transfer_errors(matched: CrossWorkspace, capsys: pytest.CaptureFixture[str]) -> None:
    err = _error(matched, capsys, "match", "transfer", "--map", "cli-words", "--to-project", "cli-a", "--features", "1")
    assert "error: Project 'cli-a' works in another feature space" in err
    err = _error(matched, capsys, "match", "transfer", "--map", "cli-words", "--to-project", "x", "--seed", "seed1")
    assert "error: --seed needs --anchor" in err
    err = _error(matched, capsys, "match", "transfer", "--map", "cli-words", "--to-project", "x", "--anchor",
                 "bridge-b", "--seed", "seed1-b")
    assert "error: 'bridge-b' is not encoded in space A" in err
    err = _error(matched, capsys, "match", "transfer", "--map", "nope", "--to-project", "x", "--features", "1")
    assert "error: No saved feature map 'nope'" in err


def test_agreement(matched: CrossWorkspace, capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(matched, capsys, "match", "agreement", "--map", "cli-words", "--seeds", "seed1,seed2,seed3,seed4")
    lines = out.splitlines()
    assert lines[0] == ("FAC against bridge (A) / bridge-b (B), delta 0; pairs: best at confidence >= 0.5 of map "
                        "'cli-words'")
    assert lines[2].split() == ["seed1", "/", "seed1-b", "0.3750", "0.4286", "7", "1.000", "1.000"]
    assert lines[5].split() == ["seed4", "/", "seed4-b", "0.2500", "0.2857", "7", "0.857", "0.588"]
    assert lines[6] == "Spearman r of FAC across datasets: 0.949"
    assert lines[7] == "Cohen's kappa of covered / missing over every dataset: 0.926 (28 pair-dataset cells, " \
                       "agreement 0.964)"
    assert lines[8] == "confident counterparts: 7 of 8 bridge features of A (87.5%); 6 of 7 of B (85.7%)"
    assert lines[9].startswith("CKA of the paired decoder rows (6 one-to-one pairs): 1.000; random pairings ")
    assert lines[10] == f"saved {matched.ws}/.matches/cli-words/agreement.json"


def test_agreement_json(matched: CrossWorkspace, capsys: pytest.CaptureFixture[str]) -> None:
    out = json.loads(_run(matched, capsys, "match", "agreement", "--map", "cli-words", "--anchor", "bridge=bridge-b",
                          "--seeds", "seed1,seed2,seed3", "--no-cka", "--pairs", "mutual", "--json"))
    assert [s["fac_b"] for s in out["seeds"]] == pytest.approx([3 / 7, 1 / 7, 5 / 7]) and out["spearman"] == 1.0
    assert out["cka"] is None and out["config"]["pairs"] == "mutual" and out["confident_a"] == 6
