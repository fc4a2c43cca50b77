"""Evaluation runner: datasets and their layouts, errors that name the file, scores, the table, the CLI."""
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from indexnet.evaluate import (Comp1kTestDataset, EvalResult, FolderDataset, MMagicJsonDataset, evaluate,
                               open_dataset)
from indexnet.metrics import compute_metrics, one_sided_errors


def write(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), array[..., ::-1] if array.ndim == 3 else array)
    return path


def sample(rng, h=64, w=96):
    """A soft disk matte, a trimap with an unknown band, and a random image."""
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot(yy - h / 2, xx - w / 2)
    alpha = np.clip((20 - r) / 8 + 0.5, 0, 1)
    trimap = np.where(alpha > 0.5, 255, 0).astype(np.uint8)
    trimap[np.abs(r - 20) < 6] = 128
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return image, np.rint(alpha * 255).astype(np.uint8), trimap


@pytest.fixture
def folder_set(tmp_path):
    """3 images of 64x96 in the image/alpha/trimap layout; returns (root, {stem: (image, alpha, trimap)})."""
    rng = np.random.default_rng(0)
    data = {}
    for i in range(3):
        image, alpha, trimap = sample(rng)
        alpha = np.roll(alpha, 5 * i, axis=1)  # three different mattes
        write(tmp_path / "set" / "image" / f"im{i}.png", image)
        write(tmp_path / "set" / "alpha" / f"im{i}.png", np.repeat(alpha[..., None], 3, axis=2))  # RGB, equal channels
        write(tmp_path / "set" / "trimap" / f"im{i}.png", trimap)
        data[f"im{i}"] = (image, alpha, trimap)
    return tmp_path / "set", data


def oracle(data):
    """predict_fn returning the ground truth of whichever image it is given."""
    by_image = {image.tobytes(): alpha for image, alpha, _ in data.values()}
    return lambda image, trimap: by_image[image.tobytes()]


# ----------------------------------------------------------------------------------- scores
def test_perfect_prediction_scores_zero(folder_set):
    root, data = folder_set
    result = evaluate(None, FolderDataset(root), predict_fn=oracle(data), progress=False)
    assert [row["name"] for row in result.rows] == ["im0", "im1", "im2"]
    assert result.means == {"SAD": 0.0, "MSE": 0.0, "GRAD": 0.0, "CONN": 0.0, "false_holes": 0.0, "false_fills": 0.0}


def test_false_holes_and_fills_are_shares_of_unknown_pixels(folder_set):
    root, data = folder_set
    # Predict 0 everywhere: every unknown pixel whose truth is >= 0.5 is a false hole, none is a false fill;
    # predict 1: the reverse. Pooled over all unknown pixels of the set.
    solid = sum(int(((trimap == 128) & (alpha >= 128)).sum()) for _, alpha, trimap in data.values())
    clear = sum(int(((trimap == 128) & (alpha < 128)).sum()) for _, alpha, trimap in data.values())
    assert solid > 0 and clear > 0
    zero = evaluate(None, FolderDataset(root), predict_fn=lambda image, trimap: np.zeros(trimap.shape), progress=False)
    one = evaluate(None, FolderDataset(root), predict_fn=lambda image, trimap: np.ones(trimap.shape), progress=False)
    assert zero.means["false_holes"] == pytest.approx(solid / (solid + clear)) and zero.means["false_fills"] == 0
    assert one.means["false_fills"] == pytest.approx(clear / (solid + clear)) and one.means["false_holes"] == 0
    # Thresholds on 8-bit values: 63 (< 0.25) is a hole under truth 128 (>= 0.5), 64 is not; 192 (> 0.75) a fill
    # under truth 127, 191 not.
    gt = np.array([[128, 128, 127, 127]], np.uint8)
    trimap = np.full(gt.shape, 128, np.uint8)
    counts = one_sided_errors(np.array([[63, 64, 192, 191]], np.uint8), gt, trimap)
    assert counts == {"false_holes": 1, "false_fills": 1, "unknown": 4}


