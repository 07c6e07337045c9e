"""Every bad input a hostile but realistic user tried, as one table: the command, the exit code, a fragment of
the one `error:` line it must print (never a traceback). Then the cases that need a set-up of their own:
nothing written by refused review decisions, a read-only folder and a full disk, damaged datasets, a
context cap, an unknown project left uncreated.

Workspace: tests/app/conftest.py (word-detector model and SAE; anchor with toxic/safe labels, seed) and
`hand_store` candidates (tests/unit/synthesis/synthesis_fixtures.py): job 1 holds candidates 1-4 (2 and 4
hidden), job 2 holds 5-6 (6 hidden).
"""

import errno
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from fac_engine import atomic
from fac_engine.cli import main
from fac_engine.sae.formats.fac import save_sae
from fac_engine.sae.load import load_sae
from fac_engine.synthesis.curation import SynthesisStore
from fac_engine.workspace.datasets import Workspace
from fac_engine.workspace.project import Project
from tests.app.conftest import build_app_workspace
from tests.unit.synthesis.synthesis_fixtures import hand_store


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("bad-inputs")
    ws = build_app_workspace(root)
    hand_store(ws, [[2, 3], [6]])
    files = {
        "good": '{"text": "the cat", "label": "safe"}\n',
        "bad_json": '{"text": "the cat"}\n{"text": \n',
        "deep": '{"text": "the cat", "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n",
        "no_rows": "\n",
        "no_text": '{"text": "", "label": "safe"}\n',
        "mixed_labels": '{"text": "a", "label": "safe"}\n{"text": "b", "label": 3}\n',
    }
    for name, text in files.items():
        (root / f"{name}.jsonl").write_text(text, encoding="utf-8")
    (root / "latin1.jsonl").write_bytes('{"text": "caf\xe9"}\n'.encode("latin-1"))
    (root / "sheet.xlsx").write_bytes(b"PK")
    nan_sae = load_sae(root / "sae")
    with torch.no_grad():
        nan_sae.W_enc[0, 0] = float("nan")
    save_sae(nan_sae, root / "nan-sae")
    return {"ws": str(ws), "root": str(root), "model": str(root / "model"), "sae": str(root / "sae")}


ENCODE = ["encode", "{root}/good.jsonl", "--name", "x", "--model", "{model}", "--sae", "{sae}", "--device", "cpu",
          "--workspace", "{ws}"]
W = ["--workspace", "{ws}"]


def _encode(*extra: str, data: str = "{root}/good.jsonl") -> list[str]:
    return [ENCODE[0], data, *ENCODE[2:], *extra]


