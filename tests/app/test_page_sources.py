"""Page files must not hold bare string expressions after their docstring: Streamlit's "magic" prints them
(an attribute docstring under a constant would appear at the top of the page)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["app.py", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "app_pages").glob("*.py"))]


@pytest.mark.parametrize("page", PAGES)
def test_no_magic_strings(page: str) -> None:
    tree = ast.parse((ROOT / page).read_text(encoding="utf-8"))
    strays = [node.lineno for node in tree.body[1:] if isinstance(node, ast.Expr)
              and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)]
    assert not strays, f"{page}: bare strings on lines {strays} would be printed on the page"
