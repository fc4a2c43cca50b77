"""predict(): the three reference test-time paths against golden data, input handling, errors, CLI."""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from indexnet import predict, read_image, read_trimap, write_png
from indexnet.inference import alpha_to_uint8, network_input, normalize_trimap

REPO_ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("case", ["case320", "case333x517"])
def test_authors_demo_path(golden_dir, authors_model, case):
    g = np.load(golden_dir / "authors_parity.npz")
    alpha, raw = predict(authors_model, g[f"{case}_image"], g[f"{case}_trimap"], size_mode="resize", return_raw=True)
    np.testing.assert_allclose(raw, g[f"{case}_raw_output"][0, 0], atol=1e-4)
    np.testing.assert_allclose(alpha * 255, g[f"{case}_alpha_float"], atol=0.05)
    truncated = (alpha * 255).astype(np.uint8).astype(int)  # the demo's cast truncates
    assert np.abs(truncated - g[f"{case}_alpha_uint8"]).max() <= 1


def test_authors_network_input_is_bit_exact(golden_dir):
    g = np.load(golden_dir / "authors_parity.npz")
    x = network_input(g["case320_image"], g["case320_trimap"]).transpose(2, 0, 1)[None]
    np.testing.assert_array_equal(x, g["case320_input"])


@pytest.mark.parametrize("case,mode", [("case320", "interp"), ("case333x517", "interp"), ("case333x517pad", "pad")])
def test_mmagic_paths(golden_dir, mmagic_model, case, mode):
    g = np.load(golden_dir / "mmagic_parity_wellcond.npz")
    src = case.removesuffix("pad")
    alpha, raw = predict(mmagic_model, g[f"{src}_image_rgb"], g[f"{src}_trimap"], size_mode=mode, return_raw=True)
    np.testing.assert_allclose(raw, g[f"{case}_backbone_out"][0, 0], atol=2e-4)
    np.testing.assert_allclose(alpha, g[f"{case}_alpha_float"], atol=2e-4)
    differ = alpha_to_uint8(alpha) != g[f"{case}_pred_alpha"]
    assert np.abs(alpha_to_uint8(alpha).astype(int) - g[f"{case}_pred_alpha"]).max() <= 1
    assert differ.mean() <= 0.0005


def test_mmagic_input_normalisation(golden_dir):
    g = np.load(golden_dir / "mmagic_parity_wellcond.npz")
    x = network_input(g["case320_image_rgb"], g["case320_trimap"]).transpose(2, 0, 1)[None]
    np.testing.assert_allclose(x, g["case320_input"], atol=1e-5)


@pytest.fixture(scope="module")
def small_case():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (45, 70, 3), dtype=np.uint8)
    trimap = np.zeros((45, 70), np.uint8)
    trimap[10:35, 15:55] = 128
    trimap[18:27, 25:45] = 255
    return image, trimap


@pytest.mark.parametrize("mode", ["pad", "interp", "resize"])
def test_any_size_and_known_regions(authors_model, small_case, mode):
    image, trimap = small_case
    alpha = predict(authors_model, image, trimap, size_mode=mode)
    assert alpha.shape == trimap.shape and alpha.dtype == np.float32
    assert alpha.min() >= 0 and alpha.max() <= 1
    assert (alpha[trimap == 255] == 1).all() and (alpha[trimap == 0] == 0).all()


def test_tiny_image(authors_model):
    image = np.full((5, 3, 3), 200, np.uint8)
    trimap = np.full((5, 3), 128, np.uint8)
    for mode in ("pad", "interp", "resize"):
        assert predict(authors_model, image, trimap, size_mode=mode).shape == (5, 3)


