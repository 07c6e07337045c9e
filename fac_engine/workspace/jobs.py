"""The one runner of background jobs: a `fac` verb in its own process, observed through files.

Every background job (encoding a dataset, a synthesis run, and any verb added later) is started by
`start_job`, reports progress in one format (`ProgressFile`), has one state vocabulary (`JobState`)
and stops on one signal (SIGTERM). The dashboard starts a job and polls it; the job does not belong
to the browser session, so a page reload neither loses nor restarts it. Each job's files live in
`<workspace>/.jobs/<kind>/<name>.*`: the process id, the output log, the progress, the exit code and,
once a stop was asked, a stop mark. A small supervisor process (this module run as a script) waits
for the verb and records its exit code, so a finished job reads as done or failed even when nobody
was watching. A verb run as a job takes `--workspace` and `--progress-file`, which the runner appends.
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

from fac_engine.atomic import atomic_file
from fac_engine.errors import FacError
from fac_engine.workspace.datasets import check_name

JOBS_DIR = ".jobs"
"""Folder of job files inside a workspace."""
WRITE_EVERY_S = 0.5
"""Least seconds between two progress-file writes."""
STOP_SIGNAL = signal.SIGTERM
"""What `stop_job` sends to a job's process group."""

JobKind = Literal["encode", "synthesis"]
"""What a background job runs (`fac encode`, `fac synthesize --job N`); a new kind of job is added here."""
JOB_KINDS: tuple[JobKind, ...] = ("encode", "synthesis")
JobState = Literal["queued", "running", "done", "failed", "stopped"]
"""queued: created, not started yet; running: its process is alive; done: it exited with code 0; failed: it
exited otherwise or died; stopped: it ended after a stop was asked. Synthesis jobs record the same words."""


class JobFiles(NamedTuple):
    """The files of one job."""

    pid: Path
    log: Path
    progress: Path
    exit_code: Path
    stop: Path


@dataclass(frozen=True)
class JobStatus:
    """What a job is doing, as its files and the process table say."""

    name: str
    kind: JobKind
    state: JobState
    done: int
    """Units of work finished (samples for an encode job, features for a synthesis job)."""
    total: int
    """Units of work in the job (0 until the job has counted them)."""
    unit: str
    rate: float
    """Work per second, in `rate_unit`."""
    rate_unit: str
    message: str
    """The last line of the job's output (its error when it failed)."""
    pid: int

    @property
    def fraction(self) -> float:
        """Share of the work done, 0..1."""
        return self.done / self.total if self.total else 0.0

    @property
    def samples_done(self) -> int:
        """An encode job's samples done (its `done`)."""
        return self.done

    @property
    def n_samples(self) -> int:
        """An encode job's samples in all (its `total`)."""
        return self.total


class ProgressFile:
    """Writes a job's progress as JSON, atomically and at most every WRITE_EVERY_S seconds."""

    def __init__(self, path: Path, unit: str, rate_unit: str = "") -> None:
        self.path, self.unit, self.rate_unit, self.last = Path(path), unit, rate_unit, 0.0

    def update(self, done: int, total: int, rate: float = 0.0, force: bool = False) -> None:
        """Record that `done` of `total` units are finished, at `rate` per second."""
        now = time.perf_counter()
        if not force and now - self.last < WRITE_EVERY_S:
            return
        self.last = now
        data = {"done": int(done), "total": int(total), "unit": self.unit, "rate": float(rate),
                "rate_unit": self.rate_unit}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(self.path) as tmp:
            tmp.write_text(json.dumps(data), encoding="utf-8")


def job_files(workspace: Path, name: str, kind: JobKind = "encode") -> JobFiles:
    """The files of job `name` of `kind` (encode jobs are named after the dataset they write)."""
    if kind not in JOB_KINDS:
        raise FacError(f"Unknown kind of job {kind!r}; the runner knows {', '.join(JOB_KINDS)}.")
    folder = Path(workspace).expanduser() / JOBS_DIR / kind
    check_name(name)
    return JobFiles(*(folder / f"{name}.{suffix}" for suffix in ("pid", "log", "json", "exit", "stop")))


