"""Where a weights file's false holes and false fills lie on the probe: by distance to the truth's other side.

For each probe class, the false fills (true alpha < 0.5, predicted > 0.75) are binned by their distance to the
nearest truly solid pixel (true >= 0.5), and the false holes (true >= 0.5, predicted < 0.25) by their depth inside
the solid (distance to the nearest pixel < 0.5); each bin as a share of the class's unknown pixels, as
`indexnet.evaluate` pools them. Errors within a pixel or two of the outline are an outline drawn too wide or too
narrow; errors far from it are whole gaps filled or whole strands dropped (issue 16, checkpoints/README.md).

    python benchmarks/probe_error_distance.py runs/stage6/snapshot_001500.pth [--count 15]
    python benchmarks/probe_error_distance.py synthetic
"""
import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from indexnet import load_model  # noqa: E402
from indexnet.foregrounds import PROBE_KINDS, BackgroundBank, HoleProbe  # noqa: E402
from indexnet.inference import predict  # noqa: E402

BINS = (0, 1.5, 2.5, 4, 8, 16, np.inf)  # px at the probe's scale; <= 1.5 is a pixel next to the other side
LABELS = ("1 px", "2 px", "3-4 px", "4-8 px", "8-16 px", "> 16 px")


def distances(alpha: np.ndarray, pred: np.ndarray, trimap: np.ndarray):
    """(fill distances, hole depths, unknown pixel count) of one probe item (alpha uint8, pred float in [0, 1])."""
    unknown, solid = trimap == 128, alpha >= 128
    p = np.round(pred * 255)
    to_solid = cv2.distanceTransform((~solid).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    depth = cv2.distanceTransform(solid.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return to_solid[unknown & ~solid & (p >= 192)], depth[unknown & solid & (p <= 63)], int(unknown.sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights")
    ap.add_argument("--count", type=int, default=15, help="probe images per class (default 15 of its 40)")
    args = ap.parse_args()
    shared = REPO.parent / "shared" / "data" / "backgrounds"
    bank = BackgroundBank([shared / "coco", shared / "bsds500"])
    model = load_model(args.weights)
    print(f"{args.weights}: share of unknown pixels, by distance to the other side ({', '.join(LABELS)})")
    for kind in PROBE_KINDS:
        fills, holes, unknown = np.zeros(len(LABELS)), np.zeros(len(LABELS)), 0
        for item in HoleProbe(bank, kind, count=args.count):
            f, h, n = distances(item["alpha"], predict(model, item["image"], item["trimap"]), item["trimap"])
            fills += np.histogram(f, BINS)[0]
            holes += np.histogram(h, BINS)[0]
            unknown += n
        fmt = lambda v: " ".join(f"{100 * x / unknown:5.2f}" for x in v)  # noqa: E731
        print(f"{kind:12s} fills % {fmt(fills)}  (all {100 * fills.sum() / unknown:.2f})")
        print(f"{'':12s} holes % {fmt(holes)}  (all {100 * holes.sum() / unknown:.2f})", flush=True)


if __name__ == "__main__":
    main()
