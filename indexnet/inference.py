"""From an image and a trimap to an alpha matte: preprocessing, size handling, known-region override.

`predict(model, image, trimap)` is the one entry point. The three test-time paths of the
reference implementations (SPEC §3) are `size_mode`s:

- ``"pad"``    (MMagic dimaug): reflect-pad bottom/right to a multiple of 32, run, crop. No resampling,
  so it is the natural choice for arbitrary images, and our default.
- ``"interp"`` (MMagic default): bicubic-resize to the multiple of 32 *below*, run, bicubic back.
- ``"resize"`` (the authors' demo): cubic-resize to the multiple of 32 *above*, run, cubic back.

Known regions are then copied from the trimap (1 where it is 255, 0 where it is 0).
"""
from __future__ import annotations

import math
import numbers
import re

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .inference_model import fast_model
from .images import DEFAULT_MAX_SIDE, MAX_PIXELS, fit_within, to_rgb_uint8_or_float
from .model import IMAGENET_MEAN, IMAGENET_STD
from .trimap import normalize_trimap

SIZE_MODES = ("pad", "interp", "resize")


def network_input(image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
    """H x W x 4 float32: ImageNet-normalised RGB and trimap / 255 (SPEC §1.1).

    Written as the authors' demo does it (x * float32(1/255), then mean/std in float64) so the
    result is bit-identical to their network input.
    """
    rgb = image.astype(np.float32) * np.float32(1 / 255) if image.dtype == np.uint8 else image.astype(np.float32)
    rgb = ((rgb - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)).astype(np.float32)
    tri = trimap.astype(np.float32) * np.float32(1 / 255)
    return np.concatenate([rgb, tri[..., None]], axis=2)


def _run(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """H x W x 4 float32 -> raw H x W network output.

    An eval-mode float32 CPU `IndexNetMatting` runs through its cached inference-optimised copy
    (`indexnet.inference_model.fast_model`: folded BN, channels-last, stripes; same outputs to ~1e-5, rebuilt
    whenever the weights change); anything else runs as given.
    """
    net = fast_model(model)
    ref = next(t for t in (*net.parameters(), *net.buffers()) if t.is_floating_point())
    try:
        tensor = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].to(ref.device, ref.dtype)
        with torch.inference_mode():
            return net(tensor)[0, 0].float().cpu().numpy()
    except (MemoryError, RuntimeError) as err:  # the allocator's own message is a page of C++ context
        if not isinstance(err, MemoryError) and not re.search(r"out of memory|not enough memory|allocate",
                                                               str(err)):
            raise
        h, w = x.shape[:2]
        raise MemoryError(f"not enough memory to run the network at {w}×{h} pixels: give a smaller max_side "
                          f"(--max-side; at the default, {DEFAULT_MAX_SIDE}, the CPU path needs under 2 GB)") from err


def _round_up(n: int, m: int = 32) -> int:
    return -(-n // m) * m


def predict(model: torch.nn.Module, image, trimap, size_mode: str | None = None,
            return_raw: bool = False, max_side: int | None = DEFAULT_MAX_SIDE, scale: float | None = None,
            flip: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Alpha matte (H x W float32 in [0, 1]) for an RGB image and a trimap of the same size.

    size_mode: "pad" (default), "interp" or "resize" (see module docstring); None uses the
    model's own (`model.size_mode`, set by `load_model`), else "pad".
    return_raw: also return the raw network output at the network's resolution.
    scale: the network sees the image resized by this factor (bicubic up, area down; the trimap
    nearest-neighbour) and its matte is resized back (bilinear). None uses the model's own
    (`model.test_scale`, stored with our trained weights; 1 for the official ones). Our shipped
    weights were measured best at 1.5 on real photos (checkpoints/README.md): fine structures a few
    pixels wide come out sharper when they are bigger than the network saw them in training.
    max_side: longest side the network sees (after `scale`; default 2048 px). A larger image is
    downscaled and its matte upscaled back: time and memory are bounded, the matte keeps the image's
    size. None: no bound (the CPU path needs ~0.4 GB per megapixel the network sees).
    flip: also run the horizontally mirrored image and average the two mattes (test-time
    augmentation; twice the time). The raw output returned is the unmirrored one.
    Known regions always come from the full-resolution trimap.
    """
    size_mode = size_mode or getattr(model, "size_mode", "pad")
    if size_mode not in SIZE_MODES:
        raise ValueError(f"size_mode must be one of {SIZE_MODES}, got {size_mode!r}")
    image = to_rgb_uint8_or_float(image)
    h, w = image.shape[:2]
    trimap = normalize_trimap(trimap, (h, w))
    sh, sw = network_size(model, (h, w), scale, max_side)
    if (sh, sw) != (h, w):
        interpolation = cv2.INTER_AREA if sh * sw < h * w else cv2.INTER_CUBIC
        resized = cv2.resize(image, (sw, sh), interpolation=interpolation)
        if resized.dtype != np.uint8:  # cubic overshoots on float images (uint8 saturates)
            resized = np.clip(resized, 0, 1)
        small, raw = predict(model, resized,
                             cv2.resize(trimap, (sw, sh), interpolation=cv2.INTER_NEAREST), size_mode,
                             return_raw=True, scale=1.0, flip=flip)
        alpha = np.clip(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), 0, 1).astype(np.float32)
    else:
        x = network_input(image, trimap)
        alpha, raw = _alpha_from_network(model, x, size_mode)
        alpha = np.clip(alpha, 0, 1).astype(np.float32)
        if flip:  # the mean of two valid mattes
            mirrored, _ = _alpha_from_network(model, np.ascontiguousarray(x[:, ::-1]), size_mode)
            alpha = 0.5 * (alpha + np.clip(mirrored[:, ::-1], 0, 1))
    alpha[trimap == 255] = 1
    alpha[trimap == 0] = 0
    return (alpha, raw) if return_raw else alpha


def network_size(model: torch.nn.Module, shape: tuple[int, int], scale: float | None = None,
                 max_side: int | None = None) -> tuple[int, int]:
    """(H, W) of the image `predict` hands the network (before padding to multiples of 32): the image
    resized by `scale` (None: `model.test_scale`, else 1), then fitted within `max_side`. Without a
    `max_side`, more than `MAX_PIXELS` (what an image file may hold) is refused."""
    scale = getattr(model, "test_scale", 1.0) if scale is None else scale
    if not (isinstance(scale, numbers.Real) and not isinstance(scale, bool) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number (1 = the image's own size), got {scale!r}")
    if max_side is not None and not (isinstance(max_side, numbers.Real) and not isinstance(max_side, bool)
                                     and max_side >= 1):
        raise ValueError(f"max_side must be a number of pixels, at least 1, or None (no bound); got {max_side!r}")
    h, w = shape[:2]
    pixels = h * float(scale) * w * float(scale)  # inf, not an error, for an absurd scale
    if not math.isfinite(pixels) or (max_side is None and pixels > MAX_PIXELS):
        raise ValueError(f"scale {scale:g} would hand the network {w * scale:.3g}×{h * scale:.3g} pixels for a "
                         f"{w}×{h} image; at most {MAX_PIXELS / 1e6:.0f} megapixels are possible: lower the scale or "
                         "bound the size with max_side")
    return fit_within((max(1, round(h * scale)), max(1, round(w * scale))), max_side)


def _alpha_from_network(model: torch.nn.Module, x: np.ndarray, size_mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(unclipped alpha at the input's H x W, raw network output) for one network input, by one of
    the three test-time size paths."""
    h, w = x.shape[:2]
    if size_mode == "pad":
        # Reflect-pad bottom/right only; np.pad repeats the reflection if the pad exceeds the size.
        x = np.pad(x, ((0, _round_up(h) - h), (0, _round_up(w) - w), (0, 0)), mode="reflect" if min(h, w) > 1
                   else "edge")
        raw = _run(model, x)
        return raw[:h, :w], raw
    if size_mode == "resize":
        # The authors' demo: OpenCV cubic for colour, nearest for the trimap, both ways.
        hh, ww = _round_up(h), _round_up(w)
        x = np.concatenate([cv2.resize(x[..., :3], (ww, hh), interpolation=cv2.INTER_CUBIC),
                            cv2.resize(x[..., 3], (ww, hh), interpolation=cv2.INTER_NEAREST)[..., None]], axis=2)
        raw = _run(model, x)
        return cv2.resize(raw, (w, h), interpolation=cv2.INTER_CUBIC), raw
    # MMagic "interp": torch bicubic to the multiple of 32 below (above, for sides under 32).
    hh, ww = (s - s % 32 if s >= 32 else 32 for s in (h, w))
    t = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]
    if (hh, ww) != (h, w):
        t = torch.cat([F.interpolate(t[:, :3], size=(hh, ww), mode="bicubic", align_corners=False),
                       F.interpolate(t[:, 3:], size=(hh, ww), mode="nearest")], dim=1)
    raw = _run(model, t[0].numpy().transpose(1, 2, 0))
    out = torch.from_numpy(raw)[None, None]
    if (hh, ww) != (h, w):
        out = F.interpolate(out, size=(h, w), mode="bicubic", align_corners=False)
    return out[0, 0].numpy(), raw


def alpha_to_uint8(alpha: np.ndarray) -> np.ndarray:
    """[0, 1] float -> uint8, rounding half to even (as MMagic; the authors' demo truncates)."""
    return np.round(np.clip(alpha, 0, 1) * 255).astype(np.uint8)
