"""Speed and peak memory of `predict`: the straightforward eager network against the inference-optimised one,
and ONNX Runtime (CPU) running the exported network (`indexnet.export_onnx`), which is what a deployer would pick instead.

`predict(model, image, trimap)` runs an eval-mode `IndexNetMatting` through `indexnet.inference_model` (folded
BatchNorm, channels-last, fused index-block branches, stripes); the baseline is the same model called
eagerly (wrapped so that `predict` does not optimise it); the ONNX Runtime variant is the float32 export run by an
`OnnxRuntimeModel` (same thread count; `--no-onnx` leaves it out). All go through the whole `predict`
(normalisation, padding to multiples of 32, clamping, known regions).

Timing: for each size, one warm-up call each, then `--repeats` rounds of (eager, fast, onnxruntime) in turn so
that load from other processes hits both; medians, best times and the median ratio are printed.
Peak memory: one fresh subprocess per (size, variant) runs a single `predict` and reports the peak
resident set of the whole process during it (Python, torch, weights, numpy buffers included; VmHWM,
reset after loading the model) and its growth over the loaded model. `--big` adds one optimised run at 4000x3000 (and
`--big-eager` the eager one too, which needs ~17 GB).

OpenMP threads spin while they wait; on a machine whose cores are shared with other work that starves
the other thread and makes timings meaningless (measured: 2 threads ~2x slower than 1 for both
variants), so `OMP_WAIT_POLICY=PASSIVE` is set unless the environment already sets it (as the CI does).

    .venv/bin/python benchmarks/bench_inference.py [--sizes 512,1024] [--repeats 5] [--threads N] [--big] [--no-onnx]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch starts its OpenMP runtime

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from indexnet import IndexNetMatting, load_model, predict  # noqa: E402

GOLDEN_CHECKPOINT = REPO.parent / "shared" / "golden" / "authors_random_checkpoint.pth.tar"


class Eager(torch.nn.Module):
    """The model, called as is: `predict` optimises only `IndexNetMatting` instances."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def get_model(checkpoint: str | None) -> IndexNetMatting:
    if checkpoint:
        return load_model(checkpoint)
    if GOLDEN_CHECKPOINT.is_file():  # random but well-conditioned weights; speed does not depend on them
        return load_model(GOLDEN_CHECKPOINT)
    torch.manual_seed(0)
    return IndexNetMatting().eval()


