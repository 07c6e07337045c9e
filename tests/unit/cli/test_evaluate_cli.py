"""`fac evaluate` and `fac baseline` end to end on the word-detector model (tests/unit/encode_fixtures.py).

"toxic" texts hold "dog" (feature 2) where the "safe" ones hold "cat" (feature 1): every probe
separates the test set perfectly. The anchor (the cat sat | hello world | the dog) activates
features {0, 1, 2, 3, 6, 7}; "train" activates the dog cat sat on mat hello world, covering all 6.
"""

import json
import math
from pathlib import Path

import pytest

from fac_engine.cli import main
from fac_engine.workspace.datasets import Workspace
from tests.unit.encode_fixtures import build_word_model, build_word_sae
from tests.unit.synthesis.test_baseline import ScriptedGenerator

TOXIC = ["the dog", "dog sat", "dog on the mat", "the dog sat on the mat", "hello dog", "dog world"]
DATA = {
    "anchor": (["the cat sat", "hello world", "the dog"], ["safe", "safe", "toxic"]),
    "train": (TOXIC + [t.replace("dog", "cat") for t in TOXIC], ["toxic"] * 6 + ["safe"] * 6),
    "small": (["the dog", "the cat", "red"], ["toxic", "safe", "safe"]),
    "test": (["dog", "the dog sat", "world dog", "cat", "the cat sat", "world cat"], ["toxic"] * 3 + ["safe"] * 3),
}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("evaluate-cli")
    paths = {"model": build_word_model(root / "model"), "sae": build_word_sae(root / "sae"), "ws": root / "ws"}
    for name, (texts, labels) in DATA.items():
        path = root / f"{name}.jsonl"
        path.write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in zip(texts, labels,
                                                                                               strict=True)),
                        encoding="utf-8")
        assert main(["encode", str(path), "--name", name, "--label-field", "label", *_opts(paths)]) == 0
    return paths


def _opts(env: dict[str, Path]) -> list[str]:
    return ["--model", str(env["model"]), "--sae", str(env["sae"]), "--workspace", str(env["ws"]), "--device", "cpu"]


def _evaluate(env: dict[str, Path], *args: str) -> list[str]:
    return ["evaluate", "--anchor", "anchor", "--test", "test", "--workspace", str(env["ws"]), *args]


def test_evaluate_json_and_saved(env: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    argv = _evaluate(env, "--set", "small=small", "--set", "train=train", "--set", "train + small=train,small",
                     "--features", "sae", "--seeds", "2", "--json")
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in out["sets"]] == ["small", "train", "train + small"]
    assert [s["datasets"] for s in out["sets"]] == [["small"], ["train"], ["train", "small"]]
    assert [s["n_train"] for s in out["sets"]] == [3, 12, 15]
    # small: the cat dog -> {0, 1, 2} of the anchor's 6 features; train covers all 6.
    assert [s["coverage"]["fac"] for s in out["sets"]] == [pytest.approx(0.5), 1.0, 1.0]
    assert out["sets"][1]["auprc"] == {"mean": 1.0, "std": 0.0, "values": [1.0, 1.0]}
    assert out["config"]["features"] == "sae" and out["config"]["seeds"] == [0, 1]
    assert out["name"] == "eval-test-sae" and (out["n_test"], out["n_test_positive"]) == (6, 3)
    saved = json.loads((env["ws"] / ".evaluations" / "eval-test-sae.json").read_text(encoding="utf-8"))
    assert saved == out
    assert "eval-test-sae" not in Workspace(env["ws"]).names()  # never taken for a dataset


