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

import os
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .checkpoint import atomic_file
from .fast import fast_model
from .model import IMAGENET_MEAN, IMAGENET_STD

SIZE_MODES = ("pad", "interp", "resize")
# Trimap values other than 0 / 128 / 255 (anti-aliased strokes, resized or JPEG-compressed trimaps)
# are snapped: <= BG_MAX is background, >= FG_MIN is foreground, everything between is unknown.
# Erring towards "unknown" lets the network decide instead of forcing a wrong hard label.
TRIMAP_BG_MAX = 16
TRIMAP_FG_MIN = 239


def to_rgb_uint8_or_float(image) -> np.ndarray:
    """Any common image -> H x W x 3 RGB, uint8 or float32 in [0, 1].

    Accepts PIL images, H x W grayscale, H x W x 1/3/4 arrays (RGBA: the alpha channel is
    dropped), uint8, uint16 (16-bit PNG/TIFF: scaled by 1/65535, keeping the extra precision) and
    float arrays in [0, 1]. Raises ValueError for anything else.
    """
    if hasattr(image, "convert") and hasattr(image, "mode"):  # PIL.Image without importing PIL
        image = np.asarray(image.convert("RGB") if image.mode not in ("RGB", "L", "I;16") else image)
    image = np.asarray(image)
    if image.size == 0:
        raise ValueError(f"image is empty (shape {image.shape})")
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"image must be H x W, H x W x 1, H x W x 3 (RGB) or H x W x 4 (RGBA); got shape {image.shape}")
    if image.shape[2] == 4:
        image = image[..., :3]
    elif image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    if image.dtype == np.uint8:
        return np.ascontiguousarray(image)
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 65535.0
    if image.dtype == np.bool_:
        return image.astype(np.uint8) * 255
    if np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all():
            raise ValueError("image contains NaN or infinite values")
        lo, hi = float(image.min()), float(image.max())
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise ValueError(f"float images must hold values in [0, 1]; got range [{lo:.3g}, {hi:.3g}] "
                             "(pass uint8 for 0..255 data)")
        return np.clip(image, 0, 1).astype(np.float32)
    raise ValueError(f"unsupported image dtype {image.dtype}; expected uint8, uint16 or float in [0, 1]")


def normalize_trimap(trimap, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Any trimap -> H x W uint8 with values exactly {0, 128, 255}.

    Accepts H x W arrays (or H x W x C with equal channels, e.g. an RGB PNG), uint8 or float in
    [0, 1]. Values are snapped by the rule in `TRIMAP_BG_MAX` / `TRIMAP_FG_MIN`.
    """
    if hasattr(trimap, "convert") and hasattr(trimap, "mode"):
        trimap = np.asarray(trimap.convert("L"))
    trimap = np.asarray(trimap)
    if trimap.size == 0:
        raise ValueError(f"trimap is empty (shape {trimap.shape})")
    if trimap.ndim == 3:
        if not all((trimap[..., c] == trimap[..., 0]).all() for c in range(1, min(trimap.shape[2], 3))):
            raise ValueError(f"trimap has {trimap.shape[2]} channels that differ; expected a single-channel "
                             "(grayscale) trimap: white = foreground, black = background, grey = unknown")
        trimap = trimap[..., 0]
    if trimap.ndim != 2:
        raise ValueError(f"trimap must be H x W; got shape {trimap.shape}")
    if shape is not None and trimap.shape != tuple(shape):
        raise ValueError(f"trimap is {trimap.shape[0]}x{trimap.shape[1]} (HxW) but the image is "
                         f"{shape[0]}x{shape[1]}; they must be the same size")
    if np.issubdtype(trimap.dtype, np.floating):
        if not np.isfinite(trimap).all():
            raise ValueError("float trimap holds NaN or infinite values; expected values in [0, 1]")
        if trimap.min() < 0 or trimap.max() > 1:
            raise ValueError("float trimaps must hold values in [0, 1]; pass uint8 for 0..255 data")
        trimap = np.round(trimap * 255)
    elif trimap.dtype == np.bool_ or not np.issubdtype(trimap.dtype, np.integer):
        raise ValueError(f"unsupported trimap dtype {trimap.dtype}; expected uint8 (0/128/255) or float in [0, 1]")
    elif trimap.dtype == np.uint16:
        trimap = trimap // 257
    out = np.full(trimap.shape, 128, np.uint8)
    out[trimap <= TRIMAP_BG_MAX] = 0
    out[trimap >= TRIMAP_FG_MIN] = 255
    return out


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
    (`indexnet.fast.fast_model`: folded BN, channels-last, stripes; same outputs to ~1e-5, rebuilt
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
            return_raw: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Alpha matte (H x W float32 in [0, 1]) for an RGB image and a trimap of the same size.

    size_mode: "pad" (default), "interp" or "resize" (see module docstring); None uses the
    model's own (`model.size_mode`, set by `load_model`), else "pad".
    return_raw: also return the raw network output at the network's resolution.
    """
    size_mode = size_mode or getattr(model, "size_mode", "pad")
    if size_mode not in SIZE_MODES:
        raise ValueError(f"size_mode must be one of {SIZE_MODES}, got {size_mode!r}")
    image = to_rgb_uint8_or_float(image)
    h, w = image.shape[:2]
    trimap = normalize_trimap(trimap, (h, w))
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


# ----------------------------------------------------------------------------------- file I/O
_EXIF_TRANSPOSE = {  # EXIF orientation -> the numpy operation that shows the photo upright (as viewers do)
    2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
    5: lambda a: np.swapaxes(a, 0, 1), 6: lambda a: np.rot90(a, -1),
    7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1], 8: lambda a: np.rot90(a, 1),
}


def exif_orientation(path: str | os.PathLike) -> int:
    """The EXIF orientation tag of an image file (1 = upright, also when there is none or it is unreadable)."""
    import PIL.Image
    try:
        with PIL.Image.open(path) as im:
            return int(im.getexif().get(274, 1))
    except Exception:  # noqa: BLE001 -- not a format Pillow knows, or a damaged header: decoding decides
        return 1


def upright(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation to a decoded H x W (x C) array, so that it shows as a photo viewer shows it."""
    return np.ascontiguousarray(_EXIF_TRANSPOSE.get(orientation, lambda a: a)(array))


def _decode(path: str | os.PathLike, what: str, flags: int) -> np.ndarray:
    if not Path(path).is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    data = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), flags | cv2.IMREAD_IGNORE_ORIENTATION)
    if data is None:
        raise ValueError(f"{path} is not a readable image file")
    # Upright as viewers show it; image and trimap get the same rule, so a trimap drawn on the
    # upright photo lines up whichever of the two files carries the tag.
    return upright(data, exif_orientation(path))


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Image file -> upright RGB array (uint8, or float32 in [0, 1] for 16-bit files). Clear error if unreadable."""
    image = _decode(path, "image", cv2.IMREAD_UNCHANGED)
    if image.ndim == 3:  # OpenCV decodes to BGR(A)
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA if image.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return to_rgb_uint8_or_float(image)


def read_trimap(path: str | os.PathLike) -> np.ndarray:
    """Trimap file (grayscale, palette or RGB with equal channels) -> upright H x W uint8 {0, 128, 255}."""
    return normalize_trimap(_decode(path, "trimap", cv2.IMREAD_GRAYSCALE))


def write_png(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write an 8-bit PNG (gray, RGB or RGBA) atomically: temporary file, then rename."""
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGBA2BGRA if array.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", array)
    if not ok:
        raise ValueError(f"could not encode an array of shape {array.shape} as PNG")
    with atomic_file(path) as f:
        f.write(buf.tobytes())
