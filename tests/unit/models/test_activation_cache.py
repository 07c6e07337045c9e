"""Harvested activations on disk: reused only under the same key, rebuilt when stale or corrupt; shards
that count only once listed, bound to their key."""

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from fac_engine.errors import FacError
from fac_engine.models.activation_cache import TENSOR_NAME, Shard, ShardedActivations, cached_activations, read_cached

KEY = {"model": "tiny@abc", "layer": "2", "tokens": "100"}


def _acts() -> torch.Tensor:
    return torch.arange(12, dtype=torch.float32).reshape(4, 3).to(torch.bfloat16)


class Maker:
    """A make() that counts its calls and returns a fixed tensor."""

    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor, self.calls = tensor, 0

    def __call__(self) -> torch.Tensor:
        self.calls += 1
        return self.tensor


def test_first_call_makes_and_stores_then_reuses(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "train.safetensors"
    make = Maker(_acts())
    first = cached_activations(path, KEY, make)
    assert make.calls == 1 and torch.equal(first, _acts())
    assert path.is_file()
    again = cached_activations(path, KEY, make)
    assert make.calls == 1  # read back, not made again
    assert again.dtype == torch.bfloat16 and torch.equal(again, _acts())
    assert sorted(p.name for p in path.parent.iterdir()) == ["train.safetensors"]  # no temporary left


def test_read_cached_exact_key_only(tmp_path: Path) -> None:
    path = tmp_path / "acts.safetensors"
    cached_activations(path, KEY, Maker(_acts()))
    got = read_cached(path, KEY)
    assert got is not None and torch.equal(got, _acts())
    assert read_cached(path, {**KEY, "layer": "3"}) is None  # a changed value
    assert read_cached(path, {**KEY, "extra": "x"}) is None  # an extra entry
    assert read_cached(path, {"model": "tiny@abc", "layer": "2"}) is None  # a missing entry
    assert read_cached(tmp_path / "absent.safetensors", KEY) is None


def test_stale_key_rebuilds_and_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "acts.safetensors"
    cached_activations(path, KEY, Maker(_acts()))
    newer = Maker(torch.ones(2, 3))
    stale_key = {**KEY, "tokens": "200"}
    got = cached_activations(path, stale_key, newer)
    assert newer.calls == 1 and torch.equal(got, torch.ones(2, 3))
    reread = read_cached(path, stale_key)
    assert reread is not None and torch.equal(reread, torch.ones(2, 3))
    assert read_cached(path, KEY) is None


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.write_bytes(b"not a safetensors file"),
        lambda p: p.write_bytes(p.read_bytes()[:40]),
        lambda p: save_file({"other_name": torch.zeros(2)}, str(p), metadata=KEY),
    ],
    ids=["garbage", "truncated", "no-activations-tensor"],
)
def test_corrupt_cache_is_ignored_and_rebuilt(
    tmp_path: Path, damage: Callable[[Path], object], caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "acts.safetensors"
    cached_activations(path, KEY, Maker(_acts()))
    damage(path)
    assert read_cached(path, KEY) is None
    assert "ignoring unreadable activation cache" in caplog.text
    make = Maker(_acts())
    assert torch.equal(cached_activations(path, KEY, make), _acts())
    assert make.calls == 1
    reread = read_cached(path, KEY)
    assert reread is not None and torch.equal(reread, _acts())


def test_failed_make_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "acts.safetensors"

    def fail() -> torch.Tensor:
        raise RuntimeError("model crashed")

    with pytest.raises(RuntimeError, match="model crashed"):
        cached_activations(path, KEY, fail)
    assert not path.parent.exists()


def test_non_contiguous_tensors_are_stored(tmp_path: Path) -> None:
    path = tmp_path / "acts.safetensors"
    view = torch.arange(12.0).reshape(3, 4).t()  # a transposed view
    cached_activations(path, KEY, Maker(view))
    reread = read_cached(path, KEY)
    assert reread is not None and torch.equal(reread, view)


def test_the_file_holds_one_named_tensor_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "acts.safetensors"
    cached_activations(path, KEY, Maker(_acts()))
    with safe_open(str(path), framework="pt") as f:
        assert list(f.keys()) == [TENSOR_NAME]
        assert f.metadata() == KEY


# ShardedActivations


def test_shards_are_listed_in_the_manifest_after_their_file(tmp_path: Path) -> None:
    store = ShardedActivations(tmp_path / "acts", KEY)
    assert (store.rows, store.texts_done, store.complete, store.shards) == (0, 0, False, [])
    store.append(_acts(), texts_end=256)
    store.append(_acts()[:1], texts_end=300)
    reopened = ShardedActivations(tmp_path / "acts", KEY)
    assert reopened.shards == [Shard("shard-00000.safetensors", 4, 256), Shard("shard-00001.safetensors", 1, 300)]
    assert (reopened.rows, reopened.texts_done, reopened.shard_rows, reopened.complete) == (5, 300, [4, 1], False)
    assert torch.equal(reopened.load_all(), torch.cat([_acts(), _acts()[:1]]))
    reopened.finish()
    assert ShardedActivations(tmp_path / "acts", KEY).complete


def test_a_store_of_other_inputs_is_refused(tmp_path: Path) -> None:
    ShardedActivations(tmp_path / "acts", KEY).append(_acts(), texts_end=1)
    with pytest.raises(FacError, match=r"holds activations of other inputs \(different layer, tokens\)"):
        ShardedActivations(tmp_path / "acts", {**KEY, "layer": "3", "tokens": "5"})


def test_damaged_manifest_and_shards_are_fac_errors(tmp_path: Path) -> None:
    store = ShardedActivations(tmp_path / "acts", KEY)
    store.append(_acts(), texts_end=1)
    save_file({TENSOR_NAME: _acts()[:2]}, str(tmp_path / "acts" / "shard-00000.safetensors"))
    with pytest.raises(FacError, match="has 2 rows, the manifest says 4"):
        store.load(0)
    (tmp_path / "acts" / "shard-00000.safetensors").write_bytes(b"junk")
    with pytest.raises(FacError, match="is unreadable"):
        store.load(0)
    (tmp_path / "acts" / "manifest.json").write_text("[]")
    with pytest.raises(FacError, match=r"manifest\.json is unreadable"):
        ShardedActivations(tmp_path / "acts", KEY)
