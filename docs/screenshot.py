"""Regenerate the README's screenshot, docs/app.png, from the running demo.

Starts the Gradio app (app.py) on a free localhost port, opens it in headless Chromium (Debian's,
driven by Playwright), clicks the "Astronaut" example, presses "Cut out", waits until every result
panel has rendered, takes a full-page screenshot 1400 px wide and shuts the app down.

    .venv/bin/python docs/screenshot.py [--checkpoint PATH] [--out docs/app.png]

--checkpoint: the model the app uses by default (sets INDEXNET_CHECKPOINT; a path or a registered
name). Without it the app's own default is used (INDEXNET_CHECKPOINT if set, else the shipped weights).
Needs /usr/bin/chromium (apt-get install chromium) and the playwright package (requirements-dev.txt).
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 1000}  # the height only matters for scrolling: the shot is full-page
OUTPUTS = ["#cutout", "#alpha", "#composite", "#before-after", "#preview"]  # panels that show images


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(checkpoint: str | None):
    """Launch the demo in this process (without pre-computing the examples); return (demo, url)."""
    if checkpoint:
        os.environ["INDEXNET_CHECKPOINT"] = checkpoint  # read when app is imported: set it first
    os.environ["INDEXNET_CACHE_EXAMPLES"] = "0"  # clicking an example only fills the inputs; "Cut out" runs
    sys.path.insert(0, str(REPO))
    import app
    demo = app.build_demo(cache_examples=False)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(),
                            quiet=True, **app.launch_kwargs())
    return demo, url


def shoot(url: str, chromium: Path, run_timeout_s: float) -> tuple[bytes, str]:
    """Drive the page; return the full-page PNG and the text of the result line."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        context = p.chromium.launch_persistent_context(profile, executable_path=str(chromium), args=FLAGS,
                                                       headless=True, viewport=VIEWPORT)
        try:
            page = context.new_page()
            page.goto(url, wait_until="load")
            page.wait_for_selector("#run-btn", timeout=60_000)

            page.get_by_role("button", name="Astronaut", exact=True).click()
            for slot in ("#image-in", "#trimap-in"):  # the example's photo and trimap are shown
                page.wait_for_selector(f"{slot} img", timeout=60_000)

            page.locator("#run-btn").click()
            # Done when the info text has a "Time:" line; a Gradio error toast ends the wait early.
            page.wait_for_function(
                """() => (document.querySelector('#info [data-testid=markdown]')?.innerText || '').includes('Time:')
                         || document.querySelector('.toast-body.error')""",
                timeout=run_timeout_s * 1000)
            error = page.locator(".toast-body.error")
            if error.count():
                raise RuntimeError(f"the app reported an error: {error.first.inner_text()}")
            info = page.locator("#info [data-testid=markdown]").inner_text()

            # Every result image present and decoded, the downloads listed, no progress overlay, fonts loaded.
            page.wait_for_function(
                """sels => sels.every(s => { const imgs = [...document.querySelectorAll(s + ' img')];
                                             return imgs.length && imgs.every(i => i.complete && i.naturalWidth); })
                          && document.querySelectorAll('#downloads a, #downloads tr').length >= 2
                          && !document.querySelector('.wrap.pending, .progress-bar')""",
                arg=OUTPUTS, timeout=60_000)
            page.evaluate("document.fonts.ready")
            page.mouse.move(0, 0)  # no hover highlight on the button just clicked
            page.evaluate("document.activeElement && document.activeElement.blur()")
            png = page.screenshot(full_page=True)
        finally:
            context.close()
    time_line = next((line.strip() for line in info.splitlines() if "Time:" in line), info.strip())
    return png, time_line


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="model for the app (default: the app's default model)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "app.png", help="PNG to write "
                        "(default: docs/app.png)")
    parser.add_argument("--chromium", type=Path, default=CHROMIUM, help=f"browser binary (default: {CHROMIUM})")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the cut-out (default 600)")
    args = parser.parse_args()
    if not args.chromium.exists():
        sys.exit(f"error: Chromium not found at {args.chromium}: apt-get install chromium, or pass --chromium PATH")
    try:
        import playwright  # noqa: F401
    except ImportError:
        sys.exit("error: the playwright package is missing: .venv/bin/pip install -r requirements-dev.txt")

    t0 = time.monotonic()
    demo, url = start_app(args.checkpoint)
    try:
        png, time_line = shoot(url, args.chromium, args.timeout)
    finally:
        demo.close()
    write_atomically(args.out, png)
    print(args.out)
    print(time_line)
    print(f"(screenshot taken in {time.monotonic() - t0:.0f} s)")


if __name__ == "__main__":
    main()