def start_job(workspace: Path, name: str, kind: JobKind, argv: Sequence[str]) -> int:
    """Run `fac ARGV --workspace W --progress-file P` detached from the caller; returns the job's pid.

    A job of this kind and name that is still running is refused (FacError); a finished one is replaced.
    """
    status = job_status(workspace, name, kind)
    if status is not None and status.state == "running":
        raise FacError(f"The {kind} job {name!r} is still running; stop it first.")
    files = job_files(workspace, name, kind)
    files.pid.parent.mkdir(parents=True, exist_ok=True)
    for path in (files.progress, files.exit_code, files.stop):
        path.unlink(missing_ok=True)
    verb = [sys.executable, "-m", "fac_engine.cli", *argv, "--workspace", str(Path(workspace).expanduser()),
            "--progress-file", str(files.progress)]
    cmd = [sys.executable, "-m", "fac_engine.workspace.jobs", str(files.exit_code), *verb]
    with files.log.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    files.pid.write_text(str(process.pid), encoding="utf-8")
    return process.pid


def start_encode_job(workspace: Path, data: Path, name: str, options: list[str]) -> int:
    """Start `fac encode DATA --name NAME OPTIONS` as a background job named after the dataset; returns its pid."""
    return start_job(workspace, name, "encode", ["encode", str(data), "--name", name, *options])


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


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def _progress(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def job_status(workspace: Path, name: str, kind: JobKind = "encode") -> JobStatus | None:
    """The state of job `name` of `kind`, or None when there never was one."""
    files = job_files(workspace, name, kind)
    pid = _read_int(files.pid)
    if pid is None:
        return None
    exit_code = _read_int(files.exit_code)
    state: JobState
    if exit_code is None and process_alive(pid):
        state = "running"
    elif exit_code == 0:
        state = "done"
    else:
        state = "stopped" if files.stop.is_file() else "failed"
    message = "stopped on request; start it again to resume" if state == "stopped" else last_line(files.log)
    data = _progress(files.progress)
    return JobStatus(name, kind, state, int(data.get("done", 0)), int(data.get("total", 0)), str(data.get("unit", "")),
                     float(data.get("rate", 0.0)), str(data.get("rate_unit", "")), message, pid)


def list_jobs(workspace: Path, kind: JobKind | None = None) -> list[JobStatus]:
    """Every job of the workspace (of one kind, when given), most recently started first."""
    kinds = JOB_KINDS if kind is None else (kind,)
    pids = [(p.stat().st_mtime, k, p.stem) for k in kinds
            for p in (Path(workspace).expanduser() / JOBS_DIR / k).glob("*.pid")]
    found = (job_status(workspace, name, k) for _, k, name in sorted(pids, reverse=True))
    return [s for s in found if s is not None]


def stop_job(workspace: Path, name: str, kind: JobKind = "encode") -> None:
    """Ask a running job to stop (its finished work stays; starting it again resumes)."""
    status = job_status(workspace, name, kind)
    if status is None or status.state != "running":
        return
    job_files(workspace, name, kind).stop.touch()
    try:
        os.killpg(status.pid, STOP_SIGNAL)
    except ProcessLookupError:
        pass  # it ended in the meantime


def forget_job(workspace: Path, name: str, kind: JobKind = "encode") -> None:
    """Delete the files of a job that is not running (what it wrote, finished or partial, stays)."""
    status = job_status(workspace, name, kind)
    if status is not None and status.state == "running":
        raise FacError(f"The {kind} job {name!r} is still running; stop it first.")
    for path in job_files(workspace, name, kind):
        path.unlink(missing_ok=True)


def _supervise(exit_code: Path, cmd: list[str]) -> int:
    """Run `cmd` and record its exit code; the stop signal is for the job, the supervisor outlives it."""
    asked: list[int] = []
    signal.signal(STOP_SIGNAL, lambda signum, _: asked.append(signum))  # not SIG_IGN: the job must not inherit it
    child = subprocess.Popen(cmd)
    if asked:  # the stop came before the job existed: pass it on
        child.send_signal(STOP_SIGNAL)
    code = child.wait()
    with atomic_file(exit_code) as tmp:
        tmp.write_text(str(code), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(_supervise(Path(sys.argv[1]), sys.argv[2:]))
