"""Evaluate a matting model on a test set with the official Composition-1k metrics.

`evaluate(model, dataset)` predicts every image, rounds the prediction to 8 bits (the image the
official evaluation reads from disk) and scores it with `indexnet.metrics.compute_metrics`
(SAD, MSE, GRAD / 1000, CONN / 1000 over trimap == 128 pixels). The test-set score is the mean of
the per-image values, as in the published tables.

Datasets (each item: {"name", "image" RGB uint8, "alpha" uint8, "trimap" uint8, all H x W}):

- `FolderDataset`: ``image/``, ``alpha/``, ``trimap/`` folders matched by file stem (e.g.
  ``shared/data/alphamatting_val`` with ``trimap_dir="trimap1"`` or ``"trimap2"``).
- `Comp1kTestDataset`: the Adobe Composition-1k test set as released plus its composites
  (``merged/<fg>_<k>.png``, ``trimaps/<fg>_<k>.png``, ``alpha/<fg>.png`` shared by the 20
  composites of a foreground).
- `MMagicJsonDataset`: MMagic's converted ``test_list.json``.

`open_dataset(path)` recognises which of the three a path is. Trimaps are scored as stored: only
pixels exactly 128 count (the network itself gets the trimap through `predict`, which snaps odd values).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .images import images_by_stem, read_gray, read_rgb
from .metrics import alpha_to_uint8, compute_metrics, one_sided_errors

METRICS = ("SAD", "MSE", "GRAD", "CONN")
# Shares of unknown pixels (issue 16): holes punched into what is solid (true >= 0.5, predicted < 0.25) and
# the reverse (true < 0.5, predicted > 0.75). Per image in the rows; pooled over all unknown pixels in the means.
RATES = ("false_holes", "false_fills")


# ----------------------------------------------------------------------------------- datasets
class _FileDataset:
    """A list of {"name", "image", "alpha", "trimap"} paths; items are read on access."""

    def __init__(self, items: list[dict], source: Path):
        if not items:
            raise ValueError(f"no test images found in {source}")
        # Checked up front: a missing file should not stop an evaluation half-way.
        missing = [str(item[key]) for item in items for key in ("image", "alpha", "trimap") if not item[key].is_file()]
        if missing:
            more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
            raise FileNotFoundError(f"{len(missing)} file(s) listed by {source} do not exist: "
                                    f"{', '.join(missing[:5])}{more}")
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        item = self.items[index]
        image = read_rgb(item["image"])
        alpha = read_gray(item["alpha"], "alpha matte")
        from .trimap import read_trimap  # here: the metrics side needs no torch
        # predict's reader (a colour photo is refused), with the levels as stored: only exactly 128 is scored
        trimap = read_trimap(item["trimap"], snap=False)
        for key, array in (("alpha", alpha), ("trimap", trimap)):
            if array.shape != image.shape[:2]:
                raise ValueError(f"{item[key]} is {array.shape[1]}x{array.shape[0]} (WxH) but its image "
                                 f"{item['image']} is {image.shape[1]}x{image.shape[0]}")
        return {"name": item["name"], "image": image, "alpha": alpha, "trimap": trimap}


class FolderDataset(_FileDataset):
    """``root/<image_dir>``, ``root/<alpha_dir>``, ``root/<trimap_dir>`` with files matched by stem."""

    def __init__(self, root, image_dir: str = "image", alpha_dir: str = "alpha", trimap_dir: str = "trimap"):
        root = Path(root)
        images = images_by_stem(root / image_dir)
        alphas, trimaps = images_by_stem(root / alpha_dir), images_by_stem(root / trimap_dir)
        for what, folder, found in (("alpha matte", alpha_dir, alphas), ("trimap", trimap_dir, trimaps)):
            lacking = [str(images[s]) for s in images if s not in found]
            if lacking:
                raise FileNotFoundError(f"no {what} in {root / folder} for {', '.join(lacking[:5])}")
        super().__init__([{"name": s, "image": p, "alpha": alphas[s], "trimap": trimaps[s]}
                          for s, p in images.items()], root)


class AlphamattingDataset(_FileDataset):
    """The alphamatting.com low-res training set (Rhemann et al., CVPR 2009) as test cases: every
    photo of ``names`` with every trimap folder of ``trimap_dirs``, named ``GT11/trimap1`` etc.
    Layout: ``root/image``, ``root/alpha``, ``root/trimap1``, ``root/trimap2``. The default names
    are the validation split (GT11-GT14); training uses GT01-GT10 (`indexnet.foregrounds`)."""

    def __init__(self, root, names=None, trimap_dirs=("trimap1", "trimap2")):
        from .foregrounds import ALPHAMATTING_VAL
        root = Path(root)
        images = images_by_stem(root / "image")
        names = ALPHAMATTING_VAL if names is None else names
        missing = [n for n in names if n not in images]
        if missing:
            raise FileNotFoundError(f"{root / 'image'} has no {', '.join(missing)}")
        items = []
        for trimap_dir in trimap_dirs:
            alphas, trimaps = images_by_stem(root / "alpha"), images_by_stem(root / trimap_dir)
            for n in names:
                if n not in alphas or n not in trimaps:
                    raise FileNotFoundError(f"{n}: no alpha matte in {root / 'alpha'} or trimap in {root / trimap_dir}")
                items.append({"name": f"{n}/{trimap_dir}", "image": images[n], "alpha": alphas[n],
                              "trimap": trimaps[n]})
        super().__init__(items, root)


def _find_dir(root: Path, names: tuple[str, ...]) -> Path | None:
    """The first of `names` in root or in the release's subfolders Combined_Dataset/Test_set/Adobe-licensed images."""
    bases = [root]
    for sub in ("Combined_Dataset", "Test_set", "Adobe-licensed images"):
        bases += [b / sub for b in bases]
    return next((b / n for b in bases for n in names if (b / n).is_dir()), None)


