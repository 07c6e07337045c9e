"""Pure helpers of the feature pages: escaping and id parsing."""

import pytest

from fac_app.markup import escape_markdown, visible_token
from fac_engine.coverage.feature_ids import parse_feature_ids
from fac_engine.errors import FacError


def test_escape_markdown_leaves_nothing_active() -> None:
    assert escape_markdown("<script>alert(1)</script>") == "&lt;script&gt;alert\\(1\\)&lt;/script&gt;"
    assert escape_markdown("![x](http://a) $x$ :red[hi] **b**") == \
        "\\!\\[x\\]\\(http\\://a\\) \\$x\\$ \\:red\\[hi\\] \\*\\*b\\*\\*"
    assert escape_markdown("a & b\r\nc") == "a &amp; b  \nc"


def test_visible_token() -> None:
    assert visible_token(" the") == "\u2423the" and visible_token("a b\n") == "a b\u21b5"


def test_parse_feature_ids() -> None:
    assert parse_feature_ids(" 8, 3 12-14;3 ", 20) == [3, 8, 12, 13, 14]
    assert parse_feature_ids("", 20) == []
    with pytest.raises(FacError, match="'x1' is not a feature id"):
        parse_feature_ids("1 x1", 20)
    with pytest.raises(FacError, match="'5-2' is out of range"):
        parse_feature_ids("5-2", 20)
