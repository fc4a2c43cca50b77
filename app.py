"""IndexNet matting demo: `python app.py`, then open http://127.0.0.1:7860.

Upload a photo and its subject is found at once (a salient-object network, corrected by a click, a box or strokes),
or upload or paint a trimap; get the alpha matte, a clean RGBA cut-out (foreground colours from pymatting's
multilevel estimator, so soft edges carry no halo of the old background) and a composite on a new background. Runs
on a CPU, offline: the shipped weights and the u2netp subject model (`python -m indexnet fetch-subject-model`, run
at launch when missing) are the defaults; the others are downloaded only when picked. `api_name="matte"` is the
programmatic endpoint.

Only UI wiring over the `indexnet` package lives here. Settings (environment variables):

- INDEXNET_CHECKPOINT   model used by default: a path or a registered name (default: "synthetic")
- INDEXNET_MAX_SIDE     longest side the network sees; larger images are downscaled (default 2048)
- INDEXNET_MAX_PIXELS   larger uploads are refused (default 50 megapixels)
- INDEXNET_MAX_FILE_SIZE  upload limit (default "25mb")
- INDEXNET_CACHE_EXAMPLES  "0" to skip computing the examples at launch
- GRADIO_SERVER_NAME / GRADIO_SERVER_PORT  address (default 127.0.0.1:7860)
"""
from __future__ import annotations

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # no telemetry or version check: start-up makes no request

import functools
import hashlib
import logging
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import cv2
import gradio as gr
import numpy as np
import torch

from indexnet import MODELS, load_model, predict
from indexnet.checkpoint import DEFAULT_MODEL, CheckpointError, resolve_source
from indexnet.compose import background, composite, cutout_rgba, estimate_foreground
from indexnet.images import (UPLOAD_MAX_PIXELS, fit_within, read_array, to_rgb_uint8_or_float, to_uint8,
                             write_png)
from indexnet.inference import alpha_to_uint8, network_size
from indexnet.subject import (DEFAULT_SUBJECT_MODEL, SUBJECT_MODELS, fetch_subject_model, find_subject,
                              load_subject_model, model_path, subject_probability, trimap_from_probability)
from indexnet.trimap import check_trimap, fit_trimap, painted, read_trimap, trimap_from_painting

try:  # Hugging Face ZeroGPU: a GPU is attached only inside functions decorated with spaces.GPU
    import spaces

    gpu = spaces.GPU
except ImportError:
    def gpu(fn=None, **_):
        return fn if fn is not None else (lambda f: f)

log = logging.getLogger("indexnet.app")
APP_DIR = Path(__file__).resolve().parent
EXAMPLES_DIR = APP_DIR / "examples"


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        log.warning("%s=%r is not an integer; using %d", name, os.environ[name], default)
        return default


DEFAULT_SOURCE = os.environ.get("INDEXNET_CHECKPOINT") or DEFAULT_MODEL
MAX_SIDE = _env_int("INDEXNET_MAX_SIDE", 2048)
MAX_PIXELS = _env_int("INDEXNET_MAX_PIXELS", UPLOAD_MAX_PIXELS)
MAX_FILE_SIZE = os.environ.get("INDEXNET_MAX_FILE_SIZE", "25mb")
PREVIEW_SIDE = 1024  # the trimap overlay is a preview: drawn at most this large
DEFAULT_BACKGROUND = "#4a90d9"

# Trimap painting: fixed colours, semi-transparent so the photo shows through the strokes.
PAINT_COLOURS = {"foreground": "#ffffff", "background": "#000000", "unknown": "#808080"}
PAINT_OPACITY = 0.7
# Corrections of the automatic subject: a loop (or box) around it, strokes on it and on the background.
HINT_COLOURS = {"around": "#3b82f6", "subject": "#22c55e", "background": "#ef4444"}


# ----------------------------------------------------------------------------------------- models
@dataclass(frozen=True)
class ModelChoice:
    label: str
    source: str  # path or registered name given to load_model


def model_choices() -> dict[str, ModelChoice]:
    default_label = ("Shipped weights (offline)" if DEFAULT_SOURCE == DEFAULT_MODEL
                     else f"Default: {Path(DEFAULT_SOURCE).name if Path(DEFAULT_SOURCE).suffix else DEFAULT_SOURCE}")
    choices = {"default": ModelChoice(default_label, DEFAULT_SOURCE)}
    for name, label in (("mmagic-comp1k", "MMagic Composition-1k (official, downloads once)"),
                        ("mmagic-dimaug", "MMagic DIM-aug (official, downloads once)"),
                        ("authors", "Authors' ICCV 2019 release (non-commercial, downloads once)")):
        if name != DEFAULT_SOURCE:
            choices[name] = ModelChoice(label, name)
    return choices


def model_description(key: str) -> str:
    choice = model_choices().get(key)
    if choice is None:
        return ""
    reg = MODELS.get(choice.source)
    if reg is None:
        return f"Checkpoint `{choice.source}`."
    text = f"{reg.description}. Licence: {reg.licence}."
    if urlparse(reg.source).scheme:
        cached = _is_cached(choice.source)
        text += " Already downloaded." if cached else " Downloaded on first use (needs internet), then cached."
    return text


def _is_cached(source: str) -> bool:
    try:
        resolve_source(source, download=False)
        return True
    except (FileNotFoundError, ConnectionError):
        return False


