"""`fac report` on the word-detector workspace: the HTML, the summary line, PNGs without a browser, errors."""

from pathlib import Path

import pytest

from fac_engine.cli import main
from fac_engine.report import png as report_png
from tests.app.conftest import build_app_workspace
from tests.unit.report_fixtures import accept, save_toy_evaluation


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = build_app_workspace(tmp_path_factory.mktemp("report-cli"))
    accept(ws, [("the dog !", 2, 2.0)])
    save_toy_evaluation(ws)
    return ws


def test_writes_the_html(ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.html"
    assert main(["report", "--workspace", str(ws), "--project", "default", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "FAC 42.86 % -> 57.14 % with 1 accepted samples; evaluation: toy-eval" in printed
    assert f"wrote {out}" in printed
    assert "FAC 42.86 % &rarr; 57.14 %" in out.read_text(encoding="utf-8")


def test_without_a_browser_the_html_is_still_written(ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    def no_browser() -> None:
        raise report_png.PngExportError("/usr/bin/chromium is not installed")

    monkeypatch.setattr(report_png, "_launch", no_browser)
    out = tmp_path / "r.html"
    code = main(["report", "--workspace", str(ws), "--out", str(out), "--png-dir", str(tmp_path / "png")])
    assert code == 0 and out.is_file() and not (tmp_path / "png").exists()
    assert "PNG export skipped: /usr/bin/chromium is not installed. The HTML report is complete without it." \
        in capsys.readouterr().err


def test_unknown_evaluation_is_a_user_error(ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["report", "--workspace", str(ws), "--evaluation", "nope", "--out", str(tmp_path / "r.html")])
    assert code == 2
    assert "error: No saved evaluation 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()