def test_image_kinds_agree(authors_model, small_case):
    """Grayscale, RGBA, 16-bit, float and PIL inputs go through the same normalisation."""
    image, trimap = small_case
    ref = predict(authors_model, image, trimap)
    rgba = np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])
    np.testing.assert_array_equal(predict(authors_model, rgba, trimap), ref)
    np.testing.assert_array_equal(predict(authors_model, Image.fromarray(image), Image.fromarray(trimap)), ref)
    np.testing.assert_allclose(predict(authors_model, image.astype(np.uint16) * 257, trimap), ref, atol=1e-4)
    np.testing.assert_allclose(predict(authors_model, image / 255.0, trimap), ref, atol=1e-4)
    gray = image[..., 0]
    np.testing.assert_array_equal(predict(authors_model, gray, trimap),
                                  predict(authors_model, np.dstack([gray] * 3), trimap))


def test_trimap_snapping_rule():
    values = np.array([[0, 10, 16, 17, 64, 127, 128, 129, 200, 238, 239, 250, 255]], np.uint8)
    np.testing.assert_array_equal(normalize_trimap(values)[0],
                                  [0, 0, 0, 128, 128, 128, 128, 128, 128, 128, 255, 255, 255])
    np.testing.assert_array_equal(normalize_trimap(np.array([[0.0, 0.5, 1.0]]))[0], [0, 128, 255])
    rgb = np.dstack([values] * 3)
    np.testing.assert_array_equal(normalize_trimap(rgb), normalize_trimap(values))


@pytest.mark.parametrize("image,trimap,message", [
    (np.zeros((10, 10, 3), np.uint8), np.zeros((10, 12), np.uint8), r"trimap is 10x12 \(HxW\) but the image is 10x10"),
    (np.zeros((0, 10, 3), np.uint8), np.zeros((0, 10), np.uint8), "image is empty"),
    (np.zeros((10, 10, 2), np.uint8), np.zeros((10, 10), np.uint8), "got shape"),
    (np.zeros((2, 10, 10, 3), np.uint8), np.zeros((10, 10), np.uint8), "got shape"),
    (np.full((10, 10, 3), 255.0), np.zeros((10, 10), np.uint8), r"float images must hold values in \[0, 1\]"),
    (np.full((10, 10, 3), np.nan), np.zeros((10, 10), np.uint8), "NaN"),
    (np.zeros((10, 10, 3), np.complex64), np.zeros((10, 10), np.uint8), "unsupported image dtype"),
    (np.zeros((10, 10, 3), np.uint8), np.zeros((10, 10, 2, 2), np.uint8), "trimap must be H x W"),
    (np.zeros((10, 10, 3), np.uint8), np.dstack([np.zeros((10, 10)), np.ones((10, 10))]).astype(np.uint8),
     "channels that differ"),
    (np.zeros((10, 10, 3), np.uint8), np.full((10, 10), 2.0), r"float trimaps must hold values in \[0, 1\]"),
    (np.zeros((10, 10, 3), np.uint8), np.full((10, 10), np.nan, np.float32), "NaN or infinite"),
])
def test_bad_inputs(authors_model, image, trimap, message):
    with pytest.raises(ValueError, match=message):
        predict(authors_model, image, trimap)


def test_bad_size_mode(authors_model, small_case):
    with pytest.raises(ValueError, match="size_mode must be one of"):
        predict(authors_model, *small_case, size_mode="crop")


def test_file_io_round_trip(tmp_path, small_case):
    image, trimap = small_case
    write_png(tmp_path / "img.png", image)
    write_png(tmp_path / "tri.png", trimap)
    np.testing.assert_array_equal(read_image(tmp_path / "img.png"), image)
    np.testing.assert_array_equal(read_trimap(tmp_path / "tri.png"), trimap)
    (tmp_path / "bad.png").write_text("not an image")
    with pytest.raises(ValueError, match="not a readable image"):
        read_image(tmp_path / "bad.png")
    with pytest.raises(FileNotFoundError):
        read_image(tmp_path / "missing.png")


def test_read_image_16bit_and_palette(tmp_path, shared_dir):
    import cv2
    img16 = (np.arange(60, dtype=np.uint16).reshape(5, 4, 3) * 1000)
    cv2.imwrite(str(tmp_path / "i16.png"), img16[..., ::-1])
    out = read_image(tmp_path / "i16.png")
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, img16 / 65535, atol=1e-6)
    tri = read_trimap(shared_dir / "data" / "alphamatting" / "trimap1" / "GT01.png")  # palette PNG
    assert set(np.unique(tri)) == {0, 128, 255}


