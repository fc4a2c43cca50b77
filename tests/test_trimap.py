"""indexnet.trimap: reading, checking and fitting trimaps, and making them from strokes, masks and selections."""
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from indexnet.data import trimap_with_band
from indexnet.trimap import (check_trimap, fit_trimap, normalize_trimap, read_trimap, trimap_from_mask,
                             trimap_from_painting, trimap_from_selection)

REPO = Path(__file__).resolve().parents[1]


def _disc(h=120, w=160):
    yy, xx = np.mgrid[0:h, 0:w]
    return np.hypot(yy - h / 2, xx - w / 2)


def _photo(h=120, w=160):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx / w, yy / h, 0.5 + 0.5 * np.sin(xx / 9.0)], axis=2) * 200
    img[_disc(h, w) < min(h, w) / 3] = [240, 220, 60]
    return np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("dtype", [np.uint16, np.int32, np.int64])
def test_integer_trimaps_holding_0_128_255_are_read_as_such(dtype):
    values = np.array([[0, 128, 255]])
    np.testing.assert_array_equal(normalize_trimap(values.astype(dtype)), [[0, 128, 255]])


def test_16bit_levels_and_bad_integer_trimaps():
    np.testing.assert_array_equal(normalize_trimap(np.array([[0, 32896, 65535]], np.uint16)), [[0, 128, 255]])
    with pytest.raises(ValueError, match="negative values"):
        normalize_trimap(np.array([0, 128, 255]).astype(np.int8).reshape(1, 3))  # wraps to 0, -128, -1
    with pytest.raises(ValueError, match="values up to 1000"):
        normalize_trimap(np.array([[0, 1000]], np.int32))


def test_read_trimap_refuses_a_colour_photo_and_accepts_jpeg_grey(tmp_path):
    Image.fromarray(_photo()).save(tmp_path / "photo.png")
    with pytest.raises(ValueError, match="is a colour image"):
        read_trimap(tmp_path / "photo.png")
    tri = np.where(_disc() < 30, 255, np.where(_disc() < 45, 128, 0)).astype(np.uint8)
    Image.fromarray(np.dstack([tri] * 3)).save(tmp_path / "grey.jpg", quality=85)
    got = read_trimap(tmp_path / "grey.jpg")
    assert (got == tri).mean() > 0.97


def test_read_trimap_16bit_and_float_files(tmp_path):
    tri = np.where(_disc() < 30, 255, np.where(_disc() < 45, 128, 0)).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "t16.png"), tri.astype(np.uint16) * 257)
    np.testing.assert_array_equal(read_trimap(tmp_path / "t16.png"), tri)
    cv2.imwrite(str(tmp_path / "tf.tif"), np.dstack([tri] * 3).astype(np.float32) / 255)
    np.testing.assert_array_equal(read_trimap(tmp_path / "tf.tif"), tri)


def test_cli_refuses_a_colour_photo_as_trimap(tmp_path, golden_dir):
    Image.fromarray(_photo()).save(tmp_path / "photo.png")
    r = subprocess.run([sys.executable, "-m", "indexnet", "predict", "--checkpoint",
                        str(golden_dir / "authors_random_checkpoint.pth.tar"), "--image", str(tmp_path / "photo.png"),
                        "--trimap", str(tmp_path / "photo.png"), "--out", str(tmp_path / "a.png")],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and "is a colour image" in r.stderr and not (tmp_path / "a.png").exists()


def test_fit_and_check():
    tri = np.zeros((60, 80), np.uint8)
    tri[20:40, 20:60] = 128
    with pytest.raises(ValueError, match="80×60 pixels but the image is 160×120"):
        fit_trimap(tri, (120, 160))
    fitted, notes = fit_trimap(tri, (120, 160), resize=True)
    assert fitted.shape == (120, 160) and set(np.unique(fitted)) == {0, 128} and "resized" in notes[0]
    with pytest.raises(ValueError, match="no unknown"):
        check_trimap(np.zeros((4, 4), np.uint8))
    assert len(check_trimap(np.full((4, 4), 128, np.uint8))) == 2
    assert check_trimap(np.array([[0, 128, 255]], np.uint8)) == []


def test_painting_snaps_to_three_values():
    layer = np.zeros((90, 120, 4), np.uint8)
    layer[10:30, 10:30] = [255, 255, 255, 178]  # white at 70 % opacity
    layer[40:60, 10:30] = [128, 128, 128, 178]
    layer[70:80, 10:30] = [0, 0, 0, 255]
    layer[80:84, 60:80] = [250, 250, 250, 20]  # a faint anti-aliased fringe: not painted
    for unpainted, rest in (("unknown", 128), ("background", 0)):
        tri = trimap_from_painting([layer], (90, 120), unpainted)
        assert (tri[10:30, 10:30] == 255).all() and (tri[40:60, 10:30] == 128).all()
        assert (tri[70:80, 10:30] == 0).all() and (tri[80:, 60:] == rest).all()
    with pytest.raises(ValueError, match="Nothing is painted"):
        trimap_from_painting([np.zeros((9, 9, 4), np.uint8)], (9, 9))


def test_trimap_from_mask_is_the_training_band_rule():
    mask = _disc() < 35
    tri = trimap_from_mask(mask, 5)
    # The same as the training rule applied to a matte whose outermost subject pixels are fractional.
    alpha = np.where(mask, 255, 0).astype(np.uint8)
    alpha[mask & (cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) == 0)] = 128
    np.testing.assert_array_equal(tri, trimap_with_band(alpha, 5))
    r = _disc()
    assert (tri[r < 28] == 255).all() and (tri[r > 42] == 0).all() and (tri[np.abs(r - 35) < 3] == 128).all()


def test_selection_finds_the_subject_with_a_band():
    around = np.zeros((120, 160), bool)
    around[15, 30:130] = around[105, 30:130] = around[15:105, 30] = around[15:105, 130] = True
    tri = trimap_from_selection(_photo(), around=around, band=5)
    truth = _disc() < 40
    assert set(np.unique(tri)) == {0, 128, 255}
    assert tri[60, 80] == 255 and tri[5, 5] == 0
    assert ((tri == 255) & ~truth).mean() < 0.02 and ((tri == 0) & (_disc() < 34)).mean() < 0.02
    assert 0.02 < (tri == 128).mean() < 0.25
    with pytest.raises(ValueError, match="No selection"):
        trimap_from_selection(_photo())
