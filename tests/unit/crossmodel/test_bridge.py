"""The bridge: pairs of datasets holding the same samples in two feature spaces, checked, found and stacked
(on the two word-detector spaces of tests/unit/crossmodel_fixtures.py)."""

import hashlib
import json

import numpy as np
import pytest

from fac_engine.crossmodel.bridge import bridge_codes, parse_pairs, resolve_bridge
from fac_engine.errors import FacError
from fac_engine.workspace.datasets import Workspace
from tests.unit.crossmodel_fixtures import CrossWorkspace


def test_parse_pairs() -> None:
    assert parse_pairs("a=b, c ,d = e") == [("a", "b"), ("c", None), ("d", "e")]
    for bad in ("=b", "a=", "a= "):
        with pytest.raises(FacError, match="not a dataset name or a pair"):
            parse_pairs(bad)


def test_the_default_bridge_is_the_two_datasets(cross_workspace: CrossWorkspace) -> None:
    ws = Workspace(cross_workspace.ws)
    bridge = resolve_bridge(ws, "bridge", "bridge-b")
    manifest = ws.open("bridge").manifest
    assert [tuple(p) for p in bridge.pairs] == [("bridge", "bridge-b")] and bridge.n_samples == 512
    assert bridge.hash == hashlib.sha256(json.dumps([[manifest.dataset_hash, 512]]).encode()).hexdigest()
    assert (bridge.space_a.d_sae, bridge.space_b.d_sae) == (8, 8) and bridge.space_a.model != bridge.space_b.model
    assert bridge.space_a.sae_path == str(cross_workspace.sae_a)


def test_counterparts_are_found_by_their_samples(cross_workspace: CrossWorkspace) -> None:
    ws = Workspace(cross_workspace.ws)
    bridge = resolve_bridge(ws, "bridge", "bridge-b", parse_pairs("bridge,seed1"))
    assert [tuple(p) for p in bridge.pairs] == [("bridge", "bridge-b"), ("seed1", "seed1-b")]
    assert bridge.n_samples == 514
    assert bridge.hash != resolve_bridge(ws, "bridge", "bridge-b").hash
    codes = bridge_codes(ws, bridge)
    assert codes.a.shape == (514, 8) and codes.b.shape == (514, 8)
    # seed1 = "is the cat", "is dog": its samples follow the bridge's 512
    assert codes.a[512].indices.tolist() == [0, 1] and codes.a[513].indices.tolist() == [2]
    assert codes.b[512].indices.tolist() == [1, 3] and codes.b[513].indices.tolist() == [0]
    np.testing.assert_allclose(codes.b[512].data, [1.0, 1.5])


@pytest.mark.parametrize(("entries", "message"), [
    ("bridge=seed1-b", "do not hold the same samples"),
    ("bridge-b=bridge", "is not encoded in space A"),
    ("bridge=bridge", "is not encoded in space B"),
    ("lonely", "No dataset encoded in space B"),
    ("bridge,bridge=bridge-b", "appear more than once"),
])
def test_bad_bridges_are_refused(cross_workspace: CrossWorkspace, entries: str, message: str) -> None:
    with pytest.raises(FacError, match=message):
        resolve_bridge(Workspace(cross_workspace.ws), "bridge", "bridge-b", parse_pairs(entries))


def test_an_unknown_dataset_is_refused(cross_workspace: CrossWorkspace) -> None:
    with pytest.raises(FacError, match="No encoded dataset 'nope'"):
        resolve_bridge(Workspace(cross_workspace.ws), "nope", "bridge-b")
