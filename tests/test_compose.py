"""indexnet.compose: foreground colours, cut-outs, backgrounds, and `python -m indexnet cutout`."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import indexnet
from indexnet import data
from indexnet.compose import background, composite, cutout, estimate_foreground, parse_colour
from indexnet.inference import alpha_to_uint8

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def case():
    """A yellow disc (the subject) on a gradient, and a trimap with a band along its edge."""
    yy, xx = np.mgrid[0:45, 0:70]
    r = np.hypot(yy - 22, xx - 35)
    image = np.stack([xx * 3, yy * 5, np.full_like(xx, 90)], axis=2).astype(np.uint8)
    image[r < 14] = [240, 220, 60]
    trimap = np.where(r < 10, 255, np.where(r < 18, 128, 0)).astype(np.uint8)
    return image, trimap


def test_cutout_is_the_matte_with_estimated_colours(authors_model, case):
    image, trimap = case
    rgba = cutout(image, trimap, authors_model)
    assert rgba.shape == (45, 70, 4) and rgba.dtype == np.uint8
    alpha = indexnet.predict(authors_model, image, trimap)
    np.testing.assert_array_equal(rgba[..., 3], alpha_to_uint8(alpha))
    np.testing.assert_array_equal(rgba[..., :3][trimap == 255], image[trimap == 255])  # opaque: the photo's own
    # pymatting's parallel kernels may round a value differently from run to run
    np.testing.assert_allclose(rgba[..., :3], np.round(estimate_foreground(image, alpha) * 255), atol=1)


def test_cutout_with_max_side_keeps_the_size(authors_model, case):
    image, trimap = case
    rgba = cutout(image, trimap, authors_model, max_side=32)
    assert rgba.shape == (45, 70, 4) and (rgba[..., 3][trimap == 0] == 0).all()


def test_single_pixel_foreground():
    """pymatting's estimator divides by zero on one pixel."""
    fg = estimate_foreground(np.full((1, 1, 3), 200, np.uint8), np.full((1, 1), 0.5))
    assert fg.shape == (1, 1, 3) and np.isfinite(fg).all()


def test_colours_and_backgrounds():
    np.testing.assert_array_equal(parse_colour("#ff8000"), [255, 128, 0])
    np.testing.assert_array_equal(parse_colour("rgba(0, 255, 0, 0.5)"), [0, 255, 0])
    np.testing.assert_array_equal(parse_colour("#fff"), [255, 255, 255])
    for bad in ("rgb(1,2)", "rgb(1,2,3,4)", "#12", "red", "rgb(a,b,c)", "rgb(nan, 1, 2)"):
        with pytest.raises(ValueError, match="is not a colour"):
            parse_colour(bad)
    assert (background((4, 6), "#102030") == [16, 32, 48]).all()
    wide = np.zeros((10, 40, 3), np.uint8)
    wide[:, 15:25] = 255  # scaled x2 to cover the height, the centre 20 columns are this band
    bg = background((20, 20), image=wide)
    assert bg.shape == (20, 20, 3) and (bg[:, 3:17] == 255).all()


def test_one_composite():
    assert composite is data.composite  # DIM's rule, one argument order: (fg, bg, alpha)


def test_cli_cutout(tmp_path, golden_dir, case):
    image, trimap = case
    indexnet.write_png(tmp_path / "img.png", image)
    indexnet.write_png(tmp_path / "tri.png", trimap)
    ckpt = str(golden_dir / "authors_random_checkpoint.pth.tar")
    def run(out):
        return subprocess.run([sys.executable, "-m", "indexnet", "cutout", "--checkpoint", ckpt, "--image",
                               str(tmp_path / "img.png"), "--trimap", str(tmp_path / "tri.png"), "--out", out],
                              capture_output=True, text=True, cwd=REPO)
    r = run(str(tmp_path / "cut.png"))
    assert r.returncode == 0, r.stderr
    expected = cutout(image, trimap, indexnet.load_model(ckpt))
    np.testing.assert_allclose(np.asarray(Image.open(tmp_path / "cut.png")), expected, atol=1)
    r = run(str(tmp_path / "cut.jpg"))
    assert r.returncode == 2 and ".png" in r.stderr and not (tmp_path / "cut.jpg").exists()
