"""Measure the ASPP's BatchNorm statistics of a weights file on the training photos (GT01-GT10 x both trimaps).

Weights trained with `freeze_aspp_bn=True` (every shipped file up to stage 22) keep the ASPP's init statistics
(mean 0, variance 1). A run with `freeze_aspp_bn=false` replaces them by real ones, so a blend of its weights with
the weights it started from would average real statistics with placeholders; measured first, both ends hold real
ones (checkpoints/README.md, stage 23). Each photo's two trimaps form one batch, at the weights' test scale, padded
to a multiple of 32 as `predict` pads; `indexnet.train.measure_bn_statistics` does the rest. Prints the share of the
ASPP bottleneck's outputs inside ReLU6's (0, 6) on GT13 before and after (0: a saturated, dead ASPP).

    python benchmarks/measure_aspp_bn.py indexnet/weights/indexnet_synthetic.pth runs/shipped_aspp.pth
"""
import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from indexnet import load_model  # noqa: E402
from indexnet.checkpoint import read_checkpoint, save_checkpoint  # noqa: E402
from indexnet.foregrounds import ALPHAMATTING_TRAIN  # noqa: E402
from indexnet.images import images_by_stem, read_image  # noqa: E402
from indexnet.inference import network_input  # noqa: E402
from indexnet.trimap import read_trimap  # noqa: E402
from indexnet.train import measure_bn_statistics  # noqa: E402

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("weights", help="anything load_model reads")
p.add_argument("out", help="where the weights with measured ASPP statistics are written")
p.add_argument("--root", default=str(REPO.parent / "shared" / "data" / "alphamatting"))
args = p.parse_args()
root = Path(args.root)
model = load_model(args.weights)
scale = model.test_scale


def batch(name: str) -> torch.Tensor:
    """One photo with each of its trimaps, at the test scale, reflect-padded to multiples of 32."""
    image = read_image(images_by_stem(root / "image")[name])
    h, w = round(image.shape[0] * scale), round(image.shape[1] * scale)
    image = cv2.resize(image, (w, h), interpolation=cv2.INTER_CUBIC)
    xs = []
    for trimap_dir in ("trimap1", "trimap2"):
        trimap = read_trimap(images_by_stem(root / trimap_dir)[name])
        x = network_input(image, cv2.resize(trimap, (w, h), interpolation=cv2.INTER_NEAREST))
        xs.append(np.pad(x, ((0, -h % 32), (0, -w % 32), (0, 0)), mode="reflect"))
    return torch.from_numpy(np.stack(xs).transpose(0, 3, 1, 2).copy())


def live_share() -> float:
    outputs = []
    hook = model.dconv_pp.bottleneck_conv.register_forward_hook(lambda m, a, out: outputs.append(out))
    with torch.no_grad():
        model(batch("GT13")[:1])
    hook.remove()
    return ((outputs[0] > 0) & (outputs[0] < 6)).float().mean().item()


print(f"{args.weights}: ASPP bottleneck outputs inside (0, 6) on GT13: {100 * live_share():.1f}%", flush=True)
n = measure_bn_statistics(model, (batch(name) for name in ALPHAMATTING_TRAIN))
print(f"measured {n} BatchNorms on {len(ALPHAMATTING_TRAIN)} photos x 2 trimaps at scale {scale:g}; "
      f"inside (0, 6) now: {100 * live_share():.1f}%", flush=True)
meta = dict(read_checkpoint(args.weights).get("meta", {})) if Path(args.weights).is_file() else dict(model.meta)
meta["aspp_bn"] = f"measured on {ALPHAMATTING_TRAIN[0]}-{ALPHAMATTING_TRAIN[-1]} x both trimaps at scale {scale:g}"
save_checkpoint(args.out, model, meta, half=True)
print("wrote", args.out)
