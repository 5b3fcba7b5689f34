"""Take the README's screenshots of the web app (idle, running, finished, comparison, sweep) in headless chromium.

    python docs/web/screenshots.py [--out docs/web] [--size 192] [--iterations 40] [--only sweep]

Starts the app on a temporary data dir with the real default weights, picks the bundled examples
with one click each, runs two short jobs (the second with a stronger style) and writes
idle.png, running.png, finished.png and comparison.png; then a 2x2 sweep (style weight x TV
weight, 96 px, 20 steps) started from the page, into sweep.png. Needs the web and test extras and
/usr/bin/chromium; takes a few minutes on two CPU cores.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright

from restyle.web.app import create_app

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).parent))
    parser.add_argument("--size", default="192")
    parser.add_argument("--iterations", default="40")
    parser.add_argument("--only", choices=("all", "sweep"), default="all", help="sweep: only sweep.png")
    args = parser.parse_args()
    out = Path(args.out)
    with tempfile.TemporaryDirectory() as data, socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        app = create_app(data, workers=1, preview_seconds=1.0)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            if args.only == "all":
                shoot(f"http://127.0.0.1:{port}", out, args.size, args.iterations)
            shoot_sweep(f"http://127.0.0.1:{port}", out)
        finally:
            server.should_exit = True
            thread.join(timeout=60)


def shoot(url: str, out: Path, size: str, iterations: str) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(url + "/")
        page.wait_for_selector("body[data-ready='1']")
        page.click(".examples[data-kind=content] button[data-name='tubingen.jpg']")
        page.click(".examples[data-kind=style] button[data-name='starry_night.jpg']")
        page.wait_for_selector("#style-preview:not([hidden])")
        page.fill("#f-size", size)
        page.fill("#f-iterations", iterations)
        page.click("#advanced summary")
        page.fill("#f-scales", "2")
        page.click("#advanced summary")
        page.wait_for_timeout(500)
        page.screenshot(path=str(out / "idle.png"), full_page=True)
        page.click("#start")
        page.wait_for_function("Number(document.querySelector('#preview').dataset.updates) >= 3", timeout=600_000)
        page.wait_for_timeout(300)
        page.locator("#run").screenshot(path=str(out / "running.png"))
        page.wait_for_selector("#state.done", timeout=600_000)
        page.wait_for_timeout(500)
        page.locator("#run").screenshot(path=str(out / "finished.png"))
        page.fill("#f-style_weight", "100")
        page.click("#start")
        page.wait_for_selector("#state.running", timeout=600_000)
        page.wait_for_selector("#state.done", timeout=600_000)
        page.wait_for_function(
            "document.querySelectorAll('#gallery .compare-tick:not([disabled])').length >= 2", timeout=60_000
        )
        page.wait_for_timeout(500)
        for tick in page.query_selector_all("#gallery .compare-tick")[:2]:
            tick.check()
        page.wait_for_selector("#compare:not([hidden])")
        page.fill("#compare-slider", "45")
        page.dispatch_event("#compare-slider", "input")
        page.wait_for_timeout(500)
        page.locator("#compare").screenshot(path=str(out / "comparison.png"))
        browser.close()
    for name in ("idle", "running", "finished", "comparison"):
        print(out / f"{name}.png")


def shoot_sweep(url: str, out: Path) -> None:
    """A 2x2 sweep started from the page; the run panel with its cells when the sheet is done."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(url + "/")
        page.wait_for_selector("body[data-ready='1']")
        page.click(".examples[data-kind=content] button[data-name='tubingen.jpg']")
        page.click(".examples[data-kind=style] button[data-name='starry_night.jpg']")
        page.wait_for_selector("#style-preview:not([hidden])")
        page.fill("#f-size", "96")
        page.fill("#f-iterations", "20")
        page.click("#advanced summary")
        page.fill("#f-scales", "1")
        page.click("#advanced summary")
        page.click("#sweep-box summary")
        page.select_option("#sweep-field-0", "style_weight")
        page.fill("#sweep-values-0", "1, 100")
        page.select_option("#sweep-field-1", "tv_weight")
        page.fill("#sweep-values-1", "0.01, 10")
        page.click("#sweep-start")
        page.wait_for_selector("#state.done", timeout=900_000)
        page.wait_for_function("document.querySelector('#preview').naturalWidth > 0")
        page.wait_for_timeout(800)
        page.locator("#run").screenshot(path=str(out / "sweep.png"))
        browser.close()
    print(out / "sweep.png")


if __name__ == "__main__":
    main()
