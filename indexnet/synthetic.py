"""Seeded, deterministic, offline synthetic matting data.

Every sample is a function of ``(split, index, size)`` only: a ``np.random.Generator`` is seeded from
``(split, index)`` (never global state), so the same call gives bit-identical arrays in any process.
Samples are composited like Composition-1k (SPEC §4): ``merged = α·fg + (1−α)·bg`` truncated to uint8,
and the trimap follows the IndexNet rule (unknown = within Euclidean distance ``t`` of a fractional-alpha
pixel, ``t`` uniform in 1..19 scaled to the size).

What a sample looks like. Most samples are a *solid body* (blob, person-like head and shoulders, or a
rigid polygon, with hard anti-aliased edges and a photo texture) plus one or two of the hard-structure
kinds below, layered with the "over" operator, like real matting subjects (a person with hair, a toy
with fur); some samples are one kind on its own. Kinds (one small function each, see ``KINDS``):

- ``solid``: the body itself; hard edges drawn at 4× supersampling then area-downsampled.
- ``hair``: locks of long thin strands (random walks with shared curl and gravity, 0.25–2 px wide,
  tapering) rooted inside the upper part of the body, plus a few stray flyaway strands.
- ``fur``: dense short strands all around the body boundary (plush toy / animal fur).
- ``soft``: the whole foreground defocused (Gaussian) or motion-blurred (directional kernel).
- ``transparent``: smoke (textured α 0.1–0.8, no hard edge), glass (faint body, opaque rim,
  highlights) or a veil (woven, folded fabric with α 0.2–0.75).
- ``net``: meshes (two line families, wavy) or lace (a body punched with small holes).
- ``camo`` (a colour modifier, recorded in ``kinds``): body/hair colours taken from the background
  itself with a small shift, so the boundary has little colour contrast.

Photographs (all bundled in the installed wheels; nothing is downloaded). scikit-image's
``skimage/data`` (scikit-image's sample data; see its ``data/README.txt`` / docs for the per-image
licences, all public domain or CC0/CC-BY-compatible): astronaut (NASA, public domain), chelsea (the
cat, Stefan van der Walt, CC0), coffee (Rachel Michetti, CC0), rocket (SpaceX, CC0), motorcycle_left
(Middlebury stereo 2014, Scharstein et al.), hubble_deep_field (NASA/ESA, public domain), ihc
(immunohistochemistry, Jean-Yves Tinevez, CC0), and grayscale brick, grass, gravel (CC0 textures),
camera (cameraman, public-domain-like usage in skimage), moon (NASA, public domain), coins
(Greek coins, Brooklyn Museum, CC0), clock_motion (skimage contributors). matplotlib's bundled sample
data: grace_hopper.jpg (US Navy photo, public domain). Grayscale images are tinted with a random
two-colour gradient map at sample time. Procedural textures (multi-octave value noise, stripes,
gradients) supplement them.

Splits are disjoint two ways: (1) separate seed streams (split id in the ``SeedSequence``) and (2)
separate source photographs — ``test`` uses only coffee, gravel and coins; ``val`` only rocket and
grass; ``train`` all the others (``PHOTOS`` lists the assignment). So neither the test composites nor
their textures appear in training. Lengths (``SPLIT_LENGTHS``): train 100,000 virtual samples, val 64,
test 100.
"""
from __future__ import annotations

import os

import cv2
import numpy as np
import torch

SPLITS = {"train": 0, "val": 1, "test": 2}
SPLIT_LENGTHS = {"train": 100_000, "val": 64, "test": 100}
KINDS = ("solid", "hair", "fur", "soft", "transparent", "net")
SS = 4            # supersampling factor for anything with hard edges or thin strands
_SALT = 201909    # project constant mixed into every seed (so seeds differ from other users of (split, i))

# name -> (source, file, split). Source "skimage": skimage/data; "mpl": matplotlib sample data.
PHOTOS = {
    "astronaut": ("skimage", "astronaut.png", "train"),
    "chelsea": ("skimage", "chelsea.png", "train"),
    "motorcycle": ("skimage", "motorcycle_left.png", "train"),
    "hubble": ("skimage", "hubble_deep_field.jpg", "train"),
    "ihc": ("skimage", "ihc.png", "train"),
    "brick": ("skimage", "brick.png", "train"),
    "camera": ("skimage", "camera.png", "train"),
    "moon": ("skimage", "moon.png", "train"),
    "clock": ("skimage", "clock_motion.png", "train"),
    "grace_hopper": ("mpl", "grace_hopper.jpg", "train"),
    "rocket": ("skimage", "rocket.jpg", "val"),
    "grass": ("skimage", "grass.png", "val"),
    "coffee": ("skimage", "coffee.png", "test"),
    "gravel": ("skimage", "gravel.png", "test"),
    "coins": ("skimage", "coins.png", "test"),
}

