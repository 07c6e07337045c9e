"""The headless browser FAC Studio drives (PNG export of figures, the app's end-to-end tests)."""

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
"""Debian's Chromium (Playwright's own browser download is not reachable here)."""
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
"""Flags that work as root in a container without network access (no background services, no sandbox)."""
