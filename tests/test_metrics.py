"""Official Composition-1k metrics: the 38 golden cases, the known traps, input checks, and
agreement with a slow, literal re-implementation of the definitions on random inputs."""
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi

from indexnet import metrics
from indexnet.metrics import compute_metrics, connectivity_error, gradient_error, mse, sad

GOLDEN = Path(__file__).resolve().parents[1] / ".." / "shared" / "golden" / "metrics_public.npz"
CASE_NAMES = [str(n) for n in np.load(GOLDEN)["names"]] if GOLDEN.is_file() else [f"case_{i}" for i in range(38)]
ATOL = {"sad": 1e-6, "mse": 1e-9, "grad": 1e-3, "conn": 1e-3}  # README_metrics.md, raw units
RTOL = 1e-5
FUNCTIONS = {"sad": sad, "mse": mse, "grad": gradient_error, "conn": connectivity_error}


@pytest.fixture(scope="module")
def golden(golden_dir):
    return dict(np.load(golden_dir / "metrics_public.npz"))


def case(golden, name):
    i = CASE_NAMES.index(name)
    return golden[f"pred_{i}"], golden[f"gt_{i}"], golden[f"trimap_{i}"]


def expected(golden, name, key):
    return float(golden[key][CASE_NAMES.index(name)])


def close(x, e, atol):
    if math.isnan(e):
        return math.isnan(x)
    return abs(x - e) <= RTOL * abs(e) + atol


# ----------------------------------------------------------------------------------- golden cases
@pytest.mark.parametrize("name", CASE_NAMES)
def test_golden_case(golden, name):
    pred, gt, trimap = case(golden, name)
    for key, fn in FUNCTIONS.items():
        x, e = fn(pred, gt, trimap), expected(golden, name, key)
        assert close(x, e, ATOL[key]), f"{key}: got {x!r}, expected {e!r}"
    reported = compute_metrics(pred, gt, trimap)
    for key, atol in (("SAD", 1e-6), ("MSE", 1e-9), ("GRAD", 1e-6), ("CONN", 1e-6)):
        e = expected(golden, name, f"{key.lower()}_reported")
        assert close(reported[key], e, atol), f"{key} reported: got {reported[key]!r}, expected {e!r}"


def test_float_inputs_are_rounded_to_8_bits(golden):
    pred, gt, trimap = case(golden, "smooth_disk_320_0")
    as_uint8 = compute_metrics(pred, gt, trimap)
    # alpha in [0, 1] (float32 and float64, with a little out-of-range noise that is clipped)
    pred_f = (pred / 255.0).astype(np.float32)
    pred_f[pred == 255] += 1e-3
    for result in (compute_metrics(pred_f, gt / 255.0, trimap),
                   compute_metrics(pred.astype(np.int64), gt.astype(np.int32), trimap.astype(np.int64))):
        # GRAD's float32 filtering may differ in the last bits between OpenCV code paths
        assert result["GRAD"] == pytest.approx(as_uint8.pop("GRAD"), rel=1e-7)
        assert {k: v for k, v in result.items() if k != "GRAD"} == as_uint8
        as_uint8["GRAD"] = result["GRAD"]


# ----------------------------------------------------------------------------------- input checks
Z = np.zeros((4, 5), np.uint8)


@pytest.mark.parametrize("pred,gt,trimap,message", [
    (np.zeros((4, 5, 3), np.uint8), Z, Z, r"pred must be .*2-D.*\(4, 5, 3\)"),
    (Z, np.zeros(20, np.uint8), Z, r"gt must be .*2-D.*\(20,\)"),
    (Z, np.zeros((5, 4), np.uint8), Z, r"pred has shape \(4, 5\) but gt has shape \(5, 4\)"),
    (Z, Z, np.zeros((4, 6), np.uint8), r"trimap has shape \(4, 6\), expected \(4, 5\)"),
    (Z, Z, np.full((4, 5), 0.5), r"trimap must be an integer array"),
    (np.full((4, 5), 200.0), Z, Z, r"pred is floating point.*\[0, 1\].*200"),
    (np.full((4, 5), np.nan), Z, Z, r"pred contains NaN"),
    (np.full((4, 5), 300), Z, Z, r"pred is an integer array.*0\.\.255"),
    (np.zeros((4, 5), bool), Z, Z, r"pred must be uint8.*got dtype bool"),
    (np.zeros((0, 5), np.uint8), Z, Z, r"pred must be a non-empty"),
])
@pytest.mark.parametrize("fn", [sad, mse, gradient_error, connectivity_error, compute_metrics])
def test_bad_inputs_are_rejected(fn, pred, gt, trimap, message):
    with pytest.raises(ValueError, match=message):
        fn(pred, gt, trimap)


