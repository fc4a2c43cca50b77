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

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .inference_model import fast_model
from .images import fit_within, to_rgb_uint8_or_float
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
    tensor = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].to(ref.device, ref.dtype)
    with torch.inference_mode():
        return net(tensor)[0, 0].float().cpu().numpy()


def _round_up(n: int, m: int = 32) -> int:
    return -(-n // m) * m


def predict(model: torch.nn.Module, image, trimap, size_mode: str | None = None,
            return_raw: bool = False, max_side: int | None = None) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Alpha matte (H x W float32 in [0, 1]) for an RGB image and a trimap of the same size.

    size_mode: "pad" (default), "interp" or "resize" (see module docstring); None uses the
    model's own (`model.size_mode`, set by `load_model`), else "pad".
    return_raw: also return the raw network output at the network's resolution.
    max_side: longest side the network sees. A larger image is downscaled (area; the trimap
    nearest-neighbour), its matte upscaled back (bilinear), and the known regions are then taken from
    the full-resolution trimap: time and memory are bounded, the matte keeps the image's size.
    """
    size_mode = size_mode or getattr(model, "size_mode", "pad")
    if size_mode not in SIZE_MODES:
        raise ValueError(f"size_mode must be one of {SIZE_MODES}, got {size_mode!r}")
    image = to_rgb_uint8_or_float(image)
    h, w = image.shape[:2]
    trimap = normalize_trimap(trimap, (h, w))
    sh, sw = fit_within((h, w), max_side)
    if (sh, sw) != (h, w):
        small, raw = predict(model, cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA),
                             cv2.resize(trimap, (sw, sh), interpolation=cv2.INTER_NEAREST), size_mode, return_raw=True)
        alpha = np.clip(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), 0, 1).astype(np.float32)
        alpha[trimap == 255] = 1
        alpha[trimap == 0] = 0
        return (alpha, raw) if return_raw else alpha
    x = network_input(image, trimap)

    if size_mode == "pad":
        # Reflect-pad bottom/right only; np.pad repeats the reflection if the pad exceeds the size.
        x = np.pad(x, ((0, _round_up(h) - h), (0, _round_up(w) - w), (0, 0)), mode="reflect" if min(h, w) > 1
                   else "edge")
        raw = _run(model, x)
        alpha = raw[:h, :w]
    elif size_mode == "resize":
        # The authors' demo: OpenCV cubic for colour, nearest for the trimap, both ways.
        hh, ww = _round_up(h), _round_up(w)
        x = np.concatenate([cv2.resize(x[..., :3], (ww, hh), interpolation=cv2.INTER_CUBIC),
                            cv2.resize(x[..., 3], (ww, hh), interpolation=cv2.INTER_NEAREST)[..., None]], axis=2)
        raw = _run(model, x)
        alpha = cv2.resize(raw, (w, h), interpolation=cv2.INTER_CUBIC)
    else:
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
        alpha = out[0, 0].numpy()

    alpha = np.clip(alpha, 0, 1).astype(np.float32)
    alpha[trimap == 255] = 1
    alpha[trimap == 0] = 0
    return (alpha, raw) if return_raw else alpha


def alpha_to_uint8(alpha: np.ndarray) -> np.ndarray:
    """[0, 1] float -> uint8, rounding half to even (as MMagic; the authors' demo truncates)."""
    return np.round(np.clip(alpha, 0, 1) * 255).astype(np.uint8)
