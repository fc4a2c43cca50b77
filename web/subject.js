// The subject of a photo without a trimap, in the browser: the u2netp subject network (subject.onnx, copied by
// build.sh from where `python -m indexnet fetch-subject-model` keeps it) in ONNX Runtime Web next to IndexNet, then
// the trimap rule of indexnet/subject.py.
//
// Pre- and post-processing as rembg's u2netp session (what Python runs): the photo resized to 320 x 320, divided
// by its largest value, normalised by ImageNet's mean and std; the first output min-max normalised, stored as 8 bits
// and resized back. rembg resizes with Pillow's Lanczos both ways; here OpenCV's area averaging (or bicubic where
// a side grows) down and bilinear up, so the map differs from Python's a little along edges.
//
// window.indexnet.autoTrimap(imageUrl, {band, point}) -> Promise<{width, height, trimap: Uint8Array, unknown}>.

import { decode, pixels, ready, resizeArea, resizeBilinear, resizeCubic } from "./indexnet.js";

const SUBJECT_URL = new URL("subject.onnx", import.meta.url).href;
const SIZE = 320; // u2netp's input
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];
// indexnet/subject.py: belief below LOW / above HIGH is the network's answer, between them it is unsure; the
// default unknown band is BAND_SHARE of the longest side, at least 4 px.
export const UNSURE_LOW = 0.1;
export const UNSURE_HIGH = 0.9;
export const BAND_SHARE = 0.02;

let sessionPromise = null;

async function createSession(onProgress) {
  const { ort } = await ready(onProgress); // the runtime IndexNet runs in
  let response;
  try {
    response = await fetch(SUBJECT_URL);
  } catch (err) {
    throw new Error(`could not load the subject model ${SUBJECT_URL} (${err.message || err})`);
  }
  if (!response.ok) {
    throw new Error(`could not load ${SUBJECT_URL} (HTTP ${response.status}); was the page built with ` +
                    "'bash web/build.sh'?");
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  return ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
}

/** Load the subject network once (later calls share the promise). */
export function subjectReady(onProgress = null) {
  if (!sessionPromise) {
    sessionPromise = createSession(onProgress).catch((err) => {
      sessionPromise = null;
      throw err;
    });
  }
  return sessionPromise;
}

/** Float32Array (row-major, the image's size) in [0, 1]: u2netp's belief that each pixel is the subject. */
export async function subjectProbability(image, onProgress = null) {
  const { ort } = await ready(onProgress);
  const session = await subjectReady(onProgress);
  const { width, height } = image;
  const grow = width < SIZE || height < SIZE;
  const small = (grow ? resizeCubic : resizeArea)(pixels(image), width, height, SIZE, SIZE);
  let max = 0;
  for (let i = 0; i < SIZE * SIZE; i++) max = Math.max(max, small[4 * i], small[4 * i + 1], small[4 * i + 2]);
  const plane = SIZE * SIZE;
  const data = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) data[c * plane + i] = (small[4 * i + c] / Math.max(max, 1e-6) - MEAN[c]) / STD[c];
  }
  const feeds = { [session.inputNames[0]]: new ort.Tensor("float32", data, [1, 3, SIZE, SIZE]) };
  const raw = await (await session.run(feeds))[session.outputNames[0]].getData();
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < plane; i++) {
    lo = Math.min(lo, raw[i]);
    hi = Math.max(hi, raw[i]);
  }
  const map = new Float32Array(plane);
  for (let i = 0; i < plane; i++) map[i] = Math.floor(((raw[i] - lo) / (hi - lo || 1)) * 255) / 255; // 8 bits
  const full = resizeBilinear(map, SIZE, SIZE, width, height);
  for (let i = 0; i < full.length; i++) full[i] = Math.min(Math.max(full[i], 0), 1);
  return full;
}

