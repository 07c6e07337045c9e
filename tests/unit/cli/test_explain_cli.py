"""`fac explain --llm`, `fac relevance --judge / --project / --export-relevant` end to end on the word-detector
workspace (feature f fires on WORDS[f]: the, cat, dog, sat, on, mat, hello, world), with a scripted generator.

Anchor: toxic "the dog", "dog dog mat", "dog the"; safe "the cat sat", "hello world", "cat sat".
Label contrast for toxic: only dog (feature 2) fires on all 3 toxic and no safe sample (p = 0.0072).
"""

import json
from pathlib import Path

import pytest

from fac_engine.cli import common, main
from fac_engine.coverage.relevant_ids import read_relevant_file
from fac_engine.llm.generators import GenerationConfig
from fac_engine.workspace.project import Project
from tests.unit.encode_fixtures import build_word_model, build_word_sae
from tests.unit.fake_generator import ScriptedGenerator

ANCHOR = [("the dog", "toxic"), ("dog dog mat", "toxic"), ("dog the", "toxic"), ("the cat sat", "safe"),
          ("hello world", "safe"), ("cat sat", "safe")]


def script(prompt: str, cfg: GenerationConfig) -> str:
    if "Task:" in prompt:
        return "Probably." if "dog" in prompt else "No"
    if "VERDICT" in prompt:
        return "VERDICT: yes"
    if "<<dog>>" in prompt:
        return "The word dog."
    if "<<the>>" in prompt:
        return "The article the."
    return "Cannot tell"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    model, sae = build_word_model(tmp_path / "model"), build_word_sae(tmp_path / "sae")
    data = tmp_path / "anchor.jsonl"
    data.write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in ANCHOR), encoding="utf-8")
    root = tmp_path / "ws"
    assert main(["encode", str(data), "--name", "anchor", "--label-field", "label", "--model", str(model), "--sae",
                 str(sae), "--workspace", str(root), "--device", "cpu"]) == 0
    Project(root).update(model=str(model))
    return root


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> ScriptedGenerator:
    generator = ScriptedGenerator(script)
    monkeypatch.setattr(common, "load_generator", lambda args, lm: generator)
    return generator


