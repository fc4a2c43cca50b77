// IndexNet matting in the browser: ONNX Runtime Web runs the exported network (`python -m indexnet onnx`).
//
// The steps are those of `indexnet.predict` with size_mode "pad" (indexnet/inference.py), in the same order
// and arithmetic, so that the matte equals the Python one up to the runtimes' float differences:
// snap the trimap to {0, 128, 255}; network input = ((RGB * float32(1/255)) - mean) / std in float64 stored as
// float32, trimap * float32(1/255); reflect-pad bottom/right to multiples of 32; run; crop; clamp to [0, 1];
// copy the known regions from the trimap. Like `predict`, the network runs on the photo resized by `scale` (default:
// the weights' test scale, which build.sh writes to model.json: 1.5 for the shipped weights) and then fitted
// within `maxSide`: enlarged with OpenCV's bicubic, reduced with its area averaging, the trimap nearest-neighbour
// (all three reproduced here); the matte is resized back bilinearly and the known regions come from the full-size
// trimap.
//
// window.indexnet.matte(imageUrl, trimapUrl, options) -> Promise<{width, height, alpha}> (alpha: Uint8Array,
// row-major, 0..255); trimapUrl null: the automatic trimap (subject.js). Nothing is sent anywhere: the photo stays
// in the browser.

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];
const MULTIPLE = 32; // the network pools five times
// Trimap snapping, as indexnet.inference: <= 16 background, >= 239 foreground, anything between unknown.
const TRIMAP_BG_MAX = 16;
const TRIMAP_FG_MIN = 239;
export const DEFAULT_MAX_SIDE = 1024; // the page's default processing size (its largest choice is 1536)
// The most pixels the network may see here. A run at 1536 x 1536 (the page's largest size on a square photo) was
// measured to fit in the WASM heap (4 GiB at most) in headless Chromium; larger sizes were not, and are refused with
// this limit in the message instead of ONNX Runtime's own errors ("SafeIntOnOverflow" at 18040 x 12000).
export const NETWORK_MAX_PIXELS = 1536 * 1536;
// Photos (and trimaps) above this are refused before they are decoded, with the Gradio app's limit and message
// (indexnet.images.UPLOAD_MAX_PIXELS and read_array): a 144-megapixel photo would take ~10 GB and a minute here.
export const MAX_PIXELS = 50_000_000;
const NO_UNKNOWN = "the trimap has no unknown (grey) pixels, so there is nothing to matte. Mark the edges of the " +
  "subject grey"; // indexnet.trimap.check_trimap's message: the page's Run and the JS API refuse alike

const MODEL_URL = new URL("model.onnx", import.meta.url).href;
const SETTINGS_URL = new URL("model.json", import.meta.url).href; // {"test_scale": ...}, from the checkpoint's meta
const ORT_DIR = new URL("ort/", import.meta.url).href;

let sessionPromise = null; // one model load per page, shared by every caller
export const state = { backend: null, threads: 1, modelBytes: 0, testScale: 1 };

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

// fetch(), whose network errors ("Failed to fetch") name no address: say which file could not be loaded.
async function get(url, what) {
  try {
    return await fetch(url);
  } catch (err) {
    throw new Error(`could not load the ${what} ${url} (${err.message || err})`);
  }
}

