"""Trimaps: reading and checking them, fitting them to an image, and making them from what a user can give.

A trimap is an H x W uint8 array of exactly {0, 128, 255}: background, unknown, foreground.

- `normalize_trimap` / `read_trimap`: any array or file -> a trimap (snapped, colour photos refused).
- `fit_trimap`, `check_trimap`: the image's size; something to matte.
- `trimap_from_painting`: white / black / grey strokes -> trimap.
- `trimap_from_mask`: a hard subject mask -> trimap with an unknown band along its outline, by the band
  rule of training (`indexnet.data.trimap_with_band`), so user trimaps look like the ones the network saw.
- `grabcut_mask`, `trimap_from_selection`: a loop or box around the subject (plus optional strokes) ->
  mask by GrabCut (Rother et al., "GrabCut", SIGGRAPH 2004) -> trimap.
"""
from __future__ import annotations

import os

import cv2
import numpy as np

from .data import UNKNOWN, trimap_with_band
from .images import fit_within, read_array, to_uint8

# Trimap values other than 0 / 128 / 255 (anti-aliased strokes, resized or JPEG-compressed trimaps)
# are snapped: <= BG_MAX is background, >= FG_MIN is foreground, everything between is unknown.
# Erring towards "unknown" lets the network decide instead of forcing a wrong hard label.
TRIMAP_BG_MAX = 16
TRIMAP_FG_MIN = 239
PAINTED_ALPHA_MIN = 64  # stroke pixels with less opacity count as unpainted (the anti-aliased fringe)
GRABCUT_SIDE = 640  # GrabCut is slow: it runs at most this large, and its mask is upscaled smoothly
NOT_A_TRIMAP = ("is a colour image. A trimap is grayscale: white = foreground, black = background, grey = "
                "unknown. Was the photo given as the trimap?")


