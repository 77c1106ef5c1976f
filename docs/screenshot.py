"""Capture the Dagster asset graph (global lineage view) as a PNG with headless Chromium.

Starts ``dagster-webserver --read-only`` on the current ``DAGSTER_HOME``/``KONGCHUO_HOME`` (``make screenshot``
runs ``make demo`` first, so the graph shows the demo's materializations and check results), opens
``/asset-groups`` in Debian's Chromium through Playwright and saves the page. No browser download, no
outside network: only the loopback webserver is contacted.

    .venv/bin/python docs/screenshot.py --out docs/asset-graph.png
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    query = json.dumps({"query": "{ workspaceOrError { ... on Workspace { locationEntries { loadStatus } } } }"})
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("dagster-webserver exited before it was ready")
        try:
            req = urllib.request.Request(f"{url}/graphql", data=query.encode(),
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=5) as resp:
                entries = json.loads(resp.read())["data"]["workspaceOrError"]["locationEntries"]
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                return
        except (OSError, KeyError, TypeError, ValueError):
            pass
        time.sleep(0.5)
    raise SystemExit(f"dagster-webserver not ready after {timeout:.0f} s")


def capture(out: Path, width: int = 2400, height: int = 1400) -> Path:
    from playwright.sync_api import sync_playwright

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DAGSTER_DISABLE_TELEMETRY": "true", "GX_ANALYTICS_ENABLED": "false"}
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([str(Path(sys.executable).with_name("dagster-webserver")), "-w", "workspace.yaml",
                                 "-h", "127.0.0.1", "-p", str(port), "--read-only"],
                                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait(url, proc)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=1)
                page.goto(f"{url}/asset-groups", wait_until="networkidle", timeout=120_000)
                page.wait_for_timeout(2000)
                skip = page.get_by_role("button", name="Skip")  # the first-visit newsletter dialog
                if skip.count():
                    skip.first.click()
                page.get_by_text("reports", exact=True).first.wait_for(timeout=60_000)
                # The graph's settings menu (gear, bottom right): expand all groups, then top-to-bottom layout.
                for item in ("Expand all groups", "vertical orientation"):
                    page.mouse.click(width - 28, height - 108)
                    page.locator("[role=menuitem]", has_text=item).first.click(timeout=30_000)
                    page.wait_for_timeout(500)
                    page.keyboard.press("Escape")
                page.reload(wait_until="networkidle")  # re-fit the expanded graph to the window
                page.get_by_text("r1_monthly").first.wait_for(timeout=60_000)
                page.wait_for_timeout(3000)  # let the layout settle and the status badges load
                out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(out), clip={"x": 545, "y": 110, "width": width - 545, "height": height - 110})
                browser.close()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "asset-graph.png")
    parser.add_argument("--width", type=int, default=2400)
    parser.add_argument("--height", type=int, default=1400)
    args = parser.parse_args()
    print(capture(args.out, args.width, args.height))


if __name__ == "__main__":
    main()
