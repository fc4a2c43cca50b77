"""The four Composition-1k matting errors: SAD, MSE, Gradient and Connectivity.

Definitions: Rhemann et al., "A Perceptually Motivated Online Benchmark for Image Matting",
CVPR 2009. Reference code: the Deep Image Matting evaluation scripts (Xu et al., CVPR 2017) as
shipped in the IndexNet repository (`compute_sad_loss.m`, `compute_mse_loss.m`,
`compute_gradient_loss.m`, `compute_connectivity_error.m`, connectivity step 0.1). The exact
semantics, units and tolerances are pinned by `shared/golden/README_metrics.md`; every function
here matches the 38 golden cases within that tolerance (tests/test_metrics.py).

Conventions for all functions:

- ``pred`` and ``gt`` are H x W alpha mattes. ``uint8`` (and other integer) arrays are read as
  0..255. Floating-point arrays are alpha in [0, 1] and are turned into the 8-bit image the
  official pipeline reads from disk: ``round(clip(alpha, 0, 1) * 255)``, ties to even (as MMagic
  saves predictions; the authors' demo truncates instead). A float array with values outside
  [-0.5, 1.5] is rejected, because it is almost certainly 0..255-scaled.
- ``trimap`` is an H x W integer array (uint8 0/128/255). Only pixels whose value is exactly 128
  count; 127, 129, 64 ... are ignored like 0 and 255, as in the official code.
- ``sad``/``mse``/``gradient_error``/``connectivity_error`` return the *raw* numbers of the
  official functions: SAD already divided by 1000, GRAD and CONN not divided.
  ``compute_metrics`` returns the *reported* units used in results tables (GRAD and CONN / 1000).
- With no pixel to count, SAD, GRAD and CONN are 0 and MSE is NaN (0/0), as in the official code.

The per-pixel terms follow the official code; sums are accumulated in float64 (SAD's exactly, in
integers). The official single-precision sums differ from exact ones by < 3e-6 relative.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

# Connectivity levels t_k = k/10 in 8-bit terms: v/255 >= k/10  <=>  v >= ceil(25.5 k). The
# official single-precision test agrees; a float64 `v/255 >= k*0.1` wrongly rejects 153 at level
# 6 because 6*0.1 == 0.6000000000000001.
CONN_THRESHOLDS = (26, 51, 77, 102, 128, 153, 179, 204, 230, 255)
UNKNOWN = 128


def _gaussian_derivative_kernels(sigma: float = 1.4, epsilon: float = 1e-2) -> tuple[np.ndarray, np.ndarray]:
    """1-D factors of the official `gaussgradient.m` x-kernel (9 taps for sigma 1.4).

    The 2-D kernel is hx[i, j] = G(i) * dG(j) scaled to unit L2 norm, with dG(x) = -x G(x) / sigma^2.
    Its norm is ||G|| * ||dG||, so hx = outer(G / ||G||, dG / ||dG||): exactly separable.
    """
    half = math.ceil(sigma * math.sqrt(-2 * math.log(math.sqrt(2 * math.pi) * sigma * epsilon)))
    x = np.arange(-half, half + 1, dtype=np.float64)
    gauss = np.exp(-x**2 / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))
    deriv = -x * gauss / sigma**2
    return gauss / np.linalg.norm(gauss), deriv / np.linalg.norm(deriv)


SMOOTH_KERNEL, DERIVATIVE_KERNEL = _gaussian_derivative_kernels()
_HALF = len(SMOOTH_KERNEL) // 2


def _phi_table() -> np.ndarray:
    """phi[l, v] of `compute_connectivity_error.m` for level value L = l/10 (l = 0..10), in single precision.

    d = v/255 - L; phi = 1 - d where d >= 0.15, else 1. The 0.15 test never lands on a tie for
    8-bit values, so single and double precision agree on which branch is taken.
    """
    alpha = np.arange(256, dtype=np.float32) / np.float32(255)
    level = (np.arange(11) * 0.1).astype(np.float32)
    d = alpha[None, :] - level[:, None]
    return np.where(d >= 0.15, np.float32(1) - d, np.float32(1)).astype(np.float32)


_PHI = _phi_table()


# ----------------------------------------------------------------------------------- input checks
def alpha_to_uint8(alpha, name: str = "alpha") -> np.ndarray:
    """An H x W matte as the official code sees it: uint8 0..255 (see the module docstring)."""
    a = np.asarray(alpha)
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 2-D H x W array, got shape {a.shape}")
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if np.issubdtype(a.dtype, np.integer):
        if a.min() < 0 or a.max() > 255:
            raise ValueError(f"{name} is an integer array, so it must hold 0..255; got values in [{a.min()}, {a.max()}]")
        return a.astype(np.uint8)
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ValueError(f"{name} contains NaN or infinite values")
        if a.min() < -0.5 or a.max() > 1.5:
            raise ValueError(f"{name} is floating point, so it must be alpha in [0, 1]; got values in "
                             f"[{a.min():g}, {a.max():g}] (pass uint8 for 0..255 mattes)")
        return np.rint(np.clip(a, 0, 1) * 255).astype(np.uint8)
    raise ValueError(f"{name} must be uint8 (0..255) or float (alpha in [0, 1]), got dtype {a.dtype}")


def _trimap_to_uint8(trimap, shape: tuple[int, int]) -> np.ndarray:
    t = np.asarray(trimap)
    if t.shape != shape:
        raise ValueError(f"trimap has shape {t.shape}, expected {shape} (the shape of pred and gt)")
    if t.dtype == np.uint8:
        return np.ascontiguousarray(t)
    if np.issubdtype(t.dtype, np.integer) and t.min() >= 0 and t.max() <= 255:
        return t.astype(np.uint8)
    raise ValueError(f"trimap must be an integer array with values 0..255 (unknown = 128), got dtype {t.dtype}")


def _prepare(pred, gt, trimap) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pred, gt, unknown) as uint8 arrays; unknown is 1 where trimap == 128, else 0."""
    p = alpha_to_uint8(pred, "pred")
    g = alpha_to_uint8(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"pred has shape {p.shape} but gt has shape {g.shape}; they must match")
    t = _trimap_to_uint8(trimap, p.shape)
    return p, g, (t == UNKNOWN).view(np.uint8)  # numpy, not cv2.compare: cv2 takes a 1x1 array for a scalar


