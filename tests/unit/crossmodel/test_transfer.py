"""A list of A's features carried into B: mapped, ambiguous (many-to-one) and unmapped, on the word map
(tests/unit/crossmodel_fixtures.py: A 3->5 and 5->4 are 1:1, A 6 and 7 both map to B 2, A 4 has no counterpart)."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

from fac_engine.crossmodel.bridge import BridgeCodes, FeatureSpace
from fac_engine.crossmodel.matching import match_codes
from fac_engine.crossmodel.results import FeatureMap, MatchConfig
from fac_engine.crossmodel.transfer import (
    MappedFeature,
    UnmappedFeature,
    check_project_space,
    confident_pairs,
    transfer_features,
    write_transfer,
)
from fac_engine.errors import FacError
from fac_engine.workspace.project import Project

WORLD_CONFIDENCE_MIN = 0.7
"""World's pair has r = sqrt(0.6) and a null near 0.12: confidence about 0.74."""


def test_missing_features_sorted_into_three_groups(word_map: FeatureMap) -> None:
    result = transfer_features(word_map, [7, 3, 4, 5, 6, 3])
    assert result.mapped == (MappedFeature(3, 5, 1.0, 1.0, True), MappedFeature(5, 4, 1.0, 1.0, True))
    assert [(m.feature_a, m.feature_b, m.mutual) for m in result.ambiguous] == [(6, 2, True), (7, 2, False)]
    assert result.ambiguous[0].confidence == 1.0 and result.ambiguous[1].confidence > WORLD_CONFIDENCE_MIN
    assert result.unmapped == (UnmappedFeature(4, "no correlated feature in B", None, 0.0),)
    assert result.targets() == [4, 5] and result.targets(with_ambiguous=True) == [2, 4, 5]


def test_mutual_pairs_only(word_map: FeatureMap) -> None:
    result = transfer_features(word_map, [6, 7], pairs="mutual")
    assert [(m.feature_a, m.feature_b) for m in result.mapped] == [(6, 2)] and result.ambiguous == ()
    (world,) = result.unmapped
    assert (world.feature_a, world.reason, world.best_b) == (7, "not mutual", 2)


def test_assigned_pairs_only(word_map: FeatureMap) -> None:
    result = transfer_features(word_map, [6, 7], pairs="assigned")
    assert [(m.feature_a, m.feature_b) for m in result.mapped] == [(6, 2)]
    assert [(u.feature_a, u.reason) for u in result.unmapped] == [(7, "not assigned")]
    # the assignment gave world green (its rank-2 candidate, confidence 0): it counts only at confidence 0
    assert confident_pairs(word_map, 0.0, "assigned").feature_b.tolist() == [1, 3, 0, 5, 4, 2, 6]
    with pytest.raises(FacError, match="made without a 1:1 assignment"):
        transfer_features(replace(word_map, config=MatchConfig()), [6], pairs="assigned")


def test_a_high_confidence_leaves_world_unmapped(word_map: FeatureMap) -> None:
    result = transfer_features(word_map, [6, 7], min_confidence=0.9)
    assert [(m.feature_a, m.feature_b) for m in result.mapped] == [(6, 2)]
    (world,) = result.unmapped
    assert (world.reason, world.best_b) == ("below the confidence", 2) and world.confidence > WORLD_CONFIDENCE_MIN


def test_a_feature_inactive_on_the_bridge() -> None:
    fires = sparse.csr_matrix(np.array([[1.0, 0.0], [0.0, 0.0]] * 5))  # feature 0 on 5 of 10 samples, 1 never
    outcome = match_codes(BridgeCodes(fires, fires), MatchConfig(shuffles=0))
    space = FeatureSpace("m@0", "s", "p", 0, 2)
    fmap = FeatureMap("tiny", MatchConfig(shuffles=0), space, space, (), "", 10, outcome.pairs, outcome.count_a,
                      outcome.count_b, 0.0, "")
    result = transfer_features(fmap, [0, 1])
    assert result.mapped == (MappedFeature(0, 0, 1.0, 1.0, True),)
    assert result.unmapped == (UnmappedFeature(1, "inactive on the bridge", None, 0.0),)


def test_bad_requests(word_map: FeatureMap) -> None:
    with pytest.raises(FacError, match=r"Feature 8 is not a feature of space A \(0..7\)"):
        transfer_features(word_map, [1, 8])
    with pytest.raises(FacError, match=r"confidence must lie in \[0, 1\]"):
        transfer_features(word_map, [1], min_confidence=1.5)
    with pytest.raises(FacError, match="Unknown pair kind"):
        transfer_features(word_map, [1], pairs="all")  # type: ignore[arg-type]


def test_the_list_is_written_into_b_s_project(tmp_path: Path, word_map: FeatureMap) -> None:
    project = Project(tmp_path, "b-side")
    project.add_to_list("from-words", [7])
    result = transfer_features(word_map, [3, 5, 6, 7])
    assert write_transfer(project, "from-words", result) == [4, 5]
    assert project.features_in("from-words") == [4, 5]  # replaced, not added to
    assert write_transfer(project, "from-words", result, with_ambiguous=True) == [2, 4, 5]


def test_a_project_of_another_space_is_refused(tmp_path: Path, word_map: FeatureMap) -> None:
    project = Project(tmp_path, "a-side")
    check_project_space(project, word_map, "b", word_map.space_b.sae)
    check_project_space(project, word_map, "b", None)  # no anchor: nothing to check
    with pytest.raises(FacError, match="Project 'a-side' works in another feature space"):
        check_project_space(project, word_map, "b", word_map.space_a.sae)
