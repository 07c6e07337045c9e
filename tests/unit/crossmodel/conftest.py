"""The feature map of the two word-detector spaces (tests/unit/crossmodel_fixtures.py), made once per module."""

import pytest

from fac_engine.crossmodel.bridge import resolve_bridge
from fac_engine.crossmodel.matching import match_features
from fac_engine.crossmodel.results import FeatureMap, MatchConfig
from fac_engine.workspace.datasets import Workspace
from tests.unit.crossmodel_fixtures import CrossWorkspace


@pytest.fixture(scope="module")
def word_map(cross_workspace: CrossWorkspace) -> FeatureMap:
    """A -> B over the 512-sample bridge, with the 1:1 assignment (not saved)."""
    ws = Workspace(cross_workspace.ws)
    return match_features(ws, resolve_bridge(ws, "bridge", "bridge-b"), MatchConfig(one_to_one=True), "words")
