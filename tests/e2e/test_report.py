"""The stakeholder report end to end: `fac report` writes the HTML and the PNGs (real Chromium), and the
HTML opened from disk in headless Chromium draws every figure offline, without a console error, and
shows a `<script>` sample as text."""

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.app.conftest import build_app_workspace
from tests.e2e.server import REPO
from tests.unit.report_fixtures import SCRIPT_TEXT, accept, save_toy_evaluation

pytestmark = pytest.mark.e2e
FIGURES = ["fac_before_after", "coverage_heatmap", "fac_vs_auprc", "diversity_vs_auprc"]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory, browser: object) -> tuple[Path, Path]:
    """(report.html, PNG folder) written by the CLI in its own process (one Playwright per process)."""
    del browser  # skips the module without Chromium
    root = tmp_path_factory.mktemp("report-e2e")
    ws = build_app_workspace(root)
    accept(ws, [(SCRIPT_TEXT, 2, 2.0), ("hello there", 6, 4.0)])
    save_toy_evaluation(ws)
    out, pngs = root / "report.html", root / "png"
    done = subprocess.run([sys.executable, "-m", "fac_engine.cli", "report", "--workspace", str(ws), "--out",
                           str(out), "--png-dir", str(pngs)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "wrote 4 PNG figures" in done.stdout
    return out, pngs


def test_pngs_are_images(written: tuple[Path, Path]) -> None:
    _, pngs = written
    assert sorted(p.stem for p in pngs.glob("*.png")) == sorted(FIGURES)
    for path in pngs.glob("*.png"):
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_report_draws_offline_and_shows_script_as_text(written: tuple[Path, Path], page: Any) -> None:
    out, _ = written
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(out.as_uri())
    for key in FIGURES:
        page.locator(f"#fig-{key} svg.main-svg").first.wait_for(timeout=30_000)
    assert page.locator(".plotly").count() >= len(FIGURES)
    assert page.locator("#fig-coverage_heatmap .heatmaplayer image, #fig-coverage_heatmap .hm").count() >= 1
    assert page.locator("#fig-fac_vs_auprc .scatterlayer .point").count() == 3
    assert errors == [] and page.dialogs == []
    assert [u for u in requests if not u.startswith(("file://", "data:", "blob:"))] == []
    sample = page.locator("td.sample", has_text="alert('x')").first
    assert sample.inner_text() == SCRIPT_TEXT
    assert page.get_by_text("FAC 42.86 % → 71.43 %").count() == 1
