"""Hostile strings in every user-controlled field (dataset text and labels, explanations, list names, dataset and
project names, candidate text, span, tokens and pairs, a saved evaluation, URL parameters) render as the characters
they are on every page: no link, image, emphasis, formula, directive or raw tag comes from them (tests/app/untrusted.py
says how that is read from the markdown). tests/e2e/test_untrusted_browser.py checks the same pages in a browser."""

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from fac_app.markup import escape_inline, escape_markdown, quoted
from fac_app.state import FEATURE_KEY, PROJECT_KEY
from fac_engine.features import map as fm
from tests.app.untrusted import (
    HOSTILE,
    HOSTILE_MULTILINE,
    PROJECT_NAME,
    active_markup,
    build_hostile_workspace,
    markdown_sources,
)

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGES = ["app_pages/0_Home.py", "app_pages/1_Coverage.py", "app_pages/2_Feature_explorer.py",
         "app_pages/3_Feature_map.py", "app_pages/4_Missing_features.py", "app_pages/5_Synthesis.py",
         "app_pages/6_Review.py", "app_pages/7_Evaluation.py", "app_pages/8_Cross_model.py"]


@pytest.fixture(scope="module")
def hostile_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_hostile_workspace(tmp_path_factory.mktemp("hostile"))


@pytest.fixture
def env(hostile_ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FAC_WORKSPACE", str(hostile_ws))
    monkeypatch.setenv("FAC_HOME", str(tmp_path / "fac-home"))

    def layout(directions_FD: np.ndarray, config: fm.MapConfig) -> np.ndarray:
        n = directions_FD.shape[0]
        return np.stack([np.arange(n), np.arange(n) % 3], axis=1).astype(np.float32)

    monkeypatch.setattr(fm, "compute_layout", layout)  # the map's UMAP is tested elsewhere
    return hostile_ws


def _run(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state[PROJECT_KEY] = PROJECT_NAME
    at.session_state[FEATURE_KEY] = 2  # dog: the hostile anchor sample fires it
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _markup(at: AppTest) -> list[str]:
    """What renders as markup from a hostile string; asserts that hostile text did reach the page's markdown."""
    sources = list(markdown_sources(at._tree))
    assert any("EVIL" in text for text, _ in sources), "no hostile string reached this page"
    return [found for text, html in sources for found in active_markup(text, html)]


def test_the_check_sees_every_kind_of_markup() -> None:
    found = " | ".join(active_markup(HOSTILE_MULTILINE, html=True))
    for kind in ("link: https://evil.example/l", "image: https://evil.example/i.png", "emphasis: EVIL-bold",
                 "emphasis: EVIL-em", "emphasis: EVIL-strike", "formula: $EVIL^2$", "directive: :red[EVIL",
                 "raw HTML: <b>", "autolink: https://evil.example/EVIL", "autolink: www.evil.example/EVIL",
                 "autolink: EVIL@evil.example", "link: https://evil.example/item"):
        assert kind in found, kind
    assert active_markup(escape_markdown(HOSTILE_MULTILINE), html=True) == []
    assert active_markup(escape_inline(HOSTILE_MULTILINE), html=True) == []
    assert active_markup(quoted(HOSTILE, limit=10_000), html=True) == []


@pytest.mark.parametrize("page", PAGES)
def test_no_page_renders_markup_from_hostile_strings(env: Path, page: str) -> None:
    assert _markup(_run(page)) == []


def test_review_shows_the_activated_span_as_text(env: Path) -> None:
    at = _run("app_pages/6_Review.py")
    span = next(c.value for c in at.caption if c.value.startswith("Activated span: "))
    assert span == "Activated span: " + escape_markdown(HOSTILE)
    assert next(m.value for m in at.metric if m.label == "Label") == escape_inline(HOSTILE)


def test_typed_hostile_text_is_echoed_as_text(env: Path) -> None:
    explorer = _run("app_pages/2_Feature_explorer.py")
    explorer.text_area(key="explorer_probe_text").input(HOSTILE_MULTILINE)
    explorer.button(key="explorer_probe_go").click().run()
    assert not explorer.exception and _markup(explorer) == []
    feature_map = _run("app_pages/3_Feature_map.py")
    feature_map.text_input(key="map_ids").input(HOSTILE).run()
    assert feature_map.error[0].value.startswith("'\\*\\*EVIL-bold\\*\\*") and _markup(feature_map) == []
    missing = _run("app_pages/4_Missing_features.py")
    missing.text_input(key="missing_list_name").input("[EVIL-other](https://evil.example/o)").run()
    assert any(b.label.startswith("Make '\\[EVIL-other\\]") for b in missing.button) and _markup(missing) == []


@pytest.mark.parametrize(("feature", "project", "why"), [
    (HOSTILE, HOSTILE, "there is no such project"),
    (HOSTILE, None, "a feature id is a whole number"),
    ("+5", PROJECT_NAME, "a feature id is a whole number"),
    ("8", PROJECT_NAME, "feature ids run from 0 to 7"),
])
def test_bad_links_get_one_plain_line(env: Path, feature: str, project: str | None, why: str) -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["feature"] = feature
    if project is not None:
        at.query_params["project"] = project
    at.run()
    assert not at.exception
    of = "" if project is None else f" of project {quoted(project)}"
    what = f"Ignored a link to feature {quoted(feature)}{of}"
    assert [w.value for w in at.warning] == [f"{what}: {why}."]
    assert _markup(at) == [] and FEATURE_KEY not in at.session_state


def test_a_good_link_opens_the_feature_in_its_project(env: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["feature"] = "3"
    at.query_params["project"] = PROJECT_NAME
    at.run()
    assert not at.exception and not at.warning
    assert (at.session_state[FEATURE_KEY], at.session_state[PROJECT_KEY]) == (3, PROJECT_NAME)
    assert at.header[0].value == "Feature 3"
