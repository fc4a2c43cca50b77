"""From a matte to pictures: foreground colours, cut-outs and new backgrounds.

A matte alone does not make a clean cut-out: at fractional alpha the photo's colours still hold the old
background (I = αF + (1 − α)B), which shows as a halo on a new one. `estimate_foreground` recovers F
with pymatting's multilevel estimator (Germer et al., "Fast Multi-Level Foreground Estimation", ICPR
2020); `cutout` is the one call from photo (and trimap) to an RGBA cut-out, like pymatting's `cutout`.
`composite` is the one compositing rule of the project, DIM's (`indexnet.data.composite`, re-exported).
"""
from __future__ import annotations

import os

import cv2
import numpy as np

from .data import composite
from .images import DEFAULT_MAX_SIDE, fit_within, to_uint8

__all__ = ["estimate_foreground", "cutout_rgba", "cutout", "parse_colour", "background", "composite"]


def estimate_foreground(image: np.ndarray, alpha: np.ndarray, max_side: int | None = None) -> np.ndarray:
    """Foreground colours F (H x W x 3 float32 in [0, 1]) of an RGB image (uint8, or float in [0, 1]) under an
    alpha matte (H x W float in [0, 1]). Estimated at most `max_side` large (upscaled back); opaque pixels keep
    the photo's own colours."""
    from pymatting import estimate_foreground_ml

    h, w = alpha.shape
    img = image.astype(np.float64) / 255 if image.dtype == np.uint8 else image.astype(np.float64)
    sh, sw = fit_within((h, w), max_side)
    small_img = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA) if (sh, sw) != (h, w) else img
    small_alpha = alpha.astype(np.float64)
    if (sh, sw) != (h, w):
        small_alpha = cv2.resize(small_alpha, (sw, sh), interpolation=cv2.INTER_AREA)
    # pymatting divides by zero on a single pixel: give it two (edge copies) and keep the first.
    pad = ((0, 1 if sh * sw == 1 else 0), (0, 0))
    fg = estimate_foreground_ml(np.pad(small_img, pad + ((0, 0),), mode="edge"), np.pad(small_alpha, pad, mode="edge"))
    fg = fg[:sh, :sw]
    if (sh, sw) != (h, w):
        fg = cv2.resize(fg, (w, h), interpolation=cv2.INTER_LINEAR)
    opaque = alpha >= 1
    fg[opaque] = img[opaque]
    return np.clip(fg, 0, 1).astype(np.float32)


def cutout_rgba(foreground: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """H x W x 4 uint8 RGBA: foreground colours (uint8 or float in [0, 1]) with the matte as opacity."""
    return np.dstack([to_uint8(foreground), to_uint8(np.clip(alpha, 0, 1))])


def cutout(image, trimap=None, model=None, size_mode: str | None = None, max_side: int | None = DEFAULT_MAX_SIDE,
           scale: float | None = None, flip: bool = False, subject_model="u2netp") -> np.ndarray:
    """Photo (+ trimap) -> H x W x 4 uint8 RGBA cut-out: alpha = `predict`'s matte, colours from
    `estimate_foreground`. trimap: None = found automatically (`indexnet.subject.auto_trimap` with `subject_model`,
    a name or a rembg session). model: a loaded model, a path or registered name; None = the shipped weights.
    max_side: longest side the network and the colour estimation see (None: no bound); scale, flip: as
    `predict`'s."""
    from .checkpoint import DEFAULT_MODEL, load_model
    from .images import to_rgb_uint8_or_float
    from .inference import predict

    if model is None or isinstance(model, (str, os.PathLike)):
        model = load_model(DEFAULT_MODEL if model is None else model)
    image = to_rgb_uint8_or_float(image)
    if trimap is None:
        from .subject import auto_trimap
        trimap = auto_trimap(image, model=subject_model)
    alpha = predict(model, image, trimap, size_mode=size_mode, max_side=max_side, scale=scale, flip=flip)
    return cutout_rgba(estimate_foreground(image, alpha, max_side), alpha)


def parse_colour(value: str) -> np.ndarray:
    """'#rrggbb', '#rgb', 'rgb(r, g, b)' or 'rgba(r, g, b, a)' -> RGB uint8 (3,). ValueError for anything else."""
    text = str(value).strip().lower()
    try:
        if text.startswith("#") and len(text) in (4, 5, 7, 9):
            hexa = text[1:] if len(text) > 5 else "".join(c * 2 for c in text[1:])
            return np.array([int(hexa[i:i + 2], 16) for i in (0, 2, 4)], np.uint8)
        if text.startswith(("rgb(", "rgba(")) and text.endswith(")"):
            parts = [float(p) for p in text[text.index("(") + 1:-1].split(",")]
            if len(parts) == (4 if text.startswith("rgba") else 3) and all(np.isfinite(parts)):
                return np.clip(np.round(parts[:3]), 0, 255).astype(np.uint8)
    except ValueError:
        pass
    raise ValueError(f"{value!r} is not a colour: expected '#rrggbb', '#rgb', 'rgb(r, g, b)' or 'rgba(r, g, b, a)'")


def background(shape: tuple[int, int], colour: str | None = None, image: np.ndarray | None = None) -> np.ndarray:
    """H x W x 3 uint8 background: `image` (RGB) scaled to cover the frame and centre-cropped, else a plain
    `colour` (see `parse_colour`; default white)."""
    h, w = shape
    if image is None:
        return np.broadcast_to(parse_colour(colour or "#ffffff"), (h, w, 3)).copy()
    image = to_uint8(image)
    bh, bw = image.shape[:2]
    s = max(w / bw, h / bh)
    nw, nh = max(w, round(bw * s)), max(h, round(bh * s))
    image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    x0, y0 = (nw - w) // 2, (nh - h) // 2
    return np.ascontiguousarray(image[y0:y0 + h, x0:x0 + w])