def test_no_unknown_pixel():
    pred, gt = np.full((6, 7), 10, np.uint8), np.full((6, 7), 200, np.uint8)
    trimap = np.full((6, 7), 127, np.uint8)  # 127 is not 128: nothing counts
    result = compute_metrics(pred, gt, trimap)
    assert math.isnan(result.pop("MSE"))
    assert result == {"SAD": 0.0, "GRAD": 0.0, "CONN": 0.0}


# ----------------------------------------------------------------------------------- literal references
def reference_connectivity_error(pred, gt, trimap, float64_thresholds=False, row_major_ties=False,
                                 assign_on_empty=False):
    """compute_connectivity_error.m written out literally in float64; the flags switch on the known traps."""
    a, b = pred / 255.0, gt / 255.0
    level = np.full(pred.shape, -1.0)
    for k in range(1, 11):
        if float64_thresholds:
            both = (a >= k * 0.1) & (b >= k * 0.1)
        else:  # exact: v / 255 >= k / 10
            both = (pred.astype(int) * 10 >= 255 * k) & (gt.astype(int) * 10 >= 255 * k)
        # scipy numbers components in raster order of its input: the transpose gives column-major order
        labels, n = ndi.label(both if row_major_ties else both.T)
        if n == 0 and not assign_on_empty:
            continue
        omega = np.zeros(both.shape, bool)
        if n:
            omega = labels == np.argmax(np.bincount(labels.ravel())[1:]) + 1
            omega = omega if row_major_ties else omega.T
        level[(level == -1) & ~omega] = (k - 1) / 10
    level[level == -1] = 1
    da, db = a - level, b - level
    phi_a, phi_b = np.where(da >= 0.15, 1 - da, 1), np.where(db >= 0.15, 1 - db, 1)
    return np.abs(phi_a - phi_b)[trimap == 128].sum()


def reference_gradient_error(pred, gt, trimap, sigma=1.4):
    """compute_gradient_loss.m + gaussgradient.m written out literally in float64 (full 2-D kernel)."""
    half = math.ceil(sigma * math.sqrt(-2 * math.log(math.sqrt(2 * math.pi) * sigma * 0.01)))
    i = np.arange(-half, half + 1)
    gauss = np.exp(-i**2 / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))
    hx = np.outer(gauss, -i * gauss / sigma**2)
    hx /= np.sqrt((hx**2).sum())

    def magnitude(x):
        x = x.astype(np.float64)
        x = (x - x.min()) / (x.max() - x.min()) if x.max() > x.min() else np.zeros_like(x)
        return np.hypot(ndi.convolve(x, hx, mode="nearest"), ndi.convolve(x, hx.T, mode="nearest"))

    return (((magnitude(pred) - magnitude(gt)) ** 2)[trimap == 128]).sum()


def test_references_match_golden(golden):
    for name in ("threshold_ties_120x160", "tie_break_two_islands_60x60", "all_zero_pred_320",
                 "islands_empty_intersection_200x300", "hair_320_0"):
        pred, gt, trimap = case(golden, name)
        assert close(reference_connectivity_error(pred, gt, trimap), expected(golden, name, "conn"), ATOL["conn"]), name
        assert close(reference_gradient_error(pred, gt, trimap), expected(golden, name, "grad"), ATOL["grad"]), name


@pytest.mark.parametrize("name,trap", [
    ("threshold_ties_120x160", "float64_thresholds"),  # 153 fails `153/255 >= 6*0.1`
    ("tie_break_two_islands_60x60", "row_major_ties"),
    ("all_zero_pred_320", "assign_on_empty"),  # 17684 instead of 0
])
def test_known_traps_would_change_the_value(golden, name, trap):
    pred, gt, trimap = case(golden, name)
    e = expected(golden, name, "conn")
    trapped = reference_connectivity_error(pred, gt, trimap, **{trap: True})
    assert not close(trapped, e, ATOL["conn"]), f"the {trap} trap does not matter on {name}: test proves nothing"
    assert close(connectivity_error(pred, gt, trimap), e, ATOL["conn"])


def test_thresholds_are_exact():
    # Integer thresholds on the 8-bit mattes: in float64, 153 / 255 < 6 * 0.1, so comparing alpha / 255
    # against k * 0.1 would misplace the pixels exactly at a threshold.
    assert metrics.CONN_THRESHOLDS == tuple(math.ceil(255 * k / 10) for k in range(1, 11))
    assert metrics.CONN_THRESHOLDS == tuple(int(np.ceil(25.5 * k)) for k in range(1, 11))


def test_largest_component_tie_goes_to_first_in_column_major_order():
    # Components 1 and 2 both have 3 pixels. Row-major, 1 comes first (row 0); column-major, 2 does (column 0).
    labels = np.array([[0, 0, 1, 1, 1],
                       [2, 0, 0, 0, 0],
                       [2, 0, 3, 0, 0],
                       [2, 0, 0, 0, 0]], np.uint16)
    assert metrics._largest_component(labels, np.bincount(labels.ravel())) == 2
    labels[labels == 2] = 0  # no tie: the unique largest wins wherever it is
    assert metrics._largest_component(labels, np.bincount(labels.ravel())) == 1


