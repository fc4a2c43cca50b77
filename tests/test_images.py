"""indexnet.images: the one reader (any format, EXIF, 16-bit, non-ASCII paths, clear refusals) and the one writer."""
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from indexnet import read_image, write_png
from indexnet.images import fit_within, read_array, read_gray, read_rgb

REPO = Path(__file__).resolve().parents[1]


def test_write_png_scales_a_float_matte(tmp_path):
    alpha = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)  # what predict returns
    write_png(tmp_path / "a.png", alpha)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "a.png")), np.round(alpha * 255))
    for bad, words in ((alpha * 255, r"values in \[0, 1\]"), (alpha > 0.5, "dtype bool"),
                       (np.zeros((3, 4, 2), np.uint8), "shape")):
        with pytest.raises(ValueError, match=words):
            write_png(tmp_path / "b.png", bad)
    with pytest.raises(ValueError, match=r"\.png name"):
        write_png(tmp_path / "a.jpg", alpha)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]  # nothing half-written left behind


def test_cli_refuses_a_jpeg_name_for_png_bytes(tmp_path, golden_dir):
    img = np.full((32, 32, 3), 100, np.uint8)
    tri = np.full((32, 32), 128, np.uint8)
    write_png(tmp_path / "i.png", img)
    write_png(tmp_path / "t.png", tri)
    r = subprocess.run([sys.executable, "-m", "indexnet", "predict", "--checkpoint",
                        str(golden_dir / "authors_random_checkpoint.pth.tar"), "--image", str(tmp_path / "i.png"),
                        "--trimap", str(tmp_path / "t.png"), "--out", str(tmp_path / "x.jpg")],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and ".png" in r.stderr and not (tmp_path / "x.jpg").exists()


def test_one_reader_for_every_kind(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    path = tmp_path / "фото.png"  # non-ASCII path
    Image.fromarray(rgb).save(path)
    np.testing.assert_array_equal(read_image(path), rgb)
    np.testing.assert_array_equal(read_rgb(path), rgb)
    Image.fromarray(rgb).convert("P").save(tmp_path / "pal.png")
    assert read_image(tmp_path / "pal.png").shape == (6, 5, 3)
    cv2.imwrite(str(tmp_path / "d16.png"), rgb[..., ::-1].astype(np.uint16) * 257)
    np.testing.assert_allclose(read_image(tmp_path / "d16.png"), rgb / 255, atol=1e-6)
    np.testing.assert_array_equal(read_rgb(tmp_path / "d16.png"), rgb)  # 8-bit for training data
    Image.fromarray(rgb[..., 0]).save(tmp_path / "g.png")
    np.testing.assert_array_equal(read_gray(tmp_path / "g.png"), rgb[..., 0])
    Image.fromarray(rgb).save(tmp_path / "anim.gif")  # a format OpenCV cannot decode: Pillow does
    assert read_image(tmp_path / "anim.gif").shape == (6, 5, 3)


@pytest.mark.parametrize("content", [b"", b"hello", b'<svg xmlns="http://www.w3.org/2000/svg"/>'])
def test_unreadable_files_are_refused_clearly(tmp_path, content):
    (tmp_path / "x.png").write_bytes(content)
    with pytest.raises(ValueError, match="x.png is not a readable image file"):
        read_array(tmp_path / "x.png")
    with pytest.raises(FileNotFoundError):
        read_array(tmp_path / "missing.png")


def test_max_pixels_and_fit_within(tmp_path):
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(tmp_path / "g.png")
    with pytest.raises(ValueError, match="megapixels"):
        read_array(tmp_path / "g.png", max_pixels=100)
    assert fit_within((120, 160), 64) == (48, 64) and fit_within((120, 160), None) == (120, 160)
    assert fit_within((1, 5000), 100) == (1, 100)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    import struct
    import zlib
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_damaged_and_huge_files_print_nothing_beside_the_message(tmp_path, capfd):
    """No `libpng error:` lines, OpenCV warnings or Pillow's DecompressionBombWarning around our own message."""
    import struct
    import warnings
    data = cv2.imencode(".png", np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))[1].tobytes()
    (tmp_path / "half.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "crc.png").write_bytes(data[:60] + bytes([data[60] ^ 0xFF]) + data[61:])  # a flipped IDAT byte
    # a header of 10000 x 9000 pixels (90 MP: above Pillow's warning threshold, under its refusal) and no pixels
    header = struct.pack(">IIBBBBB", 10_000, 9_000, 8, 0, 0, 0, 0)
    (tmp_path / "huge.png").write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IEND", b""))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for name in ("half.png", "crc.png"):
            with pytest.raises(ValueError, match=f"{name} is damaged"):
                read_image(tmp_path / name)
            with pytest.raises(ValueError, match=f"{name} is not a readable image file"):
                read_gray(tmp_path / name)
        with pytest.raises(ValueError, match="huge.png is 10000×9000 = 90 megapixels; at most 50 are accepted"):
            read_image(tmp_path / "huge.png", max_pixels=50_000_000)
    assert not [w for w in caught if "DecompressionBomb" in type(w.message).__name__], caught
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""
