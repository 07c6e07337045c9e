"""Write files and folders so that a crash never leaves something that later looks complete.

A failed write (read-only folder, full disk) raises FacError naming the target, and leaves the
target as it was: the temporary sibling is removed. `check_write_target` refuses a target that
cannot be written before any work starts. `crash_point` lets the crash-recovery tests kill a
process at a named step.
"""

import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fac_engine.errors import FacError

CRASH_ENV = "FAC_CRASH_AT"
"""Test hook: the name of the `crash_point` at which the process kills itself (SIGKILL)."""


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL here when $FAC_CRASH_AT is `name` (nothing otherwise).

    Only the crash-recovery tests set the variable: a real kill -9 at a known step, with no
    chance for cleanup code to run, is what they check recovery from.
    """
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


class WriteError(FacError, OSError):
    """A write that failed (full disk, read-only folder): a user error with one line to show, and still an
    OSError for callers that handle those."""


def _write_failed(target: Path, exc: OSError) -> WriteError:
    return WriteError(f"Could not write {target}: {exc.strerror or exc}. Nothing was changed there.")


@contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a temporary sibling folder; rename it to `target` only if the block succeeds.

    An existing `target` is replaced. On any exception the temporary folder is removed.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except OSError as exc:
        raise _write_failed(target, exc) from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def atomic_file(target: Path) -> Iterator[Path]:
    """Yield a temporary sibling path; rename it onto `target` only if the block succeeds."""
    target = Path(target)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        os.replace(tmp, target)
    except OSError as exc:
        raise _write_failed(target, exc) from exc
    finally:
        if tmp.exists():
            tmp.unlink()


def check_write_target(path: Path, what: str, folder: bool = False) -> Path:
    """Refuse, before any work starts, a file (or with `folder`, a folder) that cannot be written.

    The folder it goes into must exist (none is created silently) and take a file; a file target
    must not be a folder, a folder target must not be a file.
    """
    path = Path(path).expanduser()
    if folder and path.exists() and not path.is_dir():
        raise FacError(f"{what} {path} is a file; give a folder.")
    if not folder and path.is_dir():
        raise FacError(f"{what} {path} is a folder; give a file name.")
    parent = path if folder and path.is_dir() else path.parent
    if not parent.is_dir():
        raise FacError(f"{what} {path}: the folder {parent} does not exist; create it first.")
    try:  # a real write: permission bits say nothing for root, a read-only mount or /proc
        handle, probe = tempfile.mkstemp(dir=parent, prefix=".fac-write-check-")
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise FacError(f"{what} {path}: cannot write into {parent} ({exc.strerror or exc}).") from exc
    return path