def test_zero_prediction_scores_known_values(folder_set):
    root, data = folder_set
    result = evaluate(None, FolderDataset(root), predict_fn=lambda image, trimap: np.zeros(trimap.shape),
                      progress=False)
    sads, mses = [], []
    for image, alpha, trimap in data.values():
        counted = alpha[trimap == 128] / 255.0
        sads.append(counted.sum() / 1000)
        mses.append((counted**2).mean())
    assert [row["SAD"] for row in result.rows] == pytest.approx(sads, rel=1e-12)
    assert result.means["SAD"] == pytest.approx(np.mean(sads), rel=1e-12)
    assert result.means["MSE"] == pytest.approx(np.mean(mses), rel=1e-12)
    assert result.means["SAD"] > 0.05


def test_float_predictions_are_rounded_and_saved(folder_set, tmp_path):
    root, data = folder_set
    truth = oracle(data)
    # alpha + 0.4/255 rounds back to the ground truth; the saved PNGs are those 8-bit mattes
    result = evaluate(None, FolderDataset(root), predict_fn=lambda im, tri: truth(im, tri) / 255.0 + 0.4 / 255,
                      save_preds=tmp_path / "preds", progress=False, limit=2)
    assert len(result.rows) == 2 and result.means["SAD"] == 0.0
    assert sorted(p.name for p in (tmp_path / "preds").iterdir()) == ["im0.png", "im1.png"]  # no temp files left
    saved = cv2.imread(str(tmp_path / "preds" / "im1.png"), cv2.IMREAD_UNCHANGED)
    assert saved.dtype == np.uint8 and np.array_equal(saved, data["im1"][1])


def test_prediction_of_wrong_size_names_the_image(folder_set):
    root, _ = folder_set
    with pytest.raises(ValueError, match=r"prediction for im0 has shape \(10, 10\), expected \(64, 96\)"):
        evaluate(None, FolderDataset(root), predict_fn=lambda im, tri: np.zeros((10, 10)), progress=False)
    with pytest.raises(ValueError, match="needs a model or a predict_fn"):
        evaluate(None, FolderDataset(root), progress=False)


def test_markdown_table_in_published_format():
    result = EvalResult(rows=[], means={"SAD": 45.6449, "MSE": 0.01249, "GRAD": 25.5049, "CONN": 44.8451})
    assert result.to_markdown("IndexNet (MMagic)", "Composition-1k").splitlines() == [
        "| Model | Dataset | SAD | MSE | GRAD | CONN |",
        "|---|---|---:|---:|---:|---:|",
        "| IndexNet (MMagic) | Composition-1k | 45.6 | 0.012 | 25.5 | 44.8 |",
    ]


def test_images_without_unknown_pixels_leave_the_mse_mean(folder_set):
    root, data = folder_set
    dataset = FolderDataset(root)
    dataset.items[0]["trimap"] = write(root / "trimap_all_fg" / "im0.png", np.full((64, 96), 255, np.uint8))
    result = evaluate(None, dataset, predict_fn=lambda im, tri: np.zeros(tri.shape), progress=False)
    assert math.isnan(result.rows[0]["MSE"]) and result.rows[0]["SAD"] == 0.0
    assert result.means["MSE"] == pytest.approx(np.mean([r["MSE"] for r in result.rows[1:]]))


# ----------------------------------------------------------------------------------- layouts
def test_folder_layout_and_trimap_choice(folder_set):
    root, data = folder_set
    dataset = open_dataset(root)
    assert isinstance(dataset, FolderDataset) and len(dataset) == 3
    item = dataset[1]
    assert item["name"] == "im1" and item["image"].shape == (64, 96, 3) and item["image"].dtype == np.uint8
    for key, value in zip(("image", "alpha", "trimap"), data["im1"]):
        assert np.array_equal(item[key], value), key

    (root / "trimap").rename(root / "trimap1")  # one trimap* folder: taken
    assert open_dataset(root).items[0]["trimap"].parent.name == "trimap1"
    write(root / "trimap2" / "im0.png", data["im0"][2])  # two: the caller must choose
    with pytest.raises(ValueError, match=r"trimap folders \['trimap1', 'trimap2'\].*--trimap-dir"):
        open_dataset(root)
    assert open_dataset(root, trimap_dir="trimap1").items[2]["trimap"] == root / "trimap1" / "im2.png"