# Hair base colours (RGB in [0, 1]): natural shades first, then doll/troll colours.
HAIR_PALETTE = np.array([
    [0.05, 0.04, 0.035], [0.16, 0.10, 0.06], [0.33, 0.21, 0.12], [0.50, 0.33, 0.19],
    [0.55, 0.24, 0.11], [0.82, 0.66, 0.42], [0.93, 0.85, 0.66], [0.58, 0.57, 0.55],
    [0.92, 0.92, 0.90], [0.90, 0.35, 0.55], [0.95, 0.45, 0.10], [0.30, 0.75, 0.35],
], np.float32)
_NATURAL_HAIR = 9   # the first 9 rows are natural; doll colours are drawn less often

_BANK: dict[str, list[np.ndarray]] = {}


# ----------------------------------------------------------------------------------------------
# Photo bank
# ----------------------------------------------------------------------------------------------
def _photo_path(source: str, name: str) -> str:
    if source == "skimage":
        import skimage.data
        return os.path.join(os.path.dirname(skimage.data.__file__), name)
    import matplotlib.cbook
    return str(matplotlib.cbook.get_sample_data(name, asfileobj=False))


def photo_bank(split: str) -> list[np.ndarray]:
    """The split's photos as uint8 arrays (H×W×3 RGB or H×W gray), loaded once per process.

    Images are pre-shrunk so the short side is at most 512 px: crops are then never minified by
    more than ~1.6×, which keeps bilinear warping alias-free enough.
    """
    if split not in _BANK:
        photos = []
        for source, name, s in PHOTOS.values():
            if s != split:
                continue
            img = cv2.imread(_photo_path(source, name), cv2.IMREAD_UNCHANGED)
            if img is None:
                raise FileNotFoundError(f"bundled sample photo missing: {source}/{name}")
            if img.ndim == 3:
                img = cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2RGB)
            scale = 512 / min(img.shape[:2])
            if scale < 1:
                img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            photos.append(np.ascontiguousarray(img))
        _BANK[split] = photos
    return _BANK[split]


# ----------------------------------------------------------------------------------------------
# Textures (all float32 in [0, 1], S×S×3)
# ----------------------------------------------------------------------------------------------
def _noise(rng, S, cells):
    """Smooth value noise: a small random grid upsampled bicubically (cheap, any frequency)."""
    small = rng.random((cells, cells), dtype=np.float32)
    return np.clip(cv2.resize(small, (S, S), interpolation=cv2.INTER_CUBIC), 0, 1)  # cubic overshoots


def _rgb(x):
    """S×S -> S×S×3 by repetition. Speed note: numpy broadcasting against a trailing axis of 3
    (``x[..., None] * rgb`` or ``img * gain3``) runs ~10× slower than same-shape arithmetic, so colour
    maths here uses _rgb and cv2.transform instead."""
    return cv2.cvtColor(np.ascontiguousarray(x, np.float32), cv2.COLOR_GRAY2RGB)


def _affine_color(img, gain, bias):
    """Per-channel ``img·gain + bias`` (img S×S or S×S×3 float32; gain, bias length-3) via cv2.transform."""
    n = 1 if img.ndim == 2 else 3
    m = np.zeros((3, n + 1), np.float32)
    m[:, n] = bias
    if n == 1:
        m[:, 0] = gain
    else:
        m[:, :3] = np.diag(np.asarray(gain, np.float32) * np.ones(3, np.float32))
    return cv2.transform(np.ascontiguousarray(img, np.float32), m)


def _gradient_map(gray, c0, c1):
    """Tint a gray image in [0,1] by mapping 0→c0 and 1→c1."""
    return _affine_color(np.clip(gray, 0, 1), np.asarray(c1) - c0, c0)


