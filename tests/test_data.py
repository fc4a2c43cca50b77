"""Training data (SPEC §4): compositing, trimaps, crops, flips, tensors, datasets."""
import json

import cv2
import numpy as np
import pytest
import torch
from scipy.ndimage import distance_transform_edt

from indexnet.data import (
    Comp1kTrainDataset,
    Comp1kTrainSource,
    PipelineDataset,
    composite,
    composite_dataset_to_disk,
    crop_around_unknown,
    dim_pipeline,
    fit_background,
    indexnet_pipeline,
    random_flip,
    to_tensors,
    trimap_from_distance,
    trimap_from_morphology,
)
from indexnet.model import IMAGENET_MEAN, IMAGENET_STD


def soft_disk_alpha(h=80, w=96, radius=20, edge=6, centre=None):
    """255 inside a disk, a linear ramp of width `edge` around it, 0 outside."""
    cy, cx = centre if centre is not None else (h // 2, w // 2)
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot(yy - cy, xx - cx)
    return np.clip((radius + edge - r) / edge * 255, 0, 255).astype(np.uint8)


def make_sample(h=80, w=96, seed=0, **alpha_kwargs):
    rng = np.random.default_rng(seed)
    fg = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    bg = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    alpha = soft_disk_alpha(h, w, **alpha_kwargs)
    return {"image": composite(fg, bg, alpha), "alpha": alpha, "fg": fg, "bg": bg}


# --- compositing ---


def test_composite_equation_and_truncation():
    fg = np.array([[[103, 255, 0]]], np.uint8)
    bg = np.array([[[0, 0, 200]]], np.uint8)
    alpha = np.array([[51]], np.uint8)  # 0.2
    merged = composite(fg, bg, alpha)
    assert merged.dtype == np.uint8
    # 0.2*103 = 20.6 -> 20 (truncated, not rounded); 0.2*255 = 51; 0.8*200 = 160
    assert merged.tolist() == [[[20, 51, 160]]]
    sample = make_sample()
    a = sample["alpha"][..., None].astype(np.float32) / 255
    expected = np.floor(a * sample["fg"] + (1 - a) * sample["bg"]).astype(np.uint8)
    assert np.array_equal(sample["image"], expected)
    assert np.array_equal(composite(sample["fg"], sample["bg"], np.full((80, 96), 255, np.uint8)), sample["fg"])


def test_fit_background_small_bg_is_enlarged_then_cropped_top_left():
    bg = np.arange(30 * 20 * 3, dtype=np.uint8).reshape(30, 20, 3)
    out = fit_background(bg, (45, 50, 3))  # ratio = max(50/20, 45/30) = 2.5 -> 75 x 50
    enlarged = cv2.resize(bg, (50, 75), interpolation=cv2.INTER_CUBIC)
    assert out.shape == (45, 50, 3)
    assert np.array_equal(out, enlarged[:45, :50])


def test_fit_background_large_bg_is_only_cropped():
    bg = np.random.default_rng(0).integers(0, 256, (100, 120, 3), dtype=np.uint8)
    out = fit_background(bg, (40, 60))
    assert np.array_equal(out, bg[:40, :60])
    assert np.array_equal(fit_background(bg, bg.shape), bg)


# --- trimaps ---


@pytest.mark.parametrize("make_trimap", [trimap_from_distance, trimap_from_morphology])
def test_trimap_values_fractional_unknown_and_determinism(make_trimap):
    alpha = soft_disk_alpha()
    for seed in range(5):
        trimap = make_trimap(alpha, np.random.default_rng(seed))
        assert trimap.dtype == np.uint8 and trimap.shape == alpha.shape
        assert set(np.unique(trimap)) <= {0, 128, 255}
        assert (trimap[(alpha > 0) & (alpha < 255)] == 128).all()
        assert (trimap[alpha == 0] != 255).all() and (trimap[alpha == 255] != 0).all()
        assert np.array_equal(trimap, make_trimap(alpha, np.random.default_rng(seed)))


def test_trimap_from_distance_band_width():
    """The unknown band reaches exactly t pixels beyond the fractional ring, t in 1..19."""
    alpha = soft_disk_alpha(h=120, w=120, radius=30, edge=4)
    r = np.hypot(*(np.mgrid[:120, :120] - 60))
    widths = set()
    for seed in range(40):
        trimap = trimap_from_distance(alpha, np.random.default_rng(seed))
        outer = r[trimap == 128].max() - r[(alpha > 0) & (alpha < 255)].max()
        widths.add(round(outer))
    assert min(widths) >= 1 and max(widths) <= 19 and len(widths) > 5
    # the authors' formulation (hldataset.generate_trimap) with the same t gives the same trimap
    for seed in range(3):
        t = np.random.default_rng(seed).integers(1, 20)
        fractional = ((alpha != 0) & (alpha != 255)).astype(np.float32)
        expected = (alpha == 255).astype(np.uint8) * 255
        expected[distance_transform_edt(fractional == 0) <= t] = 128
        assert np.array_equal(trimap_from_distance(alpha, np.random.default_rng(seed)), expected)
    binary = np.where(alpha > 127, 255, 0).astype(np.uint8)  # no fractional pixel: no unknown
    assert set(np.unique(trimap_from_distance(binary, np.random.default_rng(0)))) == {0, 255}


# --- crops and flips ---


def test_crop_around_unknown_output_size_and_centre():
    sample = make_sample(h=120, w=140, radius=25, edge=5, centre=(50, 80))
    sample["trimap"] = trimap_from_distance(sample["alpha"], np.random.default_rng(0))
    for seed in range(10):
        # no resize (out_size == crop size): the crop's centre pixel is the chosen unknown pixel
        out = crop_around_unknown(sample, np.random.default_rng(seed), crop_sizes=(48,), out_size=48)
        assert out["trimap"][24, 24] == 128
        # with resizing: every array comes out out_size x out_size, trimap still {0,128,255}
        out = crop_around_unknown(sample, np.random.default_rng(seed), crop_sizes=(48, 64, 80), out_size=32)
        for key in ("image", "alpha", "fg", "bg", "trimap"):
            assert out[key].shape[:2] == (32, 32) and out[key].dtype == np.uint8
        assert set(np.unique(out["trimap"])) <= {0, 128, 255}
        assert (out["trimap"][12:20, 12:20] == 128).any()


def test_crop_around_unknown_upscales_small_images_and_is_consistent():
    sample = make_sample(h=40, w=50)
    sample["trimap"] = trimap_from_distance(sample["alpha"], np.random.default_rng(0))
    out = crop_around_unknown(sample, np.random.default_rng(1), crop_sizes=(64,), out_size=64)
    assert all(out[key].shape[:2] == (64, 64) for key in ("image", "alpha", "fg", "bg", "trimap"))
    # the same crop applies to every array: the cropped composite still equals the composite
    # of the cropped parts (up to bicubic resampling of each)
    diff = np.abs(composite(out["fg"], out["bg"], out["alpha"]).astype(int) - out["image"].astype(int))
    assert np.median(diff) <= 2


def test_random_flip_consistent_across_keys():
    sample = make_sample()
    sample["trimap"] = trimap_from_distance(sample["alpha"], np.random.default_rng(0))
    flipped = random_flip(sample, np.random.default_rng(0), p=1.0)
    kept = random_flip(sample, np.random.default_rng(0), p=0.0)
    for key in ("image", "alpha", "fg", "bg", "trimap"):
        assert np.array_equal(flipped[key], sample[key][:, ::-1])
        assert np.array_equal(kept[key], sample[key])
    outcomes = set()
    for seed in range(20):
        out = random_flip(sample, np.random.default_rng(seed))
        states = {np.array_equal(out[k], sample[k][:, ::-1]) for k in ("image", "alpha", "fg", "bg", "trimap")}
        assert len(states) == 1  # all flipped or none
        outcomes |= states
    assert outcomes == {True, False}


@pytest.mark.parametrize("pipeline", [indexnet_pipeline, dim_pipeline])
def test_pipelines_shapes_and_determinism(pipeline):
    sample = make_sample(h=90, w=100)
    a = pipeline(sample, np.random.default_rng(3), crop_sizes=(48, 64), out_size=32)
    b = pipeline(sample, np.random.default_rng(3), crop_sizes=(48, 64), out_size=32)
    for key in ("image", "alpha", "fg", "bg", "trimap"):
        assert a[key].shape[:2] == (32, 32)
        assert np.array_equal(a[key], b[key])
    assert (a["trimap"] == 128).any()


# --- tensors ---


def test_to_tensors_normalisation_and_keys():
    image = np.zeros((2, 2, 3), np.uint8)
    image[0, 0] = (255, 0, 128)
    sample = {
        "image": image,
        "alpha": np.array([[255, 0], [128, 0]], np.uint8),
        "fg": np.full((2, 2, 3), 255, np.uint8),
        "bg": np.zeros((2, 2, 3), np.uint8),
        "trimap": np.array([[255, 0], [128, 0]], np.uint8),
    }
    t = to_tensors(sample)
    assert set(t) == {"input", "alpha", "fg", "bg", "merged", "trimap"}
    assert all(v.dtype == torch.float32 for v in t.values())
    assert t["input"].shape == (4, 2, 2) and t["alpha"].shape == (1, 2, 2) and t["merged"].shape == (3, 2, 2)
    expected_rgb = (np.array([1, 0, 128 / 255]) - IMAGENET_MEAN) / IMAGENET_STD
    np.testing.assert_allclose(t["input"][:3, 0, 0].numpy(), expected_rgb, rtol=1e-6)
    np.testing.assert_allclose(t["input"][3].numpy(), [[1, 0], [128 / 255, 0]], rtol=1e-6)
    np.testing.assert_allclose(t["alpha"][0].numpy(), [[1, 0], [128 / 255, 0]], rtol=1e-6)
    assert t["trimap"][0].tolist() == [[255, 0], [128, 0]]
    np.testing.assert_allclose(t["merged"][:, 0, 0].numpy(), [1, 0, 128 / 255], rtol=1e-6)
    assert t["fg"].max() == 1 and t["bg"].max() == 0


# --- Composition-1k reader ---


def write_fake_adobe_layout(root, n_fg=2, bg_per_fg=2):
    """fg/, alpha/, train2014/ and the two name lists, as DIM's Composition_code.py expects."""
    rng = np.random.default_rng(0)
    for folder in ("fg", "alpha", "train2014"):
        (root / folder).mkdir(parents=True)
    fg_names, bg_names = [], []
    for k in range(n_fg):
        name = f"object{k}.png"
        cv2.imwrite(str(root / "fg" / name), rng.integers(0, 256, (70, 60, 3), dtype=np.uint8))
        cv2.imwrite(str(root / "alpha" / name), soft_disk_alpha(70, 60, radius=15))
        fg_names.append(name)
        for b in range(bg_per_fg):
            bg_name = f"COCO_train2014_{k}{b:011d}.jpg"
            size = (40, 50) if b == 0 else (90, 100)  # one needs enlarging, one only cropping
            cv2.imwrite(str(root / "train2014" / bg_name), rng.integers(0, 256, (*size, 3), dtype=np.uint8))
            bg_names.append(bg_name)
    (root / "training_fg_names.txt").write_text("\n".join(fg_names) + "\n")
    (root / "training_bg_names.txt").write_text("\n".join(bg_names) + "\n")


def test_comp1k_adobe_layout(tmp_path):
    write_fake_adobe_layout(tmp_path)
    source = Comp1kTrainSource(tmp_path, bg_per_fg=2)
    assert len(source) == 4
    raw = source[3]  # fg 1, bg line 3
    fg = cv2.cvtColor(cv2.imread(str(tmp_path / "fg" / "object1.png")), cv2.COLOR_BGR2RGB)
    bg_path = tmp_path / "train2014" / "COCO_train2014_100000000001.jpg"
    bg = cv2.cvtColor(cv2.imread(str(bg_path)), cv2.COLOR_BGR2RGB)
    assert np.array_equal(raw["bg"], fit_background(bg, fg.shape))
    assert np.array_equal(raw["image"], composite(fg, raw["bg"], raw["alpha"]))
    dataset = Comp1kTrainDataset(tmp_path, crop_sizes=(48,), out_size=32, seed=1, bg_per_fg=2)
    assert len(dataset) == 4
    item = dataset[0]
    assert item["input"].shape == (4, 32, 32) and item["fg"].shape == (3, 32, 32)
    assert torch.equal(item["input"], dataset[0]["input"])


def test_comp1k_json_layout_matches_on_the_fly(tmp_path):
    write_fake_adobe_layout(tmp_path / "adobe")
    json_path = composite_dataset_to_disk(tmp_path / "adobe", out_dir=tmp_path / "mmagic", bg_per_fg=2)
    entries = json.loads(json_path.read_text())
    assert len(entries) == 4 and set(entries[0]) == {"alpha_path", "fg_path", "bg_path", "merged_path"}
    assert (tmp_path / "mmagic" / "merged" / "object1_1.png").is_file()
    on_the_fly = Comp1kTrainSource(tmp_path / "adobe", bg_per_fg=2)
    from_json = Comp1kTrainSource(tmp_path / "mmagic")
    assert len(from_json) == 4
    for i in range(4):
        a, b = on_the_fly[i], from_json[i]
        assert all(np.array_equal(a[k], b[k]) for k in ("image", "alpha", "fg", "bg"))
    tensors_a = Comp1kTrainDataset(tmp_path / "adobe", bg_per_fg=2, crop_sizes=(48,), out_size=32)[2]
    tensors_b = Comp1kTrainDataset(tmp_path / "mmagic", crop_sizes=(48,), out_size=32)[2]
    assert all(torch.equal(tensors_a[k], tensors_b[k]) for k in tensors_a)


def test_comp1k_accepts_coco2017_names(tmp_path):
    """training_bg_names.txt lists COCO_train2014_* names; COCO 2017 files drop that prefix."""
    write_fake_adobe_layout(tmp_path)
    (tmp_path / "train2014").rename(tmp_path / "train2017")
    for path in (tmp_path / "train2017").iterdir():
        path.rename(path.with_name(path.name.removeprefix("COCO_train2014_")))
    source = Comp1kTrainSource(tmp_path, bg_per_fg=2, bg_dir=tmp_path / "train2017")
    assert source[1]["bg"].shape == (70, 60, 3)


def test_comp1k_missing_files_are_named(tmp_path):
    write_fake_adobe_layout(tmp_path)
    (tmp_path / "train2014" / "COCO_train2014_000000000001.jpg").unlink()
    source = Comp1kTrainSource(tmp_path, bg_per_fg=2)
    with pytest.raises(FileNotFoundError, match="COCO_train2014_000000000001.jpg"):
        source[1]
    (tmp_path / "alpha" / "object1.png").unlink()
    with pytest.raises(FileNotFoundError, match="object1.png"):
        Comp1kTrainSource(tmp_path, bg_per_fg=2)
    with pytest.raises(FileNotFoundError, match="training_fg_names.txt"):
        Comp1kTrainSource(tmp_path / "nowhere")


# --- PipelineDataset ---


class TinyMatting:
    """Stands in for indexnet.synthetic.SyntheticMatting: uint8 image/alpha/fg/bg/trimap dicts."""

    def __len__(self):
        return 3

    def __getitem__(self, i):
        sample = make_sample(h=64, w=64, seed=i, radius=12 + i)
        return dict(sample, trimap=np.zeros((64, 64), np.uint8))


@pytest.mark.parametrize("pipeline", ["indexnet", "dim"])
def test_pipeline_dataset_deterministic_per_seed_epoch_index(pipeline):
    def make(seed):
        return PipelineDataset(TinyMatting(), pipeline, crop_sizes=(32, 48), out_size=32, seed=seed)

    a, b = make(7), make(7)
    assert len(a) == 3
    first = a[1]
    assert first["input"].shape == (4, 32, 32) and (first["trimap"] == 128).any()
    assert all(torch.equal(first[k], b[1][k]) for k in first)  # same (seed, epoch, index)
    epoch0 = [a[i]["input"] for i in range(3)]
    a.set_epoch(1)
    epoch1 = [a[i]["input"] for i in range(3)]
    assert any(not torch.equal(x, y) for x, y in zip(epoch0, epoch1))  # epochs differ
    resumed = make(7)
    resumed.set_epoch(1)  # a resumed run, fresh object, same epoch: the same stream
    assert all(torch.equal(resumed[i]["input"], epoch1[i]) for i in range(3))
    other_seed = make(8)
    assert any(not torch.equal(other_seed[i]["input"], epoch0[i]) for i in range(3))
