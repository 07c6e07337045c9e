"""Background encode jobs: a real `fac encode` process observed through its progress file."""

import json
import time
from pathlib import Path

from fac_engine.workspace.jobs import job_status, list_jobs, start_encode_job
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