def _photo_crop(rng, img, S, zoom, shift=None):
    """A random affine crop (scale, small rotation, flip) of a bank photo, as S×S×3 float."""
    h, w = img.shape[:2]
    s = S / min(h, w) * zoom
    ang = rng.uniform(-20, 20) if rng.random() < 0.4 else 0.0
    cx, cy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
    if shift is not None:  # reuse a crop's centre with a small offset (camouflage foregrounds)
        cx, cy = shift
    M = cv2.getRotationMatrix2D((cx, cy), ang, s)
    M[:, 2] += (S / 2 - cx, S / 2 - cy)
    if rng.random() < 0.5:  # horizontal flip
        M[0] *= -1
        M[0, 2] += S
    out = cv2.warpAffine(img, M, (S, S), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    out = out.astype(np.float32) / 255
    if out.ndim == 2:  # grayscale texture: tint it
        out = _gradient_map(out, rng.random(3, dtype=np.float32) * 0.5, 0.5 + rng.random(3, dtype=np.float32) * 0.5)
    return out, (cx, cy)


def _muted(rng):
    """A random colour pulled towards its gray level (real surfaces are rarely fully saturated)."""
    c = rng.random(3, dtype=np.float32)
    return (c.mean() + (c - c.mean()) * rng.uniform(0.2, 0.8)).astype(np.float32)


def _procedural(rng, S):
    """Noise, stripes or gradient textures in random, moderately saturated colours (photo-like)."""
    c0, c1 = (_muted(rng) for _ in range(2))
    r = rng.random()
    if r < 0.5:
        g = sum(_noise(rng, S, c) * a for c, a in ((4, 0.5), (12, 0.3), (40, 0.2)))
    elif r < 0.8:
        yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
        th = rng.uniform(0, np.pi)
        freq = rng.uniform(0.02, 0.3)
        g = 0.5 + 0.5 * np.sin((xx * np.cos(th) + yy * np.sin(th)) * freq + 2 * _noise(rng, S, 5))
    else:
        yy, xx = np.mgrid[0:S, 0:S].astype(np.float32) / S
        th = rng.uniform(0, 2 * np.pi)
        g = (xx * np.cos(th) + yy * np.sin(th)) * 0.7 + 0.3 * _noise(rng, S, 6)
    return _gradient_map(g, c0, c1)


def _jitter(rng, img):
    """Per-channel gain, brightness and gamma jitter (real photos differ in exposure and white balance)."""
    gain = rng.uniform(0.8, 1.2, 3).astype(np.float32) * rng.uniform(0.7, 1.3)
    img = np.clip(_affine_color(img, gain, np.full(3, rng.uniform(-0.05, 0.05), np.float32)), 0, 1)
    return cv2.pow(img, float(rng.uniform(0.75, 1.33)))  # cv2.pow: ~4× faster than numpy's ** here


def _background(rng, S, bank):
    """Photo crop (75%) or procedural texture, jittered and sometimes blurred (depth of field)."""
    photo = None
    if bank and rng.random() < 0.75:
        photo = int(rng.integers(len(bank)))
        bg, _ = _photo_crop(rng, bank[photo], S, rng.uniform(1.0, 2.5))
    else:
        bg = _procedural(rng, S)
    if rng.random() < 0.3:
        bg = cv2.GaussianBlur(bg, (0, 0), rng.uniform(1, 4) * S / 320)
    return _jitter(rng, bg), photo


def _fg_texture(rng, S, bank, bg_photo):
    """Foreground surface: a crop of a *different* photo (zoomed in: surfaces are smoother than scenes)
    or a procedural texture, with smooth shading so bodies read as 3-D objects."""
    others = [i for i in range(len(bank)) if i != bg_photo]
    if others and rng.random() < 0.75:
        tex, _ = _photo_crop(rng, bank[others[int(rng.integers(len(others)))]], S, rng.uniform(1.5, 4.0))
    else:
        tex = _procedural(rng, S)
    shade = 0.65 + 0.6 * _noise(rng, S, 3)
    return _jitter(rng, np.clip(tex * _rgb(shade), 0, 1))


# ----------------------------------------------------------------------------------------------
# Geometry helpers
# ----------------------------------------------------------------------------------------------
def _down(canvas):
    """Area-downsample an SS× supersampled uint8 canvas to float alpha in [0, 1]."""
    h, w = canvas.shape[:2]
    return cv2.resize(canvas, (w // SS, h // SS), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


def _fix(pts):
    """Float pixel coordinates -> int32 canvas coordinates with 2 fractional bits (cv2 ``shift=2``)."""
    return np.round(np.asarray(pts) * SS * 4).astype(np.int32)


def _blob(rng, cx, cy, r, n=160, rough=0.25):
    """A closed smooth random outline: radius r·(1 + Fourier series with decaying amplitudes)."""
    th = np.linspace(0, 2 * np.pi, n, endpoint=False)
    rad = np.ones(n)
    for k in range(1, 7):
        rad += rough * rng.normal() / k ** 1.3 * np.cos(k * th + rng.uniform(0, 2 * np.pi))
    rad = r * np.clip(rad, 0.35, None)
    ar = rng.uniform(0.7, 1.3)  # aspect ratio
    return np.stack([cx + rad * np.cos(th) * ar, cy + rad * np.sin(th) / ar], 1)


def _ellipse(cx, cy, rx, ry, n=120):
    th = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(th), cy + ry * np.sin(th)], 1)


def _body_outlines(rng, S):
    """Outlines (list of N×2 polygons, unioned when filled) of a blob, a person-like head and shoulders,
    or a rigid polygon. Bodies often run off the frame, as in real crops."""
    r = rng.random()
    if r < 0.4:
        return [_blob(rng, S * rng.uniform(0.3, 0.7), S * rng.uniform(0.35, 0.75), S * rng.uniform(0.18, 0.35))]
    if r < 0.75:  # head + neck + shoulders running off the bottom edge
        cx, hy, hr = S * rng.uniform(0.35, 0.65), S * rng.uniform(0.3, 0.5), S * rng.uniform(0.12, 0.2)
        head = _ellipse(cx, hy, hr * rng.uniform(0.8, 0.95), hr * rng.uniform(1.0, 1.2))
        sw, sy = hr * rng.uniform(2.0, 3.2), hy + hr * rng.uniform(1.3, 1.8)
        torso = np.array([[cx - hr * 0.4, hy], [cx + hr * 0.4, hy], [cx + hr * 0.45, sy - hr * 0.3],
                          [cx + sw, sy + hr * 0.3], [cx + sw * 1.1, S * 1.2], [cx - sw * 1.1, S * 1.2],
                          [cx - sw, sy + hr * 0.3], [cx - hr * 0.45, sy - hr * 0.3]])
        return [head, torso]
    n = int(rng.integers(3, 8))  # rigid object: a random star-shaped polygon with straight edges
    th = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = S * rng.uniform(0.15, 0.4) * rng.uniform(0.6, 1.0, n)
    c = S * rng.uniform(0.3, 0.7, 2)
    return [np.stack([c[0] + rad * np.cos(th), c[1] + rad * np.sin(th)], 1)]


def _fill(S, polys, value=255, canvas=None):
    """Fill polygons anti-aliased on an SS× canvas."""
    if canvas is None:
        canvas = np.zeros((S * SS, S * SS), np.uint8)
    for p in polys:  # one call per polygon: a single call would fill overlaps even-odd (holes)
        cv2.fillPoly(canvas, [_fix(p)], value, cv2.LINE_AA, shift=2)
    return canvas


def _resample(poly, n=160):
    """n points evenly spaced along a closed polygon (a rigid polygon has only 3-7 vertices; hair and
    fur roots must cover its edges, not just its corners)."""
    closed = np.vstack([poly, poly[:1]])
    cum = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(closed, axis=0), axis=1))])
    u = np.linspace(0, cum[-1], n, endpoint=False)
    return np.stack([np.interp(u, cum, closed[:, 0]), np.interp(u, cum, closed[:, 1])], 1)


