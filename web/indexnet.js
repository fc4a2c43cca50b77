// IndexNet matting in the browser: ONNX Runtime Web runs the exported network (`python -m indexnet onnx`).
//
// The steps are those of `indexnet.predict` with size_mode "pad" (indexnet/inference.py), in the same order
// and arithmetic, so that the matte equals the Python one up to the runtimes' float differences:
// snap the trimap to {0, 128, 255}; network input = ((RGB * float32(1/255)) - mean) / std in float64 stored as
// float32, trimap * float32(1/255); reflect-pad bottom/right to multiples of 32; run; crop; clamp to [0, 1];
// copy the known regions from the trimap. Photos larger than `maxSide` are processed downscaled and the matte is
// upscaled back (bilinear), as the Gradio app does; the known regions then come from the full-size trimap.
//
// window.indexnet.matte(imageUrl, trimapUrl, options) -> Promise<{width, height, alpha}> (alpha: Uint8Array,
// row-major, 0..255). Nothing is sent anywhere: the photo stays in the browser.

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];
const MULTIPLE = 32; // the network pools five times
// Trimap snapping, as indexnet.inference: <= 16 background, >= 239 foreground, anything between unknown.
const TRIMAP_BG_MAX = 16;
const TRIMAP_FG_MIN = 239;
export const DEFAULT_MAX_SIDE = 1024; // beyond ~1500 px the WASM heap (4 GiB) runs out for this network

const MODEL_URL = new URL("model.onnx", import.meta.url).href;
const ORT_DIR = new URL("ort/", import.meta.url).href;

let sessionPromise = null; // one model load per page, shared by every caller
export const state = { backend: null, threads: 1, modelBytes: 0 };

function report(onProgress, stage, fraction, text) {
  if (onProgress) onProgress({ stage, fraction, text });
}

async function webgpuAvailable() {
  try {
    return Boolean(navigator.gpu && (await navigator.gpu.requestAdapter()));
  } catch {
    return false;
  }
}

async function fetchWithProgress(url, onProgress) {
  const response = await fetch(url);
  if (!response.ok) {
    throw new Error(`could not load ${url} (HTTP ${response.status}); was the page built with 'bash web/build.sh'?`);
  }
  const total = Number(response.headers.get("Content-Length")) || 0;
  const reader = response.body.getReader();
  const chunks = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    report(onProgress, "download", total ? received / total : 0,
      `Downloading the model: ${(received / 2 ** 20).toFixed(1)}${total ? ` of ${(total / 2 ** 20).toFixed(1)}` : ""} MiB`);
  }
  const bytes = new Uint8Array(received);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

async function createSession(onProgress, backend) {
  const bytes = await fetchWithProgress(MODEL_URL, onProgress);
  state.modelBytes = bytes.length;
  const wantGpu = backend === "webgpu" || (backend === "auto" && (await webgpuAvailable()));
  if (wantGpu) {
    try {
      report(onProgress, "init", 1, "Starting ONNX Runtime (WebGPU)…");
      const ort = await import(`${ORT_DIR}ort.webgpu.min.mjs`);
      ort.env.wasm.wasmPaths = ORT_DIR;
      const session = await ort.InferenceSession.create(bytes, { executionProviders: ["webgpu"] });
      Object.assign(state, { backend: "webgpu", threads: ort.env.wasm.numThreads || 1 });
      return { ort, session };
    } catch (err) {
      if (backend === "webgpu") throw err;
      console.warn("WebGPU unavailable for this model, using WASM:", err);
    }
  }
  report(onProgress, "init", 1, "Starting ONNX Runtime (WASM)…");
  const ort = await import(`${ORT_DIR}ort.wasm.min.mjs`);
  ort.env.wasm.wasmPaths = ORT_DIR;
  // Threads need SharedArrayBuffer, which browsers give only to cross-origin-isolated pages (COOP/COEP headers:
  // web/serve.py and the Space's custom_headers send them; a plain `python -m http.server` does not).
  const threads = self.crossOriginIsolated ? Math.min(navigator.hardwareConcurrency || 1, 8) : 1;
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.proxy = true; // run in a worker: the page stays responsive and shows the elapsed time
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
  Object.assign(state, { backend: threads > 1 ? `wasm (${threads} threads)` : "wasm (1 thread)", threads });
  return { ort, session };
}

