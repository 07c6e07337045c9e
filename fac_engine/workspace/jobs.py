"""Background encode jobs: `fac encode` in its own process, observed through a progress file.

The dashboard starts a job and polls it; the job does not belong to the browser session, so a
page reload neither loses nor restarts it. If the process dies, starting it again resumes from
the last complete shard (encode.py).
"""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fac_engine.atomic import atomic_file
from fac_engine.errors import FacError
from fac_engine.workspace.datasets import Workspace, check_name

JOBS_DIR = ".jobs"
"""Folder of job files inside a workspace."""
WRITE_EVERY_S = 0.5
"""Least seconds between two progress-file writes."""

JobState = Literal["running", "done", "failed"]


@dataclass(frozen=True)
class JobStatus:
    """What a job is doing, as the progress file and the process table say."""

    name: str
    state: JobState
    samples_done: int
    n_samples: int
    tokens_per_s: float
    message: str
    """The last line of the job's output (its error when it failed)."""
    pid: int

    @property
    def fraction(self) -> float:
        """Share of samples done, 0..1."""
        return self.samples_done / self.n_samples if self.n_samples else 0.0


class ProgressFile:
    """Writes a job's progress as JSON, atomically and at most every WRITE_EVERY_S seconds."""

    def __init__(self, path: Path, n_samples: int) -> None:
        self.path, self.n_samples, self.last = path, n_samples, 0.0
        self.started = time.perf_counter()

    def update(self, tokens: int, samples: int, force: bool = False) -> None:
        """Record progress (tokens encoded by this run, samples done in all)."""
        now = time.perf_counter()
        if not force and now - self.last < WRITE_EVERY_S:
            return
        self.last = now
        rate = tokens / (now - self.started) if now > self.started else 0.0
        data = {"samples_done": samples, "n_samples": self.n_samples, "tokens_per_s": rate, "pid": os.getpid()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(self.path) as tmp:
            tmp.write_text(json.dumps(data), encoding="utf-8")


def job_paths(workspace: Path, name: str) -> tuple[Path, Path]:
    """(progress file, log file) of the job encoding `name`."""
    folder = Path(workspace) / JOBS_DIR
    return folder / f"{check_name(name)}.json", folder / f"{name}.log"


def start_encode_job(workspace: Path, data: Path, name: str, options: list[str]) -> int:
    """Start `fac encode DATA --name NAME OPTIONS` detached from the caller; returns its pid."""
    progress, log_path = job_paths(workspace, name)
    progress.parent.mkdir(parents=True, exist_ok=True)
    progress.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "fac_engine.cli", "encode", str(data), "--name", name, "--workspace",
           str(workspace), "--progress-file", str(progress), *options]
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    (progress.parent / f"{name}.pid").write_text(str(process.pid), encoding="utf-8")
    return process.pid


def process_alive(pid: int) -> bool:
    """Whether process `pid` runs (a finished child is reaped and reads as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A finished child of this process stays a zombie until reaped; reap it so it reads as dead.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def last_line(path: Path) -> str:
    """The last non-empty line of a log file ("" when there is none)."""
    if not path.is_file():
        return ""
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8", errors="replace").replace("\r", "\n").splitlines()]
    return next((ln for ln in reversed(lines) if ln), "")


def job_status(workspace: Path, name: str) -> JobStatus | None:
    """The state of the job encoding `name`, or None when there never was one."""
    progress, log_path = job_paths(workspace, name)
    pid_file = progress.parent / f"{name}.pid"
    if not pid_file.is_file():
        return None
    pid = int(pid_file.read_text(encoding="utf-8") or 0)
    data = json.loads(progress.read_text(encoding="utf-8")) if progress.is_file() else {}
    manifest = Workspace(workspace).manifest(name)
    alive = process_alive(pid)
    if manifest is not None and manifest.status == "complete" and not alive:
        state: JobState = "done"
    else:
        state = "running" if alive else "failed"
    return JobStatus(name, state, int(data.get("samples_done", 0)), int(data.get("n_samples", 0)),
                     float(data.get("tokens_per_s", 0.0)), last_line(log_path), pid)


def list_jobs(workspace: Path) -> list[JobStatus]:
    """Every job of the workspace, most recent first."""
    folder = Path(workspace) / JOBS_DIR
    if not folder.is_dir():
        return []
    pids = sorted(folder.glob("*.pid"), key=lambda p: p.stat().st_mtime, reverse=True)
    return [s for s in (job_status(workspace, p.stem) for p in pids) if s is not None]


def cancel_job(workspace: Path, name: str) -> None:
    """Stop a running job (its finished shards stay; starting it again resumes)."""
    status = job_status(workspace, name)
    if status is not None and status.state == "running":
        os.killpg(status.pid, signal.SIGTERM)


def forget_job(workspace: Path, name: str) -> None:
    """Delete the files of a job that is not running (its dataset, finished or partial, stays)."""
    status = job_status(workspace, name)
    if status is not None and status.state == "running":
        raise FacError(f"The job encoding {name!r} is still running; cancel it first.")
    progress, log_path = job_paths(workspace, name)
    for path in (progress, log_path, progress.parent / f"{name}.pid"):
        path.unlink(missing_ok=True)
