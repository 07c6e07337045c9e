"""The background-job runner: a real `fac encode` process observed through its files, the progress format, the
states of a stopped or still-running job."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fac_engine.errors import FacError
from fac_engine.workspace.jobs import (
    ProgressFile,
    forget_job,
    job_files,
    job_status,
    list_jobs,
    start_encode_job,
    stop_job,
)
from fac_engine.workspace.datasets import Workspace
from tests.unit.encode_fixtures import build_word_model, build_word_sae


def _wait(workspace: Path, name: str, timeout: float = 120.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = job_status(workspace, name)
        if status is not None and status.state != "running":
            return status
        time.sleep(0.2)
    raise AssertionError("the job did not finish")


def test_job_encodes_in_the_background_and_reports(tmp_path: Path) -> None:
    model, sae = build_word_model(tmp_path / "model"), build_word_sae(tmp_path / "sae")
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"text": t}) + "\n" for t in ["the cat", "hello", "dog sat"]), encoding="utf-8")
    ws = tmp_path / "ws"
    assert job_status(ws, "d") is None
    start_encode_job(ws, data, "d", ["--model", str(model), "--sae", str(sae), "--device", "cpu"])
    status = _wait(ws, "d")
    assert status.state == "done", status.message
    assert (status.samples_done, status.n_samples, status.fraction) == (3, 3, 1.0)
    assert Workspace(ws).open("d").manifest.n_samples == 3
    assert [s.name for s in list_jobs(ws)] == ["d"]


def test_failed_job_says_why(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    start_encode_job(ws, tmp_path / "missing.jsonl", "m", ["--device", "cpu"])
    status = _wait(ws, "m")
    assert status.state == "failed"
    assert status.message.startswith("error:") and "missing.jsonl" in status.message


def test_progress_has_one_format(tmp_path: Path) -> None:
    progress = ProgressFile(tmp_path / "p.json", "features")
    progress.update(1, 4, force=True)
    progress.update(2, 4)  # within WRITE_EVERY_S of the last write: skipped
    assert json.loads((tmp_path / "p.json").read_text()) == {"done": 1, "total": 4, "unit": "features", "rate": 0.0,
                                                             "rate_unit": ""}


def test_job_files_per_kind_and_unknown_kinds(tmp_path: Path) -> None:
    files = job_files(tmp_path, "default-3", "synthesis")
    assert files.pid == tmp_path / ".jobs" / "synthesis" / "default-3.pid"
    assert job_files(tmp_path, "d").log == tmp_path / ".jobs" / "encode" / "d.log"
    with pytest.raises(FacError, match="Unknown kind of job 'train'"):
        job_files(tmp_path, "d", "train")  # type: ignore[arg-type]
    with pytest.raises(FacError, match="Invalid dataset name"):
        job_files(tmp_path, "../x")


def test_a_stopped_job_reads_stopped_and_a_running_one_is_not_started_twice(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    files = job_files(ws, "slow")
    files.pid.parent.mkdir(parents=True)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    files.pid.write_text(str(sleeper.pid))  # a job as the runner records it, minus the supervisor
    assert job_status(ws, "slow").state == "running"  # type: ignore[union-attr]
    with pytest.raises(FacError, match="still running"):
        start_encode_job(ws, tmp_path / "d.jsonl", "slow", [])
    with pytest.raises(FacError, match="still running"):
        forget_job(ws, "slow")
    stop_job(ws, "slow")
    assert sleeper.wait(timeout=30) == -signal.SIGTERM
    status = job_status(ws, "slow")
    assert status is not None and (status.state, status.message) == (
        "stopped", "stopped on request; start it again to resume")
    forget_job(ws, "slow")
    assert job_status(ws, "slow") is None and list(files.pid.parent.iterdir()) == []