def test_evaluate_table(env: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(_evaluate(env, "--set", "train=train", "--set", "copy=train", "--features", "sae", "--name",
                          "table")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("sae features, test test (6 rows, 3 'toxic'), FAC against anchor, 3 seeds")
    assert lines[1].split() == ["set", "n", "train", "FAC", "AUPRC", "ROC-AUC", "F1", "DES", "distinct-2"]
    assert lines[2].split()[:7] == ["train", "12", "1.0000", "1.0000", "±", "0.0000", "1.0000"]
    assert lines[2].split()[-4:-1] == [f"{1 / math.log10(12):.4f}", "±", "0.0000"]  # DES = AUPRC / log10 n
    assert lines[3].split()[0] == "copy"
    assert lines[4] == "DES = AUPRC / log10(n train)."
    assert lines[-1] == f"saved {env['ws'] / '.evaluations' / 'table.json'}"


def test_evaluate_hidden_then_cached(env: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    argv = _evaluate(env, "--set", "train=train", "--features", "hidden", "--seeds", "1", "--json", "--model",
                     str(env["model"]), "--device", "cpu", "--dtype", "float32")
    capsys.readouterr()
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["sets"][0]["auprc"]["mean"] == 1.0 and first["config"]["features"] == "hidden"

    def no_model(*_: object) -> None:
        raise AssertionError("the hidden states should come from the cache")

    monkeypatch.setattr("fac_engine.models.loader.load_model", no_model)
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["sets"] == first["sets"]


def _encode(env: dict[str, Path], name: str, rows: list[dict[str, str]]) -> None:
    path = env["ws"].parent / f"{name}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert main(["encode", str(path), "--name", name, "--label-field", "label", *_opts(env)]) == 0


def test_evaluate_categories_and_headroom(env: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    texts = ["dog", "the dog sat", "world dog", "cat", "the cat sat", "world cat"]
    categories = ["plain", "plain", "world", "pet", "pet", "pet"]
    _encode(env, "cat-test", [{"text": t, "label": "toxic" if "dog" in t else "safe", "category": c}
                              for t, c in zip(texts, categories, strict=True)])
    capsys.readouterr()
    argv = ["evaluate", "--anchor", "anchor", "--test", "cat-test", "--workspace", str(env["ws"]), "--set",
            "small=small", "--set", "train=train", "--headroom", "1", "--features", "sae", "--subsample", "1",
            "--seeds", "2"]
    assert main([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["categories"] == [{"name": "plain", "n_positive": 2}, {"name": "world", "n_positive": 1}]
    assert [s["name"] for s in out["sets"]] == ["small", "train", "small + headroom (real)"]
    # small (the dog | the cat | red) misses sat, hello and world of the anchor; "the dog" is in both sets, so
    # the held-out rows are "the cat sat" (sat) and "hello world" (hello, world): the greedy pick is the latter.
    assert out["sets"][2]["headroom"] == {"base": "small", "rows": [1], "requested": 1, "n_missing": 3,
                                          "covered": 2}
    assert out["sets"][2]["n_train"] == 4 and out["sets"][2]["datasets"] == ["small"]
    assert set(out["sets"][1]["categories"]) == {"plain", "world"}
    capsys.readouterr()
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[6].startswith("small + headroom (real): small plus 1 real row of anchor that no training set "
                               "holds, covering 2 of the 3 features small misses; real data")
    assert lines[7] == ("per category of the test's 'toxic' rows: recall at 0.5 and AUPRC against all negative "
                        "rows, mean ± std over the seeds")
    assert lines[8].split() == ["category", "n", "metric", "small", "train", "small", "+", "headroom", "(real)"]
    assert lines[9].split()[:6] == ["plain", "2", "recall", "1.0000", "±", "0.0000"]
    assert lines[10].split()[:1] == ["AUPRC"] and lines[11].split()[:3] == ["world", "1", "recall"]


def test_headroom_rows_in_the_test_set_are_refused(env: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _encode(env, "leaky", [{"text": "Hello, world", "label": "toxic"}, {"text": "cat", "label": "safe"}])
    capsys.readouterr()
    argv = ["evaluate", "--anchor", "anchor", "--test", "leaky", "--workspace", str(env["ws"]), "--set",
            "small=small", "--headroom", "1", "--features", "sae"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 1 of the 1 anchor rows picked for the headroom arm are also in the test set")


@pytest.mark.parametrize(("args", "message"), [
    ([], "Give at least one training set"),
    (["--set", "train"], "is not NAME=DATASET"),
    (["--set", "x=,"], "is not NAME=DATASET"),
    (["--set", "x=missing"], "No encoded dataset 'missing'"),
    (["--set", "x=train", "--seeds", "0"], "at least one seed"),
    (["--set", "x=train", "--positive", "spam"], "no rows labelled 'spam'"),
    (["--set", "x=train", "--name", ".hidden"], "Invalid dataset name"),
    (["--set", "x=train", "--headroom-base", "x"], "--headroom-base needs --headroom N"),
    (["--set", "x=train", "--headroom", "1", "--headroom-base", "y"], "--headroom-base 'y' is not a training set"),
    (["--set", "x=train", "--headroom", "0"], "must be at least 1"),
])
def test_evaluate_user_errors(env: dict[str, Path], capsys: pytest.CaptureFixture[str], args: list[str],
                              message: str) -> None:
    capsys.readouterr()
    assert main(_evaluate(env, "--features", "sae", *args)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_baseline_writes_and_encodes(env: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    gen = ScriptedGenerator(["the dog sat", "", "dog dog", "the cat", "Sure, here is one:\ncat on the mat"])
    monkeypatch.setattr("fac_engine.cli.common.load_generator", lambda args, lm: gen)
    out = tmp_path / "baseline.jsonl"
    capsys.readouterr()
    argv = ["baseline", "--n-toxic", "2", "--n-safe", "2", "--out", str(out), "--encode-as", "base", "--seed", "5",
            *_opts(env)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert f"wrote 4 queries (2 toxic, 2 safe) to {out}; dropped 1 empty and 0 repeated outputs" in printed
    assert "encoded 4 samples" in printed
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["text"], r["label"], json.loads(r["sampling"])["seed"]) for r in rows] == [
        ("the dog sat", "toxic", 5), ("dog dog", "toxic", 6), ("the cat", "safe", 5), ("cat on the mat", "safe", 5)]
    data = Workspace(env["ws"]).open("base")
    assert data.samples(["text", "label", "source"]).to_pydict() == {
        "text": [r["text"] for r in rows], "label": [r["label"] for r in rows], "source": ["baseline"] * 4}
    capsys.readouterr()
    assert main(_evaluate(env, "--set", "base=base", "--set", "small + base=small,base", "--features", "sae",
                          "--seeds", "1", "--json")) == 0
    sets = json.loads(capsys.readouterr().out)["sets"]
    assert [s["n_train"] for s in sets] == [4, 7] and sets[0]["coverage"]["fac"] == pytest.approx(4 / 6)


def test_baseline_with_nothing_usable(env: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("fac_engine.cli.common.load_generator", lambda args, lm: ScriptedGenerator([]))
    assert main(["baseline", "--n-toxic", "1", "--n-safe", "0", "--out", str(tmp_path / "b.jsonl"),
                 "--max-rounds", "2", *_opts(env)]) == 2
    assert "no usable output" in capsys.readouterr().err and not (tmp_path / "b.jsonl").exists()
