"""PNG copies of the report's figures, drawn by plotly.js itself in headless Chromium.

Why not kaleido: plotly's write_image needs kaleido >= 1, which drives an installed Chrome as well, so it
would add a package without removing the need for the browser. Playwright and Debian's Chromium are what the end-to-end
tests already use; Plotly.toImage renders each figure exactly as the HTML report draws it, offline
(plotly.js is handed to the page, nothing is fetched).
"""

import base64
import json
from collections.abc import Mapping
from pathlib import Path

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from fac_engine.atomic import atomic_file
from fac_engine.browser import CHROMIUM, LAUNCH_ARGS
from fac_engine.log import get_logger

log = get_logger(__name__)

WIDTH = 1200
"""PNG width in CSS pixels (figures without a height get HEIGHT)."""
HEIGHT = 500
SCALE = 2
"""Device pixels per CSS pixel (sharp on slides)."""
_TO_IMAGE = """async ([figure, width, height, scale]) =>
    await Plotly.toImage(figure, {format: 'png', width: width, height: height, scale: scale})"""


class PngExportError(RuntimeError):
    """No browser to draw PNGs with here (the HTML report does not need one)."""


def _launch() -> tuple[object, object]:
    """(Playwright, a headless Chromium), or PngExportError with the reason."""

    if not CHROMIUM.is_file():
        raise PngExportError(f"{CHROMIUM} is not installed (on Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as exc:
        raise PngExportError(f"the playwright package is missing ({exc})") from exc
    playwright = sync_playwright().start()
    try:
        return playwright, playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
    except Error as exc:
        playwright.stop()
        raise PngExportError(f"Chromium did not start ({str(exc).splitlines()[0]})") from exc


def export_pngs(figures: Mapping[str, go.Figure], folder: Path) -> list[Path]:
    """Write `<folder>/<key>.png` for every figure; returns the paths. PngExportError without a browser."""
    playwright, browser = _launch()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        page = browser.new_page()  # type: ignore[attr-defined]
        page.set_content(f"<html><head><script>{get_plotlyjs()}</script></head><body></body></html>")
        for key, fig in figures.items():
            height = int(fig.layout.height or HEIGHT)
            url = page.evaluate(_TO_IMAGE, [json.loads(fig.to_json()), WIDTH, height, SCALE])
            path = folder / f"{key}.png"
            with atomic_file(path) as tmp:
                tmp.write_bytes(base64.b64decode(str(url).split(",", 1)[1]))
            written.append(path)
            log.info("wrote %s", path)
    finally:
        browser.close()  # type: ignore[attr-defined]
        playwright.stop()  # type: ignore[attr-defined]
    return written
