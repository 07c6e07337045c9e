"""Benchmark: how long each dashboard page of the demo project takes to draw in headless Chromium.

    .venv/bin/fac demo                       # once: builds the demo project in ./workspace
    .venv/bin/python bench/bench_demo_pages.py [--workspace workspace] [--repeats 3]

The server is warmed first (one page load, which loads the model and SAE once per server); then each
page is opened `--repeats` times, each time in a fresh browser tab (a new session, as a stakeholder
opening a link), and the time from navigation until Streamlit's script state is back to
"notRunning" is reported (median and max). The issue's target is 3 s per page.
"""

import argparse
import os
import statistics
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

from fac_engine.browser import CHROMIUM, LAUNCH_ARGS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: the test server lives in tests/
from tests.e2e.server import app_server
from tests.e2e.server import load_page as load

PAGES = (("", "home (tour)"), ("/Coverage", "coverage"), ("/Feature_explorer", "feature explorer"),
         ("/Feature_map", "feature map"), ("/Missing_features", "missing features"), ("/Synthesis", "synthesis"),
         ("/Review", "review"), ("/Evaluation", "evaluation"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=Path("workspace"), help="a workspace holding the demo")
    parser.add_argument("--repeats", type=int, default=3, help="fresh-tab loads per page")
    args = parser.parse_args()
    if not (args.workspace / "demo-anchor" / "manifest.json").is_file():
        sys.exit(f"error: {args.workspace} holds no demo project; run `fac demo` first")
    env = {**os.environ, "FAC_WORKSPACE": str(args.workspace.resolve())}
    with app_server(env, timeout_s=300) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        warm = browser.new_page(viewport={"width": 1400, "height": 1000})
        cold = load(warm, url, timeout_s=300)
        warm.close()
        print(f"cold start (first page on a fresh server, model + SAE loaded once): {cold:.2f} s")
        print("| page | median s | max s |")
        print("|---|---:|---:|")
        for path, name in PAGES:
            times = []
            for _ in range(args.repeats):
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                times.append(load(page, url + path, timeout_s=300))
                page.close()
            print(f"| {name} | {statistics.median(times):.2f} | {max(times):.2f} |", flush=True)
        browser.close()


if __name__ == "__main__":
    main()