class Comp1kTestDataset(_FileDataset):
    """Adobe Composition-1k test set: 50 foregrounds x 20 VOC backgrounds = 1,000 composites.

    ``root`` (or its ``Combined_Dataset/Test_set/[Adobe-licensed images/]`` subfolders, the layout of
    the release and of MMagic's ``preprocess_comp1k_dataset.py``) holds ``merged/`` (composites
    ``<fg stem>_<k>.png``), ``trimaps/`` (same names) and ``alpha/`` (``<fg stem>.<ext>``, shared by
    a foreground's composites; an alpha named exactly like the composite also works).
    """

    def __init__(self, root):
        root = Path(root)
        dirs = {what: _find_dir(root, names) for what, names in
                (("merged", ("merged",)), ("alpha", ("alpha",)), ("trimaps", ("trimaps", "trimap")))}
        absent = [what for what, d in dirs.items() if d is None]
        if absent:
            raise FileNotFoundError(f"{root} is not a Composition-1k test set: no {', '.join(absent)} folder (looked "
                                    f"in it and its Combined_Dataset/Test_set/Adobe-licensed images subfolders)")
        merged, alphas, trimaps = (images_by_stem(dirs[w]) for w in ("merged", "alpha", "trimaps"))
        items = []
        for stem, image in merged.items():
            fg_stem = re.sub(r"_\d+$", "", stem)  # "<fg stem>_<background index>"
            alpha = alphas.get(stem) or alphas.get(fg_stem)
            if alpha is None:
                raise FileNotFoundError(f"no alpha matte for composite {image}: expected "
                                        f"{dirs['alpha']}/{fg_stem}.png")
            if stem not in trimaps:
                raise FileNotFoundError(f"no trimap for composite {image}: expected {dirs['trimaps']}/{stem}.png")
            items.append({"name": stem, "image": image, "alpha": alpha, "trimap": trimaps[stem]})
        super().__init__(items, root)


