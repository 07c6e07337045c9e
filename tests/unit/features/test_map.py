"""The UMAP feature map: shape, determinism, the disk cache and its atomic write, on a tiny SAE."""

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

from fac_engine.features import map as fm
from fac_engine.sae.config import SaeConfig
from fac_engine.sae.identity import sae_identity
from fac_engine.sae.model import SparseAutoencoder

CLUSTERS, PER_CLUSTER, D_IN = 3, 8, 8


def _clustered_sae() -> SparseAutoencoder:
    """24 decoder rows in three tight clusters around e0, e1 and e2."""
    generator = torch.Generator().manual_seed(0)
    rows = torch.zeros(CLUSTERS * PER_CLUSTER, D_IN)
    for c in range(CLUSTERS):
        rows[c * PER_CLUSTER:(c + 1) * PER_CLUSTER, c] = 1.0
    rows += 0.05 * torch.randn(rows.shape, generator=generator)
    cfg = SaeConfig(d_in=D_IN, d_sae=rows.shape[0], activation="relu", hook_layer=0)
    tensors = {"W_enc": rows.t().clone(), "b_enc": torch.zeros(rows.shape[0]), "W_dec": rows,
               "b_dec": torch.zeros(D_IN)}
    return SparseAutoencoder.from_tensors(cfg, tensors)


def _fake_layout(directions_FD: np.ndarray, config: fm.MapConfig) -> np.ndarray:
    return directions_FD[:, :2].astype(np.float32)


def test_umap_map_shape_determinism_and_clusters(tmp_path: Path) -> None:
    sae = _clustered_sae()
    first = fm.feature_map(sae, tmp_path / "a")
    second = fm.feature_map(sae, tmp_path / "b")  # another cache folder: computed again
    assert list(first.columns) == ["feature", "x", "y"]
    assert first["feature"].tolist() == list(range(CLUSTERS * PER_CLUSTER))
    assert np.isfinite(first[["x", "y"]].to_numpy()).all()
    pd.testing.assert_frame_equal(first, second)  # fixed random_state: the same SAE, the same map
    xy = first[["x", "y"]].to_numpy()
    cluster = np.repeat(np.arange(CLUSTERS), PER_CLUSTER)
    dist = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    same = cluster[:, None] == cluster[None]
    np.fill_diagonal(same, False)
    assert dist[same].mean() < dist[cluster[:, None] != cluster[None]].mean()


def test_cache_hit_does_not_recompute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sae = _clustered_sae()
    calls: list[int] = []

    def layout_once(directions_FD: np.ndarray, config: fm.MapConfig) -> np.ndarray:
        calls.append(1)
        if len(calls) > 1:
            raise AssertionError("the cached map was recomputed")
        return _fake_layout(directions_FD, config)

    monkeypatch.setattr(fm, "compute_layout", layout_once)
    messages: list[tuple[float, str]] = []
    first = fm.feature_map(sae, tmp_path, progress=lambda f, m: messages.append((f, m)))
    again = fm.feature_map(sae, tmp_path, progress=lambda f, m: messages.append((f, m)))
    pd.testing.assert_frame_equal(first, again)
    assert len(calls) == 1
    assert messages[0][0] == 0.0 and messages[-1] == (1.0, "Feature map loaded from the cache.")
    assert (tmp_path / f"{sae_identity(sae)}.parquet").is_file()


def test_cache_hit_with_real_umap_failing_on_second_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import umap

    sae = _clustered_sae()
    first = fm.feature_map(sae, tmp_path)

    class Broken:
        def __init__(self, *args: object, **kwargs: object) -> None:
            raise AssertionError("umap called on a cache hit")

    monkeypatch.setattr(umap, "UMAP", Broken)
    pd.testing.assert_frame_equal(fm.feature_map(sae, tmp_path), first)
    with pytest.raises(AssertionError, match="umap called"):  # other settings: the cache does not apply
        fm.feature_map(sae, tmp_path, config=fm.MapConfig(n_neighbors=5))


def test_default_cache_folder_is_under_fac_home(fac_home: Path, monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(fm, "compute_layout", _fake_layout)
    sae = _clustered_sae()
    with caplog.at_level(logging.INFO, logger="fac"):
        frame = fm.feature_map(sae)
    path = fac_home / "cache" / "feature_maps" / f"{sae_identity(sae)}.parquet"
    assert pq.read_table(path).to_pandas().equals(frame)
    assert "Computing the feature map of 24 features" in caplog.text


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fm, "compute_layout", _fake_layout)
    real_write = pq.write_table

    def crash_midway(table: object, where: object, **kwargs: object) -> None:
        Path(str(where)).write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(fm.pq, "write_table", crash_midway)
    sae = _clustered_sae()
    with pytest.raises(OSError, match="disk full"):
        fm.feature_map(sae, tmp_path)
    assert list(tmp_path.iterdir()) == []  # neither a half-written map nor a temporary file remains
    monkeypatch.setattr(fm.pq, "write_table", real_write)
    assert len(fm.feature_map(sae, tmp_path)) == 24


def test_unreadable_cache_file_is_recomputed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fm, "compute_layout", _fake_layout)
    sae = _clustered_sae()
    fm.feature_map_path(sae_identity(sae), tmp_path).write_bytes(b"not parquet")
    assert len(fm.feature_map(sae, tmp_path)) == 24


def test_fewer_than_three_features_lie_on_a_line() -> None:
    coords = fm.compute_layout(np.eye(2, dtype=np.float32), fm.MapConfig())
    assert coords.tolist() == [[0.0, 0.0], [1.0, 0.0]]
