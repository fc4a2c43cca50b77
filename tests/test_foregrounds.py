"""Real-photo training material: cached foreground colours, object cut-outs, holey foregrounds,
background folders, hand-drawn-like trimaps, the mixed stream and its training config."""
import cv2
import numpy as np
import pytest

from indexnet.data import UNKNOWN, composite, drawn_pipeline, trimap_like_drawn
from indexnet.evaluate import AlphamattingDataset
from indexnet.foregrounds import (
    ALPHAMATTING_TRAIN,
    ALPHAMATTING_VAL,
    HOLEY_KINDS,
    PROBE_KINDS,
    BackgroundBank,
    HoleProbe,
    MattingMix,
    ObjectCutouts,
    RealForegrounds,
    check_holey_kinds,
    draw_holey_kind,
    holey_foreground,
    list_images,
    region_trimap,
)
from indexnet.train import PRESETS, build_datasets, native_bf16, parse_overrides


def _write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(array, cv2.COLOR_RGB2BGR) if array.ndim == 3 else array)


def _soft_disk(h, w, radius, edge=6):
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot(yy - h / 2, xx - w / 2)
    return np.clip((radius + edge - r) / edge * 255, 0, 255).astype(np.uint8)


@pytest.fixture
def photo_folder(tmp_path):
    """Two photos of a red disk over a green-blue gradient, with their mattes (alphamatting layout)."""
    rng = np.random.default_rng(0)
    for name in ("GT01", "GT02"):
        alpha = _soft_disk(60, 80, 18)
        fg = np.zeros((60, 80, 3), np.uint8)
        fg[...] = (220, 30, 30)
        bg = np.dstack([np.zeros((60, 80)), np.tile(np.linspace(0, 255, 80), (60, 1)),
                        rng.integers(0, 256, (60, 80))]).astype(np.uint8)
        _write(tmp_path / "photos" / "image" / f"{name}.png", composite(fg, bg, alpha))
        _write(tmp_path / "photos" / "alpha" / f"{name}.png", alpha)
    for k in range(3):
        _write(tmp_path / "bgs" / f"bg{k}.jpg", rng.integers(0, 256, (50 + 10 * k, 70, 3), dtype=np.uint8))
    return tmp_path


def test_trimap_like_drawn_is_wide_irregular_and_keeps_fractional_unknown():
    alpha = _soft_disk(240, 320, 70, edge=4)
    fractional = (alpha > 0) & (alpha < 255)
    widths = []
    for seed in range(12):
        trimap = trimap_like_drawn(alpha, np.random.default_rng(seed), band_probability=0.0)
        assert set(np.unique(trimap)) <= {0, UNKNOWN, 255}
        assert (trimap[fractional] == UNKNOWN).all()
        assert (trimap[alpha == 0] != 255).all() and (trimap[alpha == 255] != 0).all()  # never a wrong label
        widths.append((trimap == UNKNOWN).sum() / fractional.sum())
    # Wide: on average many times the edge itself; varied from sample to sample (not one fixed band).
    assert np.mean(widths) > 3 and np.std(widths) > 1
    assert np.array_equal(trimap_like_drawn(alpha, np.random.default_rng(3)),
                          trimap_like_drawn(alpha, np.random.default_rng(3)))


def test_trimap_like_drawn_band_branch_is_the_indexnet_rule():
    from indexnet.data import trimap_from_distance
    alpha = _soft_disk(120, 160, 40)
    got = trimap_like_drawn(alpha, np.random.default_rng(5), band_probability=1.0)
    rng = np.random.default_rng(5)
    rng.random()  # the branch draw
    assert np.array_equal(got, trimap_from_distance(alpha, rng))


def test_drawn_pipeline_output():
    alpha = _soft_disk(200, 260, 60)
    rng = np.random.default_rng(0)
    sample = {"image": rng.integers(0, 256, (200, 260, 3), dtype=np.uint8), "alpha": alpha,
              "fg": rng.integers(0, 256, (200, 260, 3), dtype=np.uint8), "bg": rng.integers(0, 256, (200, 260, 3), dtype=np.uint8)}
    out = drawn_pipeline(sample, np.random.default_rng(1), crop_sizes=(96, 128), out_size=64)
    assert out["trimap"].shape == out["alpha"].shape == (64, 64) and out["image"].shape == (64, 64, 3)
    assert (out["trimap"] == UNKNOWN).any()


