// The page's wiring: photo and trimap inputs, the automatic trimap, trimap drawing, run, results and downloads (the
// matting is indexnet.js, the subject network subject.js).
import { DEFAULT_MAX_SIDE, decode, matteBitmap, pixels, ready, snapTrimap, state } from "./indexnet.js";
import { pickSubject, subjectProbability, trimapFromProbability } from "./subject.js";

const $ = (id) => document.getElementById(id);
const photoCanvas = $("photo-canvas");
const trimapCanvas = $("trimap-canvas");
const trimapCtx = trimapCanvas.getContext("2d", { willReadFrequently: true });
let photo = null; // ImageBitmap of the current photo, upright
let subjectMap = null; // the subject network's probability for it, once found
let finding = false; // the subject is being found: Run waits for its trimap
let busy = false;
let inputs = 0; // counts new photos and trimaps: a decode or a run that a newer input overtook is dropped

function setStatus(text, { fraction = null, error = false } = {}) {
  $("status").classList.toggle("error", error);
  $("status-text").textContent = text;
  const bar = $("progress");
  bar.hidden = fraction === null;
  if (fraction !== null) bar.value = fraction;
}

function showError(err) {
  console.error(err);
  setStatus(`Error: ${err.message || err}`, { error: true });
}

function grey(value) {
  return `rgb(${value},${value},${value})`;
}

function clearTrimap(value = 128) {
  trimapCtx.fillStyle = grey(value);
  trimapCtx.fillRect(0, 0, trimapCanvas.width, trimapCanvas.height);
}

// A decode that a newer input overtook: its result, or its error, is dropped.
async function decodeLatest(source, what, input) {
  try {
    const bitmap = await decode(source, what);
    if (input === inputs) return bitmap;
    bitmap.close();
  } catch (err) {
    if (input === inputs) throw err;
  }
  return null;
}

// Results and download links from an earlier photo, trimap or run: gone on every new input and every error, so
// that nothing on screen belongs to another input.
function clearResults() {
  for (const [id, link] of [["alpha-canvas", "alpha-link"], ["cutout-canvas", "cutout-link"]]) {
    $(id).width = $(id).height = 1;
    const a = $(link);
    if (a.href) URL.revokeObjectURL(a.href);
    a.removeAttribute("href");
    a.setAttribute("aria-disabled", "true");
  }
  delete $("status").dataset.seconds;
}

// No photo (before the first one, or after one was refused): nothing to run, nothing left of the previous photo.
function clearPhoto() {
  photo = null;
  subjectMap = null;
  $("run").disabled = true;
  for (const canvas of [photoCanvas, trimapCanvas]) {
    canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
  }
  $("trimap-file").value = "";
  clearResults();
}

/** Show a new photo (a File or a URL); false when a newer input came while it was decoded. Unless `auto` is false
 * (an example, whose trimap follows), its subject is then found and its automatic trimap drawn. */
async function setPhoto(source, { auto = true } = {}) {
  const input = ++inputs;
  clearPhoto();
  setStatus("Reading the photo…"); // at once: an error about the input before must not stand beside the new one
  const bitmap = await decodeLatest(source, "image", input);
  if (!bitmap) return false;
  photo = bitmap;
  for (const canvas of [photoCanvas, trimapCanvas]) {
    canvas.width = photo.width;
    canvas.height = photo.height;
  }
  photoCanvas.getContext("2d").drawImage(photo, 0, 0);
  clearTrimap();
  $("run").disabled = busy;
  setStatus(`Photo ${photo.width}×${photo.height}. Upload or draw a trimap, then run.`);
  if (auto) findSubject(input); // not awaited: a trimap uploaded meanwhile overtakes it
  return true;
}

// The trimap {0, 128, 255} onto the trimap canvas.
function drawTrimap(trimap) {
  const image = new ImageData(trimapCanvas.width, trimapCanvas.height);
  for (let i = 0; i < trimap.length; i++) image.data.set([trimap[i], trimap[i], trimap[i], 255], 4 * i);
  trimapCtx.putImageData(image, 0, 0);
}

/** The automatic trimap of the current photo (dropped if a newer input came meanwhile). */
async function findSubject(input) {
  const { width, height } = photo;
  finding = true;
  $("run").disabled = true;
  setStatus(`Photo ${width}×${height}. Finding the subject…`);
  try {
    const map = subjectMap || (await subjectProbability(photo));
    if (input !== inputs) return;
    subjectMap = map;
    drawTrimap(trimapFromProbability(map, width, height));
    setStatus(`Photo ${width}×${height}: subject found automatically (grey = the unknown band). Run — or correct ` +
              "it: click on the subject (tool 'click'), paint with the brushes, or upload a trimap.");
  } catch (err) {
    if (input === inputs) showError(err);
  } finally {
    finding = false;
    $("run").disabled = busy || !photo;
  }
}