def _outward_normals(poly):
    """Unit normals of a closed polygon, pointing away from its centroid."""
    tang = np.roll(poly, -1, 0) - np.roll(poly, 1, 0)
    nrm = np.stack([tang[:, 1], -tang[:, 0]], 1)
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True) + 1e-9
    flip = np.sum(nrm * (poly - poly.mean(0)), 1) < 0
    nrm[flip] *= -1
    return nrm


def _strand_paths(rng, roots, theta0, length, P, curl, wave, gravity):
    """M strands as M×P×2 points: random walks sharing the lock's bend and wave, each with its own
    small angular noise; ``gravity`` pulls the direction towards +y along the strand (hanging hair)."""
    M = len(roots)
    t = np.linspace(0, 1, P)
    ang = (theta0[:, None] + rng.normal(0, 0.6) * curl * t
           + wave * np.sin(2 * np.pi * rng.uniform(0.5, 2.5) * t + rng.uniform(0, 2 * np.pi))
           + np.cumsum(rng.normal(0, 0.12 * curl, (M, P)), 1))
    d = np.stack([np.cos(ang), np.sin(ang)], 2) * (1 - gravity * t)[None, :, None]
    d[..., 1] += gravity * t
    d /= np.linalg.norm(d, axis=2, keepdims=True) + 1e-9
    step = (length / (P - 1))[:, None, None]
    pts = roots[:, None, :] + np.cumsum(d * step, 1) - d[:, :1] * step
    return pts