def test_real_foregrounds_estimate_once_and_cache(photo_folder, monkeypatch):
    calls = []
    import indexnet.foregrounds as fgmod
    real_estimate = fgmod.estimate_foreground
    monkeypatch.setattr(fgmod, "estimate_foreground", lambda *a: calls.append(1) or real_estimate(*a))
    cache = photo_folder / "cache"
    real = RealForegrounds(photo_folder / "photos", names=("GT01", "GT02"), cache=cache)
    assert len(real) == 2 and len(calls) == 2
    fg, alpha = real[0]
    assert fg.shape == (60, 80, 3) and alpha.shape == (60, 80) and fg.dtype == np.uint8
    # Inside the disk (alpha 255) the foreground is the photo; at its soft edge it is recovered red,
    # not the photo's red-over-background mixture.
    edge = (alpha > 60) & (alpha < 200)
    assert np.abs(fg[edge].astype(int) - (220, 30, 30)).mean() < 20
    again = RealForegrounds(photo_folder / "photos", names=("GT01", "GT02"), cache=cache)
    assert len(calls) == 2  # read from the cache
    assert np.array_equal(again[0][0], fg)


def test_real_foregrounds_name_what_is_missing(photo_folder):
    with pytest.raises(FileNotFoundError, match="GT07"):
        RealForegrounds(photo_folder / "photos", names=("GT01", "GT07"), cache=photo_folder / "cache")