// A click on the subject: among the parts the network found, this one alone (indexnet.subject.find_subject).
function pick([x, y]) {
  if (!subjectMap) {
    setStatus("The subject has not been found yet: press 'Find the subject' first.");
    return;
  }
  const kept = pickSubject(subjectMap, photo.width, photo.height, x, y);
  if (!kept) {
    setStatus("The subject network saw no subject there: paint it with the foreground brush, or draw a loop " +
              "around it.");
    return;
  }
  drawTrimap(trimapFromProbability(kept, photo.width, photo.height));
  setStatus("Trimap of the part you clicked on. Run when ready.");
}

async function setTrimap(source) {
  if (!photo) throw new Error("choose a photo first, then its trimap");
  const input = ++inputs;
  clearResults();
  clearTrimap(); // a refused trimap leaves none (all unknown), not the one before it
  setStatus("Reading the trimap…");
  const bitmap = await decodeLatest(source, "trimap", input);
  if (!bitmap) return;
  if (bitmap.width !== photo.width || bitmap.height !== photo.height) {
    throw new Error(`the trimap is ${bitmap.width}×${bitmap.height} but the photo is ${photo.width}×${photo.height}; ` +
                    "they must be the same size");
  }
  trimapCtx.imageSmoothingEnabled = false;
  trimapCtx.drawImage(bitmap, 0, 0);
  setStatus("Trimap loaded. Run when ready.");
}

// ------------------------------------------------------------------------------------------ drawing
function toolValue() {
  return document.querySelector("input[name=tool]:checked").value;
}

function canvasPoint(event) {
  const rect = trimapCanvas.getBoundingClientRect();
  return [(event.clientX - rect.left) * trimapCanvas.width / rect.width,
          (event.clientY - rect.top) * trimapCanvas.height / rect.height];
}

function strokePath(points, width, colour) {
  trimapCtx.lineCap = "round";
  trimapCtx.lineJoin = "round";
  trimapCtx.lineWidth = width;
  trimapCtx.strokeStyle = colour;
  trimapCtx.beginPath();
  points.forEach(([x, y], i) => (i ? trimapCtx.lineTo(x, y) : trimapCtx.moveTo(x, y)));
  if (points.length === 1) trimapCtx.lineTo(points[0][0] + 0.01, points[0][1]);
  trimapCtx.stroke();
}

// A loop drawn around the subject becomes a band trimap: inside foreground, outside background, and a band
// of the chosen width along the loop unknown (the loop is where the edge is).
function bandTrimap(points, width) {
  clearTrimap(0);
  trimapCtx.fillStyle = grey(255);
  trimapCtx.beginPath();
  points.forEach(([x, y], i) => (i ? trimapCtx.lineTo(x, y) : trimapCtx.moveTo(x, y)));
  trimapCtx.closePath();
  trimapCtx.fill();
  strokePath([...points, points[0]], width, grey(128));
}

let drawing = null; // {points, before: ImageData}
trimapCanvas.addEventListener("pointerdown", (event) => {
  if (!photo || busy || finding) return;
  if (toolValue() === "pick") {
    pick(canvasPoint(event));
    return;
  }
  trimapCanvas.setPointerCapture(event.pointerId);
  drawing = { points: [canvasPoint(event)], before: trimapCtx.getImageData(0, 0, trimapCanvas.width, trimapCanvas.height) };
});
trimapCanvas.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  drawing.points.push(canvasPoint(event));
  const width = Number($("width").value);
  trimapCtx.putImageData(drawing.before, 0, 0);
  if (toolValue() === "loop") strokePath(drawing.points, Math.max(2, width / 4), "rgb(255,64,64)");
  else strokePath(drawing.points, width, grey(Number(toolValue())));
});
trimapCanvas.addEventListener("pointerup", () => {
  if (!drawing) return;
  const { points, before } = drawing;
  drawing = null;
  const width = Number($("width").value);
  trimapCtx.putImageData(before, 0, 0);
  if (toolValue() !== "loop") strokePath(points, width, grey(Number(toolValue())));
  else if (points.length >= 3) bandTrimap(points, width);
});

// ------------------------------------------------------------------------------------------ running
async function drawResult(result, image) {
  const { width, height, alpha } = result;
  const photoPixels = pixels(image);
  const alphaImage = new ImageData(width, height);
  const cutout = new ImageData(width, height);
  for (let i = 0; i < alpha.length; i++) {
    alphaImage.data.set([alpha[i], alpha[i], alpha[i], 255], 4 * i);
    cutout.data.set([photoPixels[4 * i], photoPixels[4 * i + 1], photoPixels[4 * i + 2], alpha[i]], 4 * i);
  }
  for (const [id, image, link] of [["alpha-canvas", alphaImage, "alpha-link"], ["cutout-canvas", cutout, "cutout-link"]]) {
    const canvas = $(id);
    canvas.width = width;
    canvas.height = height;
    canvas.getContext("2d").putImageData(image, 0, 0);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
    const a = $(link);
    if (a.href) URL.revokeObjectURL(a.href);
    a.href = URL.createObjectURL(blob);
    a.setAttribute("aria-disabled", "false");
  }
}

