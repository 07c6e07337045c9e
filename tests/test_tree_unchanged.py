"""The suite leaves the repository as it found it: no tracked file modified, no file created (screenshots
and every other output go to temporary folders). Runs last (tests/conftest.py orders it)."""

import pytest

from tests.conftest import TREE_AT_START
from tests.tree_state import changes_since, tree_state


def test_the_suite_leaves_the_checkout_as_it_found_it(request: pytest.FixtureRequest) -> None:
    before = request.config.stash.get(TREE_AT_START, None)
    after = tree_state()
    if before is None or after is None:
        pytest.skip("not a git checkout (or git is missing): nothing to compare")
    assert changes_since(before, after) == []
