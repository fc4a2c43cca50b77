"""Tests for the synthetic matting data (indexnet/synthetic.py). Small sizes keep them fast."""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from indexnet import synthetic
from indexnet.synthetic import KINDS, SPLIT_LENGTHS, SyntheticMatting, make_sample, save_split, trimap_from_alpha

ARRAYS = ("image", "alpha", "fg", "bg", "trimap")
N_SCAN = 48  # indices scanned for kind coverage (each kind is far more common than 1/48)


@pytest.fixture(scope="module")
def samples():
    return [make_sample(i, "train", 128) for i in range(N_SCAN)]


def test_deterministic_same_index():
    a, b = make_sample(7, "train", 160), make_sample(7, "train", 160)
    for k in ARRAYS:
        assert np.array_equal(a[k], b[k]), k
    assert a["kinds"] == b["kinds"]


def test_deterministic_across_processes():
    code = ("import hashlib; from indexnet.synthetic import make_sample; s = make_sample(3, 'val', 96); "
            "print(hashlib.sha1(b''.join(s[k].tobytes() for k in ('image','alpha','fg','bg','trimap'))).hexdigest())")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    import hashlib
    s = make_sample(3, "val", 96)
    assert out.stdout.strip() == hashlib.sha1(b"".join(s[k].tobytes() for k in ARRAYS)).hexdigest()


# sha256 over image, alpha, fg, bg, trimap of make_sample(i, "train", 64). The shipped weights were trained
# on this stream: a change to the generator (or to a library under it) changes what those weights mean,
# so it must show up here and be a deliberate choice. Identical with numpy's and OpenCV's SIMD paths
# (AVX-512, AVX2, baseline) forced through NPY_DISABLE_CPU_FEATURES / OPENCV_CPU_DISABLE.
PINNED_TRAIN_64 = {
    0: ("hair+camo", "e888d856edaa863e2378b26acca94d3f158bef6384ba13d22ca77654fa136176"),
    1: ("solid+fur", "47b82466bc58e5c8bbd8711e15b6348d55d9677708d98e8621f69d6e2306cfcf"),
    2: ("solid+soft", "d25b05fbf26ba713f1c88d381ae755f1da9d5e22fce879cdaeaf1f52f488d8fc"),
}


@pytest.mark.parametrize("index", sorted(PINNED_TRAIN_64))
def test_samples_are_pinned(index):
    import hashlib
    sample = make_sample(index, "train", 64)
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(sample[k]).tobytes() for k in ARRAYS)).hexdigest()
    assert (sample["kinds"], digest) == PINNED_TRAIN_64[index]


def test_different_indices_and_splits_differ():
    a, b = make_sample(0, "train", 96), make_sample(1, "train", 96)
    assert not np.array_equal(a["image"], b["image"])
    firsts = [make_sample(0, s, 96) for s in ("train", "val", "test")]
    for i in range(3):
        for j in range(i + 1, 3):
            assert not np.array_equal(firsts[i]["image"], firsts[j]["image"])
            assert not np.array_equal(firsts[i]["alpha"], firsts[j]["alpha"])


def test_split_photos_are_disjoint():
    by_split = {}
    for name, (_, _, split) in synthetic.PHOTOS.items():
        by_split.setdefault(split, set()).add(name)
    assert set(by_split) == {"train", "val", "test"}
    assert not (by_split["train"] & by_split["val"]) and not (by_split["train"] & by_split["test"])
    for split in by_split:
        assert len(synthetic.photo_bank(split)) == len(by_split[split])  # all load offline


def test_unknown_split_rejected():
    with pytest.raises(ValueError):
        make_sample(0, "training")


def test_dtypes_shapes_ranges(samples):
    for s in samples[:12]:
        H = 128
        assert s["image"].shape == s["fg"].shape == s["bg"].shape == (H, H, 3)
        assert s["alpha"].shape == s["trimap"].shape == (H, H)
        for k in ARRAYS:
            assert s[k].dtype == np.uint8, k
        assert set(np.unique(s["trimap"])) <= {0, 128, 255}
        assert (s["alpha"] > 0).any() and (s["alpha"] < 255).any()


def test_trimap_consistent_with_alpha(samples):
    for s in samples:
        a, t = s["alpha"], s["trimap"]
        frac = (a > 0) & (a < 255)
        assert frac.any()
        assert (t[frac] == 128).all()
        assert np.isin(t[a == 255], (128, 255)).all()
        assert np.isin(t[a == 0], (0, 128)).all()


def test_trimap_rule_distance():
    a = np.zeros((40, 40), np.uint8)
    a[:, 20:] = 255
    a[:, 20] = 100  # one fractional column
    t = trimap_from_alpha(a, 3)
    assert (t[:, 17:24] == 128).all() and (t[:, :17] == 0).all() and (t[:, 24:] == 255).all()


def test_composite_equation(samples):
    for s in samples[:16]:
        a = s["alpha"].astype(np.float64)[..., None] / 255
        ref = np.floor(a * s["fg"] + (1 - a) * s["bg"])
        assert np.abs(s["image"].astype(np.int32) - ref).max() <= 1


def test_every_kind_occurs_with_fractional_alpha(samples):
    seen = set()
    for s in samples:
        seen |= set(s["kinds"].split("+"))
    assert set(KINDS) <= seen, set(KINDS) - seen
    assert "camo" in seen
    # Each kind function on its own produces fractional alpha.
    S = 128
    for name, fn in synthetic._KIND_FUNCS.items():
        rng = np.random.default_rng(0)
        body = {"polys": synthetic._body_outlines(rng, S)}
        tex = np.full((S, S, 3), 0.5, np.float32)
        layers = fn(rng, S, body, tex)
        alpha = np.max([a for a, _ in layers], 0)
        assert ((alpha > 0.02) & (alpha < 0.98)).any(), name
    hard = np.zeros((S, S), np.float32)
    hard[32:96, 32:96] = 1
    soft, _ = synthetic.kind_soft(np.random.default_rng(0), S, hard, np.zeros((S, S, 3), np.float32))
    assert ((soft > 0.02) & (soft < 0.98)).sum() > 100


def test_dataset_and_collate():
    ds = SyntheticMatting("val", size=64)
    assert len(ds) == SPLIT_LENGTHS["val"] and len(SyntheticMatting("train", 64, length=10)) == 10
    assert np.array_equal(ds[5]["alpha"], make_sample(5, "val", 64)["alpha"])
    with pytest.raises(IndexError):
        ds[len(ds)]
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=2)))
    assert batch["image"].shape == (2, 64, 64, 3) and batch["image"].dtype == torch.uint8
    assert len(batch["kinds"]) == 2


def test_save_split_round_trip(tmp_path):
    save_split("test", str(tmp_path), n=2, size=64)
    for k in ARRAYS:
        assert sorted(os.listdir(tmp_path / k)) == ["00000.png", "00001.png"], k
    s = make_sample(1, "test", 64)
    img = cv2.cvtColor(cv2.imread(str(tmp_path / "image" / "00001.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(img, s["image"])
    for k in ("alpha", "trimap"):
        assert np.array_equal(cv2.imread(str(tmp_path / k / "00001.png"), cv2.IMREAD_GRAYSCALE), s[k])