def _online(url: str, timeout: float = 3.0) -> bool:
    """Can the download host be reached? Checked first so that offline use fails in seconds, not minutes."""
    host = urlparse(url).hostname
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


_load_lock = threading.Lock()

_models: dict[str, torch.nn.Module] = {}  # source -> loaded model, the three most recently loaded


def _cached_model(source: str) -> torch.nn.Module:
    if source not in _models:
        _models[source] = load_model(source)
        while len(_models) > 3:
            _models.pop(next(iter(_models)))
    return _models[source]


def get_model(source: str, ui: bool = True) -> torch.nn.Module:
    """Load once per source and keep it; every failure becomes a message that says what to do (naming the
    Settings panel only when `ui`: an API caller has no such panel)."""
    reg = MODELS.get(source)
    loaded = _models.get(source)
    if loaded is not None:
        return loaded  # no lock: a download of another model must not stall requests for this one
    with _load_lock:
        try:
            if reg and urlparse(reg.source).scheme and not _is_cached(source) and not _online(reg.source):
                raise ConnectionError("no internet connection")
            return _cached_model(source)
        except ConnectionError as err:
            raise gr.Error(f"Could not download the '{source}' weights ({err}). They are fetched once from the "
                           "internet and then cached" + ("; offline, pick 'Shipped weights' in Settings." if ui
                                                         else "."), title="Model not available offline") from err
        except FileNotFoundError as err:
            hint = ("The shipped weights are not in this copy of the project: set INDEXNET_CHECKPOINT to a "
                    "checkpoint file" + (", or pick an official model in Settings." if ui else ".")
                    if source == DEFAULT_MODEL else "Check INDEXNET_CHECKPOINT" +
                    (", or pick another model in Settings." if ui else "."))
            raise gr.Error(f"{err}. {hint}", title="Model not found") from err
        except CheckpointError as err:
            raise gr.Error(f"The checkpoint could not be loaded: {err}", title="Bad checkpoint") from err


@gpu(duration=60)
def run_network(model: torch.nn.Module, image: np.ndarray, trimap: np.ndarray, max_side: int) -> np.ndarray:
    """indexnet.predict on the GPU when there is one (ZeroGPU attaches it inside this call only)."""
    if torch.cuda.is_available():
        model.to("cuda")
    return predict(model, image, trimap, max_side=max_side)


# ---------------------------------------------------------------------------------- reading files
def image_file_slot(**kwargs) -> gr.Image:
    """An image upload slot whose handlers receive the uploaded file's path undecoded. gr.Image opens the
    file with Pillow before any handler runs, and a file it cannot open (text, an empty file, SVG named
    .png, a decompression bomb, an RGB float TIFF) then ends the request with a bare "Error"; here the
    package's reader decides and says what is wrong. (Overridden on the instance: a gr.Image subclass
    would make Gradio write a .pyi stub beside this file at import.)"""
    slot = gr.Image(type="filepath", image_mode=None, **kwargs)

    def path_undecoded(payload):
        if payload is None or payload.path is None:
            return gr.Image.preprocess(slot, payload)  # pasted data URLs: Gradio writes them to a file
        return str(payload.path)

    slot.preprocess = path_undecoded
    return slot


def _user_error(err: Exception, title: str, path=None) -> gr.Error:
    """The package's message as a sentence, naming an upload by its file name (not Gradio's temporary path)."""
    text = str(err) if path is None else str(err).replace(str(path), Path(str(path)).name)
    return gr.Error(text[:1].upper() + text[1:] + ("" if text.endswith(".") else "."), title=title)


def read_image_file(path, what: str = "image") -> tuple[np.ndarray, list[str]]:
    """Upload -> (H x W x 3 RGB, uint8 or float32 in [0, 1] for 16-bit files; notes for the user)."""
    if path is None:
        raise gr.Error("Upload an image first (or click one of the examples).", title="No image")
    try:
        array = read_array(path, what, max_pixels=MAX_PIXELS)
    except ValueError as err:
        raise _user_error(err, "Unusable file", path) from err
    try:
        image = to_rgb_uint8_or_float(array)
    except ValueError as err:
        message = ValueError(f"the {what} {Path(str(path)).name} cannot be used: {err}")
        raise _user_error(message, "Unusable image") from err
    notes = []
    if array.ndim == 2:
        notes.append("grayscale image: processed as RGB")
    elif array.shape[2] == 4 and (array[..., 3] < (65535 if array.dtype == np.uint16 else 255)).any():
        notes.append("the image's own transparency was ignored (matting uses its colours)")
    if array.dtype == np.uint16:
        notes.append("16-bit image: processed at full precision; outputs are 8-bit")
    return image, notes


def read_trimap_file(path) -> np.ndarray:
    """Upload -> H x W uint8 trimap {0, 128, 255}; a colour photo uploaded by mistake is refused."""
    if path is None:
        raise gr.Error("Upload a trimap, or paint one or let the subject be found in the other tabs.",
                       title="No trimap")
    try:
        return read_trimap(path, max_pixels=MAX_PIXELS)
    except ValueError as err:
        raise _user_error(err, "Unusable file", path) from err


# ------------------------------------------------------------------------------------ trimap input
def _editor_layers(value, shape: tuple[int, int], what: str) -> list[np.ndarray]:
    """The painted layers of an ImageEditor value, at the image's full resolution (nearest-neighbour)."""
    if not value or value.get("background") is None:
        raise gr.Error(f"Upload an image first; then {what} over it.", title="No image")
    h, w = shape
    layers = []
    for layer in value.get("layers") or []:
        if layer is None:
            continue
        layer = np.asarray(layer)
        if layer.shape[:2] != (h, w):  # the canvas may be exported at another scale than the photo
            layer = cv2.resize(layer, (w, h), interpolation=cv2.INTER_NEAREST)
        layers.append(layer)
    return layers