class MMagicJsonDataset(_FileDataset):
    """MMagic's ``test_list.json``: a list of {"merged_path", "alpha_path", "trimap_path", ...},
    paths relative to ``data_root`` (default: the json's folder)."""

    def __init__(self, json_path, data_root=None):
        json_path = Path(json_path)
        root = Path(data_root) if data_root is not None else json_path.parent
        try:
            entries = json.loads(json_path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"dataset list not found: {json_path}") from None
        except json.JSONDecodeError as err:
            raise ValueError(f"{json_path} is not valid JSON: {err}") from None
        if not isinstance(entries, list):
            raise ValueError(f"{json_path} must hold a list of entries, got {type(entries).__name__}")
        items = []
        for i, entry in enumerate(entries):
            lacking = [k for k in ("merged_path", "alpha_path", "trimap_path") if k not in entry]
            if lacking:
                raise ValueError(f"{json_path} entry {i} has no {', '.join(lacking)}")
            items.append({"name": Path(entry["merged_path"]).stem, "image": root / entry["merged_path"],
                          "alpha": root / entry["alpha_path"], "trimap": root / entry["trimap_path"]})
        super().__init__(items, json_path)


def open_dataset(path, trimap_dir: str | None = None) -> _FileDataset:
    """The dataset at `path`: a ``.json`` list or a folder holding ``test_list.json`` (MMagic), a
    Composition-1k test folder (``merged/``), or ``image/`` + ``alpha/`` + a trimap folder
    (`trimap_dir`; default ``trimap``, or the only ``trimap*`` folder there is)."""
    path = Path(path)
    if path.is_file() and path.suffix == ".json":
        return MMagicJsonDataset(path)
    if not path.is_dir():
        raise FileNotFoundError(f"dataset not found: {path}")
    if (path / "test_list.json").is_file():
        return MMagicJsonDataset(path / "test_list.json")
    if _find_dir(path, ("merged",)) is not None:
        return Comp1kTestDataset(path)
    if (path / "image").is_dir() and (path / "alpha").is_dir():
        if trimap_dir is None:
            choices = sorted(p.name for p in path.iterdir() if p.is_dir() and p.name.startswith("trimap"))
            if len(choices) != 1 and "trimap" not in choices:
                raise ValueError(f"{path} has trimap folders {choices or 'none'}: "
                                 "choose one with trimap_dir (--trimap-dir)")
            trimap_dir = "trimap" if "trimap" in choices else choices[0]
        return FolderDataset(path, trimap_dir=trimap_dir)
    raise ValueError(f"{path} is not a known dataset layout: expected a test_list.json (MMagic), a merged/ folder "
                     f"(Composition-1k) or image/ + alpha/ + trimap folders")


# ----------------------------------------------------------------------------------- evaluation
@dataclass
class EvalResult:
    rows: list[dict] = field(default_factory=list)  # {"name", *METRICS, *RATES, "unknown"} per image
    means: dict[str, float] = field(default_factory=dict)

    def to_markdown(self, model_name: str = "IndexNet", dataset_name: str = "") -> str:
        """One-row table in the published format: SAD 45.6 | MSE 0.012 | GRAD 25.5 | CONN 44.8."""
        m = self.means
        return ("| Model | Dataset | SAD | MSE | GRAD | CONN |\n|---|---|---:|---:|---:|---:|\n"
                f"| {model_name} | {dataset_name} | {m['SAD']:.1f} | {m['MSE']:.3f} | {m['GRAD']:.1f} | {m['CONN']:.1f} |")


def _mean(values: list[float]) -> float:
    # An image without unknown pixels has MSE = NaN (0/0); it is left out of the MSE mean.
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else float("nan")


