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
  yarn, perforated sheets, dense foliage, fibres) textured with real photos: the classes the network
  failed on (GT13's plant, GT11's thistle).
* ``BackgroundBank`` — every image in one or more folders (COCO, BSDS500, your own).
* ``MattingMix`` — an endless, reproducible stream mixing these sources and the synthetic set, every
  one composited onto the bank's backgrounds with the published augmentation (random scale,
  flips, colour jitter); item i depends only on (seed, i), like the rest of the training data.

The trimap is not made here: the training pipeline (`indexnet.data.PIPELINES`) draws it, except for the
real samples that keep a trimap a person drew (``hand_trimap``), which the "drawn" pipeline and the GPU
pool (`indexnet.device_pool`) use as it is.
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
from .trimap import normalize_trimap
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
    per photo and cached under ``cache_dir()/foregrounds`` by the content's hash. ``hand_trimaps[i]``
    lists the photo's trimaps drawn by people (``root/trimap*/<name>.png``; empty if there are none)."""

    def __init__(self, root, names=ALPHAMATTING_TRAIN, cache: Path | None = None):
        root = Path(root)
        cache = (cache or cache_dir()) / "foregrounds"
        self.items, self.hand_trimaps = [], []
        trimap_dirs = sorted(p for p in root.glob("trimap*") if p.is_dir())
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
            trimaps = [normalize_trimap(read_alpha(path)) for path in (_find_image(d, name, required=False)
                                                                       for d in trimap_dirs) if path]
            for trimap in trimaps:
                if trimap.shape != alpha.shape:
                    raise ValueError(f"{name}: a trimap is {trimap.shape[::-1]} (WxH), the alpha {alpha.shape[::-1]}")
            self.hand_trimaps.append(trimaps)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.items[index]


def _find_image(folder: Path, stem: str, required: bool = True) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    if not required:
        return None
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


# Weights of the kinds. The last three are opaque or evenly translucent material that the network punched false
# holes into on real photos (issue 16): colour alone never makes a region transparent.
HOLEY_KINDS = {"branches": 0.1, "strings": 0.07, "sheet": 0.06, "foliage": 0.17, "fibres": 0.15,
               "strands": 0.15, "meshed": 0.15, "translucent": 0.15}


def check_holey_kinds(kinds: dict) -> dict:
    """``kinds`` (kind -> weight, a subset of ``HOLEY_KINDS``; kinds left out are not drawn) as probabilities."""
    if not isinstance(kinds, dict):
        raise ValueError(f"holey kinds must be a dict from kind to weight, got {kinds!r}")
    unknown = set(kinds) - set(HOLEY_KINDS)
    if unknown:
        raise ValueError(f"unknown holey foreground kinds {sorted(unknown)}: expected some of {sorted(HOLEY_KINDS)}")
    if not all(isinstance(w, (int, float)) and not isinstance(w, bool) and w >= 0 for w in kinds.values()):
        raise ValueError(f"holey kind weights must be numbers of at least 0, got {kinds}")
    total = sum(kinds.values())
    if total <= 0:
        raise ValueError(f"holey kinds {kinds} have no kind with a positive weight")
    return {k: w / total for k, w in kinds.items() if w > 0}


def draw_holey_kind(rng: np.random.Generator, kinds: dict | None = None) -> str:
    """One kind, drawn with the weights ``kinds`` (as returned by ``check_holey_kinds``; None: ``HOLEY_KINDS``)."""
    kinds = HOLEY_KINDS if kinds is None else kinds
    return str(rng.choice(list(kinds), p=list(kinds.values())))