def painted_trimap(value, shape: tuple[int, int], unpainted: str) -> np.ndarray:
    """The Paint tab's strokes -> trimap (indexnet.trimap.trimap_from_painting)."""
    try:
        return trimap_from_painting(_editor_layers(value, shape, "paint the trimap"), shape, unpainted)
    except ValueError as err:
        raise _user_error(err, "Empty trimap") from err


def hint_masks(value, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """GrabCut hints from the generator's editor: {'around', 'subject', 'background'} -> H x W bool."""
    masks = {k: np.zeros(shape, bool) for k in HINT_COLOURS}
    palette = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in HINT_COLOURS.values()], np.float32)
    for layer in _editor_layers(value, shape, "draw around the subject"):
        mask = painted(layer)
        if not mask.any() or layer.ndim != 3:
            continue
        rgb = layer[..., :3][mask].astype(np.float32)
        nearest = np.argmin(((rgb[:, None, :] - palette[None]) ** 2).sum(-1), axis=1)
        for i, key in enumerate(HINT_COLOURS):
            m = np.zeros(shape, bool)
            m[mask] = nearest == i
            masks[key] |= m
    return masks


def trimap_overlay(image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
    """A preview of the trimap on the photo: background dimmed, unknown tinted amber, foreground as is."""
    h, w = trimap.shape
    ph, pw = fit_within((h, w), PREVIEW_SIDE)
    img = to_uint8(image)
    if (ph, pw) != (h, w):
        img = cv2.resize(img, (pw, ph), interpolation=cv2.INTER_AREA)
        trimap = cv2.resize(trimap, (pw, ph), interpolation=cv2.INTER_NEAREST)
    out = img.astype(np.float32)
    out[trimap == 0] *= 0.25
    unknown = trimap == 128
    out[unknown] = 0.45 * out[unknown] + 0.55 * np.array([255, 176, 0], np.float32)
    return out.round().astype(np.uint8)


def background_for(shape: tuple[int, int], colour: str | None, image_path) -> np.ndarray:
    """H x W x 3 uint8: the uploaded background image (cover, centre crop), else the picked colour."""
    try:
        if image_path:
            return background(shape, image=read_image_file(image_path, "background image")[0])
        return background(shape, colour or DEFAULT_BACKGROUND)
    except ValueError as err:
        raise _user_error(err, "Bad colour") from err


# ---------------------------------------------------------------------------------- output files
_OUT_DIR = Path(tempfile.gettempdir()) / "indexnet-app"
_OUT_MAX_AGE_S = 3600


def output_dir() -> Path:
    """A fresh folder for one request's files; folders older than an hour are removed."""
    _OUT_DIR.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in _OUT_DIR.iterdir():
        try:
            if now - old.stat().st_mtime > _OUT_MAX_AGE_S:
                for f in old.iterdir():
                    f.unlink()
                old.rmdir()
        except OSError:
            pass
    return Path(tempfile.mkdtemp(dir=_OUT_DIR))


def _stem(path) -> str:
    stem = Path(str(path)).stem if path else "image"
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)[:60] or "image"


# --------------------------------------------------------------------------------------- handlers
def _friendly(fn=None, *, ui: bool = True):
    """Handlers never fail with a bare traceback: unexpected errors become a message, and are logged with their
    traceback (once: Gradio is told not to print it again). A refused input (gr.Error) is logged in one line."""
    if fn is None:
        return functools.partial(_friendly, ui=ui)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error as err:
            log.info("%s refused: %s", fn.__name__, " ".join(str(err.message).split()))
            err.print_exception = False  # the user's input, not a bug: no traceback in the log
            raise
        except MemoryError as err:
            log.warning("%s ran out of memory", fn.__name__)
            raise gr.Error("Out of memory: " + ("lower 'Processing size' in Settings or use a smaller image."
                                                if ui else "send a smaller image."), title="Out of memory",
                           print_exception=False) from err
        except Exception as err:  # noqa: BLE001 -- shown to the user, with the traceback in the log
            log.exception("%s failed", fn.__name__)
            raise gr.Error(f"Something went wrong ({type(err).__name__}: {err}). Try again, or try another "
                           "image or trimap.", title="Unexpected error", print_exception=False) from err
    return wrapper


def _checked(trimap: np.ndarray, hint: str = "") -> list[str]:
    """indexnet.trimap.check_trimap as a message (with a hint for the UI); returns the warnings."""
    try:
        return check_trimap(trimap)
    except ValueError as err:
        raise gr.Error(f"{err}{hint}", title="No unknown region") from err


def _fitted(trimap: np.ndarray, shape: tuple[int, int], resize: bool, hint: str = "") -> tuple[np.ndarray, list[str]]:
    try:
        return fit_trimap(trimap, shape, resize)
    except ValueError as err:
        raise gr.Error(f"{err}{hint}", title="Trimap size does not match") from err