def normalize_trimap(trimap, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Any trimap -> H x W uint8 with values exactly {0, 128, 255}.

    Accepts H x W arrays (or H x W x C with equal channels, e.g. an RGB PNG): uint8 or any integer
    type holding 0..255, uint16 holding 16-bit values (0..65535, as a 16-bit PNG), or float in [0, 1].
    Values are snapped by the rule in `TRIMAP_BG_MAX` / `TRIMAP_FG_MIN`.
    """
    if isinstance(trimap, (str, bytes, os.PathLike)):
        raise ValueError(f"got the file name {trimap!r}, expected the trimap itself: read it with "
                         "indexnet.read_trimap first")
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
    elif trimap.min() < 0:
        raise ValueError(f"{trimap.dtype} trimap holds negative values (int8 cannot hold 128 or 255); pass uint8 "
                         "with 0 / 128 / 255")
    elif trimap.max() > 255:
        if trimap.dtype != np.uint16:
            raise ValueError(f"{trimap.dtype} trimap holds values up to {trimap.max()}; expected 0..255 "
                             "(0 / 128 / 255)")
        trimap = trimap // 257  # 16-bit levels (a 16-bit PNG); a uint16 array of 0 / 128 / 255 is taken as is
    out = np.full(trimap.shape, UNKNOWN, np.uint8)
    out[trimap <= TRIMAP_BG_MAX] = 0
    out[trimap >= TRIMAP_FG_MIN] = 255
    return out


def trimap_from_file_array(array: np.ndarray, name: str = "trimap", snap: bool = True) -> np.ndarray:
    """A decoded trimap file (any channels, 8 or 16 bit) -> trimap. A colour photo is refused; the small
    channel differences of a JPEG-compressed grey trimap are not. snap=False: the grey levels as stored,
    8-bit (what evaluation scores: only pixels exactly 128 count)."""
    if array.ndim == 3:
        rgb = (array[..., :3] if array.shape[2] >= 3 else array[..., :1]).astype(np.float32)
        floating = np.issubdtype(array.dtype, np.floating)
        levels = rgb * (255 if floating else 1 / 257 if array.dtype == np.uint16 else 1)  # on a 0..255 scale
        if ((levels.max(axis=2) - levels.min(axis=2)) > 32).mean() > 0.01:
            raise ValueError(f"The {name} {NOT_A_TRIMAP}")
        mean = rgb.mean(axis=2)
        array = mean if floating else mean.round().astype(array.dtype)
    if snap:
        return normalize_trimap(array)
    if array.dtype == np.uint16:
        return (array >> 8).astype(np.uint8)  # as OpenCV's 8-bit decoding
    if array.dtype != np.uint8:
        raise ValueError(f"the {name} holds {array.dtype} values; expected an 8- or 16-bit file")
    return array


def read_trimap(path: str | os.PathLike, max_pixels: int | None = None, snap: bool = True) -> np.ndarray:
    """Trimap file (grayscale, palette, 16-bit, or RGB with equal channels) -> upright H x W uint8 {0, 128, 255}.
    A colour photo is refused (a common slip: the photo given twice). snap=False keeps the grey levels as
    stored (8-bit): evaluation scores the trimap as the official code reads it."""
    name = f"trimap {path}"
    array = read_array(path, "trimap", max_pixels)
    try:
        return trimap_from_file_array(array, name, snap)
    except ValueError as err:
        if str(err).startswith("The trimap"):
            raise
        raise ValueError(f"the {name} cannot be used: {err}") from err


def fit_trimap(trimap: np.ndarray, shape: tuple[int, int], resize: bool = False) -> tuple[np.ndarray, list[str]]:
    """The trimap at the image's size (H, W): resized (nearest-neighbour) when allowed, else a ValueError that
    gives both sizes. Returns (trimap, notes about what was done)."""
    if trimap.shape == tuple(shape):
        return trimap, []
    (th, tw), (h, w) = trimap.shape, shape
    if not resize:
        raise ValueError(f"The trimap is {tw}×{th} pixels but the image is {w}×{h} (width × height); they must "
                         "be the same size.")
    notes = [f"trimap resized from {tw}×{th} to {w}×{h} (nearest-neighbour)"]
    if abs(np.log((tw / th) / (w / h))) > 0.02:
        notes.append("the trimap's aspect ratio differs from the image's, so it was stretched")
    return cv2.resize(trimap, (w, h), interpolation=cv2.INTER_NEAREST), notes


def check_trimap(trimap: np.ndarray) -> list[str]:
    """ValueError for a trimap with nothing to matte; warnings for one without foreground or background
    (the network then has no example of one side and the matte may be poor)."""
    if not (trimap == UNKNOWN).any():
        raise ValueError("The trimap has no unknown (grey) pixels, so there is nothing to matte. Mark the edges "
                         "of the subject grey.")
    warnings = []
    if not (trimap == 255).any():
        warnings.append("The trimap has no foreground (white) pixels: the network has no example of the "
                        "subject and the matte may be poor. Mark part of the subject white.")
    if not (trimap == 0).any():
        warnings.append("The trimap has no background (black) pixels: the network has no example of the "
                        "background and the matte may be poor. Mark part of the background black.")
    return warnings


def painted(layer: np.ndarray, alpha_min: int = PAINTED_ALPHA_MIN) -> np.ndarray:
    """H x W bool: the pixels a stroke layer (RGBA; without alpha, all of it) paints."""
    if layer.ndim == 3 and layer.shape[2] == 4:
        return layer[..., 3] >= alpha_min
    return np.ones(layer.shape[:2], bool)


def trimap_from_painting(layers: list[np.ndarray], shape: tuple[int, int], unpainted: str = "unknown",
                         painted_alpha_min: int = PAINTED_ALPHA_MIN) -> np.ndarray:
    """Strokes (white / black / grey, any opacity) -> trimap {0, 128, 255} at `shape`.

    layers: H x W x 4 RGBA (or H x W x 3, all painted) arrays at the image's size; later ones paint over
    earlier ones. Pixels with opacity below `painted_alpha_min` (anti-aliased stroke fringes) are unpainted,
    and unpainted pixels are "unknown" or "background". ValueError when nothing is painted.
    """
    if unpainted not in ("unknown", "background"):
        raise ValueError(f"unpainted must be 'unknown' or 'background', got {unpainted!r}")
    trimap = np.full(shape, UNKNOWN if unpainted == "unknown" else 0, np.uint8)
    painted_any = False
    for layer in layers:
        mask = painted(layer, painted_alpha_min)
        if not mask.any():
            continue
        painted_any = True
        lum = layer[..., :3].astype(np.float32).mean(axis=2) if layer.ndim == 3 else layer.astype(np.float32)
        label = np.where(lum < 64, 0, np.where(lum >= 192, 255, UNKNOWN)).astype(np.uint8)
        trimap[mask] = label[mask]
    if not painted_any:
        raise ValueError("Nothing is painted yet. Paint the subject white and its soft edges (hair, fur) grey; "
                         f"the rest counts as {unpainted}.")
    return trimap


def trimap_from_mask(mask: np.ndarray, band: float) -> np.ndarray:
    """A hard subject mask (H x W bool) -> trimap: unknown within `band` pixels (Euclidean) of its outline,
    foreground inside, background outside. The outline pixels play the part of the fractional alpha in
    `indexnet.data.trimap_with_band`, so the band follows the rule the network was trained with."""
    mask = np.asarray(mask).astype(bool)
    alpha = np.where(mask, 255, 0).astype(np.uint8)
    eroded = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)
    alpha[mask & (eroded == 0)] = UNKNOWN  # the subject's outermost pixels
    return trimap_with_band(alpha, band)


def grabcut_mask(image: np.ndarray, around: np.ndarray | None = None, subject: np.ndarray | None = None,
                 background: np.ndarray | None = None, iterations: int = 5,
                 max_side: int = GRABCUT_SIDE) -> np.ndarray:
    """GrabCut segmentation (OpenCV) -> H x W bool subject mask.

    around: a loop or box drawn around the subject (its bounding box is the GrabCut rectangle; everything
    outside is background); subject / background: strokes known to be subject / background (without
    `around`, the rectangle is the subject strokes' box plus a margin). All H x W bool. Specks under 2 % of
    the largest piece are dropped and small holes inside the subject filled. ValueError when the selection
    is missing, too small or gives no subject.
    """
    h, w = image.shape[:2]
    empty = np.zeros((h, w), bool)
    around, subject, background = (empty if m is None else np.asarray(m, bool) for m in (around, subject, background))
    if around.any():
        ys, xs = np.nonzero(around)
        box = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    elif subject.any():  # strokes on the subject only: look around them
        ys, xs = np.nonzero(subject)
        mx, my = max(16, int(0.15 * w)), max(16, int(0.15 * h))
        box = max(0, xs.min() - mx), max(0, ys.min() - my), min(w, xs.max() + 1 + mx), min(h, ys.max() + 1 + my)
    else:
        raise ValueError("No selection: draw a loop around the subject, or mark it with subject strokes.")
    x0, y0, x1, y1 = (int(v) for v in box)
    if x1 - x0 < 8 or y1 - y0 < 8:
        raise ValueError("The selection is too small: draw the loop around the whole subject.")

    sh, sw = fit_within((h, w), max_side)
    scale = sw / w
    small = cv2.resize(to_uint8(image), (sw, sh), interpolation=cv2.INTER_AREA)

    def down(m):  # thin strokes must survive the downscale: any coverage counts
        return cv2.resize(m.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA) > 0

    mask = np.full((sh, sw), cv2.GC_BGD, np.uint8)
    sx0, sy0 = int(x0 * scale), int(y0 * scale)
    sx1, sy1 = max(sx0 + 2, int(np.ceil(x1 * scale))), max(sy0 + 2, int(np.ceil(y1 * scale)))
    mask[sy0:sy1, sx0:sx1] = cv2.GC_PR_FGD
    if not (mask != cv2.GC_PR_FGD).any():  # the box is the whole image: GrabCut needs background samples
        b = max(1, int(0.03 * min(sw, sh)))
        mask[:b], mask[-b:], mask[:, :b], mask[:, -b:] = (cv2.GC_PR_BGD,) * 4
    mask[down(background)] = cv2.GC_BGD
    mask[down(subject)] = cv2.GC_FGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(small, mask, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error as err:
        raise ValueError("GrabCut could not separate the subject from this selection; draw the loop a little "
                         "wider, or add subject / background strokes.") from err
    fg = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)
    # Drop specks: keep connected pieces of at least 2% of the largest.
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if n > 2:
        areas = stats[1:, cv2.CC_STAT_AREA]
        fg = np.isin(labels, 1 + np.nonzero(areas >= 0.02 * areas.max())[0]).astype(np.uint8)
    # Fill small holes (specular highlights, eyes) that GrabCut leaves inside the subject.
    n, labels, stats, _ = cv2.connectedComponentsWithStats(1 - fg, connectivity=4)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    small_holes = [i for i in range(1, n) if i not in border and stats[i, cv2.CC_STAT_AREA] < 0.01 * fg.sum()]
    fg[np.isin(labels, small_holes)] = 1
    if not fg.any():
        raise ValueError("GrabCut found no subject inside the selection; mark part of the subject with strokes.")
    return cv2.resize(fg * 255, (w, h), interpolation=cv2.INTER_LINEAR) >= 128


def trimap_from_selection(image: np.ndarray, around: np.ndarray | None = None, subject: np.ndarray | None = None,
                          background: np.ndarray | None = None, band: float = 12) -> np.ndarray:
    """A rough selection (see `grabcut_mask`) -> trimap with `band` pixels of unknown on each side of the outline."""
    return trimap_from_mask(grabcut_mask(image, around, subject, background), band)
