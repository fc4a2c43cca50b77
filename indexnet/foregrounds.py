"""Training material for real photographs: foregrounds composited onto folders of backgrounds.

The synthetic set (`indexnet.synthetic`) alone teaches the network clean, band-shaped problems; on
real photographs with hand-drawn trimaps it leaves grey rims and calls textured foreground
"background" (MEASURED.md). This module adds what real photos have:

* ``RealForegrounds`` — (photo, alpha) pairs such as the alphamatting.com training images, with the
  foreground colours estimated once (pymatting's ``estimate_foreground_ml``, Germer et al. 2020) and
  cached on disk, so they can be composited onto any background as Composition-1k does (SPEC §4).
* ``ObjectCutouts`` — COCO object outlines (YOLO segmentation format) cut out of their photos: hard
  edges, but real content (people, animals, plants) under wide trimaps.
* ``holey_foreground`` — procedurally drawn foregrounds full of holes (leafy branches, strings and
  yarn, perforated sheets) textured with real photos: the class the network failed on (GT13's plant).
* ``BackgroundBank`` — every image in one or more folders (COCO, BSDS500, your own).
* ``MattingMix`` — an endless, reproducible stream mixing these sources and the synthetic set, every
  one composited onto the bank's backgrounds with the published augmentation (random scale,
  flips, colour jitter); item i depends only on (seed, i), like the rest of the training data.

The trimap is not made here: the training pipeline (`indexnet.data.PIPELINES`) draws it.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import cv2
import numpy as np
from torch.utils.data import Dataset

from .compose import estimate_foreground
from .data import composite, read_alpha, read_rgb
from .images import IMAGE_SUFFIXES, to_uint8, write_png
# The alphamatting.com low-res training split used here (shared/data/README.md): train on GT01-GT10,
# validate on GT11-GT14.
ALPHAMATTING_TRAIN = tuple(f"GT{i:02d}" for i in range(1, 11))
ALPHAMATTING_VAL = tuple(f"GT{i:02d}" for i in range(11, 15))
DEFAULT_MIX = {"real": 0.45, "holes": 0.12, "objects": 0.08, "synthetic": 0.35}


def cache_dir() -> Path:
    """Where estimated foreground colours are kept: $INDEXNET_CACHE or ~/.cache/indexnet."""
    return Path(os.environ.get("INDEXNET_CACHE", Path.home() / ".cache" / "indexnet"))


def list_images(folders) -> list[Path]:
    """Sorted image files in one or more folders (not recursive); a missing or empty folder is an error."""
    if isinstance(folders, (str, os.PathLike)):
        folders = [folders]
    files = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"background folder not found: {folder}")
        found = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
        files += found
    return files


class BackgroundBank:
    """Every image of one or more folders; ``random(rng, h, w)`` is a random h x w view of one of them."""

    def __init__(self, folders):
        self.files = list_images(folders)

    def __len__(self) -> int:
        return len(self.files)

    def random(self, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
        """A random photo, scaled so that it covers h x w at a random zoom (1-1.5x), randomly
        cropped and flipped: h x w x 3 uint8."""
        bg = read_rgb(self.files[int(rng.integers(len(self.files)))])
        bh, bw = bg.shape[:2]
        scale = max(height / bh, width / bw) * rng.uniform(1.0, 1.5)
        size = (max(width, int(np.ceil(bw * scale))), max(height, int(np.ceil(bh * scale))))
        bg = cv2.resize(bg, size, interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
        top, left = int(rng.integers(size[1] - height + 1)), int(rng.integers(size[0] - width + 1))
        bg = bg[top:top + height, left:left + width]
        return np.ascontiguousarray(bg[:, ::-1] if rng.random() < 0.5 else bg)


class RealForegrounds:
    """(foreground colours, alpha) of photos with ground-truth mattes: ``root/image/<name>.png`` and
    ``root/alpha/<name>.png`` (the alphamatting.com layout). Foreground colours are estimated once
    per photo and cached under ``cache_dir()/foregrounds`` by the content's hash."""

    def __init__(self, root, names=ALPHAMATTING_TRAIN, cache: Path | None = None):
        root = Path(root)
        cache = (cache or cache_dir()) / "foregrounds"
        self.items = []
        for name in names:
            image, alpha = read_rgb(_find_image(root / "image", name)), read_alpha(_find_image(root / "alpha", name))
            if alpha.shape != image.shape[:2]:
                raise ValueError(f"{name}: alpha is {alpha.shape[::-1]} (WxH), image {image.shape[1::-1]}")
            key = hashlib.sha1(image.tobytes() + alpha.tobytes()).hexdigest()[:16]
            path = cache / f"{name}_{key}.png"
            if path.is_file():
                fg = read_rgb(path)
            else:  # pymatting's multilevel estimator (Germer et al. 2020), as the cut-outs use
                fg = to_uint8(estimate_foreground(image, alpha.astype(np.float32) / 255))
                path.parent.mkdir(parents=True, exist_ok=True)
                write_png(path, fg)
            self.items.append((fg, alpha))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.items[index]