// Squared Euclidean distance of every pixel to the nearest seed (Felzenszwalb & Huttenlocher's exact transform,
// columns then rows), as cv2.distanceTransform(DIST_MASK_PRECISE) gives it in indexnet.data.trimap_with_band.
function squaredDistance(seed, width, height) {
  const INF = 1e20;
  const g = Float64Array.from(seed, (s) => (s ? 0 : INF));
  const n = Math.max(width, height);
  const f = new Float64Array(n);
  const d = new Float64Array(n);
  const v = new Int32Array(n);
  const z = new Float64Array(n + 1);
  const pass = (len) => {
    let k = 0;
    v[0] = 0;
    z[0] = -Infinity;
    z[1] = Infinity;
    for (let q = 1; q < len; q++) {
      const meet = (r) => (f[q] + q * q - (f[r] + r * r)) / (2 * q - 2 * r); // where parabolas q and r cross
      let s = meet(v[k]);
      while (s <= z[k]) s = meet(v[--k]); // z[0] = -Infinity ends it
      k++;
      v[k] = q;
      z[k] = s;
      z[k + 1] = Infinity;
    }
    k = 0;
    for (let q = 0; q < len; q++) {
      while (z[k + 1] < q) k++;
      d[q] = (q - v[k]) ** 2 + f[v[k]];
    }
  };
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) f[y] = g[y * width + x];
    pass(height);
    for (let y = 0; y < height; y++) g[y * width + x] = d[y];
  }
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) f[x] = g[y * width + x];
    pass(width);
    for (let x = 0; x < width; x++) g[y * width + x] = d[x];
  }
  return g;
}

/** The default band for a width x height photo (indexnet.subject.default_band). */
export const defaultBand = (width, height) => Math.max(4, BAND_SHARE * Math.max(width, height));

/** Probability -> trimap {0, 128, 255} (indexnet.subject.trimap_from_probability): unknown within `band` px of the
 * outline (0.5) and of every pixel the network is unsure of; surely subject 255, surely not 0. */
export function trimapFromProbability(p, width, height, band = null) {
  band = band ?? defaultBand(width, height);
  if (!(Number.isFinite(band) && band >= 0)) throw new Error(`band must be >= 0 pixels, got ${band}`);
  const seed = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (p[i] > UNSURE_LOW && p[i] < UNSURE_HIGH) seed[i] = 1;
      else if (p[i] >= 0.5) { // the outline: a subject pixel with a non-subject neighbour (border replicated)
        for (let dy = -1; dy <= 1 && !seed[i]; dy++) {
          for (let dx = -1; dx <= 1; dx++) {
            const yy = Math.min(Math.max(y + dy, 0), height - 1);
            const xx = Math.min(Math.max(x + dx, 0), width - 1);
            if (p[yy * width + xx] < 0.5) {
              seed[i] = 1;
              break;
            }
          }
        }
      }
    }
  }
  const dist = squaredDistance(seed, width, height);
  const trimap = new Uint8Array(width * height);
  const band2 = band * band;
  for (let i = 0; i < trimap.length; i++) {
    trimap[i] = dist[i] <= band2 ? 128 : p[i] >= UNSURE_HIGH ? 255 : 0;
  }
  return trimap;
}

/** A click at (x, y) on a part the network found (>= 0.5): that part alone is kept, the others set to 0 (as
 * indexnet.subject.find_subject does). null where the network saw no subject: the page then asks for strokes. */
export function pickSubject(p, width, height, x, y) {
  x = Math.floor(x);
  y = Math.floor(y);
  if (!(x >= 0 && x < width && y >= 0 && y < height)) throw new Error(`the click (${x}, ${y}) is outside the photo`);
  if (p[y * width + x] < 0.5) return null;
  const part = new Uint8Array(width * height);
  const stack = [y * width + x];
  part[stack[0]] = 1;
  while (stack.length) { // 8-connected, as cv2.connectedComponents(connectivity=8)
    const i = stack.pop();
    const cx = i % width;
    const cy = (i - cx) / width;
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const nx = cx + dx;
        const ny = cy + dy;
        if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue;
        const j = ny * width + nx;
        if (!part[j] && p[j] >= 0.5) {
          part[j] = 1;
          stack.push(j);
        }
      }
    }
  }
  return Float32Array.from(p, (v, i) => (v >= 0.5 && !part[i] ? 0 : v));
}

/** The JS API: a photo (URL, File, Blob or a decoded ImageBitmap) -> its automatic trimap. Options: band (px;
 * default 2% of the longest side), point ([x, y] on the subject). */
export async function autoTrimap(imageUrl, { band = null, point = null } = {}) {
  const image = imageUrl instanceof ImageBitmap ? imageUrl : await decode(imageUrl, "image");
  let p = await subjectProbability(image);
  if (point) {
    p = pickSubject(p, image.width, image.height, point[0], point[1]);
    if (!p) throw new Error("the subject network saw no subject at that point");
  }
  const trimap = trimapFromProbability(p, image.width, image.height, band);
  const unknown = trimap.reduce((n, v) => n + (v === 128), 0) / trimap.length;
  return { width: image.width, height: image.height, trimap, unknown };
}

window.indexnet = Object.assign(window.indexnet || {}, { autoTrimap });