@_friendly(ui=False)
def api_matte(image_file, trimap_file) -> str:
    """(image file, trimap file) -> path of the alpha matte, an 8-bit PNG at the image's size (default model)."""
    image, _ = read_image_file(_path_of(image_file))
    trimap, _ = _fitted(read_trimap_file(_path_of(trimap_file)), image.shape[:2], resize=False)
    _checked(trimap)
    alpha = run_network(get_model(DEFAULT_SOURCE, ui=False), image, trimap, MAX_SIDE)
    path = output_dir() / f"{_stem(_path_of(image_file))}_alpha.png"
    write_png(path, alpha_to_uint8(alpha))
    return str(path)


def _path_of(file) -> str | None:
    if file is None:
        return None
    return file if isinstance(file, str) else getattr(file, "path", None) or getattr(file, "name", None) or str(file)


def resolve_trimap(mode: str, image: np.ndarray, upload, painting, unpainted: str, generated, resize: bool
                   ) -> tuple[np.ndarray, list[str]]:
    """The trimap of the active tab, at the image's size. No trimap uploaded in the Upload tab: the automatic one."""
    shape = image.shape[:2]
    if mode == "paint":
        return painted_trimap(painting, shape, unpainted), []
    if mode == "auto" or (mode == "upload" and upload is None and generated is not None):
        if generated is None:
            raise gr.Error("The subject has not been found yet: wait for the trimap preview (or upload or paint a "
                           "trimap).", title="No trimap")
        if generated.shape != shape:
            raise gr.Error("The automatic trimap belongs to another image; wait for the new one in the preview.",
                           title="Stale trimap")
        return generated, [] if mode == "auto" else ["no trimap uploaded: the automatic one was used"]
    return _fitted(read_trimap_file(upload), shape, resize,
                   " Upload a trimap of the same size, or tick 'Resize the trimap to the image' (nearest-neighbour).")


def processing_size_text(model, shape: tuple[int, int], max_side: int) -> str:
    """At what size the network ran, in words: the image resized by the weights' test scale (1.5 for ours),
    fitted within max_side (`inference.network_size`, as `predict` does). The web page says the same (web/app.js)."""
    h, w = shape
    scale = getattr(model, "test_scale", 1.0)  # what predict ran the network at (our weights: 1.5)
    ph, pw = network_size(model, (h, w), max_side=max_side)
    size_text = f"{pw}×{ph}"
    if (ph, pw) == (h, w):
        return size_text + " (full resolution)"
    factor = round(max(ph, pw) / max(h, w), 2)
    # "capped" only when the limit changed the factor, not when e.g. 1024.5 merely rounded down to 1024
    if max(ph, pw) == max_side and max(h, w) * scale > max_side and abs(factor - scale) >= 0.01:
        if factor < 1:
            size_text += (f" — the image ({w}×{h}) was downscaled to fit the {max_side} px limit and the matte "
                          "resized back to full size")
        else:  # the limit only cut the enlargement short (e.g. an 800-px photo: ×1.28 instead of ×1.5)
            size_text += (f" — the image ({w}×{h}) enlarged ×{factor:g} (these weights' test scale ×{scale:g}, "
                          f"capped by the {max_side} px limit), matte resized back")
    else:
        size_text += (f" — the image ({w}×{h}) {'enlarged' if scale > 1 else 'reduced'} ×{scale:g} (these weights' "
                      "test scale), matte resized back")
    return size_text


@_friendly
def run_matting(image_path, mode, trimap_path, painting, unpainted, generated, resize, model_key, max_side,
                bg_colour, bg_image, progress=gr.Progress()):
    """The main button: every output, plus the state that lets the background change without re-running."""
    t0 = time.perf_counter()
    progress(0.02, desc="Reading the image")
    image, notes = read_image_file(image_path)
    trimap, trimap_notes = resolve_trimap(mode, image, trimap_path, painting, unpainted, generated, resize)
    notes += trimap_notes
    warnings = _checked(trimap, " Paint them in 'Paint', or let 'Automatic' make the band.")
    for w in warnings:
        gr.Warning(w)
    h, w = trimap.shape
    bg = background_for((h, w), bg_colour, bg_image)  # a bad colour or file is reported before the long part
    choice = model_choices().get(model_key) or model_choices()["default"]
    progress(0.08, desc="Loading the model" + ("" if _is_cached(choice.source) else " (downloading, first use only)"))
    model = get_model(choice.source)
    max_side = min(int(max_side or MAX_SIDE), MAX_SIDE)  # the slider's bound is advisory: API calls skip it
    progress(0.15, desc="Computing the alpha matte")
    t1 = time.perf_counter()
    alpha = run_network(model, image, trimap, max_side)
    t2 = time.perf_counter()
    progress(0.75, desc="Estimating foreground colours")
    fg = to_uint8(estimate_foreground(image, alpha, max_side))
    t3 = time.perf_counter()
    progress(0.9, desc="Compositing")
    alpha8 = alpha_to_uint8(alpha)
    comp = composite(fg, bg, alpha8)
    cutout = cutout_rgba(fg, alpha)
    out = output_dir()
    stem = _stem(image_path)
    files = [out / f"{stem}_cutout.png", out / f"{stem}_alpha.png"]
    write_png(files[0], cutout)
    write_png(files[1], alpha8)
    total = time.perf_counter() - t0

    size_text = processing_size_text(model, (h, w), max_side)
    unknown = (trimap == 128).mean()
    lines = [f"**Model:** {choice.label} · **Processing size:** {size_text}",
             f"**Time:** {total:.1f} s (network {t2 - t1:.1f} s, foreground colours {t3 - t2:.1f} s) · "
             f"**Unknown region:** {unknown:.0%} of the image"]
    if notes:
        lines.append("**Note:** " + "; ".join(notes) + ".")
    lines += [f"⚠️ {w_}" for w_ in warnings]
    state = {"fg": fg, "alpha": alpha8, "image": to_uint8(image), "stem": stem}
    return (cutout, alpha8, comp, (state["image"], comp), "\n\n".join(lines),
            trimap_overlay(image, trimap), [str(f) for f in files], state)