class _StrandCanvas:
    """Supersampled strand alpha, one SS× canvas per line width. cv2 draws 1-px anti-aliased lines
    5-10× faster than thick ones, so every strand is drawn 1 canvas-px wide (0.25 px at SS = 4) and a
    width class is made by dilating its whole canvas with a disk of radius r (width (1 + 2r) / SS px).
    ``alpha()`` takes the union (max) of the classes and area-downsamples."""

    def __init__(self, S, base=None):
        self.S, self.layers = S, {}
        if base is not None:
            self.layers[0] = base

    def canvas(self, width):
        r = min(3, max(0, round((width * SS - 1) / 2)))  # each class costs a full-canvas dilation
        if r not in self.layers:
            self.layers[r] = np.zeros((self.S * SS, self.S * SS), np.uint8)
        return self.layers[r]

    def alpha(self):
        out = None
        for r, c in self.layers.items():
            if r:
                c = cv2.dilate(c, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
            out = c if out is None else np.maximum(out, c)
        if out is None:
            out = np.zeros((self.S * SS, self.S * SS), np.uint8)
        return _down(out)


def _draw_strands(rng, canvas, color_c, pts, width, colors):
    """Draw M strands (M×P×2 points) in a few batched cv2.polylines calls: strands fall into 3 width
    groups (each with its own shade), and every strand into 3 chunks whose width tapers towards the tip.
    Alpha goes on the supersampled ``canvas`` (a ``_StrandCanvas``); colour only needs to be roughly
    right under the strand, so it goes on the 1× canvas ``color_c``. Strand alpha is always opaque:
    thin strands get fractional alpha from sub-pixel coverage, as real hair does."""
    M, P = pts.shape[:2]
    fixed = _fix(pts)
    fixed1 = np.round(pts * 4).astype(np.int32)
    group = rng.integers(0, 3, M)
    cols = np.clip(np.asarray(colors, np.float64).reshape(3, -1) * 255, 0, 255).tolist()
    cuts = [(0, P // 2 + 1), (P // 2, 3 * P // 4 + 1), (3 * P // 4, P)]
    for g in range(3):
        sel = np.flatnonzero(group == g)
        if not len(sel):
            continue
        w = width * (0.6, 1.0, 1.5)[g]
        col = tuple(cols[g])
        for k, (a, b) in enumerate(cuts):
            cv2.polylines(canvas.canvas(w * (1.0, 0.7, 0.45)[k]), [fixed[i, a:b] for i in sel], False, 255, 1,
                          cv2.LINE_AA, shift=2)
        cv2.polylines(color_c, [fixed1[i] for i in sel], False, col, 1, cv2.LINE_AA, shift=2)


def _hair_colors(rng, base):
    """Three shades of one lock (darker, base, lighter highlight) with a small per-lock hue shift."""
    b = base * rng.uniform(0.75, 1.25) + rng.normal(0, 0.03, 3)
    return [b * 0.7, b, b * 1.25 + 0.05]  # clipped by _draw_strands


def _hair_base(rng, bg=None, at=None):
    """A palette colour, or (camouflage) the background colour at the roots with a small shift."""
    if bg is not None:
        y, x = np.clip(np.asarray(at, int), 0, bg.shape[0] - 1)[::-1]
        return np.clip(bg[y, x] + rng.normal(0, 0.05, 3), 0, 1).astype(np.float32)
    i = int(rng.integers(_NATURAL_HAIR)) if rng.random() < 0.85 else int(rng.integers(len(HAIR_PALETTE)))
    return HAIR_PALETTE[i]


# ----------------------------------------------------------------------------------------------
# Foreground kinds. Each returns a list of layers (alpha S×S float, colour S×S×3 float), back to front.
# ``body`` is None or a dict with the body's outline polygons; ``camo_bg`` is the background when the
# sample uses camouflage colours, else None.
# ----------------------------------------------------------------------------------------------
def kind_solid(rng, S, body, tex, camo_bg=None):
    """The body with hard anti-aliased edges (the most common boundary in real photos)."""
    return [(_down(_fill(S, body["polys"])), tex)]


def _loguniform(rng, lo, hi):
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _hair_locks(rng, canvas, color_c, roots, normals, base, n_locks, n_strands, length, width, curl,
                gravity, spread, depth):
    """Draw ``n_locks`` locks. A lock is a bundle of strands whose roots are spread along the boundary
    and sunk up to ``depth`` inside the body (so hair covers the top of the head), sharing a direction,
    bend and wave; each strand adds its own small angular noise, length and shade."""
    for _ in range(n_locks):
        j = int(rng.integers(len(roots)))
        m = int(rng.integers(*n_strands))
        tang = np.array([-normals[j, 1], normals[j, 0]])
        r = roots[j] + tang * rng.normal(0, spread, m)[:, None] - normals[j] * rng.uniform(0, depth, m)[:, None]
        th0 = np.arctan2(normals[j, 1], normals[j, 0]) + rng.normal(0, 0.4) + rng.normal(0, 0.12, m)
        ln = length * rng.uniform(0.6, 1.2) * rng.uniform(0.5, 1.0, m)
        c = curl * rng.uniform(0.6, 1.4)
        pts = _strand_paths(rng, r, th0, ln, 16, c, rng.uniform(0, 0.4) * c, gravity * rng.uniform(0.7, 1.2))
        _draw_strands(rng, canvas, color_c, pts, width * rng.uniform(0.7, 1.4), _hair_colors(rng, base))


def kind_hair(rng, S, body, tex, camo_bg=None):
    """A head of hair: locks of long thin strands rooted in the upper part of the body (or a loose tuft
    from a point when there is no body), plus a few stray flyaway strands. Per sample a hair style:
    sleek (low curl, strong gravity: long straight hair) to wild (high curl, no gravity: troll hair)."""
    if body is None:
        p = S * rng.uniform(0.3, 0.7, 2)
        poly = _ellipse(p[0], p[1], S * 0.05, S * 0.05, 40)
    else:
        poly = _resample(body["polys"][0])
    nrm = _outward_normals(poly)
    top = poly[:, 1] <= np.percentile(poly[:, 1], rng.uniform(40, 90))  # roots on the upper part
    roots, normals = poly[top], nrm[top]
    scale = S / 320
    base = _hair_base(rng, camo_bg, roots[len(roots) // 2])
    canvas = _StrandCanvas(S)
    color_c = np.empty((S, S, 3), np.uint8)
    color_c[:] = np.clip(base * 255, 0, 255).astype(np.uint8)
    curl = _loguniform(rng, 0.15, 2.5)
    gravity = rng.uniform(0.0, 0.9)
    # Most real strands are sub-pixel wide, so their alpha is fractional; a few locks are thicker.
    width = _loguniform(rng, 0.25, 1.3) * scale
    _hair_locks(rng, canvas, color_c, roots, normals, base, int(rng.integers(8, 24)), (15, 50),
                S * rng.uniform(0.12, 0.5), width, curl, gravity, S * 0.03, S * 0.1)
    # Flyaways: few, long, very thin, curly strands - the hardest structures in real hair photos.
    _hair_locks(rng, canvas, color_c, roots, normals, base, int(rng.integers(1, 4)), (1, 6),
                S * rng.uniform(0.2, 0.6), 0.3 * scale, curl * 2 + 0.5, gravity * 0.5, S * 0.05, 0.0)
    return [(canvas.alpha(), color_c.astype(np.float32) / 255)]


def kind_fur(rng, S, body, tex, camo_bg=None):
    """Dense short strands around the whole boundary, coloured like the body (plush toy, animal)."""
    poly = _resample(body["polys"][0]) if body is not None else _blob(rng, S * rng.uniform(0.35, 0.65),
                                                            S * rng.uniform(0.35, 0.65), S * rng.uniform(0.15, 0.3))
    nrm = _outward_normals(poly)
    # Without a body the fur grows from a filled blob of its own (a pompom, a plush ball).
    canvas = _StrandCanvas(S, None if body is not None else _fill(S, [poly]))
    # Fur is the body's own material: its colour is the body texture times a per-strand shade
    # (drawn on a 1× gray canvas, 128 = unchanged).
    shade_c = np.full((S, S), 128, np.uint8)
    m = int(rng.integers(300, 1200))
    idx = rng.integers(0, len(poly), m)
    u = rng.random(m)[:, None]  # interpolate between neighbouring outline vertices for continuous roots
    roots = poly[idx] * (1 - u) + np.roll(poly, -1, 0)[idx] * u - nrm[idx] * rng.uniform(0, 0.02 * S, (m, 1))
    th0 = np.arctan2(nrm[idx, 1], nrm[idx, 0]) + rng.normal(0, rng.uniform(0.2, 0.7), m)
    ln = S * rng.uniform(0.02, 0.08) * rng.uniform(0.4, 1.0, m)
    pts = _strand_paths(rng, roots, th0, ln, 8, rng.uniform(0.5, 2.0), 0.2, rng.uniform(0, 0.3))
    _draw_strands(rng, canvas, shade_c, pts, rng.uniform(0.4, 1.5) * S / 320, [0.36, 0.5, 0.64])
    color = np.clip(tex * _rgb(shade_c.astype(np.float32) / 128), 0, 1)
    return [(canvas.alpha(), color)]


def kind_transparent(rng, S, body, tex, camo_bg=None):
    """Smoke (textured, no hard edge), glass (faint interior, opaque rim, highlights) or a veil."""
    r = rng.random()
    c = S * rng.uniform(0.3, 0.7, 2)
    if r < 0.35:  # smoke: soft blob modulated by multi-octave noise
        region = cv2.GaussianBlur(_down(_fill(S, [_blob(rng, c[0], c[1], S * rng.uniform(0.2, 0.4), rough=0.4)])),
                                  (0, 0), S * 0.05)
        density = (0.5 * _noise(rng, S, 5) + 0.3 * _noise(rng, S, 13) + 0.2 * _noise(rng, S, 31)) ** 1.5
        alpha = np.clip(region * density * rng.uniform(0.6, 1.6), 0, 0.85)
        tint = np.clip(rng.uniform(0.6, 1.0) + rng.normal(0, 0.05, 3), 0, 1)
        color = _affine_color(0.85 + 0.15 * _noise(rng, S, 8), tint, np.zeros(3))
        return [(alpha, color)]
    shape = _down(_fill(S, [_blob(rng, c[0], c[1], S * rng.uniform(0.18, 0.35), rough=0.15)]))
    if r < 0.7:  # glass: interior alpha low, rises to opaque at the rim, plus specular streaks
        d = cv2.distanceTransform((shape > 0.5).astype(np.uint8), cv2.DIST_L2, 3) / S
        rim = np.exp(-d / rng.uniform(0.005, 0.02))
        hi = _noise(rng, S, 6) > rng.uniform(0.75, 0.9)
        base = rng.uniform(0.1, 0.4)
        alpha = shape * np.clip(base + (0.9 - base) * rim + 0.6 * cv2.GaussianBlur(hi.astype(np.float32), (0, 0), 2), 0, 1)
        tint = np.clip(rng.uniform(0.5, 1.0, 3), 0, 1).astype(np.float32)
        color = np.clip(_affine_color(0.8 + 0.4 * _noise(rng, S, 4), tint, np.zeros(3)) + _rgb(hi * 0.3), 0, 1)
        return [(alpha.astype(np.float32), color.astype(np.float32))]
    # veil: woven fabric (fine stripes) with folds; alpha 0.2-0.75
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    th = rng.uniform(0, np.pi)
    u = xx * np.cos(th) + yy * np.sin(th)
    v = -xx * np.sin(th) + yy * np.cos(th)
    folds = 0.5 + 0.5 * np.sin(u * rng.uniform(0.02, 0.08) + 3 * _noise(rng, S, 4))
    weave = 0.5 + 0.25 * (np.sin(u * rng.uniform(0.8, 2.0)) + np.sin(v * rng.uniform(0.8, 2.0)))
    level = rng.uniform(0.2, 0.6)
    alpha = shape * np.clip(level * (0.6 + 0.6 * folds) * (0.8 + 0.3 * weave), 0, 0.9)
    return [(alpha.astype(np.float32), _jitter(rng, _procedural(rng, S)))]


def kind_net(rng, S, body, tex, camo_bg=None):
    """A mesh (two wavy families of thin lines inside a region) or lace (a body with many small holes)."""
    c = S * rng.uniform(0.3, 0.7, 2)
    region = _blob(rng, c[0], c[1], S * rng.uniform(0.25, 0.45), rough=0.2)
    color = _procedural(rng, S) if rng.random() < 0.5 else tex
    if rng.random() < 0.6:  # mesh
        canvas = _StrandCanvas(S)
        lines_c = canvas.canvas(rng.uniform(0.3, 2.5) * S / 320)  # 1-px lines, widened by dilation
        step = S * rng.uniform(0.015, 0.05)
        a0 = rng.uniform(0, np.pi)
        for ang in (a0, a0 + rng.uniform(np.pi / 3, np.pi / 2)):
            d, n = np.array([np.cos(ang), np.sin(ang)]), np.array([-np.sin(ang), np.cos(ang)])
            offs = np.arange(-S, S, step)
            lines = [_fix(np.stack([S / 2 + n * o - d * S, S / 2 + n * o + d * S])) for o in offs]
            cv2.polylines(lines_c, lines, False, 255, 1, cv2.LINE_AA, shift=2)
        mask = _down(_fill(S, [region]))
        mesh = canvas.alpha()
        # Wavy distortion (a hanging net is never straight): smooth random displacement field.
        amp = S * rng.uniform(0.0, 0.03)
        yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
        mesh = cv2.remap(mesh, xx + amp * (_noise(rng, S, 4) - 0.5) * 2, yy + amp * (_noise(rng, S, 4) - 0.5) * 2,
                         cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        return [(np.clip(mesh * mask, 0, 1), color)]
    canvas = _fill(S, [region])  # lace: punch holes of 0.5-6 px radius
    k = int(rng.integers(40, 300))
    pts = region.mean(0) + rng.normal(0, 1, (k, 2)) * region.std(0)
    rad = rng.uniform(0.5, 6, k) * S / 320
    for (x, y), r in zip(_fix(pts), np.round(rad * SS * 4).astype(int)):
        cv2.circle(canvas, (int(x), int(y)), int(r), 0, -1, cv2.LINE_AA, shift=2)
    return [(_down(canvas), color)]


def kind_soft(rng, S, alpha, color):
    """Defocus or motion blur of the whole foreground (blur premultiplied colour, then un-premultiply)."""
    if rng.random() < 0.5:
        f = lambda x: cv2.GaussianBlur(x, (0, 0), rng_sigma)  # noqa: E731
        rng_sigma = rng.uniform(1.0, 6.0) * S / 320
    else:
        n = max(3, int(rng.uniform(5, 25) * S / 320) | 1)
        k = np.zeros((n, n), np.float32)
        k[n // 2] = 1
        k = cv2.warpAffine(k, cv2.getRotationMatrix2D((n / 2 - 0.5, n / 2 - 0.5), rng.uniform(0, 180), 1), (n, n))
        k /= k.sum()
        f = lambda x: cv2.filter2D(x, -1, k, borderType=cv2.BORDER_REFLECT_101)  # noqa: E731
    a = np.clip(f(alpha), 0, 1)
    pre = f(color * _rgb(alpha))
    col = np.where(_rgb(a) > 1e-3, pre / _rgb(np.maximum(a, 1e-3)), color)
    return a, np.clip(col, 0, 1)


_KIND_FUNCS = {"solid": kind_solid, "hair": kind_hair, "fur": kind_fur,
               "transparent": kind_transparent, "net": kind_net}


# ----------------------------------------------------------------------------------------------
# Sample assembly
# ----------------------------------------------------------------------------------------------
def _over(layers, S, fill):
    """Composite (alpha, colour) layers back to front with the "over" operator. Where nothing covers
    a pixel the foreground colour is ``fill`` (the body texture), so fg is defined everywhere."""
    A = np.zeros((S, S), np.float32)
    F = fill.astype(np.float32).copy()
    for a, c in layers:
        newA = a + A * (1 - a)
        w = a / np.maximum(newA, 1e-6)  # share of the new layer in the pixel's colour (0 where a = 0)
        F += _rgb(w) * (c - F)
        A = newA
    return A, F


def _rng(split: str, index: int) -> np.random.Generator:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    return np.random.default_rng(np.random.SeedSequence([_SALT, SPLITS[split], int(index)]))


def _choose_kinds(rng):
    """About 85% of samples: a solid body plus 0-2 structure kinds; else one kind on its own."""
    if rng.random() < 0.85:
        kinds = ["solid"]
        extras = ["hair", "fur", "soft", "transparent", "net", None]
        p = [0.38, 0.18, 0.12, 0.12, 0.08, 0.12]
        for _ in range(1 + (rng.random() < 0.25)):
            k = extras[int(rng.choice(len(extras), p=p))]
            if k is not None and k not in kinds:
                kinds.append(k)
        return kinds
    return [["hair", "transparent", "net", "fur"][int(rng.integers(4))]] + (["soft"] if rng.random() < 0.2 else [])


def trimap_from_alpha(alpha: np.ndarray, t: float) -> np.ndarray:
    """IndexNet trimap: 128 within Euclidean distance ``t`` of any fractional-alpha pixel,
    255 elsewhere where α = 255, 0 elsewhere (`indexnet.data.trimap_with_band`)."""
    from .data import trimap_with_band
    return trimap_with_band(alpha, t)


def make_sample(index: int, split: str = "train", size: int = 320) -> dict:
    """One deterministic sample: ``image`` (composite), ``fg``, ``bg`` (H×W×3 uint8 RGB), ``alpha`` and
    ``trimap`` (H×W uint8; trimap in {0, 128, 255}), plus ``kinds`` (e.g. "solid+hair+camo") and ``name``
    ("<split>_<index>", as the evaluation runner labels rows)."""
    S = int(size)
    rng = _rng(split, index)
    bank = photo_bank(split)
    bg, bg_photo = _background(rng, S, bank)
    kinds = _choose_kinds(rng)
    camo = rng.random() < 0.12
    if camo:  # foreground made of the background's own colours, shifted slightly
        shifted = np.roll(bg, tuple(rng.integers(-S // 8, S // 8, 2)), (0, 1))
        tex = np.clip(_affine_color(shifted, np.ones(3), rng.normal(0, 0.04, 3)), 0, 1)
    else:
        tex = _fg_texture(rng, S, bank, bg_photo)
    body = {"polys": _body_outlines(rng, S)} if "solid" in kinds else None
    layers = []
    for k in kinds:
        if k in _KIND_FUNCS:
            layers += _KIND_FUNCS[k](rng, S, body, tex, bg if camo else None)
    alpha, fg = _over(layers, S, tex)
    if "soft" in kinds:
        alpha, fg = kind_soft(rng, S, alpha, fg)

    alpha8 = np.clip(np.round(alpha * 255), 0, 255).astype(np.uint8)
    fg8 = np.clip(np.round(fg * 255), 0, 255).astype(np.uint8)
    bg8 = np.clip(np.round(bg * 255), 0, 255).astype(np.uint8)
    a = _rgb(alpha8.astype(np.float32) / 255)
    image = (a * fg8 + (1 - a) * bg8).astype(np.uint8)  # truncation, as Composition-1k
    t = max(1, int(round(int(rng.integers(1, 20)) * S / 320)))
    return {"image": image, "alpha": alpha8, "fg": fg8, "bg": bg8, "trimap": trimap_from_alpha(alpha8, t),
            "kinds": "+".join(kinds + (["camo"] if camo else [])), "name": f"{split}_{index:05d}"}


class SyntheticMatting(torch.utils.data.Dataset):
    """Map-style dataset of ``make_sample(i, split, size)``. Default lengths: ``SPLIT_LENGTHS``
    (train 100,000 virtual samples, val 64, test 100). Items are the numpy dicts of ``make_sample``;
    the default collate turns them into tensors (and ``kinds`` into a list of strings)."""

    def __init__(self, split: str, size: int = 320, length: int | None = None):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
        self.split, self.size = split, int(size)
        self.length = SPLIT_LENGTHS[split] if length is None else int(length)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < self.length:
            raise IndexError(i)
        return make_sample(i, self.split, self.size)


def save_split(split: str, out_dir: str, n: int | None = None, size: int = 320) -> str:
    """Write samples 0..n-1 of a split as a folder dataset: ``image/ alpha/ trimap/ fg/ bg/`` with PNGs
    named ``00000.png``… (the layout the evaluation runner reads). Returns ``out_dir``."""
    from tqdm import tqdm

    from .images import write_png

    n = SPLIT_LENGTHS[split] if n is None else int(n)
    keys = ("image", "alpha", "trimap", "fg", "bg")
    for k in keys:
        os.makedirs(os.path.join(out_dir, k), exist_ok=True)
    for i in tqdm(range(n), desc=f"synthetic {split}", unit="img"):
        s = make_sample(i, split, size)
        for k in keys:
            write_png(os.path.join(out_dir, k, f"{i:05d}.png"), s[k])
    return out_dir
