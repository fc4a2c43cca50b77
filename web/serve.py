"""Serve web/ locally with the headers that make the page cross-origin isolated, so ONNX Runtime Web can use
WASM threads (SharedArrayBuffer). `python -m http.server -d web` works too, with one thread.

    python web/serve.py [--port 8000] [--bind 127.0.0.1]
"""
import argparse
import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

WEB = Path(__file__).resolve().parent


class IsolatedHandler(SimpleHTTPRequestHandler):
    """Static files plus COOP/COEP (what the static Space sends through its README's custom_headers)."""

    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".mjs": "text/javascript", ".js": "text/javascript",
                      ".wasm": "application/wasm", ".onnx": "application/octet-stream"}

    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        super().end_headers()

    def log_message(self, format, *args):  # noqa: A002 -- the base class's signature
        pass


def make_server(port: int = 8000, bind: str = "127.0.0.1", directory: Path = WEB) -> ThreadingHTTPServer:
    return ThreadingHTTPServer((bind, port), functools.partial(IsolatedHandler, directory=str(directory)))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--bind", default="127.0.0.1")
    args = ap.parse_args()
    if not (WEB / "model.onnx").is_file():
        raise SystemExit("web/model.onnx is missing: run `bash web/build.sh` first")
    server = make_server(args.port, args.bind)
    print(f"serving {WEB} at http://{args.bind}:{args.port}/ (cross-origin isolated: WASM threads on)")
    server.serve_forever()