@_friendly
def recomposite(state, bg_colour, bg_image):
    """A new background for the last result, without running the network again."""
    if not state:
        return gr.skip(), gr.skip()
    comp = composite(state["fg"], background_for(state["alpha"].shape, bg_colour, bg_image), state["alpha"])
    return comp, (state["image"], comp)


def _editor_background(path, image: np.ndarray):
    """The photo for the editors: the uploaded file itself when a browser can show it (no re-encoding)."""
    if Path(str(path)).suffix.lower() in (".png", ".jpg", ".jpeg", ".webp", ".gif") and image.dtype == np.uint8:
        return str(path)
    return to_uint8(image)


@_friendly
def on_image_change(image_path):
    """A new photo: it becomes the background of both editors; old strokes and results no longer apply."""
    if image_path is None:
        empty = {"background": None, "layers": [], "composite": None}
        return empty, empty, None, None, None
    image, _ = read_image_file(image_path)
    editor = {"background": _editor_background(image_path, image), "layers": [], "composite": None}
    return editor, editor, None, None, gr.skip()


@_friendly
def preview_trimap(image_path, mode, trimap_path, painting, unpainted, generated, resize):
    """The trimap that 'Cut out' will use, drawn over the photo (silent while it is incomplete or unreadable:
    the upload's own event has said what is wrong)."""
    if image_path is None:
        return None
    try:
        image, _ = read_image_file(image_path)
        trimap, _ = resolve_trimap(mode, image, trimap_path, painting, unpainted, generated, resize)
    except gr.Error:
        return None
    return trimap_overlay(image, trimap)


# ------------------------------------------------------------------------------ the automatic trimap
def subject_choices() -> list[tuple[str, str]]:
    """(label, name) of the subject models for Settings: which work offline, which download (once, how much)."""
    choices = []
    for name, spec in SUBJECT_MODELS.items():
        where = ("offline" if name == DEFAULT_SUBJECT_MODEL else "downloaded" if model_path(name).is_file()
                 else f"downloads {spec.megabytes:.0f} MB once")
        choices.append((f"{name} — {spec.about.split(' (')[0]} ({where}, {spec.licence})", name))
    return choices


def get_subject_model(name: str):
    """The subject model's session, loaded once; a missing one is downloaded when it may be, else a message."""
    try:
        return load_subject_model(name)
    except FileNotFoundError as err:
        if name == DEFAULT_SUBJECT_MODEL:
            raise gr.Error(f"{err}. Meanwhile, upload or paint a trimap.", title="Subject model not set up") from err
    with _load_lock:
        if not _online("https://github.com"):
            raise gr.Error(f"The subject model {name} is downloaded once from rembg's releases on GitHub, and there is "
                           f"no internet connection: pick {DEFAULT_SUBJECT_MODEL} in Settings.",
                           title="Model not available offline")
        try:
            return load_subject_model(name, download=True)
        except ConnectionError as err:
            raise gr.Error(f"{err}. Pick {DEFAULT_SUBJECT_MODEL} in Settings.", title="Download failed") from err


@_friendly
def find_subject_trimap(image_path, subject, hints_value, point, band, subject_name, progress=gr.Progress()):
    """The automatic trimap: the subject model's map (computed once per photo and model, kept in `subject`),
    corrected by the click and the Automatic tab's marks, with the band. Returns (subject, trimap)."""
    if image_path is None:
        return None, None
    image, _ = read_image_file(image_path)
    name = subject_name or DEFAULT_SUBJECT_MODEL
    if not subject or subject["path"] != str(image_path) or subject["model"] != name:
        progress(0.1, desc="Finding the subject")
        subject = {"path": str(image_path), "model": name,
                   "probability": subject_probability(image, get_subject_model(name))}
    marks = {}
    if hints_value and hints_value.get("background") is not None and hints_value.get("layers"):
        marks = hint_masks(hints_value, image.shape[:2])
    box = None
    if "around" in marks and marks["around"].any():  # a loop or box around the subject: its bounding box
        ys, xs = np.nonzero(marks["around"])
        box = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    progress(0.5, desc="Making the trimap")
    try:
        probability = find_subject(image, subject["probability"], point=point, box=box,
                                   subject=marks.get("subject"), background=marks.get("background"))
        trimap = trimap_from_probability(probability, band=float(band) or None)
    except ValueError as err:
        raise gr.Error(f"{err} (Click on the subject in the trimap preview; in 'Automatic', blue: around the "
                       "subject; green: subject; red: background.)", title="Subject not found") from err
    return subject, trimap


def on_preview_click(image_path, evt: gr.SelectData):
    """A click on the trimap preview: a point on the subject, in the photo's pixels (the preview is smaller)."""
    if image_path is None or evt.index is None:
        return gr.skip(), gr.skip(), gr.skip()
    image, _ = read_image_file(image_path)
    h, w = image.shape[:2]
    ph, pw = fit_within((h, w), PREVIEW_SIDE)
    x, y = evt.index[:2]
    return (min(w - 1, x * w / pw), min(h - 1, y * h / ph)), gr.Tabs(selected="auto"), "auto"


