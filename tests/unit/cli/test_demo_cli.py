"""`fac demo` fills the synthesis target list with the seed's missing features (word-detector workspace:
the seed misses dog 2, sat 3, hello 6, world 7)."""

from pathlib import Path

from fac_engine.cli.demo import _missing
from fac_engine.workspace.datasets import Workspace
from tests.app.conftest import build_app_workspace


def test_missing_features_of_the_demo_seed(tmp_path: Path) -> None:
    ws = build_app_workspace(tmp_path, anchor="demo-anchor", seed="demo-seed")
    assert _missing(Workspace(ws), 0.0) == [2, 3, 6, 7]
    assert _missing(Workspace(ws), 2.0) == [3, 6, 7]  # dog's 2.0 is not above 2.0


def test_missing_task_relevant_features_of_the_demo_seed(tmp_path: Path) -> None:
    ws = build_app_workspace(tmp_path, anchor="demo-anchor", seed="demo-seed")
    assert _missing(Workspace(ws), 0.0, frozenset({2, 6, 1})) == [2, 6]  # 1 (cat) is covered by the seed
