"""`fac encode` killed -9 at four points in a row (after shard 1, after the pooled merge, between the two feature
tables, after both tables but before the manifest says complete), each rerun resuming the last: the result
equals an uninterrupted run, table by table, and the rerun that only had the final step left says what it
finished.

A real subprocess on the word-detector model (tests/unit/encode_fixtures.py) dies by SIGKILL at a named step
($FAC_CRASH_AT, see fac_engine/atomic.py). 10 texts of 1..4 words in shards of 3 (shards 0..3); each sample
adds 3 template tokens: 23 + 30 = 53 tokens.
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fac_engine.atomic import CRASH_ENV
from fac_engine.cli import main
from fac_engine.workspace.datasets import Workspace
from tests.unit.encode_fixtures import WORDS, build_word_model, build_word_sae

ROOT = Path(__file__).resolve().parents[3]
KILL_POINTS = ["encode-shard-1", "encode-merged", "encode-stats", "encode-tables"]
TABLES = ["vocab.parquet", "pooled.parquet", "features/stats.parquet", "features/examples.parquet",
          *(f"{kind}/shard-{s:05d}.parquet" for kind in ("samples", "tokens") for s in range(4))]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, Path]:
    data = tmp_path / "data.jsonl"
    texts = [" ".join(WORDS[(3 * i + j) % len(WORDS)] for j in range(1 + i % 4)) for i in range(10)]
    data.write_text("".join(json.dumps({"text": t, "label": str(i % 2)}) + "\n" for i, t in enumerate(texts)),
                    encoding="utf-8")
    return {"data": data, "model": build_word_model(tmp_path / "model"), "sae": build_word_sae(tmp_path / "sae")}


def _argv(env: dict[str, Path], ws: Path) -> list[str]:
    return ["encode", str(env["data"]), "--name", "data", "--label-field", "label", "--shard-samples", "3",
            "--model", str(env["model"]), "--sae", str(env["sae"]), "--device", "cpu", "--workspace", str(ws)]


def test_killed_encode_resumes_to_the_same_dataset(env: dict[str, Path], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    for point in KILL_POINTS:
        run = subprocess.run([sys.executable, "-m", "fac_engine.cli", *_argv(env, killed)], cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT), CRASH_ENV: point}, capture_output=True,
                             text=True)
        assert run.returncode == -signal.SIGKILL, (point, run.stderr)
        assert Workspace(killed).names() == []  # never complete before the manifest says so
    folder = killed / "data"
    assert not (folder / "pooled").exists()  # the merge finished before the feature tables were killed

    capsys.readouterr()
    assert main(_argv(env, killed)) == 0
    assert capsys.readouterr().out.splitlines()[-2:-1] == [  # the last line is the SAE-codes note
        f"finished encoding data in {folder}: all 4 shards were already encoded; merged the pooled codes and "
        "wrote the feature tables (10 samples, 53 tokens)"]
    assert main(_argv(env, killed)) == 0
    again = capsys.readouterr().out.splitlines()[-2]
    assert again == f"data is already encoded in {killed} (10 samples); nothing to do."

    assert main(_argv(env, reference)) == 0
    for table in TABLES:
        assert pq.read_table(folder / table).equals(pq.read_table(reference / "data" / table)), table
    done, fresh = (Workspace(w).manifest("data") for w in (killed, reference))
    assert done is not None and fresh is not None and done.status == "complete"
    assert {**done.__dict__, "extra": None} == {**fresh.__dict__, "extra": None}  # extra: seconds of the last run
    left = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert left == sorted(["manifest.json", *TABLES])  # no temporary file survives a kill