def random_case(rng, shape, unknown_box):
    """Blocky random mattes (many islands and ties) with odd trimap values and an unknown rectangle."""
    h, w = shape
    coarse = rng.integers(0, 256, (max(h // 3, 1), max(w // 3, 1)))
    gt = np.kron(coarse, np.ones((3, 3), int))[:h, :w]
    gt = np.pad(gt, ((0, h - gt.shape[0]), (0, w - gt.shape[1])), mode="edge").astype(np.uint8)
    pred = np.clip(gt.astype(int) + rng.integers(-60, 61, shape) * (rng.random(shape) < 0.3), 0, 255).astype(np.uint8)
    trimap = rng.choice(np.array([0, 255, 127, 129, 64], np.uint8), shape)
    y0, y1, x0, x1 = unknown_box
    trimap[y0:y1, x0:x1] = np.where(rng.random((y1 - y0, x1 - x0)) < 0.8, 128, 255)
    return pred, gt, trimap


@pytest.mark.parametrize("seed,shape,box", [
    (0, (37, 53), (0, 10, 0, 53)),  # unknown along the top edge
    (1, (64, 64), (20, 30, 25, 40)),  # interior: the filters' padded box and the components' window matter
    (2, (5, 120), (0, 5, 100, 120)),  # thin strip, right edge
    (3, (90, 70), (60, 90, 0, 8)),  # bottom-left corner
    (4, (48, 48), (0, 48, 0, 48)),
])
def test_agrees_with_literal_reference_on_random_inputs(seed, shape, box):
    pred, gt, trimap = random_case(np.random.default_rng(seed), shape, box)
    assert close(connectivity_error(pred, gt, trimap), reference_connectivity_error(pred, gt, trimap), 1e-3)
    assert close(gradient_error(pred, gt, trimap), reference_gradient_error(pred, gt, trimap), 1e-3)
    unknown = trimap == 128
    diff = pred.astype(np.int64) - gt
    assert sad(pred, gt, trimap) == np.abs(diff)[unknown].sum() / 255 / 1000
    assert mse(pred, gt, trimap) == pytest.approx((diff**2)[unknown].sum() / 255**2 / unknown.sum(), rel=1e-15)


def test_many_components_fall_back_to_32_bit_labels():
    # A 1-px checkerboard of 400x400 has 80,000 components: more than 16-bit labels hold.
    rng = np.random.default_rng(5)
    board = (np.add.outer(np.arange(400), np.arange(400)) % 2 == 0)
    pred = np.where(board, 255, rng.integers(0, 100, board.shape)).astype(np.uint8)
    gt = np.full(board.shape, 255, np.uint8)
    trimap = np.full(board.shape, 128, np.uint8)
    trimap[:50] = 255
    labels, areas = metrics._label_components(board.view(np.uint8))
    assert labels.dtype == np.int32 and len(areas) == 80_001
    assert close(connectivity_error(pred, gt, trimap), reference_connectivity_error(pred, gt, trimap), 1e-3)


def test_sums_are_exact_on_a_large_image():
    """SAD sums integers; MSE's float64 sum of integer squares is off by at most a rounding."""
    rng = np.random.default_rng(7)
    pred, gt = rng.integers(0, 256, (2, 1000, 1500), dtype=np.uint8)
    trimap = rng.choice(np.array([0, 128, 255], np.uint8), (1000, 1500))
    unknown = trimap == 128
    diff = pred.astype(np.int64) - gt
    assert sad(pred, gt, trimap) == np.abs(diff)[unknown].sum() / 255 / 1000
    assert mse(pred, gt, trimap) == pytest.approx((diff**2)[unknown].sum() / 255**2 / unknown.sum(), rel=1e-15)


def test_identical_mattes_score_exactly_zero_whatever_the_memory_layout(golden):
    # OpenCV's SIMD paths (e.g. cv2.magnitude) can round differently with the alignment of the data.
    pred, gt, trimap = case(golden, "hair_islands_600x800")
    for offset in (0, 1, 3, 8):
        buffer = np.empty(gt.size + 64, np.uint8)
        shifted = buffer[offset:offset + gt.size].reshape(gt.shape)
        shifted[:] = gt
        assert compute_metrics(shifted, gt, trimap) == {"SAD": 0.0, "MSE": 0.0, "GRAD": 0.0, "CONN": 0.0}
        assert compute_metrics(shifted[:, 1:], gt[:, 1:].copy(), trimap[:, 1:])["GRAD"] == 0.0