def holey_foreground(rng: np.random.Generator, size: int, texture: np.ndarray,
                     kind: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A size x size foreground with many holes, drawn at 4x and area-downsampled (anti-aliased).

    kind (None: drawn at random with the weights in ``HOLEY_KINDS``, ``draw_holey_kind``):
    * "branches": thin stems with small leaves; "strings": hanging strings or yarn; "sheet": a sheet
      punched with holes (mesh, lattice, lace) — one colour field, textured by ``texture``;
    * "foliage": a dense plant of long pointed leaves, each its own shade, overlapping (GT13's class:
      the network called shaded leaves "background" inside wide unknown regions);
    * "fibres": hundreds of thin curved strands growing out of a body's edge, often from deep inside a
      rim where the background shows between them (GT11's class: a thistle, a mass of hair, frayed
      yarn), the strands a different colour from the body;
    * "strands": thick opaque strands (yarn, rope, cables) 4-20 px wide, many saturated colours, some
      taken from ``texture``, overlapping and shaded round, hanging across the window;
    * "meshed": solid objects (rods with pointed tips, blobs) inside a wire-mesh cup or behind a fence,
      grille or lace: alpha 1 on the objects, the mesh's own coverage elsewhere;
    * "translucent": a large sheet (cloth, flag, tinted plastic, veil) of near-uniform alpha 0.5-0.95,
      printed with stripes, a tint or ``texture`` itself, sometimes over an opaque body.
    The last three are what the network punched false holes into (issue 16): solid or evenly see-through
    regions whose colours may match the background's.
    ``texture`` (any H x W x 3 uint8 photo) gives the colours and their grain, so the content is real;
    pass a crop of the background itself for foreground and background of the same palette.
    Returns (fg colours, alpha), uint8."""
    ss, S = 4, size * 4
    kind = kind or draw_holey_kind(rng)
    if kind not in HOLEY_KINDS:
        raise ValueError(f"unknown holey foreground kind {kind!r}: expected one of {sorted(HOLEY_KINDS)}")
    if kind in ("foliage", "fibres", "strands", "meshed"):
        return _painted_foreground(rng, size, texture, kind)
    if kind == "translucent":
        return _translucent_foreground(rng, size, texture)
    canvas = np.zeros((S, S), np.uint8)
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


def _palette(rng: np.random.Generator, texture: np.ndarray, n: int) -> np.ndarray:
    """n RGB colours (float32, 0-255): foliage greens and yellows, or pixels of the texture photo
    (then foreground and background can share a palette, as GT13's yellow leaves on sand do)."""
    if rng.random() < 0.55:
        hsv = np.stack([rng.uniform(18, 80, n), rng.uniform(50, 230, n), rng.uniform(90, 235, n)], 1)
        return cv2.cvtColor(hsv.astype(np.uint8)[None], cv2.COLOR_HSV2RGB)[0].astype(np.float32)
    pixels = texture.reshape(-1, 3)
    return pixels[rng.integers(len(pixels), size=n)].astype(np.float32)


def _painted_foreground(rng, size: int, texture: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Foliage or fibres: many parts painted back to front at 4x, each in its own colour, then
    area-downsampled; colours are un-premultiplied, so edges between two parts mix their colours and
    edges against the background keep the part's own colour (as a real foreground has)."""
    ss, S = 4, size * 4
    rgb = np.zeros((S, S, 3), np.float32)
    mask = np.zeros((S, S), np.uint8)
    palette = _palette(rng, texture, 6)
    if kind == "foliage":
        for _ in range(int(rng.integers(1, 4))):  # clumps growing from below the window
            base = np.array([rng.uniform(0.1, 0.9) * S, rng.uniform(0.75, 1.15) * S])
            spread, tilt = rng.uniform(0.4, 1.2), rng.normal(0, 0.3)
            for _ in range(int(rng.integers(30, 140))):
                angle = -np.pi / 2 + tilt + rng.normal(0, spread)
                start = base + np.array([np.cos(angle), np.sin(angle)]) * rng.uniform(0, 0.7) * S
                start += rng.normal(0, 0.05 * S, 2)
                angle += rng.normal(0, 0.6)
                length = rng.uniform(15, 120) * ss
                width = length * rng.uniform(0.06, 0.28)
                t = np.linspace(0, 1, 16)[:, None]
                direction = np.array([np.cos(angle), np.sin(angle)])
                normal = np.array([-direction[1], direction[0]])
                axis = start + length * t * direction + rng.normal(0, 0.25) * length * t ** 2 * normal
                half = width / 2 * np.sin(np.pi * np.clip(t, 0, 1) ** 0.7)
                outline = np.concatenate([axis + half * normal, (axis - half * normal)[::-1]])
                colour = palette[int(rng.integers(len(palette)))] * rng.uniform(0.4, 1.25)
                pts = [np.round(outline).astype(np.int32)]
                cv2.fillPoly(rgb, pts, np.clip(colour, 0, 255).tolist())
                cv2.fillPoly(mask, pts, 255)
                if rng.random() < 0.6:  # the midrib, lighter or darker than the blade
                    cv2.polylines(rgb, [np.round(axis[:-3]).astype(np.int32)], False,
                                  np.clip(colour * rng.uniform(0.7, 1.3), 0, 255).tolist(), max(1, ss // 2))
    elif kind == "strands":
        _draw_strands(rng, rgb, mask, ss, texture)
    elif kind == "meshed":
        _draw_meshed(rng, rgb, mask, ss, palette, texture)
    else:
        body = np.zeros((S, S), np.uint8)
        for _ in range(int(rng.integers(1, 5))):  # a lumpy body, mostly off-centre
            cv2.ellipse(body, (int(rng.uniform(0.2, 0.8) * S), int(rng.uniform(0.3, 1.0) * S)),
                        (int(rng.uniform(0.15, 0.4) * S), int(rng.uniform(0.15, 0.4) * S)),
                        rng.uniform(0, 180), 0, 360, 255, -1)
        contours, _ = cv2.findContours(body, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        if not contours:  # cannot happen while every ellipse's centre is on the canvas; no strands without an edge
            contours = [np.array([[[S // 2, S // 2]]], np.int32)]
        edge = np.concatenate([c[:, 0] for c in contours]).astype(np.float32)
        centre = edge.mean(0)
        # Often the solid core stops well inside the outline and the rim is a dense tangle of strands with
        # the background showing between them (GT11's thistle, a mass of hair), not a body with a fringe.
        rim = rng.uniform(0, 30) * ss if rng.random() < 0.6 else 0.0
        if rim:
            body = np.where(cv2.distanceTransform(body, cv2.DIST_L2, 3) > rim, 255, 0).astype(np.uint8)
        rgb[body > 0] = palette[0]
        mask |= body
        strand_colours = palette[1:] * rng.uniform(0.6, 1.3, (len(palette) - 1, 1))
        density = rng.uniform(0.15, 1.0) if rim else rng.uniform(0.1, 0.4)  # strands per outline pixel (1x)
        for _ in range(int(density * len(edge) / ss)):
            point = edge[int(rng.integers(len(edge)))]
            outward = point - centre
            angle = np.arctan2(outward[1], outward[0]) + rng.normal(0, 0.5)
            length, curl = rng.uniform(8, 120) * ss + rim, rng.normal(0, 0.15)
            depth = 6 * ss + rng.uniform(0, rim)  # rooted inside the outline, some deep in the rim
            points = [point - depth * np.array([np.cos(angle), np.sin(angle)])]
            for _ in range(max(2, int(length / (4 * ss)))):
                angle += curl + rng.normal(0, 0.12)
                points.append(points[-1] + 4 * ss * np.array([np.cos(angle), np.sin(angle)]))
            # 0.3-4 px, log-uniform: from a hair to GT11's thistle strands seen at the test scale (1.5x)
            width = max(1, int(round(np.exp(rng.uniform(np.log(0.3), np.log(4))) * ss)))
            colour = strand_colours[int(rng.integers(len(strand_colours)))] * rng.uniform(0.8, 1.2)
            line = [np.round(np.array(points)).astype(np.int32)]
            cv2.polylines(rgb, line, False, np.clip(colour, 0, 255).tolist(), width)
            cv2.polylines(mask, line, False, 255, width)
    coverage = cv2.resize(mask.astype(np.float32) / 255, (size, size), interpolation=cv2.INTER_AREA)
    premultiplied = cv2.resize(rgb * (mask[..., None] > 0), (size, size), interpolation=cv2.INTER_AREA)
    fg = premultiplied / np.maximum(coverage, 1e-3)[..., None]
    return _with_grain_and_light(rng, fg, texture), to_uint8(coverage)


def _with_grain_and_light(rng, fg: np.ndarray, texture: np.ndarray) -> np.ndarray:
    """fg (float RGB, 0-255) with the photo's grain and a slow light falloff: flat-coloured parts look drawn."""
    size = fg.shape[0]
    grain = cv2.resize(cv2.cvtColor(texture, cv2.COLOR_RGB2GRAY), (size, size),
                       interpolation=cv2.INTER_LINEAR).astype(np.float32)
    grain = grain / max(float(grain.mean()), 1.0)
    light = cv2.resize(rng.uniform(0.7, 1.2, (3, 3)).astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    fg = fg * ((1 + rng.uniform(0.1, 0.6) * (grain - 1)) * light)[..., None]
    return np.clip(fg, 0, 255).astype(np.uint8)


def _vivid(rng: np.random.Generator, texture: np.ndarray, n: int, from_texture: float = 0.35) -> np.ndarray:
    """n RGB colours (float32, 0-255): saturated hues of every kind (yarn, cables, pencils, flags), dark
    ones included, or with probability ``from_texture`` each, a pixel of the texture photo (which may be
    the background itself: colour alone must not decide what is background)."""
    hsv = np.stack([rng.uniform(0, 180, n), rng.uniform(90, 255, n), rng.uniform(40, 255, n)], 1)
    colours = cv2.cvtColor(hsv.astype(np.uint8)[None], cv2.COLOR_HSV2RGB)[0].astype(np.float32)
    pixels = texture.reshape(-1, 3)
    take = rng.random(n) < from_texture
    colours[take] = pixels[rng.integers(len(pixels), size=int(take.sum()))]
    return colours


def _draw_strands(rng, rgb: np.ndarray, mask: np.ndarray, ss: int, texture: np.ndarray) -> None:
    """Thick opaque strands (yarn, rope, cables), 4-20 px wide, hanging and crossing, each shaded round
    (dark edges, bright core) so that it reads as a solid cylinder, in many colours."""
    S = mask.shape[0]
    colours = _vivid(rng, texture, int(rng.integers(3, 9)))
    hanging = rng.random() < 0.6  # from above (yarn on a line, cables), else crossing in every direction
    for _ in range(int(rng.integers(10, 45))):
        width = np.exp(rng.uniform(np.log(4), np.log(20))) * ss
        if hanging:
            point, angle = np.array([rng.uniform(-0.1, 1.1) * S, -width]), np.pi / 2 + rng.normal(0, 0.3)
        else:
            point, angle = rng.uniform(0, S, 2), rng.uniform(0, 2 * np.pi)
            point -= 0.6 * S * np.array([np.cos(angle), np.sin(angle)])
        points, curl = [point], rng.normal(0, 0.04)
        for _ in range(int(rng.uniform(0.6, 1.6) * S / (6 * ss))):
            angle += curl + rng.normal(0, 0.08)
            if hanging:  # gravity pulls a hanging strand back towards vertical
                angle += 0.1 * (np.pi / 2 - angle)
            points.append(points[-1] + 6 * ss * np.array([np.cos(angle), np.sin(angle)]))
        line = [np.round(np.array(points)).astype(np.int32)]
        colour = colours[int(rng.integers(len(colours)))] * rng.uniform(0.8, 1.2)
        for share, light in ((1.0, 0.55), (0.7, 0.85), (0.3, 1.15)):  # round shading, outside in
            cv2.polylines(rgb, line, False, np.clip(colour * light, 0, 255).tolist(), max(1, int(width * share)))
        cv2.polylines(mask, line, False, 255, max(1, int(width)))


def _mesh(rng, S: int, ss: int) -> np.ndarray:
    """A wire mesh, grille or lace over an S x S canvas: True on the wires (1-3 px at 1x, pitch 6-24 px)."""
    pitch = rng.uniform(6, 24) * ss
    wire = min(rng.uniform(1, 3) * ss, pitch * 0.4)
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    theta = rng.uniform(0, np.pi / 2) if rng.random() < 0.5 else 0.0
    u = xx * np.cos(theta) + yy * np.sin(theta)
    v = -xx * np.sin(theta) + yy * np.cos(theta)
    if rng.random() < 0.7:  # square mesh / grille
        return (np.mod(u, pitch) < wire) | (np.mod(v, pitch) < wire)
    ring = np.hypot(np.mod(u, pitch) - pitch / 2, np.mod(v, pitch) - pitch / 2)  # lace: rings that touch
    return np.abs(ring - pitch / 2 + wire / 2) < wire / 2


def _draw_meshed(rng, rgb: np.ndarray, mask: np.ndarray, ss: int, palette: np.ndarray, texture: np.ndarray) -> None:
    """Solid objects inside a wire-mesh cup (pencils in a pencil cup) or behind a fence, grille or lace:
    the objects are opaque (alpha 1 wherever they are, mesh or not), the mesh alone is as transparent as
    its holes."""
    S = mask.shape[0]
    colours = np.concatenate([palette, _vivid(rng, texture, 6, from_texture=0.3)])
    region = np.zeros((S, S), bool)
    cup = rng.random() < 0.6
    if cup:
        x0, x1 = sorted(rng.uniform(0.1, 0.9, 2) * S)
        x1 = max(x1, x0 + 0.3 * S)
        top = int(rng.uniform(0.3, 0.6) * S)
        region[top:, int(x0):int(x1)] = True
        for _ in range(int(rng.integers(3, 16))):  # rods rising out of the cup, pointed at the top
            width = rng.uniform(5, 22) * ss
            base = np.array([rng.uniform(x0, x1), S * 1.1])
            angle = -np.pi / 2 + rng.normal(0, 0.25)
            length = rng.uniform(0.5, 1.0) * S
            tip = base + length * np.array([np.cos(angle), np.sin(angle)])
            colour = colours[int(rng.integers(len(colours)))]
            cv2.line(rgb, tuple(np.round(base).astype(int)), tuple(np.round(tip).astype(int)), colour.tolist(), int(width))
            cv2.line(mask, tuple(np.round(base).astype(int)), tuple(np.round(tip).astype(int)), 255, int(width))
            direction, normal = np.array([np.cos(angle), np.sin(angle)]), np.array([-np.sin(angle), np.cos(angle)])
            point = tip + direction * width * rng.uniform(0.8, 2)
            cone = np.round([tip + normal * width / 2, tip - normal * width / 2, point]).astype(np.int32)
            wood = np.clip(colours[int(rng.integers(len(colours)))] * 0.3 + np.array([150, 120, 80]), 0, 255)
            cv2.fillPoly(rgb, [cone], wood.tolist())
            cv2.fillPoly(mask, [cone], 255)
    else:
        region[:] = True
        for _ in range(int(rng.integers(1, 5))):  # things behind a fence: blobs and bars
            colour = colours[int(rng.integers(len(colours)))]
            centre = (int(rng.uniform(0.15, 0.85) * S), int(rng.uniform(0.15, 0.85) * S))
            axes = (int(rng.uniform(0.08, 0.3) * S), int(rng.uniform(0.08, 0.3) * S))
            angle = rng.uniform(0, 180)
            cv2.ellipse(rgb, centre, axes, angle, 0, 360, colour.tolist(), -1)
            cv2.ellipse(mask, centre, axes, angle, 0, 360, 255, -1)
    wires = _mesh(rng, S, ss) & region
    grey = rng.uniform(40, 210)
    metal = np.array([grey, grey, grey]) * rng.uniform(0.9, 1.1, 3) if rng.random() < 0.6 else \
        colours[int(rng.integers(len(colours)))]
    rgb[wires] = np.clip(metal, 0, 255)
    mask[wires] = 255
    if cup:  # a solid rim (and sometimes a base band) of the cup
        rim = int(rng.uniform(3, 14) * ss)
        left, right = np.nonzero(region.any(0))[0][[0, -1]]
        dark = np.clip(metal * rng.uniform(0.2, 0.7), 0, 255)
        rgb[top:top + rim, left:right + 1] = dark
        mask[top:top + rim, left:right + 1] = 255


def _translucent_foreground(rng, size: int, texture: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A large sheet of near-uniform alpha 0.5-0.95 (a cloth flag, a curtain, tinted plastic, a veil),
    printed with stripes or blocks of vivid colours (dark ones too), a plain tint, or the texture photo
    itself, sometimes over an opaque body: alpha is the sheet's opacity wherever it is, whatever its colour,
    and 1 where the body is behind it."""
    ss, S = 4, size * 4
    sheet = np.zeros((S, S), np.uint8)
    centre = rng.uniform(0.3, 0.7, 2) * S
    half = rng.uniform(0.25, 0.55, 2) * S
    t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    wave = 1 + 0.06 * np.sin(t * int(rng.integers(2, 7)) + rng.uniform(0, 6))
    square = np.stack([np.clip(1.6 * np.cos(t), -1, 1), np.clip(1.6 * np.sin(t), -1, 1)], 1)  # rounded rectangle
    theta = rng.uniform(-0.5, 0.5)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    outline = centre + (square * half * wave[:, None]) @ rot.T
    cv2.fillPoly(sheet, [np.round(outline).astype(np.int32)], 255)
    cover = cv2.resize(sheet.astype(np.float32) / 255, (size, size), interpolation=cv2.INTER_AREA)
    # Opacity: one value over the sheet, folds and thin spots only a few percent off it.
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    folds = np.sin((xx * np.cos(theta) + yy * np.sin(theta)) / size * rng.uniform(4, 20) + rng.uniform(0, 6))
    opacity = np.clip(rng.uniform(0.5, 0.95) + rng.uniform(0, 0.05) * folds, 0.4, 0.98)
    style = rng.random()
    if style < 0.4:  # a flag: stripes or blocks of a few vivid colours, dark ones included
        colours = _vivid(rng, texture, int(rng.integers(2, 5)), from_texture=0.3)
        u = (xx * np.cos(theta) + yy * np.sin(theta)) if rng.random() < 0.5 else (-xx * np.sin(theta) + yy * np.cos(theta))
        band = np.floor(u / size * rng.uniform(2, 8) + rng.uniform(0, 10)).astype(int) % len(colours)
        print_ = colours[band]
        if rng.random() < 0.5:  # a canton / emblem in another colour
            box = (np.abs(xx - rng.uniform(0.2, 0.8) * size) < rng.uniform(0.08, 0.25) * size) & \
                  (np.abs(yy - rng.uniform(0.2, 0.8) * size) < rng.uniform(0.08, 0.25) * size)
            print_[box] = _vivid(rng, texture, 1)[0]
    elif style < 0.7:  # the photo printed on it (its colours are the background's when same_palette)
        print_ = cv2.resize(texture, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    else:  # a plain tint
        print_ = np.broadcast_to(_vivid(rng, texture, 1, from_texture=0.3)[0], (size, size, 3)).astype(np.float32)
    print_ = print_ * (1 + 0.12 * folds)[..., None]  # cloth shading along the folds
    a_sheet = cover * opacity
    body_alpha = np.zeros((size, size), np.float32)
    body_rgb = np.zeros((size, size, 3), np.float32)
    if rng.random() < 0.5:  # an opaque body partly behind the sheet (the toy the flag hangs in front of)
        body = np.zeros((S, S), np.uint8)
        cv2.ellipse(body, (int(rng.uniform(0.2, 0.8) * S), int(rng.uniform(0.4, 1.0) * S)),
                    (int(rng.uniform(0.12, 0.35) * S), int(rng.uniform(0.15, 0.4) * S)), rng.uniform(0, 180), 0, 360, 255, -1)
        body_alpha = cv2.resize(body.astype(np.float32) / 255, (size, size), interpolation=cv2.INTER_AREA)
        body_rgb = np.broadcast_to(_vivid(rng, texture, 1, from_texture=0.5)[0], (size, size, 3)).astype(np.float32)
    # The sheet over the body (premultiplied "over"): colour and coverage of the two layers together.
    alpha = a_sheet + (1 - a_sheet) * body_alpha
    premultiplied = a_sheet[..., None] * print_ + ((1 - a_sheet) * body_alpha)[..., None] * body_rgb
    fg = premultiplied / np.maximum(alpha, 1e-3)[..., None]
    return _with_grain_and_light(rng, fg, texture), to_uint8(alpha)


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


def window_around_edge(rng, alpha: np.ndarray, side: int) -> tuple[slice, slice]:
    """A side x side window (or the whole of a smaller image) centred near a random fractional-alpha
    pixel: what the training crop will need, so compositing and trimaps cost a window, not a photo."""
    h, w = alpha.shape
    if h <= side and w <= side:
        return slice(0, h), slice(0, w)
    rows, cols = np.nonzero((alpha > 0) & (alpha < 255))
    if len(rows):
        i = int(rng.integers(len(rows)))
        cy, cx = rows[i] + int(rng.integers(-side // 4, side // 4 + 1)), cols[i] + int(rng.integers(-side // 4, side // 4 + 1))
    else:
        cy, cx = h // 2, w // 2
    top = int(np.clip(cy - side // 2, 0, max(0, h - side)))
    left = int(np.clip(cx - side // 2, 0, max(0, w - side)))
    return slice(top, top + side), slice(left, left + side)


class MattingMix(Dataset):
    """Endless stream of composites: item i is {image, alpha, fg, bg} (uint8, before the trimap and
    crop), its ``source`` name and, for some real samples, a ``hand_trimap``, drawn with ``np.random.default_rng([seed, 7, i])`` from the sources in ``mix`` (name ->
    weight; names: "real", "holes", "objects", "synthetic") and composited on ``backgrounds``.

    Augmentation (SPEC §4 and the DIM recipe): random scale ``scale_range`` of the foreground
    (up-scaling too), horizontal flip, colour jitter, a new random background; then a window of
    ``window`` px around the edge, inside which the pipeline draws the trimap and its crop. A fraction
    ``synthetic_own_background`` of the synthetic samples keep the scene they were made with, so that
    fine-tuning for photos does not unlearn the synthetic set (its test split is a release criterion).
    A fraction ``hand_trimaps`` of the real samples keep a trimap a person drew for the photo (scaled,
    flipped and cropped with it) as ``hand_trimap``, which the "drawn" pipeline uses instead of drawing
    one: the test-time trimaps' own style. A fraction ``same_palette`` of the holey foregrounds are composited onto the photo that coloured
    them, and as many object cut-outs onto their own photo turned round: foreground and background of one
    palette, where colour alone cannot tell them apart (a solid object that looks like the background is
    still solid). A fraction ``region_trimaps`` of the holey foregrounds get a trimap whose whole area
    is unknown (`region_trimap`), as people mark yarn, a mesh cup or a plant. A fraction ``resampled_holes``
    of them are shrunk (area) by 1-2x and enlarged back (bicubic), image and alpha alike: what `predict` shows
    the network of a photo at its test scale (1.5: enlarged, soft edges), where the crisp drawn edges taught
    it to place an outline a pixel too wide (issue 16: most false fills lie within a pixel of a solid one).
    ``holey_kinds`` (kind -> weight; None: ``HOLEY_KINDS``) sets how often each holey kind is drawn.
    """

    def __init__(self, backgrounds: BackgroundBank, real: RealForegrounds | None = None,
                 objects: ObjectCutouts | None = None, mix: dict | None = None, seed: int = 0,
                 scale_range: tuple[float, float] = (0.5, 1.5), window: int = 640, length: int = 1_000_000,
                 synthetic_own_background: float = 0.5, same_palette: float = 0.3, hand_trimaps: float = 0.5,
                 region_trimaps: float = 0.0, resampled_holes: float = 0.0, holey_kinds: dict | None = None):
        self.backgrounds, self.real, self.objects = backgrounds, real, objects
        self.holey_kinds = None if holey_kinds is None else check_holey_kinds(holey_kinds)
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
        for name, share in (("synthetic_own_background", synthetic_own_background), ("same_palette", same_palette),
                            ("hand_trimaps", hand_trimaps), ("region_trimaps", region_trimaps),
                            ("resampled_holes", resampled_holes)):
            if not 0 <= share <= 1:
                raise ValueError(f"{name} is a share of samples: expected 0..1, got {share!r}")
        self.same_palette, self.hand_trimaps, self.region_trimaps = same_palette, hand_trimaps, region_trimaps
        self.resampled_holes = resampled_holes

    def __len__(self) -> int:
        return self.length

    def source_of(self, rng: np.random.Generator) -> str:
        return self.names[int(rng.choice(len(self.names), p=self.p))]

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, 7, int(index)])
        source = self.source_of(rng)
        same_palette = hand_trimap = None
        if source == "real":
            k = int(rng.integers(len(self.real)))
            fg, alpha = self.real[k]
            trimaps = self.real.hand_trimaps[k]
            if trimaps and rng.random() < self.hand_trimaps:
                hand_trimap = trimaps[int(rng.integers(len(trimaps)))]
        elif source == "objects":
            fg, alpha = self.objects[int(rng.integers(len(self.objects)))]
            side = max(fg.shape[:2])  # objects come in every size: bring them to 250-700 px
            fg, alpha = _scale(fg, alpha, rng.uniform(250, 700) / side)
            if rng.random() < self.same_palette:  # the object's own photo, turned round, behind it
                same_palette = np.ascontiguousarray(fg[::-1, ::-1])
        elif source == "holes":
            side = int(rng.integers(320, 513))
            texture = self.backgrounds.random(rng, side, side)
            fg, alpha = holey_foreground(rng, side, texture, draw_holey_kind(rng, self.holey_kinds))
            if rng.random() < self.same_palette:  # the texture's photo, turned round, is the background
                same_palette = np.ascontiguousarray(texture[::-1, ::-1])
            if self.resampled_holes and rng.random() < self.resampled_holes:
                fg, alpha = _resample(fg, alpha, rng.uniform(1, 2))
        else:
            from .synthetic import SPLIT_LENGTHS, make_sample
            sample = make_sample(int(rng.integers(SPLIT_LENGTHS["train"])), "train", 320)
            fg, alpha = sample["fg"], sample["alpha"]
            if rng.random() < self.synthetic_own_background:  # as the synthetic set itself: keeps what it taught
                return dict(sample, source=source)
        if source in ("real", "objects"):
            fg, alpha = _scale(fg, alpha, rng.uniform(*self.scale_range))
            if hand_trimap is not None:
                hand_trimap = cv2.resize(hand_trimap, alpha.shape[::-1], interpolation=cv2.INTER_NEAREST)
        if rng.random() < 0.5:
            fg, alpha = fg[:, ::-1], alpha[:, ::-1]
            hand_trimap = None if hand_trimap is None else hand_trimap[:, ::-1]
        box = window_around_edge(rng, alpha, self.window)
        fg, alpha = np.ascontiguousarray(fg[box]), np.ascontiguousarray(alpha[box])
        if rng.random() < 0.8:
            fg = jitter_colours(rng, fg)
        bg = self.backgrounds.random(rng, *alpha.shape) if same_palette is None else \
            cv2.resize(same_palette, alpha.shape[::-1], interpolation=cv2.INTER_LINEAR)
        if rng.random() < 0.25:  # shallow depth of field behind the subject
            bg = cv2.GaussianBlur(bg, (0, 0), rng.uniform(1, 4))
        sample = {"image": composite(fg, bg, alpha), "alpha": alpha, "fg": fg, "bg": bg, "source": source}
        if hand_trimap is not None:
            sample["hand_trimap"] = np.ascontiguousarray(hand_trimap[box])
        elif source == "holes" and rng.random() < self.region_trimaps:
            sample["hand_trimap"] = region_trimap(alpha, rng)
        return sample


# --- The false-hole probe (issue 16) ---------------------------------------------------------------

PROBE_KINDS = ("strands", "meshed", "translucent")


class HoleProbe:
    """A fixed, seeded probe set of one class the network punched false holes into (``PROBE_KINDS``): ``count``
    holey foregrounds of ``kind`` on the bank's backgrounds (30% on the photo that coloured them, as in
    training), each under a trimap that marks its whole area unknown (`region_trimap`), as a person draws round
    yarn or a mesh cup. Items are {"name", "image", "alpha", "trimap"}, the `indexnet.evaluate` layout.

    Made at the test scale: drawn at ``size`` and shrunk by ``test_scale``, so that `predict`, which enlarges
    by the weights' test scale (1.5), shows the network the structures at the size they were drawn, as
    real photographs at their test scale. Never used in training: its random streams are seeded apart from
    the training stream's (``[seed, 7, i]``) and from every other kind's."""

    def __init__(self, backgrounds: BackgroundBank, kind: str, count: int = 40, size: int = 336,
                 test_scale: float = 1.5, seed: int = 2026):
        if kind not in PROBE_KINDS:
            raise ValueError(f"unknown probe kind {kind!r}: expected one of {PROBE_KINDS}")
        self.backgrounds, self.kind, self.count, self.size = backgrounds, kind, count, size
        self.test_scale, self.seed = test_scale, seed

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.count:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, 16, PROBE_KINDS.index(self.kind), index])
        texture = self.backgrounds.random(rng, self.size, self.size)
        fg, alpha = holey_foreground(rng, self.size, texture, self.kind)
        bg = np.ascontiguousarray(texture[::-1, ::-1]) if rng.random() < 0.3 else \
            self.backgrounds.random(rng, self.size, self.size)
        image, trimap = composite(fg, bg, alpha), region_trimap(alpha, rng)
        side = round(self.size / self.test_scale)
        shrink = lambda a, how=cv2.INTER_AREA: cv2.resize(a, (side, side), interpolation=how)  # noqa: E731
        trimap = shrink(trimap, cv2.INTER_NEAREST)
        alpha = shrink(alpha)
        trimap[(alpha > 0) & (alpha < 255)] = 128  # fractional alpha stays unknown after shrinking
        return {"name": f"{self.kind}_{index:02d}", "image": shrink(image), "alpha": alpha, "trimap": trimap}


def region_trimap(alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A trimap that marks a whole holey foreground unknown, as a person draws one round yarn, a mesh cup or a
    plant: unknown within 4-30 px of any covered pixel, holes included (a closing of 8-40 px fills the gaps
    between strands); foreground only deeper than 25-80 px inside solid alpha; background elsewhere."""
    covered = (alpha > 0).astype(np.uint8)
    gap = int(rng.integers(8, 41))
    closed = cv2.morphologyEx(covered, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (gap, gap)))
    outside = cv2.distanceTransform(1 - closed, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    depth = cv2.distanceTransform((alpha == 255).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    trimap = np.zeros(alpha.shape, np.uint8)
    trimap[outside <= rng.uniform(4, 30)] = 128
    trimap[depth > rng.uniform(25, 80)] = 255
    trimap[(alpha > 0) & (alpha < 255)] = 128
    return trimap


def _resample(fg: np.ndarray, alpha: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Shrink by ``factor`` (area) and enlarge back to the same size (bicubic, clipped): soft edges, as a photo
    that `predict` enlarges to its test scale."""
    h, w = alpha.shape
    small = (max(8, round(w / factor)), max(8, round(h / factor)))
    back = lambda a: cv2.resize(cv2.resize(a, small, interpolation=cv2.INTER_AREA), (w, h),  # noqa: E731
                                interpolation=cv2.INTER_CUBIC)
    return back(fg), back(alpha)  # uint8 in, uint8 out: cv2 saturates the cubic overshoot


def _scale(fg: np.ndarray, alpha: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    if abs(scale - 1) < 1e-3:
        return fg, alpha
    h, w = alpha.shape
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    interpolation = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
    return cv2.resize(fg, size, interpolation=interpolation), cv2.resize(alpha, size, interpolation=interpolation)
