"""`fac encode`, `fac coverage`, `fac features`, `fac datasets` end to end on the word-detector model.

Hand-computed FAC (see tests/unit/encode_fixtures.py: feature f fires on WORDS[f] with 1 + f/2):
anchor {the cat sat | hello world | the dog} activates the(1.0) cat(1.5) dog(2.0) sat(2.5)
hello(4.0) world(4.5); seed {the cat | the mat} activates the, cat, mat(3.5).
"""

import json
from pathlib import Path

import pytest

from fac_engine.cli import main
from tests.unit.encode_fixtures import build_word_model, build_word_sae

ANCHOR = ["the cat sat", "hello world", "the dog"]
SEED = ["the cat", "the mat"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, Path]:
    paths = {
        "model": build_word_model(tmp_path / "model"),
        "sae": build_word_sae(tmp_path / "sae"),
        "ws": tmp_path / "ws",
    }
    for name, texts in (("anchor", ANCHOR), ("seed", SEED)):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps({"text": t, "label": name}) + "\n" for t in texts), encoding="utf-8")
        paths[name] = path
    return paths


def _fac(env: dict[str, Path], *args: str) -> list[str]:
    return ["--model", str(env["model"]), "--sae", str(env["sae"]), "--workspace", str(env["ws"]), *args]


def _encode_both(env: dict[str, Path]) -> None:
    for name in ("anchor", "seed"):
        argv = ["encode", str(env[name]), "--name", name, "--label-field", "label", "--device", "cpu"]
        assert main(argv + _fac(env)) == 0


def _coverage(env: dict[str, Path], capsys: pytest.CaptureFixture[str], *extra: str) -> dict:  # type: ignore[type-arg]
    capsys.readouterr()
    assert (
        main(["coverage", "--anchor", "anchor", "--seed", "seed", "--json", "--workspace", str(env["ws"]), *extra]) == 0
    )
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_coverage_by_hand(env: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _encode_both(env)
    out = _coverage(env, capsys)
    assert out["fac"] == pytest.approx(2 / 6)
    assert out["anchor_features"] == 6 and out["covered"] == 2 and out["missing"] == [2, 3, 6, 7]
    assert out["fac_freq"] == pytest.approx((2 / 3 + 1 / 3) / (7 / 3))  # the: 2 of 3 anchor samples
    assert out["fac_magnitude"] == pytest.approx((1.0 + 1.5) / (1.0 + 1.5 + 2.0 + 2.5 + 4.0 + 4.5))
    strict = _coverage(env, capsys, "--threshold", "1.5")  # cat's 1.5 is not > 1.5
    assert strict["fac"] == 0.0 and strict["missing"] == [2, 3, 6, 7] and strict["threshold"] == 1.5
    relevant = env["ws"].parent / "relevant.txt"
    relevant.write_text("0\n2\n5  # the, dog, mat\n", encoding="utf-8")
    subset = _coverage(env, capsys, "--relevant", str(relevant))
    assert subset["fac"] == 0.5 and subset["missing"] == [2]


def test_self_coverage_is_one(env: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _encode_both(env)
    capsys.readouterr()
    assert main(["coverage", "--anchor", "anchor", "--seed", "anchor", "--json", "--workspace", str(env["ws"])]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["fac"], out["fac_freq"], out["fac_magnitude"], out["missing"]) == (1.0, 1.0, 1.0, [])


def test_features_table_and_one_feature(env: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _encode_both(env)
    capsys.readouterr()
    assert main(["features", "anchor", "--json", "--workspace", str(env["ws"])]) == 0
    table = json.loads(capsys.readouterr().out)
    assert [(r["feature"], r["n_active"]) for r in table] == [(0, 2), (1, 1), (2, 1), (3, 1), (6, 1), (7, 1)]
    assert main(["features", "anchor", "--feature", "0", "--json", "--workspace", str(env["ws"])]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n_active"] == 2 and report["max"] == 1.0
    top = [e for e in report["examples"] if e["kind"] == "top"]
    assert [(e["sample"], e["label"], e["text"]) for e in top] == [
        (0, "anchor", "the cat sat"),
        (2, "anchor", "the dog"),
    ]
    first = top[0]
    assert first["tokens"][2:5] == ["the", "cat", "sat"] and first["activations"][2:5] == [1.0, 0.0, 0.0]
    assert main(["features", "anchor", "--feature", "0", "--workspace", str(env["ws"])]) == 0
    assert "the[1.00]" in capsys.readouterr().out


def test_datasets_list_and_errors(env: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _encode_both(env)
    capsys.readouterr()
    assert main(["datasets", "--workspace", str(env["ws"])]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["anchor", "seed"]
    assert main(["coverage", "--anchor", "anchor", "--seed", "nope", "--workspace", str(env["ws"])]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: No encoded dataset 'nope'") and err.count("\n") == 1
    assert main(["features", "anchor", "--feature", "99", "--workspace", str(env["ws"])]) == 2
    assert "features 0..7" in capsys.readouterr().err
    missing = env["ws"].parent / "missing.jsonl"
    assert main(["encode", str(missing), "--name", "x", "--device", "cpu", *_fac(env)]) == 2
    assert not (env["ws"] / "x").exists()


def test_relevance_then_coverage(env: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _encode_both(env)
    out = env["ws"].parent / "rel.txt"
    # The anchor's labels are all "anchor": label contrast needs two labels.
    assert main(["relevance", "--anchor", "anchor", "--label", "anchor", "--workspace", str(env["ws"])]) == 2
    assert "at least two labels" in capsys.readouterr().err
    assert not out.exists()


def test_explain_stores_word_explanations_and_keeps_user_edits(env: dict[str, Path],
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from fac_engine.workspace.project import Project

    _encode_both(env)
    Project(env["ws"]).set_explanation(1, "my own words")
    capsys.readouterr()
    assert main(["explain", "anchor", "--workspace", str(env["ws"])]) == 0
    assert "explained 6 features of anchor; stored 5" in capsys.readouterr().out
    # Each word-detector feature fires on exactly its word (tests/unit/encode_fixtures.py).
    assert Project(env["ws"]).explanations() == {0: 'fires on "the"', 1: "my own words", 2: 'fires on "dog"',
                                                 3: 'fires on "sat"', 6: 'fires on "hello"', 7: 'fires on "world"'}
    assert Project(env["ws"]).explanation_sources()[0] == "offline:anchor"


def test_encode_chat_messages_pools_every_turn(env: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    from fac_engine.workspace.datasets import Workspace

    data = env["ws"].parent / "chat.jsonl"
    rows = [{"conversation": [{"role": "user", "content": "the cat sat"}, {"role": "assistant", "content": "hello"}]},
            {"conversation": [{"role": "user", "content": "dog"}]}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    argv = ["encode", str(data), "--name", "chat", "--messages-field", "conversation", "--device", "cpu"]
    assert main(argv + _fac(env)) == 0
    encoded = Workspace(env["ws"]).open("chat")
    assert encoded.manifest.schema == "chat"
    pooled = encoded.pooled(["sample", "feature"]).to_pydict()
    assert list(zip(pooled["sample"], pooled["feature"], strict=True)) == [(0, 0), (0, 1), (0, 3), (0, 6), (1, 2)]