async function fetchWithProgress(url, onProgress) {
  const response = await get(url, "model");
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

// The weights' test scale (`model.test_scale` in Python); 1, as for weights without one, if model.json is absent.
async function loadTestScale() {
  const response = await get(SETTINGS_URL, "model settings");
  if (!response.ok) return 1;
  const scale = (await response.json()).test_scale;
  if (!(Number.isFinite(scale) && scale > 0)) {
    throw new Error(`model.json: test_scale must be a positive number, got ${scale}`);
  }
  return scale;
}

async function createSession(onProgress, backend) {
  const [bytes, testScale] = await Promise.all([fetchWithProgress(MODEL_URL, onProgress), loadTestScale()]);
  Object.assign(state, { modelBytes: bytes.length, testScale });
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
/** [width, height] from an image file's header, without decoding it (PNG, JPEG, GIF, WebP, BMP); null for other
 * formats or a header that cannot be read (the decoder then says what is wrong). */
export async function imageHeaderSize(blob) {
  const read = async (start, length) => new DataView(await blob.slice(start, start + length).arrayBuffer());
  const head = await read(0, 30);
  if (head.byteLength < 30) return null;
  const u8 = (i) => head.getUint8(i);
  const text = (i, n) => String.fromCharCode(...Array.from({ length: n }, (_, k) => u8(i + k)));
  const u24 = (i) => u8(i) | (u8(i + 1) << 8) | (u8(i + 2) << 16);
  if (text(0, 8) === "\x89PNG\r\n\x1a\n") return [head.getUint32(16), head.getUint32(20)];
  if (text(0, 4) === "GIF8") return [head.getUint16(6, true), head.getUint16(8, true)];
  if (text(0, 2) === "BM" && head.getUint32(14, true) >= 40) {
    return [Math.abs(head.getInt32(18, true)), Math.abs(head.getInt32(22, true))];
  }
  if (text(0, 4) === "RIFF" && text(8, 4) === "WEBP") {
    const chunk = text(12, 4);
    if (chunk === "VP8X") return [1 + u24(24), 1 + u24(27)];
    if (chunk === "VP8L") {
      const bits = head.getUint32(21, true);
      return [1 + (bits & 0x3fff), 1 + ((bits >>> 14) & 0x3fff)];
    }
    if (chunk === "VP8 ") return [head.getUint16(26, true) & 0x3fff, head.getUint16(28, true) & 0x3fff];
    return null;
  }
  if (u8(0) === 0xff && u8(1) === 0xd8) { // JPEG: walk the segments to the frame header (SOF0..SOF15)
    for (let pos = 2, n = 0; n < 1000; n++) {
      const segment = await read(pos, 9);
      if (segment.byteLength < 9 || segment.getUint8(0) !== 0xff) return null;
      const marker = segment.getUint8(1);
      if (marker === 0xff) pos += 1; // fill byte
      else if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
        return [segment.getUint16(7), segment.getUint16(5)];
      } else pos += 2 + segment.getUint16(2);
    }
  }
  return null;
}

// Refuse an image above MAX_PIXELS in the words of the app (indexnet.images.read_array).
function checkPixels([width, height], label) {
  if (width * height > MAX_PIXELS) {
    throw new Error(`${label} is ${width}×${height} = ${(width * height / 1e6).toFixed(0)} megapixels; at most ` +
                    `${(MAX_PIXELS / 1e6).toFixed(0)} are accepted: downscale it first`);
  }
}

/** A photo or trimap (URL, File or Blob) -> ImageBitmap, upright; refused above MAX_PIXELS, before decoding
 * where the header says its size. `what` names it in errors ("image", "trimap"). */
async function decode(source, what) {
  let blob = source;
  if (typeof source === "string") {
    const response = await get(source, what);
    if (!response.ok) throw new Error(`could not load the ${what} ${source} (HTTP ${response.status})`);
    blob = await response.blob();
  }
  const label = `the ${what}${typeof source === "string" ? ` ${source}` : source.name ? ` ${source.name}` : ""}`;
  const size = await imageHeaderSize(blob);
  if (size) checkPixels(size, label);
  let bitmap;
  try {
    // Upright as viewers show it (EXIF orientation, as indexnet.read_image), colours as stored in the file.
    bitmap = await createImageBitmap(blob, { imageOrientation: "from-image", colorSpaceConversion: "none",
                                             premultiplyAlpha: "none" });
  } catch {
    throw new Error(`${label} is not a readable image file`);
  }
  try {
    checkPixels([bitmap.width, bitmap.height], label); // a format whose header is not read above
  } catch (err) {
    bitmap.close();
    throw err;
  }
  return bitmap;
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

// Python's round(): half to even (676.5 -> 676), where Math.round goes up.
function roundHalfEven(x) {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** [width, height] the network sees, as indexnet.inference.network_size: the photo resized by `scale` (rounded, at
 * least 1 px), then fitted within `maxSide` (indexnet.images.fit_within; null: no limit). Same float64 arithmetic. */
export function networkSize(width, height, scale, maxSide) {
  if (!(Number.isFinite(scale) && scale > 0)) {
    throw new Error(`scale must be a positive number (1 = the image's own size), got ${scale}`);
  }
  let w = Math.max(1, roundHalfEven(width * scale));
  let h = Math.max(1, roundHalfEven(height * scale));
  if (!Number.isFinite(w * h)) throw new Error(`scale ${scale} is too large for a ${width}×${height} image`);
  if (maxSide != null && Math.max(w, h) > maxSide) {
    if (maxSide < 1) throw new Error(`maxSide must be a positive number of pixels, got ${maxSide}`);
    const fit = maxSide / Math.max(w, h);
    [w, h] = [Math.max(1, roundHalfEven(w * fit)), Math.max(1, roundHalfEven(h * fit))];
  }
  return [w, h];
}

// Taps of a resampling along one axis, {start, index, weight}: output pixel d is the sum of source pixel index[k]
// times weight[k] for k from start[d] to start[d + 1]. Positions and weights in float64, as opencv-python 5.0.

// OpenCV's bicubic: Keys' kernel with a = -0.75 at half-pixel centres, the border replicated.
function cubicTaps(src, dst) {
  const A = -0.75;
  const start = Int32Array.from({ length: dst + 1 }, (_, d) => 4 * d);
  const index = new Int32Array(4 * dst);
  const weight = new Float64Array(4 * dst);
  for (let d = 0; d < dst; d++) {
    const pos = (d + 0.5) * (src / dst) - 0.5;
    const i = Math.floor(pos);
    const t = pos - i;
    const w0 = ((A * (t + 1) - 5 * A) * (t + 1) + 8 * A) * (t + 1) - 4 * A;
    const w1 = ((A + 2) * t - (A + 3)) * t * t + 1;
    const w2 = ((A + 2) * (1 - t) - (A + 3)) * (1 - t) * (1 - t) + 1;
    const taps = [w0, w1, w2, 1 - w0 - w1 - w2];
    for (let k = 0; k < 4; k++) {
      index[4 * d + k] = Math.min(Math.max(i - 1 + k, 0), src - 1);
      weight[4 * d + k] = taps[k];
    }
  }
  return { start, index, weight };
}

// OpenCV's area averaging for reduction (computeResizeAreaTab): each output pixel is the mean of the source pixels
// under its footprint, the partly covered ones weighted by their overlap (slivers under 1e-3 px dropped, as OpenCV).
function areaTaps(src, dst) {
  const scale = src / dst;
  const start = new Int32Array(dst + 1);
  const index = [];
  const weight = [];
  const add = (i, w) => {
    index.push(i);
    weight.push(w);
  };
  for (let d = 0; d < dst; d++) {
    const f1 = d * scale;
    const f2 = f1 + scale;
    const cell = Math.min(scale, src - f1);
    const s2 = Math.min(Math.floor(f2), src - 1);
    const s1 = Math.min(Math.ceil(f1), s2);
    if (s1 - f1 > 1e-3) add(s1 - 1, (s1 - f1) / cell);
    for (let s = s1; s < s2; s++) add(s, 1 / cell);
    if (f2 - s2 > 1e-3) add(s2, Math.min(f2 - s2, 1, cell) / cell);
    start[d + 1] = index.length;
  }
  return { start, index: Int32Array.from(index), weight: Float64Array.from(weight) };
}

// RGB of RGBA pixels resampled separably (rows, then columns) in float64; alpha set to 255.
function resample(rgba, sw, sh, dw, dh, taps, halfUp = false) {
  const xs = taps(sw, dw);
  const ys = taps(sh, dh);
  const rows = new Float64Array(sh * dw * 3); // every source row at the new width
  for (let y = 0; y < sh; y++) {
    for (let x = 0; x < dw; x++) {
      let r = 0, g = 0, b = 0;
      for (let k = xs.start[x]; k < xs.start[x + 1]; k++) {
        const i = 4 * (y * sw + xs.index[k]);
        const w = xs.weight[k];
        r += rgba[i] * w;
        g += rgba[i + 1] * w;
        b += rgba[i + 2] * w;
      }
      const o = 3 * (y * dw + x);
      rows[o] = r;
      rows[o + 1] = g;
      rows[o + 2] = b;
    }
  }
  // Storing into a Uint8ClampedArray saturates to 0..255 and rounds half to even (ToUint8Clamp), as OpenCV does
  // but in its 2 x 2 reduction, (a + b + c + d + 2) >> 2, which rounds half up.
  const out = new Uint8ClampedArray(4 * dw * dh);
  for (let y = 0; y < dh; y++) {
    for (let x = 0; x < dw; x++) {
      let r = 0, g = 0, b = 0;
      for (let k = ys.start[y]; k < ys.start[y + 1]; k++) {
        const i = 3 * (ys.index[k] * dw + x);
        const w = ys.weight[k];
        r += rows[i] * w;
        g += rows[i + 1] * w;
        b += rows[i + 2] * w;
      }
      const o = 4 * (y * dw + x);
      out[o] = halfUp ? Math.floor(r + 0.5) : r;
      out[o + 1] = halfUp ? Math.floor(g + 0.5) : g;
      out[o + 2] = halfUp ? Math.floor(b + 0.5) : b;
      out[o + 3] = 255;
    }
  }
  return out;
}

/** cv2.resize(INTER_CUBIC) of RGBA pixels' RGB (alpha 255). Against opencv-python 5.0, which computes in floating
 * point too, it differs by 1 at ~1e-5 of the values (near-ties), for images of 4 px or more a side. */
export const resizeCubic = (rgba, sw, sh, dw, dh) => resample(rgba, sw, sh, dw, dh, cubicTaps);

/** cv2.resize(INTER_AREA) of RGBA pixels' RGB (alpha 255), for reduction. Against opencv-python 5.0 it differs by 1
 * at up to ~1% of the values (near-ties, which its float32 sums round the other way). */
export const resizeArea = (rgba, sw, sh, dw, dh) =>
  resample(rgba, sw, sh, dw, dh, areaTaps, sw === 2 * dw && sh === 2 * dh);

/** cv2.resize(INTER_NEAREST) of one channel: source index floor(d * (1 / (dst / src))) in float64, as OpenCV
 * computes it (the exact floor(d * src / dst) differs from it for some sizes). */
export function resizeNearest(src, sw, sh, dw, dh) {
  const fx = 1 / (dw / sw);
  const fy = 1 / (dh / sh);
  const out = new Uint8Array(dw * dh);
  for (let y = 0; y < dh; y++) {
    const row = Math.min(Math.floor(y * fy), sh - 1) * sw;
    for (let x = 0; x < dw; x++) out[y * dw + x] = src[row + Math.min(Math.floor(x * fx), sw - 1)];
  }
  return out;
}

/** cv2.resize(INTER_LINEAR) of a float image, up or down (no area averaging down, as OpenCV): half-pixel
 * centres, edges clamped. Matches OpenCV to float32 precision (~1e-7). */
export function resizeBilinear(src, sw, sh, dw, dh) {
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
const OPTIONS = ["maxSide", "scale", "onProgress"];

// The options of matte / matteBitmap, refused with a clear message before any work (a wrong one is never ignored).
function checkOptions(options) {
  if (options === null || typeof options !== "object") throw new Error(`options must be an object, got ${options}`);
  const unknown = Object.keys(options).filter((key) => !OPTIONS.includes(key));
  const shown = (value) => (typeof value === "string" ? JSON.stringify(value) : String(value));
  if (unknown.length) {
    throw new Error(`unknown option ${unknown.map(shown).join(", ")}; the options are ${OPTIONS.join(", ")}`);
  }
  const { maxSide, scale, onProgress } = options;
  if (maxSide != null && !(typeof maxSide === "number" && Number.isFinite(maxSide) && maxSide >= 1)) {
    throw new Error(`maxSide must be a positive number of pixels (null: no limit), got ${shown(maxSide)}`);
  }
  if (scale != null && !(typeof scale === "number" && Number.isFinite(scale) && scale > 0)) {
    throw new Error(`scale must be a positive number (1 = the image's own size), got ${shown(scale)}`);
  }
  if (onProgress != null && typeof onProgress !== "function") {
    throw new Error(`onProgress must be a function, got ${shown(onProgress)}`);
  }
}

/**
 * Alpha matte of an image (ImageBitmap / canvas) and a trimap (Uint8Array {0, 128, 255}, the image's size).
 * Options: scale (the network sees the image resized by it; default the weights' test scale from model.json),
 * maxSide (then the longest side it sees at most; null: no limit), onProgress.
 * Returns {width, height, alpha: Uint8Array, processingSize: [w, h], scale, seconds, backend}.
 */
export async function matteBitmap(image, trimap, options = {}) {
  checkOptions(options);
  const { maxSide = DEFAULT_MAX_SIDE, onProgress = null } = options;
  const { width, height } = image;
  if (trimap.length !== width * height) throw new Error("the trimap must have one value per image pixel");
  if (!trimap.includes(128)) throw new Error(NO_UNKNOWN);
  const { ort, session } = await ready(onProgress);
  const scale = options.scale ?? state.testScale;
  const [sw, sh] = networkSize(width, height, scale, maxSide);
  if (sw * sh > NETWORK_MAX_PIXELS) {
    throw new Error(`the network would see ${sw}×${sh} pixels (the ${width}×${height} image × ${scale}` +
                    `${maxSide == null ? ", no maxSide" : `, fitted within maxSide ${maxSide}`}); at most ` +
                    `${(NETWORK_MAX_PIXELS / 1e6).toFixed(1)} megapixels (1536×1536) fit in the browser's memory: ` +
                    "lower maxSide or scale");
  }
  const resized = sw !== width || sh !== height;
  let rgba = pixels(image);
  let smallTrimap = trimap;
  if (resized) {
    // predict's choice, by pixel count: cv2.INTER_AREA down, cv2.INTER_CUBIC up, both reproduced here (the canvas's
    // own smoothing is neither: its reduction differed from INTER_AREA by up to 12/255).
    rgba = (sw * sh < width * height ? resizeArea : resizeCubic)(rgba, width, height, sw, sh);
    smallTrimap = resizeNearest(trimap, width, height, sw, sh);
  }
  const { data, H, W } = networkInput(rgba, smallTrimap, sw, sh);
  report(onProgress, "run", 0, `Running IndexNet on ${sw}×${sh} (${state.backend})…`);
  const start = performance.now();
  const feeds = { [session.inputNames[0]]: new ort.Tensor("float32", data, [1, 4, H, W]) };
  let results;
  try {
    results = await session.run(feeds);
  } catch (err) {
    throw new Error(`the network failed at ${sw}×${sh} on ${state.backend} (${err.message || err}); ` +
                    "if the browser ran out of memory, a smaller maxSide helps");
  }
  const raw = await results[session.outputNames[0]].getData();
  const seconds = (performance.now() - start) / 1000;

  // Crop, clamp and copy the known regions at the network's size, as predict's inner call does before its matte is
  // resized back: the raw output under known regions is not a matte, and bilinear resizing would blend it into
  // the unknown pixels next to them (up to 162/255 off at a 256-px processing size).
  const small = new Float32Array(sw * sh);
  for (let y = 0; y < sh; y++) {
    for (let x = 0; x < sw; x++) {
      const t = smallTrimap[y * sw + x];
      small[y * sw + x] = t === 255 ? 1 : t === 0 ? 0 : Math.min(Math.max(raw[y * W + x], 0), 1);
    }
  }
  const full = resized ? resizeBilinear(small, sw, sh, width, height) : small;
  const alpha = new Uint8Array(width * height);
  for (let i = 0; i < alpha.length; i++) {
    const t = trimap[i];
    alpha[i] = t === 255 ? 255 : t === 0 ? 0 : Math.round(Math.min(Math.max(full[i], 0), 1) * 255);
  }
  return { width, height, alpha, processingSize: [sw, sh], scale, seconds, backend: state.backend };
}

/** The JS API: URLs (or Blobs) of a photo and of its trimap -> Promise<{width, height, alpha}>. No trimap (null):
 * the subject is found automatically (subject.js, the u2netp network and the trimap rule of indexnet/subject.py). */
export async function matte(imageUrl, trimapUrl, options = {}) {
  checkOptions(options);
  if (trimapUrl == null) {
    const { autoTrimap } = await import("./subject.js");
    const image = await decode(imageUrl, "image");
    return matteBitmap(image, (await autoTrimap(image)).trimap, options);
  }
  const [image, trimapBitmap] = await Promise.all([decode(imageUrl, "image"), decode(trimapUrl, "trimap")]);
  if (trimapBitmap.width !== image.width || trimapBitmap.height !== image.height) {
    throw new Error(`the trimap is ${trimapBitmap.width}×${trimapBitmap.height} but the image is ` +
                    `${image.width}×${image.height}; they must be the same size`);
  }
  return matteBitmap(image, snapTrimap(pixels(trimapBitmap, undefined, undefined, false)), options);
}

export { decode };
window.indexnet = { matte, ready, state, DEFAULT_MAX_SIDE, MAX_PIXELS, NETWORK_MAX_PIXELS };
