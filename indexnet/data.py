"""Training data for IndexNet Matting (SPEC §4): compositing, trimaps, crops, datasets.

Every transform is a small pure function on numpy arrays (uint8, H x W or H x W x 3, RGB) that
takes its randomness from an explicit ``np.random.Generator``, so a notebook can show each step and
a dataset can replay any sample from (seed, epoch, index).

A *sample* is a dict of arrays with some of the keys ``image`` (the composite, H x W x 3), ``alpha``
(H x W), ``fg``, ``bg`` (H x W x 3) and ``trimap`` (H x W, values 0/128/255); other keys pass
through the transforms untouched.

Two training pipelines (SPEC §4):
* ``indexnet_pipeline`` (authors and MMagic's default config): trimap from alpha by a distance
  threshold on the full image, crop around an unknown pixel, resize to 320, random flip.
* ``dim_pipeline`` (MMagic's "dimaug" config, SAD 50.1): crop, flip, resize, then the trimap by
  random erosion / dilation.
Neither recomposites after cropping: the composite made once at full resolution is cropped and
resized together with fg, bg and alpha, and is the target of the composition loss.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from .images import read_gray as read_alpha
from .images import read_rgb, write_png
from .model import IMAGENET_MEAN, IMAGENET_STD

SPATIAL_KEYS = ("image", "alpha", "fg", "bg", "trimap")
UNKNOWN = 128


# --- Compositing (DIM's Composition_code.py, used by both references) -----------------------------


def composite(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """merged = alpha*fg + (1-alpha)*bg, truncated to uint8 (SPEC §4; Xu et al., CVPR 2017).

    ``fg``, ``bg``: H x W x 3 uint8 of the same size; ``alpha``: H x W uint8 (0..255). Float32
    arithmetic and truncation (not rounding) as DIM's official composition code, so composites match
    the released ones bit for bit.
    """
    a = alpha.astype(np.float32)[..., None] / 255.0
    merged = a * fg.astype(np.float32) + (1.0 - a) * bg.astype(np.float32)
    return merged.astype(np.uint8)


def fit_background(bg: np.ndarray, fg_shape: tuple[int, ...]) -> np.ndarray:
    """Enlarge-and-crop rule of the Composition-1k composites (SPEC §4).

    ratio = max(fg_w / bg_w, fg_h / bg_h); only if ratio > 1 the background is enlarged (bicubic,
    sizes rounded up); then the top-left fg-sized box is kept. A smaller ratio never shrinks it.
    """
    fh, fw = fg_shape[:2]
    bh, bw = bg.shape[:2]
    ratio = max(fw / bw, fh / bh)
    if ratio > 1:
        bg = cv2.resize(bg, (math.ceil(bw * ratio), math.ceil(bh * ratio)), interpolation=cv2.INTER_CUBIC)
    return bg[:fh, :fw]


# --- Trimaps -------------------------------------------------------------------------------------


def trimap_from_distance(alpha: np.ndarray, rng: np.random.Generator, max_dist: int = 19) -> np.ndarray:
    """IndexNet trimap: unknown within Euclidean distance t of a fractional-alpha pixel (SPEC §4).

    t is uniform in {1, ..., max_dist} (authors: ``np.random.randint(1, 20)``; MMagic
    ``GenerateTrimapWithDistTransform(dist_thr=20)``). Elsewhere 255 where alpha == 255, else 0.
    Fractional pixels (0 < alpha < 255) are always unknown.
    """
    return trimap_with_band(alpha, int(rng.integers(1, max_dist + 1)))


def trimap_with_band(alpha: np.ndarray, t: float) -> np.ndarray:
    """Unknown (128) within Euclidean distance t of a fractional-alpha pixel; elsewhere 255 where
    alpha == 255, else 0. The deterministic core of `trimap_from_distance`."""
    trimap = np.where(alpha == 255, 255, 0).astype(np.uint8)
    fractional = (alpha > 0) & (alpha < 255)
    if fractional.any():  # with none, the distance transform has no seed and every distance is huge
        # Distance of every pixel to the nearest fractional one (those are the zeros of the input);
        # DIST_MASK_PRECISE is the exact Euclidean transform, as scipy's distance_transform_edt.
        dist = cv2.distanceTransform((~fractional).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        trimap[dist <= t] = UNKNOWN
    return trimap


def trimap_from_morphology(
    alpha: np.ndarray, rng: np.random.Generator, kernel_range: tuple[int, int] = (1, 29)
) -> np.ndarray:
    """DIM trimap: random erosion and dilation with elliptical kernels (MMagic ``GenerateTrimap``).

    Independent kernel sizes for erosion and dilation, uniform in kernel_range (inclusive; MMagic's
    ``kernel_size=(1, 30)`` means 1..29), one iteration each. 255 where the eroded alpha is 255,
    0 where the dilated alpha is 0, 128 elsewhere; so fractional pixels are always unknown.
    """
    low, high = kernel_range
    erode_size, dilate_size = (int(k) for k in rng.integers(low, high + 1, size=2))
    ellipse = lambda k: cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))  # noqa: E731
    eroded = cv2.erode(alpha, ellipse(erode_size))
    dilated = cv2.dilate(alpha, ellipse(dilate_size))
    trimap = np.full_like(alpha, UNKNOWN, dtype=np.uint8)
    trimap[eroded == 255] = 255
    trimap[dilated == 0] = 0
    return trimap


def trimap_like_drawn(alpha: np.ndarray, rng: np.random.Generator, band_probability: float = 0.35,
                      max_width: int = 60, max_blobs: int = 25) -> np.ndarray:
    """Trimaps as people draw them: the band rule (``trimap_from_distance``) with probability
    ``band_probability``, else a wide, irregular unknown region.

    Real trimaps (alphamatting.com's, a user's brush strokes) are blobby and wide: most of their unknown
    region is plain foreground or background, which a network trained only on thin bands never learns
    to leave alone (grey rims, MEASURED.md). The wide rule keeps foreground / background only deeper
    than independent widths w_fg, w_bg (2..max_width px, log-uniform) inside them, each width wobbling
    along the outline (smooth noise, like a hand), then adds up to ``max_blobs`` unknown discs of radius
    4-30 px near the edge. Fractional alpha is always unknown.

    Why log-uniform: alphamatting.com's trimaps cover 10-50% of a photo, yet 90% of their unknown pixels
    lie within 4-5 px (trimap1) or 9-12 px (trimap2) of the object's edge; uniform 3-60 px widths put that
    90th percentile at ~25 px, so the network mostly practised on wider regions than people draw.
    """
    if rng.random() < band_probability:
        return trimap_from_distance(alpha, rng)
    h, w = alpha.shape
    fg, bg = alpha == 255, alpha == 0

    def wobbly_width() -> np.ndarray:
        cells = int(rng.integers(2, 8))
        noise = cv2.resize(rng.random((cells, cells), dtype=np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
        base = np.exp(rng.uniform(np.log(2), np.log(max_width)))
        return base * (1 + rng.uniform(0, 0.8) * (noise - 0.5))

    # Distance to the nearest pixel outside each region: the region eroded by r is where it exceeds r.
    depth_fg = cv2.distanceTransform(fg.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    depth_bg = cv2.distanceTransform(bg.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    trimap = np.full((h, w), UNKNOWN, np.uint8)
    trimap[depth_fg > wobbly_width()] = 255
    trimap[depth_bg > wobbly_width()] = 0
    unknown = np.argwhere(trimap == UNKNOWN)
    if len(unknown):
        for _ in range(int(rng.integers(0, max_blobs + 1))):
            y, x = unknown[int(rng.integers(len(unknown)))]
            r = int(rng.integers(4, 31))
            centre = (int(x + rng.integers(-r, r + 1)), int(y + rng.integers(-r, r + 1)))
            cv2.circle(trimap, centre, r, UNKNOWN, -1)
    trimap[(alpha > 0) & (alpha < 255)] = UNKNOWN
    return trimap


# --- Geometric augmentation ----------------------------------------------------------------------


def _resize_sample(sample: dict, height: int, width: int) -> dict:
    """Resize every spatial array: bicubic for images and alpha, nearest for the trimap (as both
    references; bicubic on uint8 saturates at 0/255 in OpenCV)."""
    out = dict(sample)
    for key in SPATIAL_KEYS:
        if key in sample:
            interpolation = cv2.INTER_NEAREST if key == "trimap" else cv2.INTER_CUBIC
            out[key] = cv2.resize(sample[key], (width, height), interpolation=interpolation)
    return out


def crop_around_unknown(
    sample: dict,
    rng: np.random.Generator,
    crop_sizes: tuple[int, ...] = (320, 480, 640),
    out_size: int = 320,
) -> dict:
    """Square crop centred on a random unknown pixel, resized to out_size (SPEC §4).

    The side s is uniform over ``crop_sizes``. An image smaller than s is first enlarged (by
    max(s/h, s/w), MMagic ``CropAroundUnknown``). The centre is a random unknown pixel (trimap == 128
    if the sample has a trimap, as the authors' ``RandomCrop``; else 0 < alpha < 255, as MMagic's
    configs do even when a trimap exists, and as the DIM pipeline needs before its trimap), drawn
    among those at least s/2 from the borders so the crop is centred on it; if there are none there,
    any unknown pixel with the box shifted inside the image; if there are none at all, a random box.
    Then everything is resized to out_size: bicubic for image, fg, bg and alpha (as the authors'
    ``resize_image_alpha`` and MMagic's config), nearest for the trimap.

    The authors differ in one detail: they enlarge only images whose short side is < 320 (to 500)
    and draw s among the sizes smaller than the short side.
    """
    s = int(rng.choice(crop_sizes))
    h, w = sample["alpha"].shape[:2]
    scale = max(s / h, s / w)
    if scale > 1:
        h, w = max(int(h * scale), s), max(int(w * scale), s)
        sample = _resize_sample(sample, h, w)

    if "trimap" in sample:
        unknown = sample["trimap"] == UNKNOWN
    else:
        unknown = (sample["alpha"] > 0) & (sample["alpha"] < 255)
    half = s // 2
    # A centre c gives the box [c - half, c - half + s), inside the image for c in [half, h - s + half].
    centred = np.zeros_like(unknown)
    centred[half : h - s + half + 1, half : w - s + half + 1] = True
    rows, cols = np.nonzero(unknown & centred)
    if len(rows) == 0:
        rows, cols = np.nonzero(unknown)
    if len(rows) > 0:
        i = rng.integers(len(rows))
        top = int(np.clip(rows[i] - half, 0, h - s))
        left = int(np.clip(cols[i] - half, 0, w - s))
    else:
        top, left = int(rng.integers(h - s + 1)), int(rng.integers(w - s + 1))

    out = dict(sample)
    for key in SPATIAL_KEYS:
        if key in sample:
            out[key] = sample[key][top : top + s, left : left + s]
    if s != out_size:
        out = _resize_sample(out, out_size, out_size)
    return out


def random_flip(sample: dict, rng: np.random.Generator, p: float = 0.5) -> dict:
    """Horizontal flip of every spatial array together, with probability p (SPEC §4)."""
    if rng.random() >= p:
        return dict(sample)
    out = dict(sample)
    for key in SPATIAL_KEYS:
        if key in sample:
            # contiguous copy: torch.from_numpy rejects the negative stride of a [:, ::-1] view
            out[key] = np.ascontiguousarray(sample[key][:, ::-1])
    return out


# --- Pipelines -----------------------------------------------------------------------------------


def indexnet_pipeline(
    sample: dict, rng: np.random.Generator, crop_sizes: tuple[int, ...] = (320, 480, 640), out_size: int = 320
) -> dict:
    """IndexNet training pipeline (SPEC §4): distance trimap on the full image, crop, flip.

    Any trimap already in the sample is replaced: the random trimap is part of the augmentation.
    """
    sample = dict(sample, trimap=trimap_from_distance(sample["alpha"], rng))
    sample = crop_around_unknown(sample, rng, crop_sizes, out_size)
    return random_flip(sample, rng)


def dim_pipeline(
    sample: dict, rng: np.random.Generator, crop_sizes: tuple[int, ...] = (320, 480, 640), out_size: int = 320
) -> dict:
    """DIM-style pipeline (MMagic "dimaug", SPEC §4): crop around fractional alpha, flip, resize,
    then the trimap by random erosion/dilation of the resized alpha.

    MMagic's dimaug config resizes bilinearly; here bicubic as in the IndexNet pipeline.
    """
    sample = {key: value for key, value in sample.items() if key != "trimap"}
    sample = crop_around_unknown(sample, rng, crop_sizes, out_size)
    sample = random_flip(sample, rng)
    sample["trimap"] = trimap_from_morphology(sample["alpha"], rng)
    return sample


def with_drawn_trimap(sample: dict, rng: np.random.Generator) -> dict:
    """The sample with a ``trimap``: the one a person drew (``hand_trimap``, which is dropped) if it carries
    one, else `trimap_like_drawn`'s."""
    sample = dict(sample)
    hand_trimap = sample.pop("hand_trimap", None)
    sample["trimap"] = trimap_like_drawn(sample["alpha"], rng) if hand_trimap is None else hand_trimap
    return sample


def drawn_pipeline(
    sample: dict, rng: np.random.Generator, crop_sizes: tuple[int, ...] = (320, 480, 640), out_size: int = 320
) -> dict:
    """The IndexNet pipeline with hand-drawn-like trimaps (`trimap_like_drawn`): for real photos,
    whose trimaps are wide blobs, not thin bands. A sample that carries a trimap a person drew
    (``hand_trimap``, from `indexnet.foregrounds.MattingMix`) keeps it."""
    sample = with_drawn_trimap(sample, rng)
    sample = crop_around_unknown(sample, rng, crop_sizes, out_size)
    return random_flip(sample, rng)


PIPELINES: dict[str, Callable] = {"indexnet": indexnet_pipeline, "dim": dim_pipeline, "drawn": drawn_pipeline}


def to_tensors(sample: dict) -> dict[str, torch.Tensor]:
    """Training tensors from a sample (all float32, channels first):

    * ``input``: 4 x H x W, RGB of ``image`` on [0,1] normalised by IMAGENET_MEAN/STD, then
      trimap / 255 (SPEC §1.1);
    * ``alpha``: 1 x H x W in [0,1];
    * ``fg``, ``bg``, ``merged``: 3 x H x W in [0,1] (``merged`` is ``image``, the loss's target);
    * ``trimap``: 1 x H x W with the raw values 0/128/255 (``losses.unknown_mask`` reads it).
    ``fg``/``bg`` are present only if the sample has them.
    """
    image = sample["image"].astype(np.float32) / 255.0
    rgb = (image - np.float32(IMAGENET_MEAN)) / np.float32(IMAGENET_STD)
    trimap = sample["trimap"].astype(np.float32)
    out = {
        "input": torch.from_numpy(np.concatenate([rgb.transpose(2, 0, 1), trimap[None] / 255.0])),
        "alpha": torch.from_numpy(sample["alpha"].astype(np.float32)[None] / 255.0),
        "merged": torch.from_numpy(image.transpose(2, 0, 1).copy()),
        "trimap": torch.from_numpy(trimap[None]),
    }
    for key in ("fg", "bg"):
        if key in sample:
            out[key] = torch.from_numpy(sample[key].astype(np.float32).transpose(2, 0, 1) / 255.0)
    return out


def item_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The Generator of one training item: a resumed run replays the same data stream."""
    return np.random.default_rng([seed, epoch, index])


def _pipeline(pipeline: str | Callable) -> Callable:
    if callable(pipeline):
        return pipeline
    if pipeline not in PIPELINES:
        raise ValueError(f"pipeline must be one of {sorted(PIPELINES)} or a callable, got {pipeline!r}")
    return PIPELINES[pipeline]


# --- Datasets ------------------------------------------------------------------------------------


def _first_existing(directories: list[Path], name: str, what: str) -> Path:
    for directory in directories:
        if (directory / name).is_file():
            return directory / name
    raise FileNotFoundError(f"{what} {name!r} not found in any of {[str(d) for d in directories]}")


def _coco_path(bg_dir: Path, name: str) -> Path:
    """COCO 2017 dropped the 'COCO_train2014_' prefix that training_bg_names.txt uses (as MMagic)."""
    path = bg_dir / name
    if not path.is_file() and name.startswith("COCO_train2014_") and (bg_dir / name[15:]).is_file():
        return bg_dir / name[15:]
    return path


class PipelineDataset(Dataset):
    """Applies a training pipeline + ``to_tensors`` to any dataset of samples with ``image``,
    ``alpha``, ``fg``, ``bg`` uint8 arrays (e.g. ``Comp1kTrainSource`` or
    ``indexnet.synthetic.SyntheticMatting``); the base's own trimap, if any, is replaced.

    The randomness of item i is ``item_rng(seed, epoch, i)``: call ``set_epoch`` before each epoch
    (with ``persistent_workers=False`` loaders, so workers see it); a resumed run that sets the
    same epoch replays the same data.
    """

    def __init__(
        self,
        base,
        pipeline: str | Callable = "indexnet",
        crop_sizes: tuple[int, ...] = (320, 480, 640),
        out_size: int = 320,
        seed: int = 0,
    ):
        self.base, self.pipeline = base, _pipeline(pipeline)
        self.crop_sizes, self.out_size, self.seed, self.epoch = crop_sizes, out_size, seed, 0

    def __len__(self) -> int:
        return len(self.base)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        raw = self.base[index]
        sample = {key: np.asarray(raw[key]) for key in ("image", "alpha", "fg", "bg")}
        if sample["alpha"].ndim == 3:  # accept H x W x 1 mattes
            sample["alpha"] = sample["alpha"][..., 0]
        rng = item_rng(self.seed, self.epoch, index)
        return to_tensors(self.pipeline(sample, rng, self.crop_sizes, self.out_size))


class Comp1kTrainSource(Dataset):
    """Adobe Composition-1k training samples, composited on the fly (SPEC §4): 431 fg x 100 bg.

    Item i is the full-size sample {image, alpha, fg, bg} of uint8 arrays, before augmentation.
    Two layouts of ``root`` are read:
    * the Adobe/DIM release: ``training_fg_names.txt`` and ``training_bg_names.txt`` in ``root`` or
      ``root/Training_set``; foregrounds and mattes under ``fg/`` and ``alpha/`` (or the release's
      ``Adobe-licensed images/`` and ``Other/`` subfolders); COCO backgrounds in ``bg_dir``
      (default ``train2014/`` beside the name lists, as DIM's Composition_code.py; a train2017
      folder works too). Composite i uses fg i // bg_per_fg and line i of the background list, as
      DIM's composition code, so there are 431 x 100 = 43,100.
    * MMagic's converted layout: ``root/training_list.json``, a list of dicts with ``alpha_path``,
      ``fg_path``, ``bg_path`` (already fitted) and ``merged_path``, relative to ``root``; the merged
      file is read when it exists (``--composite``), else composited.
    Missing name lists, foregrounds and mattes are reported on construction, backgrounds on reading.
    """

    def __init__(self, root: str | Path, bg_per_fg: int = 100, bg_dir: str | Path | None = None):
        self.root = Path(root)
        if (self.root / "training_list.json").is_file():
            self.items = self._items_from_json(self.root / "training_list.json")
        else:
            self.items = self._items_from_names(bg_dir, bg_per_fg)

    def _items_from_json(self, path: Path) -> list[dict]:
        items = []
        for entry in json.loads(path.read_text()):
            item = {key: self.root / entry[f"{key}_path"] for key in ("alpha", "fg", "bg", "merged")
                    if f"{key}_path" in entry}
            items.append(item)
        return items

    def _items_from_names(self, bg_dir, bg_per_fg: int) -> list[dict]:
        root = self.root
        if not (root / "training_fg_names.txt").is_file() and (root / "Training_set").is_dir():
            root = root / "Training_set"
        lists = [root / "training_fg_names.txt", root / "training_bg_names.txt"]
        for path in lists:
            if not path.is_file():
                raise FileNotFoundError(f"{path} not found (and no {self.root / 'training_list.json'})")
        fg_names, bg_names = ([line.strip() for line in p.read_text().splitlines() if line.strip()]
                              for p in lists)
        if len(bg_names) != len(fg_names) * bg_per_fg:
            raise ValueError(f"{len(bg_names)} background names for {len(fg_names)} foregrounds x {bg_per_fg}")
        subdirs = [root, root / "Adobe-licensed images", root / "Other"]
        bg_dir = Path(bg_dir) if bg_dir is not None else root / "train2014"
        items = []
        for k, name in enumerate(fg_names):
            fg = _first_existing([d / "fg" for d in subdirs], name, "foreground")
            alpha = _first_existing([d / "alpha" for d in subdirs], name, "alpha matte")
            for bg_name in bg_names[k * bg_per_fg : (k + 1) * bg_per_fg]:
                items.append({"alpha": alpha, "fg": fg, "bg": _coco_path(bg_dir, bg_name)})
        return items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        item = self.items[index]
        alpha, fg = read_alpha(item["alpha"]), read_rgb(item["fg"])
        if alpha.shape != fg.shape[:2]:
            raise ValueError(f"alpha {item['alpha']} is {alpha.shape[:2]}, "
                             f"foreground {item['fg']} is {fg.shape[:2]}")
        bg = fit_background(read_rgb(item["bg"]), fg.shape)  # a no-op on MMagic's fitted bgs
        if "merged" in item and item["merged"].is_file():
            image = read_rgb(item["merged"])
        else:
            image = composite(fg, bg, alpha)
        return {"image": image, "alpha": alpha, "fg": fg, "bg": bg}


class Comp1kTrainDataset(PipelineDataset):
    """Composition-1k training tensors: ``PipelineDataset`` over ``Comp1kTrainSource(root)``."""

    def __init__(
        self,
        root: str | Path,
        pipeline: str | Callable = "indexnet",
        crop_sizes: tuple[int, ...] = (320, 480, 640),
        out_size: int = 320,
        seed: int = 0,
        bg_per_fg: int = 100,
        bg_dir: str | Path | None = None,
    ):
        super().__init__(Comp1kTrainSource(root, bg_per_fg, bg_dir), pipeline, crop_sizes, out_size, seed)


# --- Offline compositing -------------------------------------------------------------------------


def composite_dataset_to_disk(
    root: str | Path, out_dir: str | Path | None = None, bg_dir: str | Path | None = None, bg_per_fg: int = 100
) -> Path:
    """Composite the Adobe-layout training set once: ``merged/`` and fitted ``bg/`` PNGs named
    ``{fg stem}_{k}.png`` (DIM's naming) plus ``training_list.json`` (MMagic's layout) in out_dir
    (default root), which ``Comp1kTrainDataset(out_dir)`` then reads. Existing PNGs are kept, so an
    interrupted run resumes. Returns the json path.
    """
    from tqdm import tqdm

    dataset = Comp1kTrainSource(root, bg_per_fg=bg_per_fg, bg_dir=bg_dir)
    out_dir = Path(out_dir) if out_dir is not None else Path(root)
    entries, fg_path, fg, alpha = [], None, None, None
    for index in tqdm(range(len(dataset)), desc="compositing", unit="img"):
        item = dataset.items[index]
        name = f"{item['fg'].stem}_{index % bg_per_fg}.png"
        merged_path, bg_path = out_dir / "merged" / name, out_dir / "bg" / name
        if not (merged_path.is_file() and bg_path.is_file()):
            if item["fg"] != fg_path:  # consecutive items share a foreground: decode it once
                fg_path, fg, alpha = item["fg"], read_rgb(item["fg"]), read_alpha(item["alpha"])
            bg = fit_background(read_rgb(item["bg"]), fg.shape)
            write_png(bg_path, bg)
            write_png(merged_path, composite(fg, bg, alpha))
        relative = lambda p: os.path.relpath(p, out_dir)  # noqa: E731
        entries.append(
            {
                "alpha_path": relative(item["alpha"]),
                "fg_path": relative(item["fg"]),
                "bg_path": relative(bg_path),
                "merged_path": relative(merged_path),
            }
        )
    json_path = out_dir / "training_list.json"
    tmp = json_path.with_name(".training_list.json.tmp")
    tmp.write_text(json.dumps(entries, indent=1))
    os.replace(tmp, json_path)
    return json_path
