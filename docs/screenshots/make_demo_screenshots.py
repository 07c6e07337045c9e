"""Screenshots of the demo project for the README (the e2e tests write the others in this folder).

    .venv/bin/fac demo && .venv/bin/python docs/screenshots/make_demo_screenshots.py

Serves app.py on the ./workspace demo project with the embedded default and saves
docs/screenshots/demo_<page>.png from headless Chromium.
"""

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

REPO = Path(__file__).resolve().parents[2]
PORT = 8611
PAGES = [("", "demo_home"), ("/Coverage", "demo_coverage"), ("/?feature=89", "demo_explorer"),
         ("/Missing_features", "demo_missing")]


def settle(page: Page) -> None:
    """Wait until Streamlit has finished running the page."""
    page.wait_for_load_state("networkidle")
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=180_000)
    time.sleep(2)


def main() -> None:
    env = {**os.environ, "FAC_WORKSPACE": str(REPO / "workspace")}
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(PORT), "--server.headless",
           "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    server = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{PORT}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                         args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1400, "height": 2000})
            for path, name in PAGES:
                page.goto(url + path)
                page.locator('[data-testid="stApp"]').wait_for(timeout=180_000)
                settle(page)
                page.screenshot(path=str(REPO / "docs" / "screenshots" / f"{name}.png"))
                print(f"saved docs/screenshots/{name}.png")
            browser.close()
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
