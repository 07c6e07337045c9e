"""Feature maps saved as parquet + a JSON sidecar, and read back."""

import json
from pathlib import Path

import numpy as np
import pytest

from fac_engine.crossmodel.results import METHOD, FeatureMap, load_map, map_folder, map_names, save_map
from fac_engine.errors import FacError


def test_a_map_survives_a_round_trip(tmp_path: Path, word_map: FeatureMap) -> None:
    folder = save_map(tmp_path, word_map)
    assert folder == tmp_path / ".matches" / "words"
    assert sorted(p.name for p in folder.iterdir()) == ["features.parquet", "map.json", "pairs.parquet"]
    meta = json.loads((folder / "map.json").read_text(encoding="utf-8"))
    assert meta["method"] == METHOD and meta["bridge"] == [["bridge", "bridge-b"]] and meta["n_samples"] == 512
    assert meta["bridge_hash"] == word_map.bridge_hash and meta["config"]["one_to_one"] is True
    assert meta["config"]["shuffles"] == 20 and meta["pairs"] == len(word_map.pairs)
    back = load_map(tmp_path, "words")
    assert (back.space_a, back.space_b, back.bridge, back.config) == (word_map.space_a, word_map.space_b,
                                                                     word_map.bridge, word_map.config)
    for column in ("feature_a", "feature_b", "rank", "pearson", "confidence", "mutual", "assigned", "null"):
        np.testing.assert_array_equal(getattr(back.pairs, column), getattr(word_map.pairs, column))
    np.testing.assert_array_equal(back.count_a, word_map.count_a)
    np.testing.assert_array_equal(back.count_b, word_map.count_b)
    assert map_names(tmp_path) == ["words"]


def test_missing_and_corrupt_maps(tmp_path: Path, word_map: FeatureMap) -> None:
    assert map_names(tmp_path) == []
    with pytest.raises(FacError, match=r"No saved feature map 'words' .* \(saved: none\)\. Run `fac match` first"):
        load_map(tmp_path, "words")
    save_map(tmp_path, word_map)
    (map_folder(tmp_path, "words") / "pairs.parquet").write_bytes(b"not parquet")
    with pytest.raises(FacError, match="is not a readable feature map"):
        load_map(tmp_path, "words")
    with pytest.raises(FacError, match="Invalid dataset name"):
        map_folder(tmp_path, "../x")