def _find_image(folder: Path, stem: str) -> Path:
    for suffix in IMAGE_SUFFIXES:
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    raise FileNotFoundError(f"no image named {stem} ({'/'.join(IMAGE_SUFFIXES)}) in {folder}")


class ObjectCutouts:
    """Objects outlined in YOLO segmentation files (``<photo stem>.txt`` beside the photos' folder:
    one line per object, a class id then normalised x y polygon vertices), cut out with
    anti-aliased hard edges. Only outlines covering at least ``min_area`` of their photo are used."""

    def __init__(self, photo_dir, outline_dir, min_area: float = 0.02):
        photos = {p.stem: p for p in list_images(photo_dir)}
        self.objects = []  # (photo path, polygon in normalised coordinates)
        for txt in sorted(Path(outline_dir).glob("*.txt")):
            if txt.stem not in photos:
                continue
            for line in txt.read_text().splitlines():
                values = line.split()
                if len(values) < 7:
                    continue
                poly = np.array(values[1:], np.float32).reshape(-1, 2)
                if _polygon_area(poly) >= min_area:
                    self.objects.append((photos[txt.stem], poly))
        if not self.objects:
            raise FileNotFoundError(f"no object outlines for the photos of {photo_dir} in {outline_dir}")

    def __len__(self) -> int:
        return len(self.objects)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        path, poly = self.objects[index]
        photo = read_rgb(path)
        h, w = photo.shape[:2]
        ss = 4  # supersampled rasterisation: a 1-px anti-aliased edge, as a photo's hard edge
        canvas = np.zeros((h * ss, w * ss), np.uint8)
        cv2.fillPoly(canvas, [np.round(poly * (w * ss, h * ss)).astype(np.int32)], 255, cv2.LINE_8)
        alpha = cv2.resize(canvas, (w, h), interpolation=cv2.INTER_AREA)
        x0, y0 = np.floor(poly.min(0) * (w, h)).astype(int)
        x1, y1 = np.ceil(poly.max(0) * (w, h)).astype(int)
        m = max(8, int(0.15 * max(x1 - x0, y1 - y0)))
        box = (slice(max(0, y0 - m), min(h, y1 + m)), slice(max(0, x0 - m), min(w, x1 + m)))
        return np.ascontiguousarray(photo[box]), np.ascontiguousarray(alpha[box])


def _polygon_area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return float(abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2)


# --- Foregrounds full of holes --------------------------------------------------------------------