def ensure_subject_model() -> None:
    """At launch (not at import): set up the default subject model when it is missing (a Space installs only
    requirements.txt). Without it the app still runs; the automatic trimap then says what to do."""
    if model_path(DEFAULT_SUBJECT_MODEL).is_file():
        return
    try:
        log.info("subject model %s: %s", DEFAULT_SUBJECT_MODEL, fetch_subject_model())
    except (OSError, ValueError) as err:
        log.warning("subject model %s could not be set up (%s); run: python -m indexnet fetch-subject-model",
                    DEFAULT_SUBJECT_MODEL, err)


@_friendly
def run_example(image_path, trimap_path):
    """Examples use the uploaded trimap and the default settings."""
    outputs = run_matting(image_path, "upload", trimap_path, None, "unknown", None, False, "default",
                          MAX_SIDE, DEFAULT_BACKGROUND, None)
    return outputs[:6]


# -------------------------------------------------------------------------------------------- UI
CSS = """
.gradio-container {max-width: 1360px !important; margin: auto;}
#title h1 {margin-bottom: 0.1em;}
#title p {margin-top: 0; opacity: 0.85;}
#run-btn {min-height: 52px; font-size: 1.1em;}
#info {min-height: 3.2em;}
footer {opacity: 0.8;}
#cutout img, #cutout canvas {background: repeating-conic-gradient(#d4d4d8 0% 25%, #f4f4f5 0% 50%) 50% / 20px 20px;}
"""

HELP_PAINT = ("**Paint over the photo:** white = subject, black = background, grey = soft edges (hair, fur, "
              "glass). Rough strokes are enough: unpainted pixels are *unknown* and the network decides them. "
              "For the best matte, cover most of the background black and the subject white, leaving a narrow "
              "band along the edges. Strokes are semi-transparent so that you can see the photo.")
HELP_AUTO = ("**Found automatically:** when a photo is uploaded, a subject network (u2netp) finds the subject; the "
             "band along its outline and wherever it is unsure become unknown (amber in the trimap preview). "
             "Wrong subject or a part missing? **Click on the subject in the trimap preview**, or draw here: a loop "
             "or box around the subject in **blue** (everything outside is background), parts of the subject in "
             "**green**, background in **red**; then press *Update trimap*.")


def _examples() -> list[list[str]]:
    pairs = []
    for image in sorted(EXAMPLES_DIR.glob("*.jpg")) + sorted(EXAMPLES_DIR.glob("*_image.png")):
        stem = image.stem.removesuffix("_image")
        trimap = EXAMPLES_DIR / f"{stem}_trimap.png"
        if trimap.exists():
            pairs.append([str(image), str(trimap)])
    return pairs


def _examples_cache_dir() -> Path:
    """Per model file and app version: a cache made with other weights or code is never shown."""
    try:
        path = resolve_source(DEFAULT_SOURCE, download=False)
        st = path.stat()
        key = f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}:{MAX_SIDE}:{Path(__file__).stat().st_mtime_ns}"
    except (FileNotFoundError, ConnectionError, OSError):
        key = DEFAULT_SOURCE
    root = Path(os.environ.get("GRADIO_EXAMPLES_CACHE", APP_DIR / ".gradio" / "cached_examples"))
    return root / hashlib.sha1(key.encode()).hexdigest()[:12]


def _default_model_available() -> bool:
    try:
        get_model(DEFAULT_SOURCE)
        return True
    except gr.Error as err:
        log.warning("default model %r is not available: %s", DEFAULT_SOURCE, err)
        return False


