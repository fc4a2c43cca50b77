"""Score a weights file by the rule that decides whether it replaces the shipped weights (checkpoints/README.md).

Validation on GT11-GT14 x both trimaps at the weights' stored test scale. The probe (`HoleProbe`, 40 images of each
kind, false holes and fills per kind and pooled over every unknown pixel). The synthetic test (100 images, scale 1).
Prints each as it is done, and writes them all to OUT.json.

    python benchmarks/score_weights.py runs/stage7/candidate.pth scores.json
    python benchmarks/score_weights.py indexnet/weights/indexnet_synthetic.pth shipped.json
"""
import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from indexnet import load_model  # noqa: E402
from indexnet.evaluate import AlphamattingDataset, evaluate  # noqa: E402
from indexnet.foregrounds import BackgroundBank, HoleProbe, PROBE_KINDS  # noqa: E402
from indexnet.inference import predict  # noqa: E402
from indexnet.synthetic import make_sample  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("weights", help="anything load_model reads: a file, a URL or a registered name")
parser.add_argument("out", help="where the scores are written (JSON)")
args = parser.parse_args()
S = REPO.parent / "shared" / "data"
model = load_model(args.weights)
out = {"weights": args.weights, "test_scale": model.test_scale}
def save():
    json.dump(out, open(args.out, "w"), indent=1)
t = time.time()
val = evaluate(model, AlphamattingDataset(f"{S}/alphamatting"), progress=False)
out["val"] = val.means
out["val_rows"] = {r["name"]: round(r["SAD"], 2) for r in val.rows}
print("val", {k: round(v, 4) for k, v in val.means.items()}, f"{time.time()-t:.0f}s", flush=True); save()
bank = BackgroundBank([f"{S}/backgrounds/coco", f"{S}/backgrounds/bsds500"])
holes = fills = unknown = 0
for kind in PROBE_KINDS:
    r = evaluate(model, HoleProbe(bank, kind, count=40), progress=False)
    n = sum(row["unknown"] for row in r.rows if row["unknown"])
    h = sum(row["false_holes"] * row["unknown"] for row in r.rows if row["unknown"])
    f = sum(row["false_fills"] * row["unknown"] for row in r.rows if row["unknown"])
    out[f"probe_{kind}"] = {**r.means, "unknown": n}
    holes, fills, unknown = holes + h, fills + f, unknown + n
    print(kind, {k: round(v, 4) for k, v in r.means.items()}, flush=True); save()
out["probe_pooled"] = {"false_holes": holes / unknown, "false_fills": fills / unknown}
print("probe pooled", out["probe_pooled"], flush=True); save()
synth = [make_sample(i, "test", 320) for i in range(100)]
r = evaluate(None, synth, predict_fn=lambda im, tr: predict(model, im, tr, size_mode="pad", scale=1.0), progress=False)
out["synthetic_test_scale1"] = r.means
print("synthetic", {k: round(v, 4) for k, v in r.means.items()}, flush=True); save()
