"""The WiSE-FT curve of a fine-tuning run, and the α that the blended rule picks (checkpoints/README.md, stage 8).

For α = 0, 0.1, ..., 1.0: α x the mean of the run's last N snapshots + (1 - α) x the weights it started from (what
`python -m indexnet export RUN OUT --average-last N --wise-ft α` writes), scored only on data kept apart from every
set that reports a result: the probe of other seeds (`HoleProbe(..., count=20, seed=2027)` per kind: pooled false
holes and fills) and the synthetic validation split (64 images, scale 1: SAD). The rule: α is the largest for which
the pooled fills are at most 1.2x (--fill-ratio) the start's and the synthetic-validation SAD at most the start's.
Prints each α as it is done (about 25 s each on 2 cores), and writes them all to OUT.json.

    python benchmarks/blend_curve.py runs/stage12 curve.json             # the last 3 snapshots
    python benchmarks/blend_curve.py runs/stage11 curve.json --last 3 --alphas 0 0.1 0.3
    python benchmarks/blend_curve.py runs/stage14 curve.json --start synthetic   # with the shipped weights
    python benchmarks/blend_curve.py runs/stage19 parts.json --parts 1,0,0 0,0,1  # part by part (no rule)

--parts blends each part at its own α: MobileNetV2 layers (layer0-layer7, with the ASPP), index blocks, decoder
(decoder_layer*, pred); checkpoints/README.md, stage 21, has such a table.
"""
import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from indexnet import load_model  # noqa: E402
from indexnet.checkpoint import average_models  # noqa: E402
from indexnet.evaluate import evaluate  # noqa: E402
from indexnet.foregrounds import BackgroundBank, HoleProbe, PROBE_KINDS  # noqa: E402
from indexnet.inference import predict  # noqa: E402
from indexnet.synthetic import make_sample  # noqa: E402

S = REPO.parent / "shared" / "data"
p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("run_dir")
p.add_argument("out", help="where the curve is written (JSON)")
p.add_argument("--last", type=int, default=3, help="how many of the last snapshots are averaged (default 3)")
p.add_argument("--alphas", type=float, nargs="+", default=[round(0.1 * i, 1) for i in range(11)])
p.add_argument("--probe-count", type=int, default=20, help="probe images per kind (default 20)")
p.add_argument("--start", help="blend with these weights instead of the run's init_weights ('synthetic': the shipped "
                               "ones), e.g. when the run continued another run's candidate")
p.add_argument("--fill-ratio", type=float, default=1.2,
               help="the rule's bound on the pooled fills, as a multiple of the start's (default 1.2; stage 17: 1.1)")
p.add_argument("--parts", nargs="+", metavar="M,I,D",
               help="instead of --alphas: α of the MobileNetV2 layers (and ASPP), index blocks and decoder, e.g. 1,0,0")
args = p.parse_args()
try:
    parts = [tuple(float(a) for a in spec.split(",")) for spec in args.parts or []]
except ValueError:
    sys.exit(f"--parts takes three comma-separated shares per blend (MobileNetV2,index,decoder), got {args.parts}")
if any(len(t) != 3 or not all(0 <= a <= 1 for a in t) for t in parts):
    sys.exit(f"--parts takes three shares from 0 to 1 per blend (MobileNetV2,index,decoder), got {args.parts}")
if not all(0 <= a <= 1 for a in args.alphas):  # before any model is loaded
    sys.exit(f"--alphas are shares of the fine-tuned weights: expected 0..1, got {args.alphas}")
if args.fill_ratio <= 0:
    sys.exit(f"--fill-ratio bounds the fills as a multiple of the start's: expected a number > 0, got {args.fill_ratio}")

run = Path(args.run_dir)
snapshots = sorted(run.glob("snapshot_*.pth"))[-args.last:]
if len(snapshots) < args.last:
    sys.exit(f"{run} has {len(snapshots)} snapshots; --last {args.last} needs that many (train with snapshots=true)")
start = args.start or json.loads((run / "config.json").read_text()).get("init_weights")
if not start:
    sys.exit(f"{run}/config.json names no init_weights: a blend needs the weights the run started from")
print(f"blending the mean of {', '.join(s.name for s in snapshots)} with {start}", flush=True)
fine = average_models(snapshots).state_dict()
model = load_model(start)
base = {k: v.clone() for k, v in model.state_dict().items()}

bank = BackgroundBank([S / "backgrounds" / "coco", S / "backgrounds" / "bsds500"])
probes = {k: [HoleProbe(bank, k, count=args.probe_count, seed=2027)[i] for i in range(args.probe_count)]
          for k in PROBE_KINDS}
synthetic_val = [make_sample(i, "val", 320) for i in range(64)]


def part(key: str) -> int:
    """0: MobileNetV2 layers and ASPP, 1: index blocks, 2: decoder."""
    return 2 if key.startswith(("decoder_layer", "pred")) else 1 if key.startswith("index") else 0


curve = {}
for alpha in parts or sorted(set(args.alphas)):
    shares = {k: alpha[part(k)] if parts else alpha for k in base}
    model.load_state_dict({k: (shares[k] * fine[k].double() + (1 - shares[k]) * v.double()).to(v.dtype)
                           if v.is_floating_point() else v for k, v in base.items()})
    holes = fills = unknown = 0
    for kind in PROBE_KINDS:
        rows = [r for r in evaluate(model, probes[kind], progress=False).rows if r["unknown"]]
        unknown += sum(r["unknown"] for r in rows)
        holes += sum(r["false_holes"] * r["unknown"] for r in rows)
        fills += sum(r["false_fills"] * r["unknown"] for r in rows)
    sad = evaluate(None, synthetic_val, progress=False,
                   predict_fn=lambda image, trimap: predict(model, image, trimap, size_mode="pad", scale=1.0))
    name = ",".join(f"{a:g}" for a in alpha) if parts else f"{alpha:.1f}"
    curve[name if parts else alpha] = {"holes": holes / unknown, "fills": fills / unknown,
                                       "synthetic_val_SAD": sad.means["SAD"]}
    print(f"α {name}: holes {100 * holes / unknown:.1f}%, fills {100 * fills / unknown:.2f}%, "
          f"synthetic-val SAD {sad.means['SAD']:.4f}", flush=True)
    json.dump({"run": str(run), "snapshots": [s.name for s in snapshots], "start": start, "curve": curve},
              open(args.out, "w"), indent=1)

if 0.0 in curve and not parts:
    ref = curve[0.0]
    ok = [a for a in curve if a > 0 and curve[a]["fills"] <= args.fill_ratio * ref["fills"]
          and curve[a]["synthetic_val_SAD"] <= ref["synthetic_val_SAD"]]
    print("the blended rule's α:", max(ok) if ok else "none (no α > 0 keeps both the fills and the synthetic set)")