def evaluate(model, dataset, size_mode: str | None = None, save_preds=None, progress: bool = True,
             predict_fn: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
             limit: int | None = None) -> EvalResult:
    """Score `model` (or any `predict_fn(image, trimap) -> alpha`) on `dataset`.

    size_mode: passed to `indexnet.inference.predict` ("pad", "interp", "resize"; None = the
    model's own). Predictions (float alpha in [0, 1], or uint8) are rounded to 8 bits, ties to even,
    before scoring. save_preds: a folder for the 8-bit predictions (``<name>.png``, written
    atomically). limit: only the first `limit` images.
    """
    from tqdm import tqdm

    if predict_fn is None:
        if model is None:
            raise ValueError("evaluate needs a model or a predict_fn")
        from .inference import predict  # imported here: the metrics side works without torch models

        def predict_fn(image, trimap):  # the whole image, as the official evaluation (no max_side)
            return predict(model, image, trimap, size_mode=size_mode, max_side=None)

    if limit is not None and not (isinstance(limit, int) and limit >= 1):
        raise ValueError(f"limit must be a number of images, at least 1 (or None for all), got {limit!r}")
    if save_preds is not None:
        from .images import write_png
    count = len(dataset) if limit is None else min(limit, len(dataset))
    rows = []
    for index in tqdm(range(count), desc="evaluate", unit="image", disable=not progress):
        sample = dataset[index]
        pred = alpha_to_uint8(predict_fn(sample["image"], sample["trimap"]), f"prediction for {sample['name']}")
        if pred.shape != sample["alpha"].shape:
            raise ValueError(f"prediction for {sample['name']} has shape {pred.shape}, expected {sample['alpha'].shape}")
        if save_preds is not None:
            write_png(Path(save_preds) / f"{sample['name']}.png", pred)
        counts = one_sided_errors(pred, sample["alpha"], sample["trimap"])
        rates = {key: counts[key] / counts["unknown"] if counts["unknown"] else float("nan") for key in RATES}
        rows.append({"name": sample["name"], **compute_metrics(pred, sample["alpha"], sample["trimap"]),
                     **rates, "unknown": counts["unknown"]})
    means = {key: _mean([row[key] for row in rows]) for key in METRICS}
    total = sum(row["unknown"] for row in rows)
    for key in RATES:  # pooled: every unknown pixel counts once, whatever the size of its image
        means[key] = sum(row[key] * row["unknown"] for row in rows if row["unknown"]) / total if total else float("nan")
    return EvalResult(rows, means)


# ----------------------------------------------------------------------------------- command line
def add_evaluate_args(parser) -> None:
    """Options of `python -m indexnet evaluate`."""
    from .checkpoint import DEFAULT_MODEL

    parser.add_argument("--checkpoint", default=DEFAULT_MODEL,
                        help="path, URL or registered name (default: %(default)s)")
    parser.add_argument("--data", required=True, help="test set: image/ + alpha/ + trimap folders, "
                        "a Composition-1k test folder, or MMagic's test_list.json")
    parser.add_argument("--trimap-dir", default=None,
                        help="trimap folder of an image/alpha/trimap layout (e.g. trimap1)")
    parser.add_argument("--save-preds", default=None, help="folder for the 8-bit predicted mattes")
    from .inference import SIZE_MODES

    parser.add_argument("--size-mode", choices=SIZE_MODES, default=None,
                        help="test-time size handling (default: the checkpoint's own)")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N images")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--per-image", action="store_true", help="also print each image's errors")
    parser.set_defaults(func=run_evaluate_cli)


def run_evaluate_cli(args) -> int:
    """Load, evaluate, print the Markdown table (and per-image rows with --per-image)."""
    from .checkpoint import load_model
    from .images import check_output

    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit {args.limit}: give a number of images, at least 1")
    dataset = open_dataset(args.data, trimap_dir=args.trimap_dir)
    if args.save_preds is not None:  # before the model loads: never write mattes over the test set
        folders = {Path(item[key]).parent for item in dataset.items for key in ("image", "alpha", "trimap")}
        check_output(args.save_preds, inputs=sorted(folders), folder=True, flag="--save-preds")
    model = load_model(args.checkpoint, device=args.device)
    result = evaluate(model, dataset, size_mode=args.size_mode, save_preds=args.save_preds, limit=args.limit)
    if args.per_image:
        print("| Image | SAD | MSE | GRAD | CONN |\n|---|---:|---:|---:|---:|")
        for r in result.rows:
            print(f"| {r['name']} | {r['SAD']:.2f} | {r['MSE']:.4f} | {r['GRAD']:.2f} | {r['CONN']:.2f} |")
        print()
    data_name = Path(args.data).name + (f" ({args.trimap_dir})" if args.trimap_dir else "")
    count = len(result.rows)
    print(result.to_markdown(Path(str(args.checkpoint)).name, f"{data_name}, {count} image{'s' * (count != 1)}"))
    return 0