// At what size the network ran, in the Gradio app's words (app.py): the photo resized by the weights' test scale
// (1.5 for the shipped ones), fitted within the processing size chosen on the page.
function sizeText({ width: w, height: h, processingSize: [pw, ph], scale }, maxSide) {
  if (pw === w && ph === h) return `${pw}×${ph} (full resolution)`;
  const factor = Number((Math.max(pw, ph) / Math.max(w, h)).toFixed(2));
  // "Capped" only when the limit changed the factor (not when 1024.5 merely rounded down to 1024), as app.py says.
  if (Math.max(pw, ph) === maxSide && Math.max(w, h) * scale > maxSide && Math.abs(factor - scale) >= 0.01) {
    return factor < 1
      ? `${pw}×${ph} — the image (${w}×${h}) was downscaled to fit the ${maxSide} px limit and the matte resized ` +
        "back to full size"
      : `${pw}×${ph} — the image (${w}×${h}) enlarged ×${factor} (these weights' test scale ×${scale}, capped by ` +
        `the ${maxSide} px limit), matte resized back`;
  }
  return `${pw}×${ph} — the image (${w}×${h}) ${scale > 1 ? "enlarged" : "reduced"} ×${scale} (these weights' ` +
    "test scale), matte resized back";
}

async function run() {
  if (!photo || busy || finding) return;
  busy = true;
  $("run").disabled = true;
  let timer = null;
  const [image, input] = [photo, inputs];
  try {
    const trimap = snapTrimap(trimapCtx.getImageData(0, 0, trimapCanvas.width, trimapCanvas.height).data);
    const start = performance.now();
    const onProgress = ({ fraction, text, stage }) => {
      setStatus(text, { fraction: stage === "download" ? fraction : null });
      if (stage === "run" && !timer) {
        timer = setInterval(() => setStatus(`${text} ${((performance.now() - start) / 1000).toFixed(1)} s`), 200);
      }
    };
    const maxSide = Number($("max-side").value);
    const result = await matteBitmap(image, trimap, { maxSide, onProgress });
    clearInterval(timer);
    if (input !== inputs) {
      setStatus("The photo or trimap changed while the network ran: run again.");
      return;
    }
    clearResults();
    await drawResult(result, image);
    setStatus(`Done in ${result.seconds.toFixed(2)} s with ${result.backend}. Processing size: ${sizeText(result, maxSide)}.`);
    $("status").dataset.seconds = result.seconds.toFixed(3);
  } catch (err) {
    clearResults();
    showError(err);
  } finally {
    clearInterval(timer);
    busy = false;
    $("run").disabled = !photo;
  }
}

// ------------------------------------------------------------------------------------------ inputs
// A refused input leaves its file box empty (the message names the file): the box never shows a file that
// is not the one on screen.
const guard = (fn, box = null) => async (...args) => {
  try {
    await fn(...args);
  } catch (err) {
    if (box) $(box).value = "";
    showError(err);
  }
};
$("image-file").addEventListener("change",
  guard(async (e) => e.target.files[0] && setPhoto(e.target.files[0]), "image-file"));
$("trimap-file").addEventListener("change",
  guard(async (e) => e.target.files[0] && setTrimap(e.target.files[0]), "trimap-file"));
for (const button of document.querySelectorAll("[data-example]")) {
  button.addEventListener("click", guard(async () => {
    $("image-file").value = "";
    if (await setPhoto(`examples/${button.dataset.example}.jpg`, { auto: false })) {
      await setTrimap(`examples/${button.dataset.example}_trimap.png`);
    }
  }));
}
$("clear").addEventListener("click", () => photo && clearTrimap());
$("find").addEventListener("click", () => photo && !busy && !finding && findSubject(inputs));
$("width").addEventListener("input", () => ($("width-value").textContent = $("width").value));
$("run").addEventListener("click", run);
$("max-side").value = String(DEFAULT_MAX_SIDE);

ready(({ fraction, text, stage }) => setStatus(text, { fraction: stage === "download" ? fraction : null }))
  .then(() => {
    $("backend").textContent = `ONNX Runtime Web: ${state.backend}, model ${(state.modelBytes / 2 ** 20).toFixed(1)} MiB`;
    $("test-scale").textContent = `×${state.testScale}`;
    document.body.dataset.ready = "true";
    if (!busy && !$("status").classList.contains("error")) setStatus(photo ? "Model ready. Run when ready." : "Model ready. Choose a photo.");
  })
  .catch(showError);