def _bounding_box(mask: np.ndarray, pad: int = 0) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the nonzero pixels, grown by `pad` within the image; None if none."""
    x, y, w, h = cv2.boundingRect(mask)
    if w == 0:
        return None
    height, width = mask.shape
    return max(y - pad, 0), min(y + h + pad, height), max(x - pad, 0), min(x + w + pad, width)


def _crop_slices(box: tuple[int, int, int, int], origin=(0, 0, 0, 0)) -> tuple[slice, slice]:
    """Slices selecting `box` (image coordinates) from an array that itself covers `origin`."""
    return slice(box[0] - origin[0], box[1] - origin[0]), slice(box[2] - origin[2], box[3] - origin[2])


def _crop(array: np.ndarray, box: tuple[int, int, int, int], origin=(0, 0, 0, 0)) -> np.ndarray:
    return array[_crop_slices(box, origin)]


# ----------------------------------------------------------------------------------- the metrics
def _sad_mse(p, g, unknown) -> tuple[float, float]:
    """SAD / 1000 and MSE over the counted pixels."""
    # cv2.norm sums |p - g| in integers (exact) and (p - g)^2 to within one float64 rounding.
    sad = cv2.norm(p, g, cv2.NORM_L1, mask=unknown) / 255 / 1000
    count = cv2.countNonZero(unknown)
    mse = cv2.norm(p, g, cv2.NORM_L2SQR, mask=unknown) / 255**2 / count if count else float("nan")  # official: 0/0
    return sad, mse


def _gradient_magnitude(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """|grad| of the min-max normalised image (`mat2gray`, over the WHOLE image), inside `box`.

    The derivative kernel sums to zero, so filtering first and dividing by (max - min) afterwards
    equals normalising first. Pixels more than 4 px inside `box` see only true image values; at
    the image's own edges the replicated border is the official 'replicate' padding.
    """
    low, high = cv2.minMaxLoc(image)[:2]
    crop = _crop(image, box)
    if high == low:  # constant image: zero gradient (mat2gray would divide by zero)
        return np.zeros(crop.shape, np.float32)
    derivative = DERIVATIVE_KERNEL / (high - low)
    gx = cv2.sepFilter2D(crop, cv2.CV_32F, derivative, SMOOTH_KERNEL, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.sepFilter2D(crop, cv2.CV_32F, SMOOTH_KERNEL, derivative, borderType=cv2.BORDER_REPLICATE)
    # numpy, not cv2.magnitude: OpenCV's result varies in the last bit with the memory alignment,
    # and identical mattes must give exactly zero error.
    gx *= gx
    gy *= gy
    gx += gy
    return np.sqrt(gx, out=gx)


def _gradient_error(p, g, unknown) -> float:
    box = _bounding_box(unknown, pad=_HALF)  # the 9x9 filter reaches 4 px beyond the counted pixels
    if box is None:
        return 0.0
    # float32 magnitudes (the official code casts them to single too); cv2.norm sums in float64.
    return cv2.norm(_gradient_magnitude(p, box), _gradient_magnitude(g, box), cv2.NORM_L2SQR,
                    mask=_crop(unknown, box))


def _label_components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """4-connected labels of a binary mask and the area of each label (label 0 = background)."""
    if mask.size < 2**24:  # 16-bit labels + cv2 histogram is the fast path; float32 counts are exact below 2^24
        try:
            n, labels = cv2.connectedComponentsWithAlgorithm(mask, 4, cv2.CV_16U, cv2.CCL_DEFAULT)
            return labels, cv2.calcHist([labels], [0], None, [n], [0, n]).ravel()
        except cv2.error:  # more than 65535 components
            pass
    n, labels = cv2.connectedComponentsWithAlgorithm(mask, 4, cv2.CV_32S, cv2.CCL_DEFAULT)
    return labels, np.bincount(labels.ravel(), minlength=n)


def _largest_component(labels: np.ndarray, areas: np.ndarray) -> int:
    """Label of the largest component. Ties go to the one whose first pixel comes first in
    column-major order: MATLAB's `bwconncomp` numbers components in that order and `max` returns
    the first maximum."""
    areas = np.asarray(areas)
    candidates = np.flatnonzero(areas[1:] == areas[1:].max()) + 1
    if candidates.size == 1:
        return int(candidates[0])
    is_candidate = np.zeros(len(areas), bool)
    is_candidate[candidates] = True
    hit = is_candidate[labels]
    column = int(np.argmax(hit.any(axis=0)))
    return int(labels[np.argmax(hit[:, column]), column])


def _level_indices(p, g, box: tuple[int, int, int, int]) -> np.ndarray:
    """l such that the official level value is L = l / 10 (l = 10: L = 1), for the pixels in `box`.

    Official rule: at each level k, every pixel still unset and outside the largest 4-connected
    component of {a >= t_k and b >= t_k} gets L = t_{k-1}; an empty level is skipped; pixels never
    set get L = 1. The level masks are nested, so once a level is empty all later ones are, and a
    pixel is set at the first level where it drops out: l = number of levels it stayed in before.
    Components are found over the whole image; only `box` (around the unknown pixels) is tracked.
    """
    both = np.minimum(p, g)  # a >= t and b >= t  <=>  min(a, b) >= t
    count = np.zeros((box[1] - box[0], box[3] - box[2]), np.uint8)
    # `inside`: pixels in every largest component so far, kept on `window` = `box` intersected with
    # every level's bounding box (nested masks: each level lies inside the previous one's box).
    level_box = (0, p.shape[0], 0, p.shape[1])
    window, inside = box, np.ones(count.shape, bool)
    for threshold in CONN_THRESHOLDS:
        mask = (_crop(both, level_box) >= threshold).view(np.uint8)
        found = _bounding_box(mask)
        if found is None:
            break  # empty level: skipped (and so are the higher ones)
        mask_box, level_box = level_box, (level_box[0] + found[0], level_box[0] + found[1],
                                          level_box[2] + found[2], level_box[2] + found[3])
        labels, areas = _label_components(_crop(mask, level_box, mask_box))
        best = _largest_component(labels, areas)
        new_window = (max(window[0], level_box[0]), min(window[1], level_box[1]),
                      max(window[2], level_box[2]), min(window[3], level_box[3]))
        if new_window[0] >= new_window[1] or new_window[2] >= new_window[3]:
            return count  # the level misses the box: every tracked pixel has its value by now
        inside = _crop(inside, new_window, window) & (_crop(labels, new_window, level_box) == best)
        window = new_window
        count[_crop_slices(window, box)] += inside
        if not inside.any():
            return count
    count[_crop_slices(window, box)][inside] = 10  # never set: L = 1
    return count


def _connectivity_error(p, g, unknown) -> float:
    box = _bounding_box(unknown)
    if box is None:
        return 0.0
    level = _level_indices(p, g, box)
    # Each counted pixel adds |phi[l, a] - phi[l, b]|: sum over a histogram of (l, a, b) instead of
    # gathering the pixels. calcHist counts in integers; the weighted sum runs in float64.
    hist = cv2.calcHist([level, _crop(p, box), _crop(g, box)], [0, 1, 2], _crop(unknown, box),
                        [11, 256, 256], [0, 11, 0, 256, 0, 256]).ravel()
    bins = np.flatnonzero(hist)
    l, a, b = np.unravel_index(bins, (11, 256, 256))
    terms = np.abs(_PHI[l, a] - _PHI[l, b])  # single precision, as the official per-pixel terms
    return float(np.dot(hist[bins].astype(np.float64), terms.astype(np.float64)))


# ----------------------------------------------------------------------------------- public API
def sad(pred, gt, trimap) -> float:
    """Sum of absolute differences over trimap == 128, alpha in [0, 1], divided by 1000
    (`compute_sad_loss.m`). Raw = reported units."""
    return _sad_mse(*_prepare(pred, gt, trimap))[0]


def mse(pred, gt, trimap) -> float:
    """Mean squared error over trimap == 128, alpha in [0, 1] (`compute_mse_loss.m`); NaN if no
    pixel counts. Raw = reported units (papers often print it x 1000)."""
    return _sad_mse(*_prepare(pred, gt, trimap))[1]


def gradient_error(pred, gt, trimap) -> float:
    """Sum over trimap == 128 of (|grad pred| - |grad gt|)^2 (`compute_gradient_loss.m`).

    Each matte is min-max normalised over the whole image (`mat2gray`) and filtered with the
    unit-norm 9x9 first-derivative-of-Gaussian pair, sigma = 1.4, replicate borders
    (`gaussgradient.m`). Raw units: results tables print this / 1000.
    """
    return _gradient_error(*_prepare(pred, gt, trimap))


def connectivity_error(pred, gt, trimap) -> float:
    """Sum over trimap == 128 of |phi(pred) - phi(gt)| (`compute_connectivity_error.m`, step 0.1).

    For levels t_k = k/10, the largest 4-connected component of {pred >= t_k and gt >= t_k}
    (whole image) decides each pixel's level value L (see `_level_indices`); with d = alpha - L,
    phi = 1 - d where d >= 0.15, else 1. Exact 8-bit thresholds, empty levels skipped and
    column-major tie-breaking, as the official code. Raw units: results tables print this / 1000.
    """
    return _connectivity_error(*_prepare(pred, gt, trimap))


def one_sided_errors(pred, gt, trimap) -> dict[str, int]:
    """Pixel counts of the two one-sided failures over trimap == 128 (issue 16), on 8-bit alphas:
    ``false_holes``: true alpha >= 0.5 (>= 128) predicted < 0.25 (<= 63), a hole punched into something solid
    or only slightly see-through; ``false_fills``: true < 0.5 (<= 127) predicted > 0.75 (>= 192); and
    ``unknown``, the number of pixels they are shares of. SAD weighs both alike; these tell them apart."""
    p, g, unknown = _prepare(pred, gt, trimap)
    unknown = unknown.astype(bool)
    solid = g >= 128
    return {"false_holes": int(np.count_nonzero(unknown & solid & (p <= 63))),
            "false_fills": int(np.count_nonzero(unknown & ~solid & (p >= 192))),
            "unknown": int(np.count_nonzero(unknown))}


def compute_metrics(pred, gt, trimap) -> dict[str, float]:
    """All four errors in the units of results tables: SAD, MSE, GRAD / 1000, CONN / 1000."""
    p, g, unknown = _prepare(pred, gt, trimap)
    sad_value, mse_value = _sad_mse(p, g, unknown)
    return {
        "SAD": sad_value,
        "MSE": mse_value,
        "GRAD": _gradient_error(p, g, unknown) / 1000,
        "CONN": _connectivity_error(p, g, unknown) / 1000,
    }