def test_cli_files_and_folders(tmp_path, golden_dir, small_case):
    image, trimap = small_case
    (tmp_path / "img").mkdir()
    (tmp_path / "tri").mkdir()
    for name in ("a", "b"):
        write_png(tmp_path / "img" / f"{name}.png", image)
    write_png(tmp_path / "img" / "lonely.png", image)
    for name in ("a", "b"):
        write_png(tmp_path / "tri" / f"{name}.png", trimap)
    ckpt = str(golden_dir / "authors_random_checkpoint.pth.tar")
    run = lambda *a: subprocess.run([sys.executable, "-m", "indexnet", "predict", "--checkpoint", ckpt, *a],
                                    capture_output=True, text=True, cwd=REPO_ROOT)
    r = run("--image", str(tmp_path / "img"), "--trimap", str(tmp_path / "tri"), "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert "1 images without a trimap: lonely" in r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png"]
    r = run("--image", str(tmp_path / "img" / "a.png"), "--trimap", str(tmp_path / "tri" / "a.png"),
            "--out", str(tmp_path / "single.png"), "--size-mode", "pad")
    assert r.returncode == 0, r.stderr
    from indexnet import load_model
    expected = alpha_to_uint8(predict(load_model(ckpt), image, trimap, size_mode="pad"))
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "single.png")), expected)
    r = run("--image", str(tmp_path / "img" / "a.png"), "--trimap", str(tmp_path / "nope.png"), "--out", "x.png")
    assert r.returncode == 2 and "--trimap" in r.stderr and "nope.png not found" in r.stderr
    r = run("--image", str(tmp_path / "img"), "--trimap", str(tmp_path / "trimaps"), "--out", "x")  # a typo
    assert r.returncode == 2 and "--trimap" in r.stderr and "trimaps not found" in r.stderr
    assert (tmp_path / "single.png").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("orientation, upright", [(3, lambda a: a[::-1, ::-1]), (6, lambda a: np.rot90(a, -1)),
                                                  (8, lambda a: np.rot90(a, 1))])
def test_files_are_read_upright_by_exif_orientation(tmp_path, orientation, upright):
    """A phone photo stores its pixels sideways plus an EXIF tag; image and trimap come back as viewers show them."""
    import PIL.Image
    stored = np.zeros((40, 60, 3), np.uint8)
    stored[:10, :20] = 255  # a white block in the stored top-left corner
    exif = PIL.Image.Exif()
    exif[274] = orientation
    PIL.Image.fromarray(stored).save(tmp_path / "photo.png", exif=exif)
    PIL.Image.fromarray(stored[..., 0]).save(tmp_path / "trimap.png", exif=exif)
    np.testing.assert_array_equal(read_image(tmp_path / "photo.png"), upright(stored))
    np.testing.assert_array_equal(read_trimap(tmp_path / "trimap.png"), upright(stored[..., 0]))
    PIL.Image.fromarray(stored).save(tmp_path / "plain.png")
    np.testing.assert_array_equal(read_image(tmp_path / "plain.png"), stored)


def test_max_side_bounds_what_the_network_sees(authors_model, small_case, monkeypatch):
    """A 45 x 70 image with max_side=32: the network sees 21 x 32 (padded to 32 x 32), the matte comes back at
    45 x 70 with the known regions of the full-resolution trimap exact."""
    import cv2

    import indexnet.inference
    image, trimap = small_case
    seen, real = [], indexnet.inference._run
    monkeypatch.setattr(indexnet.inference, "_run", lambda m, x: seen.append(x.shape[:2]) or real(m, x))
    alpha = predict(authors_model, image, trimap, size_mode="pad", max_side=32)
    assert seen == [(32, 32)] and alpha.shape == (45, 70)
    assert (alpha[trimap == 255] == 1).all() and (alpha[trimap == 0] == 0).all()
    small = predict(authors_model, cv2.resize(image, (32, 21), interpolation=cv2.INTER_AREA),
                    cv2.resize(trimap, (32, 21), interpolation=cv2.INTER_NEAREST), size_mode="pad")
    unknown = trimap == 128
    np.testing.assert_allclose(alpha[unknown], np.clip(cv2.resize(small, (70, 45)), 0, 1)[unknown], atol=1e-6)
    fits = predict(authors_model, image, trimap, max_side=70)
    np.testing.assert_array_equal(fits, predict(authors_model, image, trimap))