def test_explain_judge_mark_export_then_coverage(ws: Path, fake: ScriptedGenerator,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    w = ["--workspace", str(ws)]
    capsys.readouterr()
    assert main(["explain", "anchor", "--llm", "--features", "0-2", *w]) == 0
    out = capsys.readouterr().out
    assert "asked llm:fake about 3 features of anchor: 2 verified, 1 stored as 'Cannot tell'; stored 3" in out
    assert Project(ws).explanations() == {0: "The article the.", 1: "Cannot tell", 2: "The word dog."}
    calls = len(fake.calls)
    assert main(["explain", "anchor", "--llm", "--features", "0-2", *w]) == 0
    assert "skipped 3 features already explained by this generator" in capsys.readouterr().out
    assert len(fake.calls) == calls

    # Three toxic vs three safe samples prove little (Fisher p = 1/20 at best, q = 0.4 over 8 features): a lenient
    # false-discovery rate keeps the flow testable; the default 0.05 keeps nothing.
    assert main(["relevance", "--anchor", "anchor", "--label", "toxic", *w]) == 0
    assert "0 features relevant to 'toxic'" in capsys.readouterr().out
    lenient = ["relevance", "--anchor", "anchor", "--label", "toxic", "--fdr", "0.5", "--project", "default", *w]
    assert main(lenient) == 0
    assert "1 features relevant to 'toxic'" in capsys.readouterr().out
    assert Project(ws).relevance_marks("contrast") == {2: "relevant"}
    assert main(["relevance", "--judge", "--task", "detecting toxic user queries", *w]) == 0
    out = capsys.readouterr().out
    assert "judged 2 features for 'detecting toxic user queries': Yes 0, Probably 1, Maybe 0, No 1; 1 relevant" in out
    assert "skipped 1 features without a usable explanation" in out
    assert Project(ws).relevance_marks("judge") == {0: "No", 2: "Probably"}

    project = Project(ws)
    project.mark_relevant(0, True)
    project.mark_relevant(2, False)
    project.add_to_list("picked", [0, 2])
    # Judging a list replaces the verdicts of its features only.
    assert main(["relevance", "--judge", "--task", "toxic queries", "--list", "picked", *w]) == 0
    assert Project(ws).relevance_marks("judge") == {0: "No", 2: "Probably"}
    path = ws.parent / "relevant.txt"
    assert main(["relevance", "--export-relevant", str(path), *w]) == 0
    assert "1 relevant features of project 'default' written to" in capsys.readouterr().out
    assert read_relevant_file(path, 8) == frozenset({0})  # the person's marks win over contrast and judge
    assert main(["relevance", "--export-relevant", str(path), "--sources", "contrast,judge", *w]) == 0
    assert read_relevant_file(path, 8) == frozenset({2})
    assert main(["coverage", "--anchor", "anchor", "--seed", "anchor", "--relevant", str(path), "--json", *w]) == 0


def test_user_errors(ws: Path, fake: ScriptedGenerator, capsys: pytest.CaptureFixture[str]) -> None:
    w = ["--workspace", str(ws)]
    cases = [
        (["relevance", *w], "Choose one of: --anchor A --label L"),
        (["relevance", "--judge", "--export-relevant", "x.txt", *w], "Choose one of"),
        (["relevance", "--judge", *w], "--judge needs --task"),
        (["relevance", "--judge", "--task", "toxic", *w], "has no explanation for these features"),
        (["relevance", "--export-relevant", str(ws.parent / "r.txt"), *w], "marks no feature relevant"),
        (["relevance", "--export-relevant", "r.txt", "--sources", "llm", *w], "Unknown relevance source(s) llm"),
        (["explain", "anchor", "--features", "1", *w], "go with --llm"),
        (["explain", "anchor", "--llm", "--features", "9", *w], "'9' is out of range: this SAE has features 0..7."),
        (["explain", "anchor", "--llm", "--list", "nope", *w], "has no feature list 'nope'"),
    ]
    capsys.readouterr()
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err, (argv, err)
    assert fake.calls == []


def test_local_backend_explains_with_the_tiny_model(ws: Path, capsys: pytest.CaptureFixture[str],
                                                    one_torch_thread: None) -> None:
    model = Project(ws).config.model
    assert main(["explain", "anchor", "--llm", "--features", "2", "--model", model, "--device", "cpu", "--dtype",
                 "float32", "--workspace", str(ws)]) == 0
    assert "stored 1 in project 'default'" in capsys.readouterr().out
    (source,) = Project(ws).explanation_sources().values()
    assert source.startswith("llm:")


def test_unverified_answers_keep_the_offline_explanations(ws: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    w = ["--workspace", str(ws)]
    assert main(["explain", "offline", "anchor", *w]) == 0
    offline = Project(ws).explanations()
    doubtful = ScriptedGenerator(lambda prompt, cfg: "VERDICT: no" if "VERDICT" in prompt else "The word cat.")
    monkeypatch.setattr(common, "load_generator", lambda args, lm: doubtful)
    capsys.readouterr()
    assert main(["explain", "llm", "anchor", "--features", "0-2", *w]) == 0
    out = capsys.readouterr().out
    assert ("asked llm:fake about 3 features of anchor: 0 verified, 0 stored as 'Cannot tell', 3 not verified "
            "that keep their earlier explanation; stored 0") in out
    assert "  feature 0: The word cat. (not verified)\n" in out
    assert Project(ws).explanations() == offline and set(offline) >= {0, 1, 2}


def test_contrast_per_category(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model, sae = build_word_model(tmp_path / "model"), build_word_sae(tmp_path / "sae")
    rows = [("the dog", "toxic", "insult"), ("dog the", "toxic", "insult"), ("dog", "toxic", "insult"),
            ("world", "toxic", "threat"), ("world on", "toxic", "threat"), ("the cat sat", "safe", "none"),
            ("cat sat", "safe", "none"), ("hello", "safe", "none"), ("sat on the mat", "safe", "none")]
    data = tmp_path / "anchor.jsonl"
    data.write_text("".join(json.dumps({"text": t, "label": lab, "category": c}) + "\n" for t, lab, c in rows),
                    encoding="utf-8")
    w = ["--workspace", str(tmp_path / "ws")]
    assert main(["encode", str(data), "--name", "anchor", "--label-field", "label", "--model", str(model), "--sae",
                 str(sae), "--device", "cpu", *w]) == 0
    base = ["relevance", "contrast", "--anchor", "anchor", "--label", "toxic", "--fdr", "0.6", "--min-samples", "2"]
    capsys.readouterr()
    assert main([*base, "--by", "category", "--out", str(tmp_path / "rel.txt"), *w]) == 0
    # 16 tests (8 features x 2 categories). dog: 3 of 3 insults vs 0 of 4 safe, p = 1/C(7,3) = 1/35, q = 16/35;
    # world: 2 of 2 threats vs 0 of 4, p = 1/C(6,2) = 1/15, q = 1/15 * 16/2 = 0.53.
    assert capsys.readouterr().out.splitlines() == [
        "2 features relevant to 'toxic' in anchor (5 toxic vs 4 other labelled samples, tested per category "
        "(2 values, 2 passing tests); Fisher's exact test, false-discovery rate 0.6: about 1.2 of them by chance); "
        f"written to {tmp_path / 'rel.txt'}",
        "  feature      2  log-odds   4.14  p 0.029  q 0.46  category insult",
        "  feature      7  log-odds   3.81  p 0.067  q 0.53  category threat"]
    assert (tmp_path / "rel.txt").read_text(encoding="utf-8").splitlines()[-2:] == ["2", "7"]
    # Pooled, dog is 3 of 5 toxic vs 0 of 4 (p = 15/126 = 0.12, q = 0.95 over 8 tests): nothing passes.
    assert main([*base, *w]) == 0
    assert capsys.readouterr().out.startswith("0 features relevant to 'toxic' in anchor (5 toxic vs 4 other labelled "
                                              "samples; Fisher's")
    assert main([*base, "--by", "colour", *w]) == 2
    assert ("'anchor' has no column 'colour' to split the label by; its metadata columns are: row, category."
            in capsys.readouterr().err)
