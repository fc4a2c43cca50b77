"""Speed of the static web demo (web/) in headless Chromium: seconds per `window.indexnet.matte` on an 800-px photo.

The photo is `examples/coffee.jpg` (600 x 400) upscaled to 800 x 533 with its trimap (nearest), so that the figure
is for the README's "800-px photo". web/ is served by web/serve.py (cross-origin isolated: WASM threads, as on the
static Space) or, with `--plain`, without the isolation headers (one WASM thread, as `python -m http.server`).
The network runs at the page's default size, the photo resized by the weights' test scale (1.5 for the shipped
weights: 1200 x 800, fitted within 1024 px, so 1024 x 682), or at `--scale` (1: 800 x 533, as before the page applied
the test scale). One warm-up call (the model's first run also compiles its kernels), then `--repeats` timed calls;
prints the browser, the backend and the median and best network times (the whole `matte` call is printed too).
Chromium runs with --disable-gpu, so this measures WASM; WebGPU needs a browser with a GPU.

    bash web/build.sh && .venv/bin/python benchmarks/bench_web.py [--repeats 3] [--plain] [--width 800] [--scale 1]
"""
from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]
WEB = REPO / "web"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def data_url(array, ext: str) -> str:
    ok, buf = cv2.imencode(ext, array, [cv2.IMWRITE_JPEG_QUALITY, 95] if ext == ".jpg" else [])
    if not ok:
        raise ValueError(f"could not encode {ext}")
    mime = "image/jpeg" if ext == ".jpg" else "image/png"
    return f"data:{mime};base64,{base64.b64encode(buf.tobytes()).decode()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--width", type=int, default=800, help="photo width in px (height keeps the aspect ratio)")
    ap.add_argument("--plain", action="store_true", help="serve without COOP/COEP: one WASM thread")
    ap.add_argument("--scale", type=float, default=None,
                    help="the page's `scale` option (default: the weights' test scale, from web/model.json)")
    args = ap.parse_args()
    if not (WEB / "model.onnx").is_file():
        sys.exit("web/model.onnx is missing: run `bash web/build.sh` first")
    from playwright.sync_api import sync_playwright

    image = cv2.imread(str(REPO / "examples" / "coffee.jpg"))
    trimap = cv2.imread(str(REPO / "examples" / "coffee_trimap.png"), cv2.IMREAD_GRAYSCALE)
    height = round(image.shape[0] * args.width / image.shape[1])
    image = cv2.resize(image, (args.width, height), interpolation=cv2.INTER_CUBIC)
    trimap = cv2.resize(trimap, (args.width, height), interpolation=cv2.INTER_NEAREST)
    inputs = [data_url(image, ".jpg"), data_url(trimap, ".png"), {} if args.scale is None else {"scale": args.scale}]

    if args.plain:
        server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(WEB)))
        server.RequestHandlerClass.log_message = lambda *a: None
    else:
        sys.path.insert(0, str(WEB))
        from serve import make_server
        server = make_server(port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page()
        page.goto(url)
        page.wait_for_function("document.body.dataset.ready === 'true'", timeout=300_000)
        run = """async ([image, trimap, options]) => { const t = performance.now();
                   const r = await window.indexnet.matte(image, trimap, options);
                   return {network: r.seconds, total: (performance.now() - t) / 1000, backend: r.backend,
                           size: r.processingSize}; }"""
        first = page.evaluate(run, inputs)
        runs = [page.evaluate(run, inputs) for _ in range(args.repeats)]
        version = browser.version
        browser.close()
    server.shutdown()
    network = [r["network"] for r in runs]
    total = [r["total"] for r in runs]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; Chromium {version} (headless); "
          f"{first['backend']}; photo {args.width}x{height}, processed at {first['size'][0]}x{first['size'][1]}")
    print(f"first call {first['total']:.2f} s; then median {statistics.median(network):.2f} s "
          f"(best {min(network):.2f} s) in the network, {statistics.median(total):.2f} s the whole matte call")


if __name__ == "__main__":
    main()