@pytest.mark.parametrize("release_layout", [True, False])
def test_comp1k_layout(tmp_path, release_layout):
    """Composites <fg>_<k>.png share the alpha <fg>.png, as MMagic's preprocess_comp1k_dataset.py writes them."""
    rng = np.random.default_rng(1)
    root = tmp_path / "comp1k"
    adobe = root / "Combined_Dataset" / "Test_set" / "Adobe-licensed images" if release_layout else root
    merged_dir = root / "Combined_Dataset" / "Test_set" / "merged" if release_layout else root / "merged"
    alphas = {}
    for fg in ("boy-1518482_1920", "sieve-641426_1920"):
        image, alpha, trimap = sample(rng, 40, 56)
        alphas[fg] = write(adobe / "alpha" / f"{fg}.png", alpha)
        for k in range(2):
            write(merged_dir / f"{fg}_{k}.png", image)
            write(adobe / "trimaps" / f"{fg}_{k}.png", trimap)
    dataset = open_dataset(root)
    assert isinstance(dataset, Comp1kTestDataset)
    assert [item["name"] for item in dataset.items] == ["boy-1518482_1920_0", "boy-1518482_1920_1",
                                                        "sieve-641426_1920_0", "sieve-641426_1920_1"]
    assert dataset.items[3]["alpha"] == alphas["sieve-641426_1920"]
    assert dataset[3]["alpha"].shape == (40, 56)

    (adobe / "trimaps" / "sieve-641426_1920_1.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"no trimap for composite .*sieve-641426_1920_1\.png"):
        Comp1kTestDataset(root)


def test_mmagic_json_layout(tmp_path, folder_set):
    root, data = folder_set
    entries = [{"alpha_path": f"alpha/im{i}.png", "merged_path": f"image/im{i}.png", "trimap_path": f"trimap/im{i}.png",
                "fg_path": "unused", "bg_path": "unused"} for i in range(3)]
    (root / "test_list.json").write_text(json.dumps(entries))
    for path in (root, root / "test_list.json"):
        dataset = open_dataset(path)
        assert isinstance(dataset, MMagicJsonDataset) and len(dataset) == 3
        assert np.array_equal(dataset[2]["alpha"], data["im2"][1])
    # data_root: the paths are relative to it, not to the json's folder
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "test.json").write_text(json.dumps(entries))
    assert len(MMagicJsonDataset(tmp_path / "lists" / "test.json", data_root=root)) == 3

    entries[1]["alpha_path"] = "alpha/missing.png"
    (root / "test_list.json").write_text(json.dumps(entries))
    with pytest.raises(FileNotFoundError, match=r"alpha/missing\.png"):
        open_dataset(root)
    del entries[1]["trimap_path"]
    (root / "test_list.json").write_text(json.dumps(entries))
    with pytest.raises(ValueError, match="entry 1 has no trimap_path"):
        open_dataset(root)


def test_unknown_layout_and_missing_path(tmp_path):
    (tmp_path / "stuff").mkdir()
    with pytest.raises(ValueError, match="not a known dataset layout"):
        open_dataset(tmp_path / "stuff")
    with pytest.raises(FileNotFoundError, match="dataset not found"):
        open_dataset(tmp_path / "nowhere")


