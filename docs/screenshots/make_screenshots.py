"""The documentation screenshots in docs/screenshots/, made on purpose: the test suite never writes here.

    .venv/bin/python docs/screenshots/make_screenshots.py tests
    .venv/bin/fac demo && .venv/bin/python docs/screenshots/make_screenshots.py demo [--workspace DIR]

`tests` runs the end-to-end browser tests that take pictures (tests/e2e/test_dashboard.py,
test_review.py and test_crossmodel.py, on tiny test models) with $FAC_SCREENSHOTS pointing here, so
home.png, coverage.png, explorer.png, feature_map.png, missing.png, review.png and cross_model.png show
exactly what those tests check.
`demo` serves app.py on the demo project of ./workspace (made by `fac demo` with the embedded default
model) and saves demo_<page>.png. Both need headless Chromium (/usr/bin/chromium).
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: the test server lives in tests/
from tests.e2e.server import REPO, SCREENSHOTS_ENV, app_server, load_page

FOLDER = REPO / "docs" / "screenshots"

TESTS = ["tests/e2e/test_dashboard.py", "tests/e2e/test_review.py", "tests/e2e/test_crossmodel.py"]
"""The browser tests that save screenshots."""
PAGES = [("", "demo_home"), ("/Coverage", "demo_coverage"), ("/?feature={target}", "demo_explorer"),
         ("/Missing_features", "demo_missing"), ("/Synthesis", "demo_synthesis"), ("/Review", "demo_review"),
         ("/Evaluation", "demo_evaluation")]
"""(path, picture); the explorer shows the first feature of the demo's synthesis target list (a missing one)."""


def from_tests() -> int:
    """Run the screenshot-taking browser tests with their pictures saved here."""
    env = {**os.environ, SCREENSHOTS_ENV: str(FOLDER)}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "e2e", *TESTS], cwd=REPO, env=env,
                          check=False).returncode


def from_demo(workspace: Path, feature: int | None = None) -> int:
    """Screenshots of every page of the demo project; the explorer shows `feature` (default: the first target)."""
    from playwright.sync_api import sync_playwright

    from fac_engine.browser import CHROMIUM, LAUNCH_ARGS
    from fac_engine.workspace.project import Project

    project = Project(workspace)
    targets = project.features_in(project.config.target_list)
    if not targets:
        sys.exit(f"error: the project in {workspace} has no synthesis target list; run `fac demo` first")
    env = {**os.environ, "FAC_WORKSPACE": str(workspace)}
    with app_server(env) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2000})
        for path, name in PAGES:
            load_page(page, url + path.format(target=targets[0] if feature is None else feature), timeout_s=180)
            time.sleep(2)  # let plotly finish drawing
            page.screenshot(path=str(FOLDER / f"{name}.png"))
            print(f"saved {(FOLDER / name).relative_to(REPO)}.png")
        browser.close()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", choices=["tests", "demo"], help="the browser tests' pictures, or the demo project")
    parser.add_argument("--workspace", type=Path, default=REPO / "workspace", help="demo: the workspace to serve")
    parser.add_argument("--feature", type=int, default=None,
                        help="demo: the feature the explorer shows (default: the first of the synthesis target list)")
    args = parser.parse_args()
    return from_tests() if args.source == "tests" else from_demo(args.workspace, args.feature)


if __name__ == "__main__":
    sys.exit(main())
