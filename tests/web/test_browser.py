"""End to end in a real headless browser: Debian's chromium driven by Playwright against a uvicorn server.

Opens the page, uploads two tiny images, starts a short job, sees the live preview update and the
result appear, downloads it and checks that it is a PNG.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from web.conftest import NO_WEB_EXTRA, png_bytes

CHROMIUM = Path("/usr/bin/chromium")
#: Flags for a headless chromium in a container: no sandbox (root), no GPU, nothing fetched from the network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install -y chromium)")
pytest.importorskip("fastapi", reason=NO_WEB_EXTRA)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
uvicorn = pytest.importorskip("uvicorn")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path, tiny_weights_file: Path) -> Iterator[str]:
    """A uvicorn server (in a thread of this process; its worker is a separate process) at the returned URL."""
    from restyle.web.app import create_app

    app = create_app(
        tmp_path / "data",
        workers=1,
        weights=tiny_weights_file,
        preview_seconds=0.15,
        torch_threads=1,
        poll_seconds=0.1,
    )
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=30)


@pytest.fixture
def page(server: str) -> Iterator[object]:
    """A fresh chromium page (accepting downloads) that loads nothing but ``server``."""
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(accept_downloads=True, viewport={"width": 1200, "height": 900})
        page = context.new_page()
        outside: list[str] = []
        page.on("request", lambda r: None if r.url.startswith((server, "data:", "blob:")) else outside.append(r.url))
        page.goto(server + "/")
        page.wait_for_selector("body[data-ready='1']", timeout=15000)
        yield page
        assert outside == [], f"the page loaded something from elsewhere: {outside}"
        context.close()
        browser.close()


def test_upload_start_watch_preview_download_png(page, tmp_path: Path) -> None:
    page.set_input_files("#content-input", {"name": "photo.png", "mimeType": "image/png", "buffer": png_bytes(64, 48)})
    page.set_input_files("#style-input", {"name": "art.png", "mimeType": "image/png", "buffer": png_bytes(48, 48, 2)})
    assert page.is_visible("#content-preview") and page.is_visible("#style-preview")
    # the form comes from RunConfig: defaults shown, advanced settings folded away
    assert page.input_value("#f-size") == "512" and page.input_value("#f-optimizer") == "lbfgs"
    assert not page.is_visible("#f-style_layers")
    # a preset fills the form with its values; "(none)" brings the defaults back
    page.select_option("#f-preset", "sbavon")
    assert page.input_value("#f-optimizer") == "adam" and page.input_value("#f-size") != "512"
    page.select_option("#f-preset", "")
    assert page.input_value("#f-optimizer") == "lbfgs" and page.input_value("#f-size") == "512"
    page.fill("#f-size", "64")
    page.fill("#f-iterations", "250")
    page.select_option("#f-optimizer", "adam")
    page.click("#advanced summary")
    page.fill("#f-scales", "1")
    page.fill("#f-style_layers", "relu1_1,relu2_1")
    page.fill("#f-content_layers", "relu2_2")
    page.click("#start")
    page.wait_for_selector("#state.running", timeout=30000)
    # the live preview is refreshed while the job runs (two frames at least before the result)
    page.wait_for_function("Number(document.querySelector('#preview').dataset.previews) >= 2", timeout=30000)
    page.wait_for_selector("#state.done", timeout=60000)
    page.wait_for_selector("#result:not([hidden])")
    assert "result.png" in (page.get_attribute("#preview", "src") or "")
    assert page.text_content("#status-text").startswith("step 250/250")
    assert "total" in page.text_content("#losses")
    with page.expect_download() as info:
        page.click("#download")
    download = info.value
    data = Path(download.path()).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and download.suggested_filename.endswith(".png")
    # another browser sees nothing of it, except through the share link (read-only)
    share = page.input_value("#share-link")
    assert "token=" in share
    other = page.context.browser.new_context()
    stranger = other.new_page()
    stranger.goto(share)
    stranger.wait_for_selector("#state.done", timeout=15000)
    assert "token=" in (stranger.get_attribute("#preview", "src") or "") and stranger.is_hidden("#cancel")
    assert stranger.text_content("#gallery") == "Nothing yet."
    other.close()
    # the gallery lists the job, and "run again" refills the form with its settings
    page.wait_for_selector("#gallery .item")
    page.fill("#f-size", "300")
    page.click("#gallery .item .again")
    page.wait_for_function("document.querySelector('#f-size').value === '64'")
    assert page.input_value("#f-optimizer") == "adam" and page.input_value("#f-iterations") == "250"
    # the API documentation is a local page too
    page.click("footer a[href='/docs']")
    page.wait_for_selector("text=POST /api/jobs")
