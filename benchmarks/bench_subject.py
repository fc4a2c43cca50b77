"""The one-click cut-out measured: how close to the true matte a photo gets without a person's trimap.

For every photo, four paths to a matte, all through the shipped weights (`load_model("synthetic")`, `predict` at its
own test-time settings):

- auto:    the subject model (u2netp) alone, no input (`auto_trimap(image)`);
- click:   one simulated click on the subject: the point of the true subject (alpha >= 0.5) farthest from its
           outline, as a person clicks in the middle of what they want;
- box:     one simulated box: the true subject's bounding box plus 3% of the longest side each way;
- trimap1: the trimap a person drew (alphamatting.com's trimap1), the reference.

Scores over the whole image against the true matte: SAD (sum |pred - true| / 1000) and the share of pixels off by
more than 0.5 (a pixel on the wrong side). Photos: alphamatting.com GT01-GT14 as shot, and GT01-GT10 composited
(their estimated foreground colours, `indexnet.foregrounds.RealForegrounds`) onto shared backgrounds, one from COCO
and one from BSDS500 each, picked by a seeded RNG. Beware: GT01-GT10 and these background folders are what the
shipped weights were trained on, so paths that end in the matting network are optimistic there; GT11-GT14 are not.
Nothing here tunes the method: it runs with its defaults.

Then the time the subject step adds (probability + trimap, no correction) beside the matting network itself, on the
same 800-px photo (GT01), medians of `--repeats` runs after one warm-up, in one process.

    python benchmarks/bench_subject.py [--names GT01,GT02] [--no-composites] [--repeats 5] [--max-side 400]
    python benchmarks/bench_subject.py --time-only --repeats 5
    python benchmarks/bench_subject.py --no-composites --repeats 0 --grabcut-seeds 5

`--grabcut-seeds N` also re-runs the click path on the photos as shot with GrabCut seeded 0..N-1 (the method uses
`indexnet.subject.GRABCUT_SEED` = 0): how much the one-click result owes to GrabCut's k-means start.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from indexnet import load_model, predict  # noqa: E402
from indexnet.data import composite, fit_background  # noqa: E402
from indexnet.images import fit_within, read_gray, read_rgb  # noqa: E402
from indexnet.subject import find_subject, load_subject_model, subject_probability, trimap_from_probability  # noqa: E402
from indexnet.trimap import read_trimap  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
PATHS = ("auto", "click", "box", "trimap1")
OFF = 0.5  # a pixel "off" is on the wrong side of the matte
GOOD_SHARE = 0.03  # the bar: at most 3% of the pixels off


def simulated_click(alpha: np.ndarray) -> tuple[int, int]:
    """(x, y): the true subject's pixel farthest from its outline (the image border counts as outline)."""
    subject = np.pad((alpha >= 0.5).astype(np.uint8), 1)
    dist = cv2.distanceTransform(subject, cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(dist.argmax(), dist.shape)
    return int(x), int(y)


def simulated_box(alpha: np.ndarray, margin: float = 0.03) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1): the true subject's bounding box, `margin` of the longest side wider each way."""
    h, w = alpha.shape
    ys, xs = np.nonzero(alpha >= 0.5)
    m = margin * max(h, w)
    return max(0, xs.min() - m), max(0, ys.min() - m), min(w, xs.max() + 1 + m), min(h, ys.max() + 1 + m)


def shrink(image, alpha, trimap, max_side):
    """All three fitted within `max_side` (the smoke setting of notebook 04): area for image and alpha, nearest
    for the trimap."""
    h, w = alpha.shape
    sh, sw = fit_within((h, w), max_side)
    if (sh, sw) == (h, w):
        return image, alpha, trimap
    return (cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA),
            cv2.resize(alpha, (sw, sh), interpolation=cv2.INTER_AREA),
            cv2.resize(trimap, (sw, sh), interpolation=cv2.INTER_NEAREST))


def photo_cases(root: Path, names, max_side=None):
    """(label, RGB uint8, alpha float32 in [0, 1], trimap1) of each alphamatting.com photo, as shot."""
    for name in names:
        image, alpha = read_rgb(root / "image" / f"{name}.png"), read_gray(root / "alpha" / f"{name}.png")
        trimap = read_trimap(root / "trimap1" / f"{name}.png")
        image, alpha, trimap = shrink(image, alpha, trimap, max_side)
        yield name, image, alpha.astype(np.float32) / 255, trimap


def composite_cases(root: Path, backgrounds: Path, names, seed: int = 0, max_side=None):
    """GT01-GT10's foregrounds on one COCO and one BSDS500 background each (seeded choice), with trimap1."""
    from indexnet.foregrounds import RealForegrounds, list_images

    rng = np.random.default_rng(seed)
    folders = [list_images(backgrounds / kind) for kind in ("coco", "bsds500")]
    fgs = RealForegrounds(root, names)
    for name, (fg, alpha) in zip(names, fgs.items):
        trimap = read_trimap(root / "trimap1" / f"{name}.png")
        for files in folders:
            bg_path = files[rng.integers(len(files))]
            bg = fit_background(read_rgb(bg_path), fg.shape)
            image, a, t = shrink(composite(fg, bg, alpha), alpha, trimap, max_side)
            yield f"{name} on {bg_path.parent.name}/{bg_path.stem}", image, a.astype(np.float32) / 255, t


def score(pred: np.ndarray, alpha: np.ndarray) -> tuple[float, float]:
    err = np.abs(pred.astype(np.float64) - alpha)
    return err.sum() / 1000, float((err > OFF).mean())