CASES: list[tuple[str, list[str], int, str]] = [
    # review: decisions only on what exists and is reviewable
    ("accept unknown id", ["review", "--accept", "99999", *W], 2,
     "Cannot decide on candidate 99999: no such candidates in project 'default'; nothing was decided."),
    ("accept a huge range", ["review", "--accept", "1-100000", *W], 2, "(+99,984 more): no such candidates"),
    ("accept another job's id", ["review", "--job", "1", "--accept", "5", *W], 2,
     "Cannot decide on candidate 5: they belong to other jobs than job 1"),
    ("accept a hidden candidate", ["review", "--accept", "2", *W], 2, "they were never proposed for review"),
    ("accept and reject one id", ["review", "--accept", "1,3", "--reject", "3", *W], 2,
     "Candidate 3 cannot be both accepted and rejected; nothing was decided."),
    ("bad status", ["review", "--status", "bogus", *W], 2, "argument --status: invalid choice: 'bogus'"),
    ("unknown job", ["review", "--job", "999", *W], 2, "There is no synthesis job 999 in project 'default'."),
    ("bad id", ["review", "--accept", "x1", *W], 2, "'x1' is not a feature id or a range like 10-20."),
    ("NaN accept-above", ["review", "--accept-above", "nan", *W], 2, "argument --accept-above: 'nan' is not a finite"),
    ("negative accept-above", ["review", "--accept-above", "-1", *W], 2, "must be a number >= 0, not -1"),
    # thresholds: finite and >= 0 everywhere
    ("NaN threshold", ["coverage", "--anchor", "anchor", "--seed", "seed", "--threshold", "nan", *W], 2,
     "argument --threshold: 'nan' is not a finite number"),
    ("infinite threshold", ["coverage", "--anchor", "anchor", "--seed", "seed", "--threshold", "inf", *W], 2,
     "argument --threshold: 'inf' is not a finite number"),
    ("negative threshold", ["coverage", "--anchor", "anchor", "--seed", "seed", "--threshold", "-1", *W], 2,
     "The activation threshold must be >= 0 and finite, not -1.0."),
    ("contrast NaN threshold", ["relevance", "contrast", "--anchor", "anchor", "--label", "toxic", "--threshold",
                                "nan", *W], 2, "'nan' is not a finite number"),
    ("contrast NaN log-odds", ["relevance", "contrast", "--anchor", "anchor", "--label", "toxic",
                               "--min-log-odds", "nan", *W], 2, "argument --min-log-odds: 'nan' is not a finite"),
    ("contrast NaN p", ["relevance", "contrast", "--anchor", "anchor", "--label", "toxic", "--max-p", "nan", *W], 2,
     "argument --max-p: 'nan' is not a finite number"),
    ("contrast zero FDR", ["relevance", "contrast", "--anchor", "anchor", "--label", "toxic", "--fdr", "0", *W], 2,
     "The false-discovery rate must be in (0, 1], not 0.0."),
    ("calibration NaN delta", ["calibrate", "--anchor", "anchor", "--seed", "seed", "--test", "anchor",
                               "--thresholds", "0,nan", *W], 2, "Thresholds (delta) must be finite numbers >= 0."),
    ("synthesis negative delta", ["synthesize", "--threshold", "-2", *W], 2, "The threshold delta must be >= 0"),
    ("synthesis NaN temperature", ["synthesize", "--temperature", "nan", *W], 2, "'nan' is not a finite number"),
    ("evaluate negative delta", ["evaluate", "--anchor", "anchor", "--test", "anchor", "--set", "s=seed",
                                 "--threshold", "-0.5", *W], 2, "The FAC threshold must be >= 0 and finite"),
    # write targets checked before any work
    ("export into a missing folder", ["export", "{root}/missing/dir/out.jsonl", *W], 2,
     "the folder {root}/missing/dir does not exist; create it first."),
    ("export onto a folder", ["export", "{root}", *W], 2, "export {root} is a folder; give a file name."),
    ("export into /proc", ["export", "/proc/out.jsonl", *W], 2, "export /proc/out.jsonl: cannot write into /proc"),
    ("export as .xlsx", ["export", "{root}/out.xlsx", *W], 2, "use a file ending in .jsonl, .csv or .parquet"),
    ("report into /proc", ["report", "--out", "/proc/report.html", *W], 2, "cannot write into /proc"),
    ("report onto a folder", ["report", "--out", "{root}", *W], 2, "--out {root} is a folder; give a file name."),
    ("PNGs into a file", ["report", "--out", "{root}/r.html", "--png-dir", "{root}/good.jsonl", *W], 2,
     "--png-dir {root}/good.jsonl is a file; give a folder."),
    ("relevant ids onto a folder", ["relevance", "export-relevant", "{root}", *W], 2, "is a folder; give a file"),
    ("contrast ids into a missing folder", ["relevance", "contrast", "--anchor", "anchor", "--label", "toxic",
                                            "--out", "{root}/no/ids.txt", *W], 2, "does not exist; create it first"),
    ("baseline into a missing folder", ["baseline", "--out", "{root}/no/b.jsonl", *W], 2,
     "the folder {root}/no does not exist"),
    ("SAE into a file", ["train-sae", "{root}/good.jsonl", "--out", "{root}/good.jsonl"], 2,
     "is a file; give a folder"),
    # names, nesting, damaged input
    ("300-character name, before the model loads", _encode("--name", "n" * 300, "--model", "{root}/no-model"), 2,
     "The dataset name is 300 characters long; use at most 100."),
    ("JSON nested 100,000 deep", _encode(data="{root}/deep.jsonl"), 2,
     "deep.jsonl line 1: JSON nested more than 64 levels deep"),
    ("SAE with a NaN weight", ["probe", "hello", "--model", "{model}", "--sae", "{root}/nan-sae", "--device", "cpu"],
     2, "has 1 non-finite values (NaN or infinity) in W_enc"),
    # negative counts
    ("negative --top", ["features", "anchor", "--top", "-3", *W], 2, "argument --top: must be at least 1, not -3"),
    ("negative --limit", ["diversity", "anchor", "--limit", "-1", *W], 2, "argument --limit: must be at least 1"),
    ("negative --feature", ["features", "anchor", "--feature", "-1", *W], 2, "must be 0 or more, not -1"),
    ("zero --top of probe", ["probe", "hello", "--top", "0"], 2, "argument --top: must be at least 1, not 0"),
    ("negative seeds", ["evaluate", "--anchor", "a", "--test", "t", "--set", "s=seed", "--seeds", "-1", *W], 2,
     "argument --seeds: must be 0 or more, not -1"),
    ("negative baseline count", ["baseline", "--out", "b.jsonl", "--n-toxic", "-1"], 2, "must be 0 or more"),
    ("negative step-1 count", ["synthesize", "--n-step1", "-4", *W], 2, "n_step1, m_step2, propose"),
    # unknown projects are errors for verbs that only read them
    ("review of an unknown project", ["review", "--project", "typo", *W], 2,
     "No project 'typo' in {ws} (projects: default)."),
    ("export of an unknown project", ["export", "{root}/a.jsonl", "--project", "typo", *W], 2, "No project 'typo'"),
    ("report of an unknown project", ["report", "--out", "{root}/r.html", "--project", "typo", *W], 2,
     "No project 'typo'"),
    ("synthesis of an unknown project", ["synthesize", "--project", "typo", *W], 2, "No project 'typo'"),
    ("judge of an unknown project", ["relevance", "judge", "--task", "t", "--project", "typo", *W], 2,
     "No project 'typo'"),
    ("export-relevant of an unknown project", ["relevance", "export-relevant", "{root}/ids.txt", "--project", "typo",
                                               *W], 2, "No project 'typo'"),
    # feature matching between two SAEs: flags are judged before any dataset is read
    ("match with no candidates", ["match", "--from", "anchor", "--to", "seed", "--top", "0", *W], 2,
     "Keep at least one candidate per feature (top >= 1), not 0."),
    ("match with negative shuffles", ["match", "--from", "anchor", "--to", "seed", "--shuffles", "-1", *W], 2,
     "The number of shuffles must be >= 0, not -1."),
    ("match with a NaN null quantile", ["match", "--from", "anchor", "--to", "seed", "--null-quantile", "nan", *W], 2,
     "argument --null-quantile: 'nan' is not a finite number"),
    ("match flags before the mode", ["match", "--from", "anchor", "agreement"], 2,
     "Name the mode right after the verb, its flags after it: `fac match agreement ...`"),
    ("transfer through an unknown map", ["match", "transfer", "--map", "nope", "--to-project", "p", "--features", "1",
                                         *W], 2, "No saved feature map 'nope'"),
    ("agreement at confidence 2", ["match", "agreement", "--map", "nope", "--seeds", "seed", "--confidence", "2", *W],
     2, "The confidence must lie in [0, 1], not 2.0."),
    ("agreement with an unknown pair kind", ["match", "agreement", "--map", "nope", "--seeds", "seed", "--pairs", "all",
                                             *W], 2, "argument --pairs: invalid choice: 'all'"),
    # encode inputs that already failed cleanly
    ("missing data file", _encode(data="{root}/nope.jsonl"), 2, "No such data file or folder: {root}/nope.jsonl"),
    ("unsupported file type", _encode(data="{root}/sheet.xlsx"), 2, "unsupported file type '.xlsx'"),
    ("invalid JSON line", _encode(data="{root}/bad_json.jsonl"), 2, "bad_json.jsonl line 2: not valid JSON"),
    ("not UTF-8", _encode(data="{root}/latin1.jsonl"), 2, "line 1: not UTF-8 text"),
    ("no rows", _encode(data="{root}/no_rows.jsonl"), 2, "no_rows.jsonl has no rows."),
    ("no text in any row", _encode(data="{root}/no_text.jsonl"), 2, "none of its 1 rows has any text"),
    ("mixed label types", _encode("--label-field", "label", data="{root}/mixed_labels.jsonl"), 2, "label"),
    ("missing label column", _encode("--label-field", "score"), 2, "score"),
    ("missing text column", _encode("--text-field", "body"), 2, "body"),
    ("text field with a chat schema", _encode("--text-field", "text", "--schema", "chat"), 2,
     "A text field only applies to the text schema, not 'chat'."),
    ("empty text field", _encode("--text-field", ""), 2, "The text field must not be empty."),
    ("unknown schema", _encode("--schema", "table"), 2, "argument --schema: invalid choice: 'table'"),
    ("unknown preference side", _encode("--preference-side", "both"), 2, "argument --preference-side: invalid"),
    ("zero row limit", _encode("--limit", "0"), 2, "The row limit must be at least 1, not 0."),
    ("max length 1", _encode("--max-length", "1"), 2, "max_length must be >= 2"),
    ("zero shard size", _encode("--shard-samples", "0"), 2, "shard_samples and top_n >= 1"),
    ("zero top-n", _encode("--top-n", "0"), 2, "shard_samples and top_n >= 1"),
    ("zero token budget", _encode("--token-budget", "0"), 2, "token_budget must be positive."),
    ("non-integer limit", _encode("--limit", "ten"), 2, "argument --limit: 'ten' is not a whole number"),
    ("hidden name", _encode("--name", ".hidden"), 2, "Invalid dataset name '.hidden'"),
    ("name with a slash", _encode("--name", "a/b"), 2, "Invalid dataset name 'a/b'"),
    ("name taken by other inputs", _encode("--name", "anchor"), 2, "Dataset 'anchor' already exists in"),
    ("missing model folder", _encode("--model", "{root}/no-model"), 2, "Model folder {root}/no-model does not exist"),
    ("missing SAE", _encode("--sae", "{root}/no-sae"), 2, "No SAE at {root}/no-sae: the path does not exist."),
    ("SAE layer beyond the model", _encode("--layer", "9"), 2, "The SAE reads hidden_states[9] but the model has"),
    ("unknown device", _encode("--device", "tpu"), 2, "Unknown device 'tpu'"),
    ("unknown dtype", _encode("--dtype", "int8"), 2, "Unknown dtype 'int8'"),
    ("no name", ENCODE[:2] + ENCODE[4:], 2, "the following arguments are required: --name"),
    ("unknown flag", _encode("--colour", "red"), 2, "unrecognized arguments: --colour red"),
    ("unknown verb", ["encdoe", "x"], 2, "argument VERB: invalid choice: 'encdoe'"),
]