/** Load the model once (later calls share the same promise). backend: "auto" | "webgpu" | "wasm". */
export function ready(onProgress = null, backend = "auto") {
  if (!sessionPromise) {
    sessionPromise = createSession(onProgress, backend).catch((err) => {
      sessionPromise = null; // a failed load may be retried
      throw err;
    });
  }
  return sessionPromise;
}

// ------------------------------------------------------------------------------------------ images
async function decode(source, what) {
  let blob = source;
  if (typeof source === "string") {
    const response = await fetch(source);
    if (!response.ok) throw new Error(`could not load the ${what} ${source} (HTTP ${response.status})`);
    blob = await response.blob();
  }
  try {
    // Upright as viewers show it (EXIF orientation, as indexnet.read_image), colours as stored in the file.
    return await createImageBitmap(blob, { imageOrientation: "from-image", colorSpaceConversion: "none",
                                           premultiplyAlpha: "none" });
  } catch {
    throw new Error(`the ${what} is not a readable image file`);
  }
}

/** RGBA pixels of an ImageBitmap or canvas, optionally resized (smooth for photos, nearest for trimaps). */
export function pixels(source, width = source.width, height = source.height, smooth = true) {
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.imageSmoothingEnabled = smooth;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(source, 0, 0, width, height);
  return ctx.getImageData(0, 0, width, height).data;
}

/** RGBA trimap pixels -> Uint8Array {0, 128, 255}; a clear error for colour trimaps (as normalize_trimap). */
export function snapTrimap(rgba) {
  const out = new Uint8Array(rgba.length / 4);
  for (let i = 0; i < out.length; i++) {
    const v = rgba[4 * i];
    if (v !== rgba[4 * i + 1] || v !== rgba[4 * i + 2]) {
      throw new Error("the trimap has colours; expected a grayscale trimap: white = foreground, " +
                      "black = background, grey = unknown");
    }
    out[i] = v <= TRIMAP_BG_MAX ? 0 : v >= TRIMAP_FG_MIN ? 255 : 128;
  }
  return out;
}

// np.pad(mode="reflect") index for position i of an axis of length n (the reflection repeats past 2n - 2).
function reflect(i, n) {
  if (n === 1) return 0; // predict uses mode="edge" for a 1-pixel side
  const period = 2 * (n - 1);
  const m = i % period;
  return m >= n ? period - m : m;
}

/** N x 4 x H32 x W32 float32 network input (see indexnet.inference.network_input and the pad size mode). */
export function networkInput(rgba, trimap, width, height) {
  const H = Math.ceil(height / MULTIPLE) * MULTIPLE;
  const W = Math.ceil(width / MULTIPLE) * MULTIPLE;
  const plane = H * W;
  const data = new Float32Array(4 * plane);
  const inv255 = Math.fround(1 / 255);
  const rows = Int32Array.from({ length: H }, (_, y) => reflect(y, height));
  const cols = Int32Array.from({ length: W }, (_, x) => reflect(x, width));
  for (let y = 0; y < H; y++) {
    const sy = rows[y] * width;
    for (let x = 0; x < W; x++) {
      const s = sy + cols[x];
      const d = y * W + x;
      for (let c = 0; c < 3; c++) {
        // float32 scaling, then float64 normalisation stored as float32: bit-identical to network_input
        data[c * plane + d] = (Math.fround(rgba[4 * s + c] * inv255) - MEAN[c]) / STD[c];
      }
      data[3 * plane + d] = Math.fround(trimap[s] * inv255);
    }
  }
  return { data, H, W };
}