def holey_foreground(rng: np.random.Generator, size: int, texture: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A size x size foreground with many holes, drawn at 4x and area-downsampled (anti-aliased):
    leafy branches (thin stems with leaves), hanging strings or yarn, or a sheet punched with holes
    (mesh, lattice, lace). ``texture`` (any H x W x 3 uint8 photo) gives the colours, so the
    foreground's content is real. Returns (fg colours, alpha), uint8."""
    ss, S = 4, size * 4
    canvas = np.zeros((S, S), np.uint8)
    kind = rng.choice(["branches", "strings", "sheet"], p=[0.5, 0.25, 0.25])
    if kind == "branches":
        for _ in range(int(rng.integers(2, 7))):
            _draw_branch(rng, canvas, (rng.uniform(0.1, 0.9) * S, S * rng.uniform(0.8, 1.1)),
                         -np.pi / 2 + rng.normal(0, 0.5), rng.uniform(0.4, 0.9) * S, ss, depth=0)
    elif kind == "strings":
        for _ in range(int(rng.integers(4, 25))):
            x = rng.uniform(0, S)
            points = [(x, -10.0)]
            y, dx, width = 0.0, rng.normal(0, 2) * ss, rng.uniform(0.4, 3) * ss
            while y < S * rng.uniform(0.6, 1.2):
                dx += rng.normal(0, 0.8) * ss
                x, y = x + dx, y + rng.uniform(6, 16) * ss
                points.append((x, y))
            cv2.polylines(canvas, [np.round(np.array(points)).astype(np.int32)], False, 255,
                          max(1, int(width)), cv2.LINE_AA)
    else:
        body = np.zeros((S, S), np.uint8)
        centre, axes = (S // 2, S // 2), (int(S * rng.uniform(0.3, 0.48)), int(S * rng.uniform(0.3, 0.48)))
        cv2.ellipse(body, centre, axes, rng.uniform(0, 180), 0, 360, 255, -1)
        pitch = rng.uniform(6, 30) * ss
        hole = pitch * rng.uniform(0.3, 0.8)
        yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
        theta = rng.uniform(0, np.pi)
        u = xx * np.cos(theta) + yy * np.sin(theta) + rng.normal(0, pitch / 8) * np.sin(yy / (S / 5))
        v = -xx * np.sin(theta) + yy * np.cos(theta)
        if rng.random() < 0.5:  # round holes (lace, perforated sheet)
            holes = (np.mod(u, pitch) - pitch / 2) ** 2 + (np.mod(v, pitch) - pitch / 2) ** 2 < (hole / 2) ** 2
        else:  # square holes (wire mesh, lattice)
            holes = (np.abs(np.mod(u, pitch) - pitch / 2) < hole / 2) & (np.abs(np.mod(v, pitch) - pitch / 2) < hole / 2)
        body[holes] = 0
        canvas = body
    alpha = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    th, tw = texture.shape[:2]
    zoom = max(size / th, size / tw) * rng.uniform(1.0, 2.0)
    tex = cv2.resize(texture, (max(size, int(tw * zoom) + 1), max(size, int(th * zoom) + 1)),
                     interpolation=cv2.INTER_LINEAR)
    top, left = int(rng.integers(tex.shape[0] - size + 1)), int(rng.integers(tex.shape[1] - size + 1))
    fg = np.ascontiguousarray(tex[top:top + size, left:left + size])
    if kind == "branches" and rng.random() < 0.6:  # foliage green, keeping the photo's light and texture
        hsv = cv2.cvtColor(fg, cv2.COLOR_RGB2HSV)
        hsv[..., 0] = np.uint8(rng.integers(25, 75))
        hsv[..., 1] = np.clip(hsv[..., 1].astype(np.int32) + int(rng.integers(40, 120)), 0, 255).astype(np.uint8)
        fg = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return fg, alpha


def _draw_branch(rng, canvas, start, angle, length, ss, depth):
    """A stem as a jittered polyline, with leaves (rotated ellipses) and side branches (recursive)."""
    S = canvas.shape[0]
    width = max(1, int(rng.uniform(1.0, 5.0) * ss / (1 + depth)))
    points, (x, y) = [start], start
    steps = max(2, int(length / (10 * ss)))
    for k in range(steps):
        angle += rng.normal(0, 0.15)
        x, y = x + np.cos(angle) * length / steps, y + np.sin(angle) * length / steps
        points.append((x, y))
        if rng.random() < 0.7:  # a leaf on a short stalk
            side = angle + rng.choice([-1, 1]) * rng.uniform(0.5, 1.3)
            leaf = rng.uniform(4, 18) * ss
            cx, cy = x + np.cos(side) * leaf, y + np.sin(side) * leaf
            cv2.ellipse(canvas, (int(cx), int(cy)), (int(leaf), max(1, int(leaf * rng.uniform(0.25, 0.5)))),
                        np.degrees(side), 0, 360, 255, -1, cv2.LINE_AA)
        if depth < 2 and rng.random() < 0.25:
            _draw_branch(rng, canvas, (x, y), angle + rng.choice([-1, 1]) * rng.uniform(0.4, 1.0),
                         length * rng.uniform(0.2, 0.5), ss, depth + 1)
        if not (-S * 0.2 < x < S * 1.2 and -S * 0.2 < y < S * 1.2):
            break
    cv2.polylines(canvas, [np.round(np.array(points)).astype(np.int32)], False, 255, width, cv2.LINE_AA)


# --- Augmentation and the mixed stream ------------------------------------------------------------


def jitter_colours(rng: np.random.Generator, fg: np.ndarray) -> np.ndarray:
    """Random hue shift, saturation and value gains (the published recipe's colour jitter)."""
    hsv = cv2.cvtColor(fg, cv2.COLOR_RGB2HSV_FULL).astype(np.float32)
    hsv[..., 0] = np.mod(hsv[..., 0] + rng.uniform(-12, 12), 256)
    hsv[..., 1] *= rng.uniform(0.7, 1.3)
    hsv[..., 2] *= rng.uniform(0.7, 1.2)
    return cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB_FULL)


def window_around_edge(rng, fg: np.ndarray, alpha: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """A side x side window (or the whole of a smaller image) centred near a random fractional-alpha
    pixel: what the training crop will need, so compositing and trimaps cost a window, not a photo."""
    h, w = alpha.shape
    if h <= side and w <= side:
        return fg, alpha
    rows, cols = np.nonzero((alpha > 0) & (alpha < 255))
    if len(rows):
        i = int(rng.integers(len(rows)))
        cy, cx = rows[i] + int(rng.integers(-side // 4, side // 4 + 1)), cols[i] + int(rng.integers(-side // 4, side // 4 + 1))
    else:
        cy, cx = h // 2, w // 2
    top = int(np.clip(cy - side // 2, 0, max(0, h - side)))
    left = int(np.clip(cx - side // 2, 0, max(0, w - side)))
    box = (slice(top, top + side), slice(left, left + side))
    return np.ascontiguousarray(fg[box]), np.ascontiguousarray(alpha[box])


class MattingMix(Dataset):
    """Endless stream of composites: item i is {image, alpha, fg, bg} (uint8, before the trimap and
    crop), drawn with ``np.random.default_rng([seed, 7, i])`` from the sources in ``mix`` (name ->
    weight; names: "real", "holes", "objects", "synthetic") and composited on ``backgrounds``.

    Augmentation (SPEC §4 and the DIM recipe): random scale ``scale_range`` of the foreground
    (up-scaling too), horizontal flip, colour jitter, a new random background; then a window of
    ``window`` px around the edge, inside which the pipeline draws the trimap and its crop. A fraction
    ``synthetic_own_background`` of the synthetic samples keep the scene they were made with, so that
    fine-tuning for photos does not unlearn the synthetic set (its test split is a release criterion).
    """

    def __init__(self, backgrounds: BackgroundBank, real: RealForegrounds | None = None,
                 objects: ObjectCutouts | None = None, mix: dict | None = None, seed: int = 0,
                 scale_range: tuple[float, float] = (0.5, 1.5), window: int = 640, length: int = 1_000_000,
                 synthetic_own_background: float = 0.5):
        self.backgrounds, self.real, self.objects = backgrounds, real, objects
        mix = dict(DEFAULT_MIX if mix is None else mix)
        for name, source in (("real", real), ("objects", objects)):
            if mix.get(name, 0) > 0 and source is None:
                raise ValueError(f"mix asks for {name!r} samples but no {name} source was given")
        unknown = set(mix) - set(DEFAULT_MIX)
        if unknown:
            raise ValueError(f"unknown mix sources {sorted(unknown)}: expected some of {sorted(DEFAULT_MIX)}")
        names = [n for n in mix if mix[n] > 0]
        if not names:
            raise ValueError(f"mix {mix} has no source with a positive weight")
        weights = np.array([mix[n] for n in names], np.float64)
        self.names, self.p = names, weights / weights.sum()
        self.seed, self.scale_range, self.window, self.length = seed, scale_range, window, length
        self.synthetic_own_background = synthetic_own_background

    def __len__(self) -> int:
        return self.length

    def source_of(self, rng: np.random.Generator) -> str:
        return self.names[int(rng.choice(len(self.names), p=self.p))]

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, 7, int(index)])
        source = self.source_of(rng)
        if source == "real":
            fg, alpha = self.real[int(rng.integers(len(self.real)))]
        elif source == "objects":
            fg, alpha = self.objects[int(rng.integers(len(self.objects)))]
            side = max(fg.shape[:2])  # objects come in every size: bring them to 250-700 px
            fg, alpha = _scale(fg, alpha, rng.uniform(250, 700) / side)
        elif source == "holes":
            texture = self.backgrounds.random(rng, 320, 320)
            fg, alpha = holey_foreground(rng, int(rng.integers(320, 513)), texture)
        else:
            from .synthetic import SPLIT_LENGTHS, make_sample
            sample = make_sample(int(rng.integers(SPLIT_LENGTHS["train"])), "train", 320)
            fg, alpha = sample["fg"], sample["alpha"]
            if rng.random() < self.synthetic_own_background:  # as the synthetic set itself: keeps what it taught
                return dict(sample, source=source)
        if source in ("real", "objects"):
            fg, alpha = _scale(fg, alpha, rng.uniform(*self.scale_range))
        if rng.random() < 0.5:
            fg, alpha = fg[:, ::-1], alpha[:, ::-1]
        fg, alpha = window_around_edge(rng, np.ascontiguousarray(fg), np.ascontiguousarray(alpha), self.window)
        if rng.random() < 0.8:
            fg = jitter_colours(rng, fg)
        bg = self.backgrounds.random(rng, *alpha.shape)
        if rng.random() < 0.25:  # shallow depth of field behind the subject
            bg = cv2.GaussianBlur(bg, (0, 0), rng.uniform(1, 4))
        return {"image": composite(fg, bg, alpha), "alpha": alpha, "fg": fg, "bg": bg, "source": source}


def _scale(fg: np.ndarray, alpha: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    if abs(scale - 1) < 1e-3:
        return fg, alpha
    h, w = alpha.shape
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    interpolation = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
    return cv2.resize(fg, size, interpolation=interpolation), cv2.resize(alpha, size, interpolation=interpolation)
