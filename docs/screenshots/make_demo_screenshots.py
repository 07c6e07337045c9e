"""Screenshots of the demo project for the README (the e2e tests write the others in this folder).

    .venv/bin/fac demo && .venv/bin/python docs/screenshots/make_demo_screenshots.py

Serves app.py on the ./workspace demo project with the embedded default and saves
docs/screenshots/demo_<page>.png from headless Chromium.
"""

import os
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from fac_engine.browser import CHROMIUM, LAUNCH_ARGS

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: the test server lives in tests/
from tests.e2e.server import REPO, app_server, load_page

PAGES = [("", "demo_home"), ("/Coverage", "demo_coverage"), ("/?feature=89", "demo_explorer"),
         ("/Missing_features", "demo_missing"), ("/Synthesis", "demo_synthesis"), ("/Review", "demo_review"),
         ("/Evaluation", "demo_evaluation")]


def main() -> None:
    env = {**os.environ, "FAC_WORKSPACE": str(REPO / "workspace")}
    with app_server(env) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2000})
        for path, name in PAGES:
            load_page(page, url + path, timeout_s=180)
            time.sleep(2)  # let plotly finish drawing
            page.screenshot(path=str(REPO / "docs" / "screenshots" / f"{name}.png"))
            print(f"saved docs/screenshots/{name}.png")
        browser.close()


if __name__ == "__main__":
    main()
