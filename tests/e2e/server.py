"""Run the dashboard as a separate `streamlit run app.py` process and watch it from headless Chromium.

Shared by the end-to-end tests, the browser benchmark (bench/bench_browser.py) and the screenshot
script (docs/screenshots/make_screenshots.py), so they start, wait for and stop the server the same
way. Test support, not part of the app; nothing here imports streamlit or Playwright.
"""

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS_ENV = "FAC_SCREENSHOTS"
"""Folder the browser tests save their screenshots into (default: a temporary folder of the session)."""
APP_SELECTOR = '[data-testid="stApp"]'


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_up(url: str, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("streamlit did not come up in time")


@contextmanager
def app_server(env: Mapping[str, str], port: int | None = None, log: Path | None = None,
               timeout_s: float = 90.0) -> Iterator[str]:
    """Serve app.py with `env` on `port` (a free one by default); yields its base URL; stops it after."""
    port = free_port() if port is None else port
    cmd = [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.port", str(port),
           "--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    out = log.open("wb") if log is not None else subprocess.DEVNULL
    process = subprocess.Popen(cmd, cwd=REPO, env=dict(env), stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process, timeout_s)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        if log is not None:
            out.close()  # type: ignore[union-attr]


def wait_until_drawn(page: Any, since: float, timeout_s: float = 120.0) -> float:
    """Seconds from `since` until the page's script has run (given 1 s to start), per Streamlit's
    `data-test-script-state` attribute."""
    deadline = time.perf_counter() + 1.0
    app = page.locator(APP_SELECTOR)
    while time.perf_counter() < deadline and app.get_attribute("data-test-script-state") != "running":
        time.sleep(0.01)
    page.wait_for_function(
        f"document.querySelector('{APP_SELECTOR}')?.getAttribute('data-test-script-state') === 'notRunning'",
        timeout=timeout_s * 1000, polling=20)
    return time.perf_counter() - since


def load_page(page: Any, url: str, timeout_s: float = 120.0) -> float:
    """Open `url` and wait until it is drawn; returns the seconds it took."""
    started = time.perf_counter()
    page.goto(url)
    page.locator(APP_SELECTOR).wait_for(timeout=timeout_s * 1000)
    return wait_until_drawn(page, started, timeout_s)