# ----------------------------------------------------------------------------------- errors name the file
def test_missing_alpha_names_the_image(folder_set):
    root, _ = folder_set
    (root / "alpha" / "im1.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"no alpha matte in .*alpha for .*im1\.png"):
        FolderDataset(root)


def test_mismatched_size_names_the_file(folder_set):
    root, _ = folder_set
    write(root / "trimap" / "im2.png", np.zeros((64, 95), np.uint8))
    dataset = FolderDataset(root)
    dataset[0]  # the others are fine
    with pytest.raises(ValueError, match=r"trimap/im2\.png is 95x64 \(WxH\) but its image .*image/im2\.png is 96x64"):
        dataset[2]


def test_unreadable_file_names_the_file(folder_set):
    root, _ = folder_set
    (root / "alpha" / "im0.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"alpha matte .*alpha/im0\.png is not a readable image"):
        FolderDataset(root)[0]


# ----------------------------------------------------------------------------------- real model and photos
def test_model_on_real_photos(authors_model, shared_dir, tmp_path):
    """The golden (random-weight) checkpoint on the first 2 alphamatting.com photos, tight trimaps."""
    dataset = open_dataset(shared_dir / "data" / "alphamatting", trimap_dir="trimap1")
    result = evaluate(authors_model, dataset, size_mode="pad", save_preds=tmp_path, progress=False, limit=2)
    assert [row["name"] for row in result.rows] == ["GT01", "GT02"]
    for row in result.rows:
        item = dataset[[i["name"] for i in dataset.items].index(row["name"])]
        saved = cv2.imread(str(tmp_path / f"{row['name']}.png"), cv2.IMREAD_UNCHANGED)
        # known regions come from the trimap; the scores are those of the saved 8-bit matte
        assert np.all(saved[item["trimap"] == 255] == 255) and np.all(saved[item["trimap"] == 0] == 0)
        assert compute_metrics(saved, item["alpha"], item["trimap"]) == {k: row[k] for k in ("SAD", "MSE", "GRAD", "CONN")}
        assert 0 < row["SAD"] < 200 and 0 < row["MSE"] < 1 and row["GRAD"] > 0 and row["CONN"] > 0


def test_cli_prints_the_table(golden_dir, folder_set, capsys):
    from indexnet.__main__ import main

    root, _ = folder_set
    code = main(["evaluate", "--checkpoint", str(golden_dir / "authors_random_checkpoint.pth.tar"),
                 "--data", str(root), "--limit", "2", "--size-mode", "pad", "--per-image"])
    out = capsys.readouterr().out
    assert code == 0
    assert "| im0 |" in out and "| im1 |" in out and "| im2 |" not in out
    assert "| Model | Dataset | SAD | MSE | GRAD | CONN |" in out
    assert "| authors_random_checkpoint.pth.tar | set, 2 images |" in out


def test_a_colour_photo_as_trimap_is_refused_as_predict_refuses_it(golden_dir, folder_set, capsys):
    """evaluate reads trimaps with predict's reader: the photos given as trimaps score nothing, they are refused."""
    from indexnet.__main__ import main

    root, data = folder_set
    with pytest.raises(ValueError, match=r"trimap .*im0.png is a colour image"):
        evaluate(None, FolderDataset(root, trimap_dir="image"), predict_fn=oracle(data), progress=False)
    code = main(["evaluate", "--checkpoint", str(golden_dir / "authors_random_checkpoint.pth.tar"),
                 "--data", str(root), "--trimap-dir", "image"])
    captured = capsys.readouterr()
    assert code == 2 and "SAD" not in captured.out and "is a colour image" in captured.err


def test_trimaps_are_scored_as_stored(folder_set):
    """Levels other than 0 / 128 / 255 are not snapped for scoring: only pixels exactly 128 count, as officially."""
    root, data = folder_set
    trimap = data["im0"][2].copy()
    trimap[trimap == 128] = 120
    write(root / "trimap" / "im0.png", trimap)
    assert not (FolderDataset(root)[0]["trimap"] == 128).any()
    np.testing.assert_array_equal(FolderDataset(root)[0]["trimap"], trimap)


def test_bad_limit_and_save_folder_are_refused_before_the_model_loads(golden_dir, folder_set, capsys, monkeypatch):
    from indexnet.__main__ import main
    import indexnet.checkpoint

    root, data = folder_set
    with pytest.raises(ValueError, match="limit must be a number of images, at least 1"):
        evaluate(None, FolderDataset(root), predict_fn=oracle(data), progress=False, limit=0)
    monkeypatch.setattr(indexnet.checkpoint, "load_model", lambda *a, **k: pytest.fail("the model must not load"))
    before = {p: p.read_bytes() for p in (root / "trimap").iterdir()}
    for extra, message in ((["--limit", "-1"], "--limit -1: give a number of images, at least 1"),
                           (["--save-preds", str(root / "trimap")], "is the input folder")):
        assert main(["evaluate", "--data", str(root), *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert {p: p.read_bytes() for p in (root / "trimap").iterdir()} == before