def run(cases, model, session, paths=PATHS, log=print) -> list[dict]:
    """One row per photo: {"photo", path: (SAD, share off), ...}; each path's trimap from its own input."""
    rows = []
    for label, image, alpha, trimap1 in cases:
        probability = subject_probability(image, session)
        trimaps = {
            "auto": lambda: trimap_from_probability(probability),
            "click": lambda: trimap_from_probability(find_subject(image, probability, point=simulated_click(alpha))),
            "box": lambda: trimap_from_probability(find_subject(image, probability, box=simulated_box(alpha))),
            "trimap1": lambda: trimap1,
        }
        row = {"photo": label}
        for path in paths:
            row[path] = score(predict(model, image, trimaps[path]()), alpha)
        rows.append(row)
        log(f"{label:28s} " + "  ".join(f"{p} {row[p][0]:7.2f} / {100 * row[p][1]:5.1f}%" for p in paths))
    return rows


def click_seed_spread(cases, model, session, seeds: int, log=print) -> list[float]:
    """Mean click-path SAD over `cases` with GrabCut seeded 0..seeds-1 (only photos whose click starts GrabCut are
    re-run: a click on a part the network found keeps that part, no GrabCut)."""
    import indexnet.subject as subject

    sads = [[] for _ in range(seeds)]
    try:
        for label, image, alpha, _ in cases:
            probability = subject_probability(image, session)
            point = simulated_click(alpha)
            for seed in range(seeds):
                if seed and probability[point[1], point[0]] >= 0.5:
                    sads[seed].append(sads[0][-1])
                    continue
                subject.GRABCUT_SEED = seed
                trimap = trimap_from_probability(find_subject(image, probability, point=point))
                sads[seed].append(score(predict(model, image, trimap), alpha)[0])
            log(f"{label:28s} click SAD by GrabCut seed: " + " ".join(f"{s[-1]:.2f}" for s in sads))
    finally:
        subject.GRABCUT_SEED = 0
    return [statistics.mean(s) for s in sads]


def summary(rows, paths=PATHS) -> list[tuple]:
    """(path, mean SAD, mean share off, photos within GOOD_SHARE, photos) per path."""
    return [(p, statistics.mean(r[p][0] for r in rows), statistics.mean(r[p][1] for r in rows),
             sum(r[p][1] <= GOOD_SHARE for r in rows), len(rows)) for p in paths]


def timing(image: np.ndarray, model, session, repeats: int) -> dict:
    """Median seconds of the subject step (probability + trimap) and of the matting network on `image`."""
    trimap = trimap_from_probability(subject_probability(image, session))
    predict(model, image, trimap)  # warm-up: first calls allocate and pick kernels
    subject, matting = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        trimap = trimap_from_probability(subject_probability(image, session))
        subject.append(time.perf_counter() - t)
        t = time.perf_counter()
        predict(model, image, trimap)
        matting.append(time.perf_counter() - t)
    return {"subject": statistics.median(subject), "matting": statistics.median(matting)}


def markdown(rows_by_set: dict, paths=PATHS) -> str:
    lines = ["| path | " + " | ".join(rows_by_set) + " |", "|---|" + "---|" * len(rows_by_set)]
    sums = {name: {p: (sad, off, good, n) for p, sad, off, good, n in summary(rows, paths)}
            for name, rows in rows_by_set.items()}
    for p in paths:
        cells = [f"{s[p][0]:.1f} / {100 * s[p][1]:.1f}% ({s[p][2]} of {s[p][3]} ≤ 3%)" for s in sums.values()]
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=SHARED / "alphamatting")
    ap.add_argument("--backgrounds", type=Path, default=SHARED / "backgrounds")
    ap.add_argument("--names", default=",".join(f"GT{i:02d}" for i in range(1, 15)))
    ap.add_argument("--no-composites", action="store_true")
    ap.add_argument("--max-side", type=int, default=None, help="shrink every photo to this (a quick check)")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs (0: no timing)")
    ap.add_argument("--time-only", action="store_true", help="only the timing")
    ap.add_argument("--checkpoint", default="synthetic")
    ap.add_argument("--grabcut-seeds", type=int, default=0, help="re-run the click path with GrabCut seeded 0..N-1")
    args = ap.parse_args()

    model, session = load_model(args.checkpoint), load_subject_model()
    names = args.names.split(",")
    if not args.time_only:
        sets = {f"{names[0]}-{names[-1]} as shot": run(photo_cases(args.data, names, args.max_side), model, session)}
        train = [n for n in names if n <= "GT10"]
        if train and not args.no_composites:
            sets[f"{train[0]}-{train[-1]} on backgrounds"] = run(
                composite_cases(args.data, args.backgrounds, train, max_side=args.max_side), model, session)
        print("\nwhole-image SAD / share of pixels off by > 0.5 (means; photos with at most 3% off)\n")
        print(markdown(sets))
        if args.grabcut_seeds:
            rows = next(iter(sets.values()))
            reference = statistics.mean(r["trimap1"][0] for r in rows)
            means = click_seed_spread(photo_cases(args.data, names, args.max_side), model, session, args.grabcut_seeds)
            print("\nclick-path mean SAD by GrabCut seed (as shot; trimap1: %.2f): " % reference
                  + ", ".join(f"{seed}: {m:.2f} ({m / reference:.2f}x)" for seed, m in enumerate(means)))
    if args.repeats:
        image = read_rgb(args.data / "image" / "GT01.png")
        t = timing(image, model, session, args.repeats)
        print(f"\ntime on GT01 ({image.shape[1]}x{image.shape[0]}), medians of {args.repeats}: subject step "
              f"{t['subject']:.2f} s, matting network {t['matting']:.2f} s, ratio {t['subject'] / t['matting']:.2f}")


if __name__ == "__main__":
    main()