// cv2.resize(INTER_LINEAR) of a float image: half-pixel centres, edges clamped.
function resizeBilinear(src, sw, sh, dw, dh) {
  const out = new Float32Array(dw * dh);
  const fx = sw / dw;
  const fy = sh / dh;
  for (let y = 0; y < dh; y++) {
    const py = Math.min(Math.max((y + 0.5) * fy - 0.5, 0), sh - 1);
    const y0 = Math.floor(py);
    const y1 = Math.min(y0 + 1, sh - 1);
    const wy = py - y0;
    for (let x = 0; x < dw; x++) {
      const px = Math.min(Math.max((x + 0.5) * fx - 0.5, 0), sw - 1);
      const x0 = Math.floor(px);
      const x1 = Math.min(x0 + 1, sw - 1);
      const wx = px - x0;
      const top = src[y0 * sw + x0] * (1 - wx) + src[y0 * sw + x1] * wx;
      const bottom = src[y1 * sw + x0] * (1 - wx) + src[y1 * sw + x1] * wx;
      out[y * dw + x] = top * (1 - wy) + bottom * wy;
    }
  }
  return out;
}

// ------------------------------------------------------------------------------------------ matting
/**
 * Alpha matte of an image (ImageBitmap / canvas) and a trimap (Uint8Array {0, 128, 255}, the image's size).
 * Returns {width, height, alpha: Uint8Array, processingSize: [w, h], seconds, backend}.
 */
export async function matteBitmap(image, trimap, { maxSide = DEFAULT_MAX_SIDE, onProgress = null } = {}) {
  const { width, height } = image;
  if (trimap.length !== width * height) throw new Error("the trimap must have one value per image pixel");
  const { ort, session } = await ready(onProgress);
  const scale = Math.min(1, maxSide / Math.max(width, height));
  const sw = Math.max(1, Math.round(width * scale));
  const sh = Math.max(1, Math.round(height * scale));
  let rgba = pixels(image);
  let smallTrimap = trimap;
  if (scale < 1) {
    rgba = pixels(image, sw, sh, true);
    smallTrimap = new Uint8Array(sw * sh); // nearest-neighbour, as cv2.INTER_NEAREST: source = floor(dst * src / dst size)
    for (let y = 0; y < sh; y++) {
      const ty = Math.min(Math.floor((y * height) / sh), height - 1) * width;
      for (let x = 0; x < sw; x++) smallTrimap[y * sw + x] = trimap[ty + Math.min(Math.floor((x * width) / sw), width - 1)];
    }
  }
  const { data, H, W } = networkInput(rgba, smallTrimap, sw, sh);
  report(onProgress, "run", 0, `Running IndexNet on ${sw}×${sh} (${state.backend})…`);
  const start = performance.now();
  const feeds = { [session.inputNames[0]]: new ort.Tensor("float32", data, [1, 4, H, W]) };
  const results = await session.run(feeds);
  const raw = await results[session.outputNames[0]].getData();
  const seconds = (performance.now() - start) / 1000;

  let small = new Float32Array(sw * sh);
  for (let y = 0; y < sh; y++) small.set(raw.subarray(y * W, y * W + sw), y * sw);
  const full = scale < 1 ? resizeBilinear(small, sw, sh, width, height) : small;
  const alpha = new Uint8Array(width * height);
  for (let i = 0; i < alpha.length; i++) {
    const t = trimap[i];
    alpha[i] = t === 255 ? 255 : t === 0 ? 0 : Math.round(Math.min(Math.max(full[i], 0), 1) * 255);
  }
  return { width, height, alpha, processingSize: [sw, sh], seconds, backend: state.backend };
}

/** The JS API: URLs (or Blobs) of a photo and of its trimap -> Promise<{width, height, alpha}>. */
export async function matte(imageUrl, trimapUrl, options = {}) {
  const [image, trimapBitmap] = await Promise.all([decode(imageUrl, "image"), decode(trimapUrl, "trimap")]);
  if (trimapBitmap.width !== image.width || trimapBitmap.height !== image.height) {
    throw new Error(`the trimap is ${trimapBitmap.width}×${trimapBitmap.height} but the image is ` +
                    `${image.width}×${image.height}; they must be the same size`);
  }
  return matteBitmap(image, snapTrimap(pixels(trimapBitmap, undefined, undefined, false)), options);
}

export { decode };
window.indexnet = { matte, ready, state, DEFAULT_MAX_SIDE };