def test_scale_runs_the_network_on_the_resized_image(authors_model, small_case, monkeypatch):
    """scale=1.5: the network sees 68 x 105 (cubic up, trimap nearest), the matte comes back bilinearly at 45 x 70
    with exact known regions; scale=1 and the model's default (no test_scale) are the plain path."""
    import cv2

    import indexnet.inference
    image, trimap = small_case
    seen, real = [], indexnet.inference._run
    monkeypatch.setattr(indexnet.inference, "_run", lambda m, x: seen.append(x.shape[:2]) or real(m, x))
    alpha = predict(authors_model, image, trimap, size_mode="pad", scale=1.5)
    assert seen == [(96, 128)] and alpha.shape == (45, 70)  # 68 x 105 padded to multiples of 32
    assert (alpha[trimap == 255] == 1).all() and (alpha[trimap == 0] == 0).all()
    big = predict(authors_model, cv2.resize(image, (105, 68), interpolation=cv2.INTER_CUBIC),
                  cv2.resize(trimap, (105, 68), interpolation=cv2.INTER_NEAREST), size_mode="pad")
    unknown = trimap == 128
    np.testing.assert_allclose(alpha[unknown], np.clip(cv2.resize(big, (70, 45)), 0, 1)[unknown], atol=1e-6)
    assert not np.allclose(alpha, predict(authors_model, image, trimap, size_mode="pad"))
    np.testing.assert_array_equal(predict(authors_model, image, trimap, scale=1.0), predict(authors_model, image, trimap))
    # A model that carries a test scale (our trained weights) is run at it by default.
    monkeypatch.setattr(authors_model, "test_scale", 1.5, raising=False)
    np.testing.assert_array_equal(predict(authors_model, image, trimap, size_mode="pad"), alpha)
    for bad in (0, -1, float("nan"), "2"):
        with pytest.raises(ValueError, match="scale must be a positive number"):
            predict(authors_model, image, trimap, scale=bad)


def test_flip_averages_with_the_mirrored_matte(authors_model, small_case):
    image, trimap = small_case
    plain = predict(authors_model, image, trimap, size_mode="pad")
    mirrored = predict(authors_model, image[:, ::-1], trimap[:, ::-1], size_mode="pad")[:, ::-1]
    both = predict(authors_model, image, trimap, size_mode="pad", flip=True)
    np.testing.assert_allclose(both, 0.5 * (plain + mirrored), atol=1e-6)
    assert not np.allclose(both, plain)


def test_load_model_reads_the_test_scale(tmp_path, authors_model):
    from indexnet.checkpoint import load_model, save_checkpoint
    save_checkpoint(tmp_path / "a.pth", authors_model, meta={"test_scale": 1.5})
    save_checkpoint(tmp_path / "b.pth", authors_model)
    assert load_model(tmp_path / "a.pth").test_scale == 1.5
    assert load_model(tmp_path / "b.pth").test_scale == 1.0


def test_scale_up_of_a_float_image_stays_in_range(authors_model, small_case):
    """Cubic up-scaling overshoots [0, 1] on float images (16-bit files are read as floats): clipped, not refused."""
    image, trimap = small_case
    as_float = image.astype(np.float32) / 255
    np.testing.assert_allclose(predict(authors_model, as_float, trimap, scale=1.5),
                               predict(authors_model, image, trimap, scale=1.5), atol=0.02)
