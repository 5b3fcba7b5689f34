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


def test_sweep_from_the_page_shows_its_cells_and_sheet(page) -> None:
    page.set_input_files("#content-input", {"name": "photo.png", "mimeType": "image/png", "buffer": png_bytes(64, 48)})
    page.set_input_files("#style-input", {"name": "art.png", "mimeType": "image/png", "buffer": png_bytes(48, 48, 2)})
    page.fill("#f-size", "32")
    page.select_option("#f-optimizer", "adam")
    page.click("#advanced summary")
    page.fill("#f-scales", "1")
    page.fill("#f-style_layers", "relu1_1,relu2_1")
    page.fill("#f-content_layers", "relu2_2")
    page.click("#sweep-box summary")
    # the axes offered are RunConfig's sweepable fields (from the schema), never the server's own settings
    offered = page.eval_on_selector_all("#sweep-field-0 option", "os => os.map(o => o.value)")
    assert {"style_weight", "iterations", "style_layers"} <= set(offered)
    assert not {"preset", "weights", "mask", "save_every"} & set(offered)
    # a bad value is refused with the CLI's message, in the page
    page.select_option("#sweep-field-0", "iterations")
    page.fill("#sweep-values-0", "2, lots")
    page.click("#sweep-start")
    page.wait_for_selector("#message.error")
    assert "iterations must be an integer, got 'lots'" in page.text_content("#message")
    # columns: a 2-step and a longer cell (so a finished cell is seen while the next one runs); rows: style weight
    page.fill("#sweep-values-0", "2, 150")
    page.select_option("#sweep-field-1", "style_weight")
    page.fill("#sweep-values-1", "1, 100")
    assert page.text_content("#sweep-count").startswith("4 cells")
    page.click("#sweep-start")
    page.wait_for_selector("#sweep-view:not([hidden])", timeout=30000)
    page.wait_for_function(
        "document.querySelector('#state').classList.contains('running') && "
        "document.querySelector('.cell[data-state=done]') && document.querySelector('.cell[data-state=running]')",
        timeout=60000,
    )
    assert "done" in page.text_content("#sweep-status") and page.text_content("#status-text").startswith("cell ")
    page.wait_for_selector("#state.done", timeout=120000)
    page.wait_for_function("document.querySelectorAll('#sweep-grid .cell[data-state=done]').length === 4")
    assert page.eval_on_selector_all("#sweep-grid .head", "hs => hs.map(h => h.textContent)") == [
        "iterations = 2",
        "iterations = 150",
    ]
    assert page.eval_on_selector_all("#sweep-grid .rowhead", "hs => hs.map(h => h.textContent)") == [
        "style_weight = 1",
        "style_weight = 100",
    ]
    assert "style" in page.text_content("#sweep-grid .cell figcaption")  # measured losses and seconds
    assert "sheet.png" in (page.get_attribute("#preview", "src") or "")
    page.wait_for_function("document.querySelector('#preview').naturalWidth > 512")  # the contact sheet
    # a cell, large
    page.click("#sweep-grid .cell[data-index='3']")
    page.wait_for_selector("#cell-dialog[open]")
    page.wait_for_function("document.querySelector('#cell-large').naturalWidth === 32")
    assert "iterations = 150, style_weight = 100" in page.text_content("#cell-caption")
    page.click("#cell-close")
    # the sheet and the tables download
    with page.expect_download() as info:
        page.click("#download")
    assert Path(info.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with page.expect_download() as info:
        page.click("#sweep-csv")
    assert Path(info.value.path()).read_text().startswith("row,col,iterations,style_weight,image")
    # the gallery shows it as a sweep, and "run again" refills the sweep's axes
    page.wait_for_selector("#gallery .item")
    assert "sweep iterations × style_weight" in page.text_content("#gallery .item")
    page.select_option("#sweep-field-1", "")
    page.fill("#sweep-values-0", "")
    page.click("#gallery .item .again")
    page.wait_for_function("document.querySelector('#sweep-values-0').value === '2, 150'")
    assert page.input_value("#sweep-field-1") == "style_weight" and page.input_value("#sweep-values-1") == "1, 100"