@pytest.mark.parametrize(("argv", "code", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gives_one_error_line(env: dict[str, str], argv: list[str], code: int, fragment: str,
                                        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(env["root"])
    capsys.readouterr()
    assert main([a.format(**env) for a in argv]) == code
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    assert fragment.format(**env) in lines[0]


def test_refused_decisions_write_nothing(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    store = SynthesisStore(Project(Path(env["ws"])))
    before = ([(c.cand_id, c.status, c.updated_at) for c in store.candidates(proposed_only=False)],
              store.events(limit=1000).to_dict("records"))
    for argv in (["--accept", "99999"], ["--accept", "1-100000"], ["--job", "1", "--accept", "1,5"],
                 ["--accept", "1,2"], ["--accept", "1", "--reject", "1"], ["--job", "999", "--accept-above", "0"]):
        assert main(["review", *argv, "--workspace", env["ws"]]) == 2
    after = ([(c.cand_id, c.status, c.updated_at) for c in store.candidates(proposed_only=False)],
             store.events(limit=1000).to_dict("records"))
    assert after == before
    assert not (Path(env["ws"]) / ".projects" / "typo").exists()  # the unknown-project cases created nothing


def _export(env: dict[str, str], out: Path) -> int:
    return main(["export", str(out), "--project", "p", "--workspace", str(Path(env["root"]) / "ws2")])


@pytest.fixture
def accepted(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """A second workspace whose project `p` has one accepted candidate (exports have rows to write)."""
    ws = Path(env["root"]) / "ws2"
    if not ws.is_dir():
        store = hand_store(ws, [[2]])
        store.project.folder.rename(ws / ".projects" / "p")
        SynthesisStore(Project(ws, "p")).decide([1], "accepted")
    return env


def test_a_read_only_folder_is_refused_before_work(accepted: dict[str, str], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    def read_only(**_: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", read_only)
    assert _export(accepted, tmp_path / "out.jsonl") == 2
    assert capsys.readouterr().err == (f"error: export {tmp_path / 'out.jsonl'}: cannot write into {tmp_path} "
                                       "(Read-only file system).\n")


def test_a_full_disk_leaves_the_old_file(accepted: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("the previous export\n", encoding="utf-8")

    def disk_fills_up(self: pd.DataFrame, path: Path, **_: object) -> None:
        Path(path).write_text('{"text": "half', encoding="utf-8")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_json", disk_fills_up)
    assert _export(accepted, out) == 2
    err = capsys.readouterr().err
    assert err == f"error: Could not write {out}: No space left on device. Nothing was changed there.\n"
    assert out.read_text(encoding="utf-8") == "the previous export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]  # no temporary file left


def test_damaged_datasets_are_named_and_skipped(env: dict[str, str], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    ws = tmp_path / "ws"
    for name in ("anchor", "seed", "truncated", "bad-manifest"):
        shutil.copytree(Path(env["ws"]) / ("seed" if name in ("truncated", "bad-manifest") else name), ws / name)
    for name in ("truncated", "bad-manifest"):
        manifest = json.loads((ws / name / "manifest.json").read_text(encoding="utf-8"))
        (ws / name / "manifest.json").write_text(json.dumps({**manifest, "name": name}), encoding="utf-8")
    pooled = ws / "truncated" / "pooled.parquet"
    pooled.write_bytes(pooled.read_bytes()[:-40])
    (ws / "bad-manifest" / "manifest.json").write_text('{"format": "fac-studio-workspace", "name": ', "utf-8")

    assert main(["datasets", "--workspace", str(ws)]) == 0
    out, err = capsys.readouterr()
    assert [line.split()[0] for line in out.splitlines()] == ["anchor", "seed"]
    assert err.splitlines()[0].startswith(f"warning: skipped bad-manifest: {ws / 'bad-manifest' / 'manifest.json'} "
                                          "is corrupt")
    assert err.splitlines()[1].startswith("warning: skipped truncated: Dataset 'truncated': pooled.parquet is "
                                          "damaged or missing")
    assert len(err.splitlines()) == 2 and Workspace(ws).names() == ["anchor", "seed"]
    for seed, fragment in (("truncated", "Dataset 'truncated': pooled.parquet is damaged or missing"),
                           ("bad-manifest", "manifest.json is corrupt")):
        assert main(["coverage", "--anchor", "anchor", "--seed", seed, "--workspace", str(ws)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and fragment in err and err.count("\n") == 1


def test_max_length_is_capped_at_the_context(env: dict[str, str], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a.format(**env) for a in _encode("--max-length", "100000", "--workspace", str(tmp_path / "ws"))]
    capsys.readouterr()
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert err.splitlines()[0] == "warning: --max-length 100000 is above model's context of 256 tokens; using 256"
    manifest = Workspace(tmp_path / "ws").manifest("x")
    assert manifest is not None and manifest.max_length == 256