def make_case(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A smooth random image and a trimap with a wide unknown band (the content does not change the speed)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 16 + 1, width // 16 + 1, 3)).astype(np.float32)
    image = np.kron(small, np.ones((16, 16, 1), np.float32))[:height, :width].astype(np.uint8)
    yy, xx = np.mgrid[:height, :width]
    r = np.hypot((yy - height / 2) / height, (xx - width / 2) / width)
    trimap = np.where(r < 0.25, 255, np.where(r < 0.4, 128, 0)).astype(np.uint8)
    return image, trimap


def onnx_runtime_model(model, threads: int, folder: Path):
    """The float32 ONNX export of `model` in an ONNX Runtime CPU session with `threads` threads."""
    from indexnet.onnx_export import OnnxRuntimeModel, export_onnx, onnx_session

    return OnnxRuntimeModel(onnx_session(export_onnx(model, folder / "model.onnx"), threads=threads))


def time_sizes(model, sizes, repeats: int, onnx_model=None) -> list[dict]:
    variants = {"eager": Eager(model), "fast": model, **({"onnxruntime": onnx_model} if onnx_model else {})}
    rows = []
    for height, width in sizes:
        image, trimap = make_case(height, width)
        outs = {name: predict(net, image, trimap, return_raw=True, max_side=None)[1]  # warm-up; the size asked for
                for name, net in variants.items()}
        diff = float(np.abs(outs["fast"] - outs["eager"]).max())
        ort_diff = float(np.abs(outs["onnxruntime"] - outs["eager"]).max()) if onnx_model else None
        times = {name: [] for name in variants}
        for _ in range(repeats):
            for name, net in variants.items():
                t = time.perf_counter()
                predict(net, image, trimap, max_side=None)
                times[name].append(time.perf_counter() - t)
        med = {name: statistics.median(v) for name, v in times.items()}
        rows.append({"size": f"{width}x{height}", "eager_median": med["eager"], "eager_best": min(times["eager"]),
                     "fast_median": med["fast"], "fast_best": min(times["fast"]),
                     "speedup": med["eager"] / med["fast"], "raw_max_abs_diff": diff,
                     "ort_median": med.get("onnxruntime"), "ort_best": min(times["onnxruntime"]) if onnx_model else None,
                     "ort_raw_max_abs_diff": ort_diff})
        ort = f", onnxruntime {med['onnxruntime']:.2f} s (raw max |diff| {ort_diff:.1e})" if onnx_model else ""
        print(f"  {width}x{height}: eager {med['eager']:.2f} s, fast {med['fast']:.2f} s "
              f"(x{med['eager'] / med['fast']:.2f}), raw max |diff| {diff:.1e}{ort}", file=sys.stderr, flush=True)
    return rows


STAGES = (["layer0+index0", "layer1", "layer2", "index2", "layer3", "index3", "layer4", "index4", "layer5", "layer6",
           "index6", "layer7", "dconv_pp"] + [f"decoder_layer{i}" for i in range(6, 0, -1)] + ["decoder_layer0+pred"])


def profile_stages(model, size: int, repeats: int) -> None:
    """Wall time per top-level stage of the raw forward (forward hooks), eager vs fast, medians of `repeats`.

    The fast network computes layer0 inside index block 0's stripes and streams decoder stage 0 into the
    head, so those pairs are timed together for both. In the eager model the pooling products (E*x,
    avgpool) run outside the index blocks and show up as "other"."""
    from indexnet.inference_model import optimize_for_inference

    nets = {"eager": model, "fast": optimize_for_inference(model)}
    current = {name: {} for name in nets}  # stage -> seconds in the running forward
    for name, net in nets.items():
        start = {}
        for child_name, child in net.named_children():
            if name == "fast" and child_name in ("layer0", "pred0", "pred1", "decoder_layer0"):
                continue  # called inside index0 / _stage0_and_head, which are timed as a whole
            stage = {"layer0": "layer0+index0", "index0": "layer0+index0", "pred": "decoder_layer0+pred",
                     "decoder_layer0": "decoder_layer0+pred"}.get(child_name, child_name)

            def pre(mod, inp, key=child_name):
                start[key] = time.perf_counter()

            def post(mod, inp, out, key=child_name, stage=stage, acc=current[name]):
                acc[stage] = acc.get(stage, 0.0) + time.perf_counter() - start.pop(key)

            child.register_forward_pre_hook(pre)
            child.register_forward_hook(post)
    fast = nets["fast"]
    stage0 = fast._stage0_and_head

    def timed_stage0(*a):
        t = time.perf_counter()
        out = stage0(*a)
        acc = current["fast"]
        acc["decoder_layer0+pred"] = acc.get("decoder_layer0+pred", 0.0) + time.perf_counter() - t
        return out

    fast._stage0_and_head = timed_stage0  # an instance attribute: this benchmark's copy only
    x = torch.randn(1, 4, size, size)
    rounds = {name: [] for name in nets}
    with torch.inference_mode():
        for i in range(repeats + 1):  # the first round is the warm-up
            for name, net in nets.items():
                current[name].clear()
                t = time.perf_counter()
                net(x)
                total = time.perf_counter() - t
                if i:
                    rounds[name].append({**current[name], "other": total - sum(current[name].values()),
                                         "total": total})
    med = {name: {stage: statistics.median(r.get(stage, 0.0) for r in rs) for stage in rs[0]}
           for name, rs in rounds.items()}
    tot = {name: m["total"] for name, m in med.items()}
    print(f"\nPer-stage wall time of the raw forward at {size}x{size} (median of {repeats}):\n")
    print("| stage | eager s | fast s | eager / fast |")
    print("|---|---|---|---|")
    for stage in STAGES + ["other"]:
        e, f = med["eager"].get(stage, 0.0), med["fast"].get(stage, 0.0)
        print(f"| {stage} | {e:.3f} | {f:.3f} | {e / f if f > 0.0005 else float('nan'):.2f} |")
    print(f"| **total** | **{tot['eager']:.3f}** | **{tot['fast']:.3f}** | **{tot['eager'] / tot['fast']:.2f}** |")


def _status_gib(field: str) -> float:
    """VmRSS / VmHWM of this process from /proc (kB), in GiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 2**20
    raise KeyError(field)


def memory_child(variant: str, height: int, width: int, checkpoint: str | None) -> None:
    """One predict in a fresh process. Peak RSS is read from VmHWM (ru_maxrss would start from the parent's
    RSS at fork time), and VmHWM is reset after loading so that the predict's own peak is seen."""
    model = get_model(checkpoint)
    image, trimap = make_case(height, width)
    loaded_peak, base = _status_gib("VmHWM"), _status_gib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    t = time.perf_counter()
    predict(Eager(model) if variant == "eager" else model, image, trimap, max_side=None)
    seconds = time.perf_counter() - t
    peak = _status_gib("VmHWM")
    print(json.dumps({"peak_gib": max(peak, loaded_peak), "predict_peak_gib": peak, "baseline_gib": base,
                      "seconds": seconds}))


def measure_memory(variant: str, height: int, width: int, args) -> dict:
    cmd = [sys.executable, __file__, "--memory-child", variant, str(height), str(width), "--threads", str(args.threads)]
    if args.checkpoint:
        cmd += ["--checkpoint", args.checkpoint]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="512,1024", help="square sizes, or HxW, comma-separated")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads(),
                    help="torch threads (default: torch's, the physical cores)")
    ap.add_argument("--checkpoint", default=None, help="weights (default: the golden random checkpoint)")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    ap.add_argument("--no-onnx", action="store_true", help="leave out ONNX Runtime (exported float32 network)")
    ap.add_argument("--big", action="store_true", help="also peak memory and time of one fast run at 4000x3000")
    ap.add_argument("--big-eager", action="store_true", help="... and of one eager run (needs ~17 GB)")
    ap.add_argument("--profile", type=int, default=0, metavar="SIZE", help="per-stage times at SIZE x SIZE")
    ap.add_argument("--memory-child", nargs=3, metavar=("VARIANT", "H", "W"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_child:
        variant, h, w = args.memory_child
        return memory_child(variant, int(h), int(w), args.checkpoint)

    sizes = [tuple(int(v) for v in s.split("x")) if "x" in s else (int(s), int(s)) for s in args.sizes.split(",")]
    print(f"torch {torch.__version__}, {args.threads} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", file=sys.stderr)
    model = get_model(args.checkpoint)
    with tempfile.TemporaryDirectory() as folder:
        onnx_model = None if args.no_onnx else onnx_runtime_model(model, args.threads, Path(folder))
        rows = time_sizes(model, sizes, args.repeats, onnx_model)

    ort_head, ort_rule = ("| onnxruntime s (median / best) | onnxruntime raw max abs diff ", "|---|---") \
        if not args.no_onnx else ("", "")
    print(f"\n| size | eager s (median / best) | fast s (median / best) | speed-up (medians) | raw max abs diff "
          f"{ort_head}|")
    print(f"|---|---|---|---|---{ort_rule}|")
    for r in rows:
        ort = (f" {r['ort_median']:.2f} / {r['ort_best']:.2f} | {r['ort_raw_max_abs_diff']:.1e} |"
               if r["ort_median"] is not None else "")
        print(f"| {r['size']} | {r['eager_median']:.2f} / {r['eager_best']:.2f} | {r['fast_median']:.2f} / "
              f"{r['fast_best']:.2f} | {r['speedup']:.2f}x | {r['raw_max_abs_diff']:.1e} |{ort}")

    if args.profile:
        profile_stages(model, args.profile, args.repeats)
    if args.no_memory and not args.big:
        return
    jobs = [] if args.no_memory else [(v, h, w) for h, w in sizes for v in ("eager", "fast")]
    if args.big:
        jobs += [("fast", 3000, 4000)] + ([("eager", 3000, 4000)] if args.big_eager else [])
    print("\n| size | variant | peak RSS during predict GiB | growth over the loaded model GiB "
          "| one predict s (cold) |")
    print("|---|---|---|---|---|")
    for variant, h, w in jobs:
        m = measure_memory(variant, h, w, args)
        if "error" in m:
            print(f"| {w}x{h} | {variant} | failed: {m['error']} | | |")
        else:
            peak = m["predict_peak_gib"]
            print(f"| {w}x{h} | {variant} | {peak:.2f} | {peak - m['baseline_gib']:.2f} | "
                  f"{m['seconds']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
