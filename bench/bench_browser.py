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
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_feature_pages import build_workspace

REPO = Path(__file__).resolve().parents[1]
PORT = 8621
APP = '[data-testid="stApp"]'


def idle(page: Page, since: float, timeout_s: float = 120.0) -> float:
    """Seconds from `since` until the script has run (it is given 1 s to start)."""
    deadline = time.perf_counter() + 1.0
    while time.perf_counter() < deadline and page.locator(APP).get_attribute("data-test-script-state") != "running":
        time.sleep(0.01)
    page.wait_for_function(
        f"document.querySelector('{APP}')?.getAttribute('data-test-script-state') === 'notRunning'",
        timeout=timeout_s * 1000, polling=20)
    return time.perf_counter() - since


def load(page: Page, url: str) -> float:
    started = time.perf_counter()
    page.goto(url)
    page.locator(APP).wait_for(timeout=120_000)
    return idle(page, started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=65_536)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env, ws = build_workspace(Path(tmp), args.samples, args.features, 16)
        stats = ws.open("anchor").feature_table("stats").to_pandas().sort_values("n_active", ascending=False)
        features = [int(stats["feature"].iloc[i]) for i in (0, 100, 5000)]
        cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(PORT), "--server.headless",
               "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
        server = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{PORT}"
        rows: list[tuple[str, float]] = []
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
        finally:
            server.terminate()
    print(f"| measured in Chromium ({args.samples:,} + {args.samples // 5:,} samples, {args.features:,} features) "
          "| seconds |")
    print("|---|---|")
    for label, seconds in rows:
        print(f"| {label} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
