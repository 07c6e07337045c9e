"""Benchmark: page render and interaction times measured in headless Chromium, on a synthetic workspace of
100,000 anchor samples (+ a 20,000-sample seed) encoded with a random 65,536-latent SAE and the embedded
model (the dashboard issue's targets: first render < 3 s, interactions < 1 s).

    .venv/bin/python bench/bench_browser.py [--samples 100000] [--features 65536]

A time runs from the navigation or the input event until the app's script state is back to
"notRunning" (Streamlit's `data-test-script-state`), i.e. until the page is drawn. "first render"
is each page's first load in a fresh browser session on a server that has already served one
page (the model and SAE loaded once per server are reported separately as the cold start).
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from fac_engine.browser import CHROMIUM, LAUNCH_ARGS

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # the repository: the test server lives in tests/
from bench_feature_pages import build_workspace

from tests.e2e.server import app_server
from tests.e2e.server import load_page as load
from tests.e2e.server import wait_until_drawn as idle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=65_536)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env, ws = build_workspace(Path(tmp), args.samples, args.features, 16)
        stats = ws.open("anchor").feature_table("stats").to_pandas().sort_values("n_active", ascending=False)
        features = [int(stats["feature"].iloc[min(i, len(stats) - 1)]) for i in (0, 100, 5000)]
        rows: list[tuple[str, float]] = []
        with app_server(env) as url, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
            warm = browser.new_page(viewport={"width": 1400, "height": 1000})
            rows.append(("cold start: explorer on a fresh server (loads model + SAE once)",
                         load(warm, f"{url}/Feature_explorer")))
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for path, name in (("", "home"), ("/Coverage", "coverage"), ("/Feature_explorer", "explorer"),
                               ("/Feature_map", "feature map"), ("/Missing_features", "missing features")):
                rows.append((f"first render: {name}", load(page, url + path)))
            load(page, f"{url}/Coverage")
            slider = page.get_by_role("slider").first
            for step in range(2):
                slider.focus()
                started = time.perf_counter()
                page.keyboard.press("ArrowRight")
                rows.append((f"coverage: threshold slider step {step + 1}", idle(page, started)))
            load(page, f"{url}/Feature_explorer")
            box = page.get_by_label("Feature id", exact=False).first
            for feature in features:
                box.fill(str(feature))
                started = time.perf_counter()
                box.press("Enter")
                rows.append((f"explorer: switch to feature {feature}", idle(page, started)))
            load(page, f"{url}/Missing_features")
            text = page.get_by_label("Explanation contains").first
            text.fill("zzz")
            started = time.perf_counter()
            text.press("Enter")
            rows.append(("missing features: text filter", idle(page, started)))
            browser.close()
    print(f"| measured in Chromium ({args.samples:,} + {args.samples // 5:,} samples, {args.features:,} features) "
          "| seconds |")
    print("|---|---|")
    for label, seconds in rows:
        print(f"| {label} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