def test_background_bank(photo_folder):
    bank = BackgroundBank([photo_folder / "bgs"])
    assert len(bank) == 3
    view = bank.random(np.random.default_rng(0), 200, 90)  # larger than every photo: scaled up
    assert view.shape == (200, 90, 3) and view.dtype == np.uint8
    with pytest.raises(FileNotFoundError, match="not found"):
        list_images([photo_folder / "nope"])
    (photo_folder / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no images"):
        list_images(photo_folder / "empty")


def test_object_cutouts(photo_folder):
    photo = np.random.default_rng(0).integers(0, 256, (100, 200, 3), dtype=np.uint8)
    _write(photo_folder / "coco" / "000001.jpg", photo)
    outlines = photo_folder / "outlines"
    outlines.mkdir()
    # A big square (kept) and a tiny triangle (under min_area: skipped).
    (outlines / "000001.txt").write_text("1 0.25 0.2 0.75 0.2 0.75 0.8 0.25 0.8\n17 0.1 0.1 0.12 0.1 0.1 0.12\n")
    objects = ObjectCutouts(photo_folder / "coco", outlines)
    assert len(objects) == 1
    fg, alpha = objects[0]
    assert fg.shape[:2] == alpha.shape
    assert (alpha == 255).mean() > 0.4 and (alpha == 0).any()  # the object, with a margin around it
    with pytest.raises(FileNotFoundError, match="no object outlines"):
        ObjectCutouts(photo_folder / "coco", photo_folder / "bgs")


@pytest.mark.parametrize("kind", [None, *(k for k in HOLEY_KINDS if k != "translucent")])
@pytest.mark.parametrize("seed", range(3))
def test_holey_foreground_has_holes_and_soft_edges(seed, kind):
    texture = np.random.default_rng(seed).integers(0, 256, (100, 140, 3), dtype=np.uint8)
    fg, alpha = holey_foreground(np.random.default_rng(seed), 160, texture, kind)
    assert fg.shape == (160, 160, 3) and alpha.shape == (160, 160)
    assert 0.01 < (alpha > 0).mean() < 0.95
    assert ((alpha > 0) & (alpha < 255)).any()  # anti-aliased
    n_background_parts, _ = cv2.connectedComponents((alpha == 0).astype(np.uint8))
    n_foreground_parts, _ = cv2.connectedComponents((alpha > 0).astype(np.uint8))
    assert n_background_parts + n_foreground_parts > 4  # holes, or many separate pieces


def test_painted_foregrounds_have_parts_of_their_own_colour():
    texture = np.full((64, 64, 3), 128, np.uint8)  # flat grey: any variety comes from the parts
    fg, alpha = holey_foreground(np.random.default_rng(1), 200, texture, "foliage")
    # Leaves in several shades: sharp colour steps inside the plant where one leaf overlaps another (the light
    # falloff over the plant is smooth, and a flat texture has no grain).
    step = np.abs(np.diff(fg.astype(np.float32), axis=1)).max(axis=2)
    inside = cv2.erode((alpha == 255).astype(np.uint8), np.ones((3, 3), np.uint8))[:, 1:] > 0
    assert (step[inside] > 20).mean() > 0.01
    fg, alpha = holey_foreground(np.random.default_rng(2), 200, texture, "fibres")
    body = cv2.erode((alpha == 255).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    strands = (alpha > 0) & ~cv2.dilate(body.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert strands.sum() > 200 and ((alpha > 0) & (alpha < 255))[strands].mean() > 0.3  # thin, soft strands
    with pytest.raises(ValueError, match="unknown holey foreground kind 'moss'"):
        holey_foreground(np.random.default_rng(0), 64, texture, "moss")


@pytest.mark.parametrize("seed", range(4))
def test_strands_are_thick_opaque_and_of_many_colours(seed):
    texture = np.full((64, 64, 3), 128, np.uint8)  # flat grey: the colours come from the strands
    fg, alpha = holey_foreground(np.random.default_rng(seed), 200, texture, "strands")
    covered = alpha > 0
    assert (alpha == 255).sum() > 0.6 * covered.sum()  # opaque: only the strands' outlines are fractional
    depth = cv2.distanceTransform((alpha == 255).astype(np.uint8), cv2.DIST_L2, 3)
    assert depth.max() >= 2.5  # at least 4 px wide
    core = fg[depth >= 1.5].astype(np.float32)
    assert core.std(axis=0).max() > 25  # several colours, not one


@pytest.mark.parametrize("seed", range(4))
def test_meshed_objects_are_solid_where_the_mesh_has_holes(seed):
    texture = np.random.default_rng(seed).integers(0, 256, (100, 140, 3), dtype=np.uint8)
    fg, alpha = holey_foreground(np.random.default_rng(seed), 240, texture, "meshed")
    solid = cv2.erode((alpha == 255).astype(np.uint8), np.ones((7, 7), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(solid)
    assert n > 1 and stats[1:, cv2.CC_STAT_AREA].max() > 100  # an object, wider than any wire
    holes = (alpha == 0) & (cv2.dilate((alpha > 0).astype(np.uint8), np.ones((25, 25), np.uint8)) > 0)
    n_holes, _ = cv2.connectedComponents(holes.astype(np.uint8))
    assert n_holes > 10  # and the mesh around it is full of holes


@pytest.mark.parametrize("seed", range(6))
def test_translucent_sheets_have_one_opacity_whatever_their_colour(seed):
    texture = np.random.default_rng(seed).integers(0, 256, (100, 140, 3), dtype=np.uint8)
    fg, alpha = holey_foreground(np.random.default_rng(seed), 200, texture, "translucent")
    inside = cv2.erode((alpha > 0).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & (alpha < 250)
    assert inside.sum() > 0.1 * alpha.size  # a large sheet
    sheet = alpha[inside].astype(np.float32) / 255
    assert 0.4 <= np.median(sheet) <= 0.98 and sheet.std() < 0.05  # near-uniform alpha...
    luma = fg[inside].astype(np.float32).mean(axis=1)
    # ...that its print does not decide: dark and bright parts of the sheet are equally opaque.
    dark, bright = luma < np.percentile(luma, 25), luma > np.percentile(luma, 75)
    assert abs(sheet[dark].mean() - sheet[bright].mean()) < 0.06


def test_region_trimap_marks_the_whole_holey_area_unknown():
    texture = np.full((64, 64, 3), 128, np.uint8)
    for seed in range(4):
        rng = np.random.default_rng(seed)
        _, alpha = holey_foreground(rng, 200, texture, "strands")
        trimap = region_trimap(alpha, rng)
        assert set(np.unique(trimap)) <= {0, UNKNOWN, 255}
        assert not ((alpha > 0) & (trimap == 0)).any()  # nothing covered is called background
        assert (alpha[trimap == 255] == 255).all()  # foreground only where solid
        assert (trimap == UNKNOWN)[alpha == 0].mean() > 0.05 or (alpha == 0).mean() < 0.05  # the gaps too


def test_hole_probe_is_fixed_at_the_test_scale_and_apart_from_training(photo_folder):
    bank = BackgroundBank([photo_folder / "bgs"])
    for kind in PROBE_KINDS:
        probe = HoleProbe(bank, kind, count=3, size=150, test_scale=1.5)
        first, again = probe[0], HoleProbe(bank, kind, count=3, size=150, test_scale=1.5)[0]
        assert first["name"] == f"{kind}_00" and len(probe) == 3
        for key in ("image", "alpha", "trimap"):
            assert first[key].shape[:2] == (100, 100) and np.array_equal(first[key], again[key])  # 150 / 1.5, seeded
        alpha, trimap = first["alpha"], first["trimap"]
        assert (trimap[(alpha > 0) & (alpha < 255)] == UNKNOWN).all() and not ((alpha > 0) & (trimap == 0)).any()
        assert not np.array_equal(first["alpha"], probe[1]["alpha"])
    with pytest.raises(ValueError, match="unknown probe kind 'fibres'"):
        HoleProbe(bank, "fibres")
    with pytest.raises(IndexError):
        probe[3]


@pytest.mark.parametrize("same_palette", [0.0, 1.0])
def test_objects_can_go_onto_their_own_photo(photo_folder, same_palette):
    # The photo: dark on the left, bright on the right; the object's own crop turned round is bright on the
    # left, which no bank background (dark everywhere) is.
    photo = np.repeat(np.linspace(0, 255, 200)[None, :, None], 100, 0).repeat(3, 2).astype(np.uint8)
    _write(photo_folder / "coco" / "000001.jpg", photo)
    outlines = photo_folder / "outlines"
    outlines.mkdir()
    (outlines / "000001.txt").write_text("1 0.25 0.2 0.75 0.2 0.75 0.8 0.25 0.8\n")
    dark = photo_folder / "dark"
    for i in range(2):
        _write(dark / f"bg{i}.png", np.full((80, 80, 3), 10, np.uint8))
    mix = MattingMix(BackgroundBank(dark), objects=ObjectCutouts(photo_folder / "coco", outlines),
                     mix={"objects": 1}, seed=0, same_palette=same_palette)
    for i in range(4):
        sample = mix[i]
        bg = sample["bg"].astype(np.float32)
        assert (bg.mean() > 40) == (same_palette == 1.0)
        if same_palette:  # the photo turned round (the sample may be flipped left-right as a whole)
            assert abs(bg[:, :5].mean() - bg[:, -5:].mean()) > 30


@pytest.mark.parametrize("same_palette", [0.0, 1.0])
def test_holey_samples_can_share_their_background_photo(tmp_path, same_palette):
    # Backgrounds dark at the top, bright at the bottom: the bank only mirrors them left-right, the
    # same-palette background is the texture photo turned round (bright at the top).
    ramp = np.repeat(np.linspace(0, 255, 90)[:, None, None], 120, 1).repeat(3, 2).astype(np.uint8)
    for i in range(3):
        _write(tmp_path / f"bg{i}.png", ramp // (i + 1))
    mix = MattingMix(BackgroundBank(tmp_path), mix={"holes": 1}, seed=0, same_palette=same_palette)
    for i in range(4):
        bg = mix[i]["bg"].astype(np.float32)
        top_brighter = bg[:10].mean() > bg[-10:].mean()
        assert top_brighter == (same_palette == 1.0)


def test_resampled_holey_samples_have_soft_edges_and_leave_other_streams_alone(tmp_path):
    # Shrunk and enlarged back as predict enlarges a photo to its test scale: the same foregrounds, with
    # more fractional alpha at their edges. A mix without the option draws the very same samples as before.
    for i in range(3):
        _write(tmp_path / f"bg{i}.png", np.random.default_rng(i).integers(0, 256, (90, 120, 3), dtype=np.uint8))
    bank = BackgroundBank(tmp_path)
    crisp, soft = (MattingMix(bank, mix={"holes": 1}, seed=4, resampled_holes=r) for r in (0.0, 1.0))
    fractional = lambda a: np.mean((a > 0) & (a < 255))  # noqa: E731
    pairs = [(crisp[i]["alpha"], soft[i]["alpha"]) for i in range(4)]
    assert all(c.shape == s.shape for c, s in pairs)
    assert all(fractional(s) > 1.2 * fractional(c) for c, s in pairs)
    default = MattingMix(bank, mix={"holes": 1}, seed=4)
    assert all(np.array_equal(default[i]["image"], crisp[i]["image"]) for i in range(4))
    with pytest.raises(ValueError, match="resampled_holes is a share of samples"):
        MattingMix(bank, mix={"holes": 1}, resampled_holes=1.5)


def test_holey_kinds_are_drawn_by_their_weights(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    weights = check_holey_kinds({"translucent": 3, "strands": 1, "meshed": 0})
    drawn = [draw_holey_kind(rng, weights) for _ in range(2000)]
    assert set(drawn) == {"translucent", "strands"}
    assert abs(drawn.count("translucent") / len(drawn) - 0.75) < 0.04
    default = [draw_holey_kind(rng) for _ in range(4000)]
    assert set(default) == set(HOLEY_KINDS) and abs(default.count("foliage") / len(default) - 0.17) < 0.03
    # The mix passes its weights on, and without them draws the very samples it drew before the option existed.
    for i in range(3):
        _write(tmp_path / f"bg{i}.png", np.random.default_rng(i).integers(0, 256, (90, 120, 3), dtype=np.uint8))
    bank = BackgroundBank(tmp_path)
    import indexnet.foregrounds as foregrounds
    kinds, original = [], foregrounds.holey_foreground
    monkeypatch.setattr(foregrounds, "holey_foreground", lambda rng, size, texture, kind=None: (
        kinds.append(kind), original(rng, size, texture, kind))[1])
    only = MattingMix(bank, mix={"holes": 1}, seed=4, holey_kinds={"meshed": 2})
    for i in range(3):
        only[i]
    assert kinds == ["meshed"] * 3
    monkeypatch.undo()
    images = [MattingMix(bank, mix={"holes": 1}, seed=4, holey_kinds=h)[1]["image"] for h in (None, HOLEY_KINDS)]
    assert np.array_equal(*images)
    with pytest.raises(ValueError, match=r"unknown holey foreground kinds \['moss'\]: expected some of"):
        MattingMix(bank, mix={"holes": 1}, holey_kinds={"moss": 1})
    with pytest.raises(ValueError, match="must be a dict from kind to weight"):
        check_holey_kinds(["strands"])


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_real_samples_can_keep_the_trimap_a_person_drew(tmp_path, share):
    # An off-centre soft disk, so that a trimap not flipped, scaled or cropped with the photo would disagree.
    yy, xx = np.mgrid[:90, :120]
    alpha = np.clip((22 - np.hypot(yy - 35, xx - 40)) / 4 * 255, 0, 255).astype(np.uint8)
    trimap = np.full_like(alpha, UNKNOWN)
    trimap[alpha == 255], trimap[alpha == 0] = 255, 0
    trimap[cv2.dilate((alpha > 0).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0] = UNKNOWN
    trimap[cv2.erode((alpha == 255).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0] = 255
    fg = np.full((90, 120, 3), (200, 40, 40), np.uint8)
    _write(tmp_path / "photos" / "image" / "GT01.png", composite(fg, np.zeros_like(fg), alpha))
    _write(tmp_path / "photos" / "alpha" / "GT01.png", alpha)
    _write(tmp_path / "photos" / "trimap1" / "GT01.png", trimap)
    _write(tmp_path / "bgs" / "bg.png", np.full((64, 64, 3), 90, np.uint8))
    real = RealForegrounds(tmp_path / "photos", names=("GT01",), cache=tmp_path / "cache")
    assert len(real.hand_trimaps[0]) == 1
    mix = MattingMix(BackgroundBank(tmp_path / "bgs"), real=real, mix={"real": 1}, scale_range=(0.6, 1.8),
                     window=64, hand_trimaps=share)
    for i in range(8):
        sample = mix[i]
        assert ("hand_trimap" in sample) == (share == 1.0)
        if share:
            kept, a = sample["hand_trimap"], sample["alpha"]
            assert kept.shape == a.shape and set(np.unique(kept)) <= {0, UNKNOWN, 255}
            assert (a[kept == 255] > 200).all() and (a[kept == 0] < 55).all()  # moved with the photo
            out = drawn_pipeline(sample, np.random.default_rng(i), crop_sizes=(48,), out_size=48)
            assert "hand_trimap" not in out and set(np.unique(out["trimap"])) <= {0, UNKNOWN, 255}
    _write(tmp_path / "photos" / "trimap2" / "GT01.png", trimap[:-1])
    with pytest.raises(ValueError, match="GT01: a trimap is"):
        RealForegrounds(tmp_path / "photos", names=("GT01",), cache=tmp_path / "cache")


def test_drawn_pipeline_keeps_a_hand_drawn_trimap():
    alpha = _soft_disk(64, 64, 20)
    sample = {"image": np.zeros((64, 64, 3), np.uint8), "alpha": alpha, "hand_trimap": np.full((64, 64), UNKNOWN, np.uint8)}
    out = drawn_pipeline(sample, np.random.default_rng(0), crop_sizes=(64,), out_size=64)
    assert (out["trimap"] == UNKNOWN).all()  # drawing one would have labelled the disk's centre foreground


def test_matting_mix_is_reproducible_and_mixes_sources(photo_folder):
    real = RealForegrounds(photo_folder / "photos", names=("GT01",), cache=photo_folder / "cache")
    mix = MattingMix(BackgroundBank(photo_folder / "bgs"), real=real,
                     mix={"real": 1, "holes": 1, "synthetic": 1}, seed=3, window=128)
    sources = set()
    for i in range(12):
        a, b = mix[i], mix[i]
        assert all(np.array_equal(a[k], b[k]) for k in ("image", "alpha", "fg", "bg"))
        assert a["image"].shape[:2] == a["alpha"].shape == a["bg"].shape[:2]
        assert max(a["alpha"].shape) <= 128
        assert np.array_equal(a["image"], composite(a["fg"], a["bg"], a["alpha"]))
        sources.add(a["source"])
    assert sources == {"real", "holes", "synthetic"}
    with pytest.raises(ValueError, match="no objects source"):
        MattingMix(BackgroundBank(photo_folder / "bgs"), mix={"objects": 1})
    with pytest.raises(ValueError, match="unknown mix sources"):
        MattingMix(BackgroundBank(photo_folder / "bgs"), mix={"hair": 1})
    with pytest.raises(ValueError, match="hand_trimaps is a share of samples: expected 0..1, got 50"):
        MattingMix(BackgroundBank(photo_folder / "bgs"), mix={"holes": 1}, hand_trimaps=50)


def test_real_preset_builds_the_stream_and_says_what_is_missing(photo_folder, monkeypatch):
    monkeypatch.setenv("INDEXNET_CACHE", str(photo_folder / "cache"))
    with pytest.raises(ValueError, match="bg_dir"):
        build_datasets(PRESETS["real"])
    with pytest.raises(ValueError, match="fg_dir"):
        build_datasets(parse_overrides(PRESETS["real"], [f"bg_dir={photo_folder / 'bgs'}"]))
    cfg = parse_overrides(PRESETS["real"], [f"bg_dir=[\"{photo_folder / 'bgs'}\"]", f"fg_dir={photo_folder / 'photos'}",
                                            'fg_names=["GT01","GT02"]', 'mix={"real": 1, "holes": 1}'])
    stream, val = build_datasets(cfg)
    assert val is None
    item = stream[0]
    assert item["input"].shape == (4, 256, 256) and item["alpha"].shape == (1, 256, 256)


def test_alphamatting_validation_split(shared_dir):
    root = shared_dir / "data" / "alphamatting"
    val = AlphamattingDataset(root)
    assert len(val) == 8 and [item["name"] for item in val.items][:2] == ["GT11/trimap1", "GT12/trimap1"]
    sample = val[7]
    assert sample["name"] == "GT14/trimap2" and sample["trimap"].shape == sample["image"].shape[:2]
    assert set(np.unique(sample["trimap"])) == {0, 128, 255}
    assert not set(ALPHAMATTING_TRAIN) & set(ALPHAMATTING_VAL)  # never validate on training photos
    with pytest.raises(FileNotFoundError, match="GT99"):
        AlphamattingDataset(root, names=("GT99",))


def test_native_bf16_follows_the_cpu_flags(monkeypatch):
    import torch
    from pathlib import Path
    real_read = Path.read_text
    for flags, expected in (("fpu avx2 fma", False), ("fpu avx2 avx512f avx512_bf16 fma", True), ("fpu amx_bf16 x", True)):
        monkeypatch.setattr(Path, "read_text", lambda self, *a, _f=flags, **k: f"flags\t\t: {_f}\n"
                            if str(self) == "/proc/cpuinfo" else real_read(self, *a, **k))
        assert native_bf16(torch.device("cpu")) is expected