def build_demo(cache_examples: bool | None = None, max_side: int | None = None) -> gr.Blocks:
    """The whole UI. Launch with `demo.launch(**launch_kwargs())` (theme, CSS and limits live there)."""
    if cache_examples is None:
        cache_examples = os.environ.get("INDEXNET_CACHE_EXAMPLES", "1") != "0"
    max_side = max_side or MAX_SIDE
    choices = model_choices()

    with gr.Blocks(title="IndexNet Matting", delete_cache=(1800, 3600)) as demo:
        gr.Markdown("# IndexNet Matting\nCut a subject out of a photo with soft, accurate edges — hair and fur "
                    "included. Give a photo: its subject is found automatically (or give a trimap: white = subject, "
                    "black = background, grey = the edges to work out); get the alpha matte, a clean cut-out and a "
                    "new background. "
                    "Model: *Indices Matter: Learning to Index for Deep Image Matting* (Lu et al., ICCV 2019).",
                    elem_id="title")
        trimap_mode = gr.State("upload")
        generated = gr.State(None)  # the automatic trimap of the current photo
        subject_state = gr.State(None)  # the subject model's map of it, kept between corrections
        click_point = gr.State(None)
        result = gr.State(None)
        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                image_in = image_file_slot(label="1 · Photo", sources=["upload", "clipboard"], height=360,
                                           elem_id="image-in")
                gr.Markdown("**2 · Trimap** — none needed: the subject is found automatically (see the trimap "
                            "preview; correct it in *Automatic*). Or upload or paint one.")
                with gr.Tabs(selected="upload") as tabs:
                    with gr.Tab("Upload", id="upload") as tab_upload:
                        trimap_in = image_file_slot(label="Trimap (white = subject, black = background, grey = "
                                                          "unknown)", sources=["upload", "clipboard"], height=300,
                                                    elem_id="trimap-in")
                        resize = gr.Checkbox(label="Resize the trimap to the image if their sizes differ "
                                                   "(nearest-neighbour)", value=False)
                    with gr.Tab("Paint", id="paint") as tab_paint:
                        gr.Markdown(HELP_PAINT)
                        painter = gr.ImageEditor(
                            label="Paint the trimap", type="numpy", image_mode="RGBA", sources=[],
                            brush=gr.Brush(colors=[(c, PAINT_OPACITY) for c in PAINT_COLOURS.values()],
                                           default_color=(PAINT_COLOURS["foreground"], PAINT_OPACITY),
                                           color_mode="fixed", default_size=24),
                            eraser=gr.Eraser(default_size=24), layers=gr.LayerOptions(allow_additional_layers=False,
                                                                                      layers=["Trimap"]),
                            transforms=(), height=420, elem_id="painter", format="png",
                            placeholder="Upload a photo above, then paint over it here")
                        unpainted = gr.Radio(["unknown", "background"], value="unknown",
                                             label="Unpainted pixels are")
                    with gr.Tab("Automatic", id="auto") as tab_auto:
                        gr.Markdown(HELP_AUTO)
                        hinter = gr.ImageEditor(
                            label="Corrections (optional)", type="numpy", image_mode="RGBA", sources=[],
                            brush=gr.Brush(colors=list(HINT_COLOURS.values()), default_color=HINT_COLOURS["around"],
                                           color_mode="fixed", default_size=8),
                            eraser=gr.Eraser(default_size=16), layers=gr.LayerOptions(allow_additional_layers=False,
                                                                                      layers=["Selection"]),
                            transforms=(), height=420, elem_id="hinter", format="png",
                            placeholder="Upload a photo above; correct its subject here if needed")
                        with gr.Row():
                            band = gr.Slider(0, 100, value=0, step=1, label="Unknown band width (pixels each side "
                                             "of the outline; 0 = 2% of the photo's longest side)", scale=3)
                            update_btn = gr.Button("Update trimap", scale=1, elem_id="update-btn")
                with gr.Accordion("Settings", open=False):
                    model_key = gr.Dropdown([(c.label, k) for k, c in choices.items()], value="default",
                                            label="Model", elem_id="model")
                    model_info = gr.Markdown(model_description("default"))
                    subject_key = gr.Dropdown(subject_choices(), value=DEFAULT_SUBJECT_MODEL, elem_id="subject-model",
                                              label="Subject model (finds the subject when there is no trimap)")
                    max_side_in = gr.Slider(256, max(max_side, 256), value=max_side, step=32, label="Processing size (longest "
                                            "side, pixels): larger images are downscaled for the network and the "
                                            "matte is upscaled back. On a CPU, time grows with the area.")
                    with gr.Row():
                        bg_colour = gr.ColorPicker(value=DEFAULT_BACKGROUND, label="New background colour")
                        bg_image = image_file_slot(label="…or a background image", sources=["upload", "clipboard"],
                                                   height=140)
                run_btn = gr.Button("Cut out", variant="primary", elem_id="run-btn")
            with gr.Column(scale=6):
                info = gr.Markdown("Upload a photo and a trimap — or click an example below — then press "
                                   "**Cut out**.", elem_id="info")
                with gr.Row():
                    cutout = gr.Image(label="Cut-out (transparent PNG)", format="png", type="numpy",
                                      interactive=False, height=300, elem_id="cutout",
                                      buttons=["download", "fullscreen"])
                    alpha_out = gr.Image(label="Alpha matte (PNG)", format="png", type="numpy", image_mode="L",
                                         interactive=False, height=300, elem_id="alpha",
                                         buttons=["download", "fullscreen"])
                with gr.Row():
                    comp_out = gr.Image(label="New background", format="png", type="numpy", interactive=False,
                                        height=300, elem_id="composite", buttons=["download", "fullscreen"])
                    slider = gr.ImageSlider(label="Before / after", type="numpy", format="jpeg",
                                            interactive=False, height=300, elem_id="before-after")
                with gr.Row():
                    preview = gr.Image(label="Trimap used (amber = unknown; click the subject to correct)",
                                       type="numpy",
                                       format="jpeg", interactive=False, height=240, elem_id="preview")
                    downloads = gr.File(label="Downloads (full-resolution PNG)", file_count="multiple",
                                        interactive=False, height=240, elem_id="downloads")

        examples = _examples()
        if examples:
            do_cache = bool(cache_examples) and _default_model_available()
            saved = os.environ.get("GRADIO_EXAMPLES_CACHE")
            os.environ["GRADIO_EXAMPLES_CACHE"] = str(_examples_cache_dir())
            try:
                gr.Examples(examples, inputs=[image_in, trimap_in],
                            outputs=[cutout, alpha_out, comp_out, slider, info, preview],
                            fn=run_example, cache_examples=do_cache, cache_mode="eager" if do_cache else None,
                            label="Examples (public-domain photos shipped with scikit-image; trimaps made for this "
                                  "demo)", example_labels=[Path(i).stem.removesuffix("_image").title()
                                                           for i, _ in examples])
            finally:
                if saved is None:
                    os.environ.pop("GRADIO_EXAMPLES_CACHE", None)
                else:
                    os.environ["GRADIO_EXAMPLES_CACHE"] = saved

        gr.Markdown(f"Runs on the CPU when there is no GPU; images larger than {max_side} px are processed "
                    "downscaled. Uploads are limited to " + MAX_FILE_SIZE.upper() + ". The API: "
                    "`Client(url).predict(handle_file(image), handle_file(trimap), api_name=\"/matte\")` returns "
                    "the alpha matte as a PNG file.")

        # Hidden components for the programmatic endpoint: files in, a PNG file out.
        with gr.Row(visible=False):
            api_image, api_trimap = gr.File(label="image"), gr.File(label="trimap")
            api_alpha = gr.File(label="alpha")
            api_btn = gr.Button("matte")
        # One slot shared by everything that runs the network or GrabCut: a UI click and an API call wait for
        # each other, so two users cannot exhaust the memory of a small machine.
        heavy = dict(concurrency_id="heavy", concurrency_limit=1)
        api_btn.click(api_matte, [api_image, api_trimap], api_alpha, api_name="matte", **heavy,
                      api_description="Alpha matte (8-bit PNG at the image's size) for an image file and a trimap "
                                      "file of the same size (white = foreground, black = background, grey = "
                                      "unknown), with the default model.")

        preview_inputs = [image_in, trimap_mode, trimap_in, painter, unpainted, generated, resize]
        light = dict(concurrency_id="light", concurrency_limit=2, api_visibility="undocumented")
        find_inputs = [image_in, subject_state, hinter, click_point, band, subject_key]

        def then_find(event, **kwargs):
            """The automatic trimap after `event`, then the preview of whichever trimap 'Cut out' will use."""
            return event.then(find_subject_trimap, find_inputs, [subject_state, generated], show_progress="minimal",
                              api_name=kwargs.get("api_name", False), api_visibility="undocumented",
                              concurrency_id="heavy", concurrency_limit=1
                              ).then(preview_trimap, preview_inputs, preview, show_progress="hidden", api_name=False,
                                     **light)

        then_find(image_in.change(on_image_change, image_in, [painter, hinter, generated, result, preview],
                                  show_progress="hidden", api_name="load_image", **light
                                  ).then(lambda: None, None, click_point, api_name=False, **light),
                  api_name="find_subject")
        trimap_in.change(lambda path: (gr.Tabs(selected="upload"), "upload") if path else (gr.skip(), gr.skip()),
                         trimap_in, [tabs, trimap_mode], show_progress="hidden", api_name=False, **light
                         ).then(preview_trimap, preview_inputs, preview, show_progress="hidden", api_name=False,
                                **light)
        for tab, mode in ((tab_upload, "upload"), (tab_paint, "paint"), (tab_auto, "auto")):
            tab.select(lambda m=mode: m, None, trimap_mode, show_progress="hidden", api_name=False, **light
                       ).then(preview_trimap, preview_inputs, preview, show_progress="hidden", api_name=False,
                              **light)
        for trigger in (painter.change, unpainted.change, resize.change):
            trigger(preview_trimap, preview_inputs, preview, show_progress="hidden", trigger_mode="always_last",
                    api_name=False, **light)
        then_find(update_btn.click(lambda: "auto", None, trimap_mode, api_name=False, **light))
        then_find(band.release(lambda: None, None, None, api_name=False, **light))
        then_find(subject_key.change(lambda: None, None, None, api_name=False, **light))
        then_find(preview.select(on_preview_click, image_in, [click_point, tabs, trimap_mode], show_progress="hidden",
                                 api_name=False, **light))
        # A preloaded example sets the photo without a change event: give it to the editors on page load too.
        then_find(demo.load(on_image_change, image_in, [painter, hinter, generated, result, preview],
                            show_progress="hidden", api_name=False, **light))
        model_key.change(model_description, model_key, model_info, show_progress="hidden", api_name=False, **light)
        run_btn.click(run_matting, [image_in, trimap_mode, trimap_in, painter, unpainted, generated, resize, model_key,
                                    max_side_in, bg_colour, bg_image],
                      [cutout, alpha_out, comp_out, slider, info, preview, downloads, result],
                      api_name="cut_out", api_visibility="undocumented", scroll_to_output=True, **heavy)
        for trigger in (bg_colour.change, bg_image.change):
            trigger(recomposite, [result, bg_colour, bg_image], [comp_out, slider], show_progress="hidden",
                    trigger_mode="always_last", api_name=False, **light)

    demo.queue(default_concurrency_limit=1, max_size=_env_int("INDEXNET_QUEUE_SIZE", 32))
    return demo


def launch_kwargs(**overrides) -> dict:
    """Arguments for demo.launch(); GRADIO_SERVER_NAME / GRADIO_SERVER_PORT choose the address."""
    kwargs = dict(max_file_size=MAX_FILE_SIZE, theme=gr.themes.Soft(primary_hue="indigo", secondary_hue="amber"),
                  css=CSS, footer_links=["api", "gradio"], show_error=False)
    kwargs.update(overrides)
    return kwargs


def warm_up() -> None:
    """In the background: compile pymatting's numba kernels and load the default model, so the first
    request does not pay for them."""
    def work():
        try:
            from pymatting import estimate_foreground_ml
            estimate_foreground_ml(np.zeros((16, 16, 3)), np.full((16, 16), 0.5))
            get_model(DEFAULT_SOURCE)
            load_subject_model(DEFAULT_SUBJECT_MODEL)
        except Exception as err:  # noqa: BLE001 -- the request that needs it will say what is wrong
            log.warning("warm-up: %s", err)
    threading.Thread(target=work, name="warm-up", daemon=True).start()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    ensure_subject_model()
    warm_up()
    build_demo().launch(**launch_kwargs())
