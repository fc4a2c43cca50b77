"""Training throughput (samples/s) of one IndexNet training step: forward, matting loss, backward, Adam step.

Numeric setups, as `indexnet.train` can run them: eager fp32 (NCHW), channels-last fp32, bf16 autocast,
bf16 autocast + channels-last; and, on request, `torch.compile` of the model with and without bf16; at 192² (batch 12, the synthetic recipe) and 320² (batch 4). Inputs are
synthetic random tensors (no data loading); the model is in the recipe's train mode (encoder BN frozen),
with Adam over all parameters. Each setup gets one warm-up step, then `--steps` timed steps (fewer if
`--budget` seconds run out; at least one). The setups alternate step by step, so load from other
processes hits all of them alike; the median step time gives samples/s.

bf16 autocast only pays on CPUs with native bf16 arithmetic (AVX-512 BF16 / AMX); elsewhere oneDNN
falls back to slow reference kernels, so expect it to be many times slower there.

OpenMP threads spin while they wait, which on shared cores starves the other thread; `OMP_WAIT_POLICY=PASSIVE`
is set unless the environment sets it (as the CI does). `--keep-freed-memory` applies what `python -m indexnet
train` does to its process (`indexnet.train.keep_freed_memory`: glibc keeps freed blocks instead of unmapping
them, so activations are not page-faulted in afresh every step); run once with and once without to compare.

`--loader` also measures the data side: samples/s of the synthetic preset's real training stream (synthetic
scene, IndexNet pipeline: trimap, crop, resize, flip, tensors) through a DataLoader with 0 and 2 workers.

    .venv/bin/python benchmarks/bench_train.py [--steps 3] [--budget 600] [--setups fp32,bf16,compile,bf16-compile]
                                               [--keep-freed-memory] [--loader]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch starts its OpenMP runtime

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from indexnet.losses import matting_loss  # noqa: E402
from indexnet.model import IndexNetMatting  # noqa: E402
from indexnet.train import (PRESETS, StreamSampler, build_datasets, keep_freed_memory, native_bf16,  # noqa: E402
                            set_train_mode)

# name -> (bf16 autocast, channels-last, torch.compile)
SETUPS = {"fp32": (False, False, False), "cl": (False, True, False), "bf16": (True, False, False),
          "bf16-cl": (True, True, False), "compile": (False, False, True), "bf16-compile": (True, False, True)}
NAMES = {"fp32": "eager fp32", "cl": "channels-last fp32", "bf16": "bf16 autocast", "bf16-cl": "bf16 + channels-last",
         "compile": "torch.compile fp32", "bf16-compile": "torch.compile + bf16 autocast"}
DEFAULT_SETUPS = "fp32,cl,bf16,bf16-cl"  # the compiled ones take minutes to compile: ask for them


def make_batch(batch: int, size: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    trimap = torch.full((batch, 1, size, size), 128.0)
    trimap[:, :, : size // 4] = 0
    trimap[:, :, -size // 4:] = 255
    fg, bg, alpha = (torch.rand(batch, c, size, size, generator=g) for c in (3, 3, 1))
    merged = alpha * fg + (1 - alpha) * bg
    x = torch.cat([(merged - 0.45) / 0.225, trimap / 255], dim=1)
    return {"input": x, "alpha": alpha, "fg": fg, "bg": bg, "merged": merged, "trimap": trimap}


class Setup:
    def __init__(self, name: str, batch: dict[str, torch.Tensor]):
        self.bf16, self.channels_last, compiled = SETUPS[name]
        torch.manual_seed(0)
        self.model = IndexNetMatting()
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        set_train_mode(self.model, freeze_encoder_bn=True)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-4)
        if compiled:  # inductor (C++ codegen on CPU); the warm-up step pays for the compilation
            self.model = torch.compile(self.model)
        self.batch = batch
        self.x = batch["input"].contiguous(memory_format=torch.channels_last) if self.channels_last else batch["input"]
        self.times: list[float] = []

    def step(self) -> float:
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            pred = self.model(self.x)
        loss, _ = matting_loss(pred.float(), self.batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return time.perf_counter() - t


def loader_samples_per_s(workers: int, batches: int = 6) -> float:
    """The synthetic preset's training stream through a DataLoader: samples/s after the first batch."""
    cfg = PRESETS["synthetic"]
    stream, _ = build_datasets(cfg)
    loader = torch.utils.data.DataLoader(stream, batch_size=cfg.batch_size, num_workers=workers,
                                         sampler=StreamSampler(0, cfg.batch_size))
    it = iter(loader)
    next(it)  # worker start-up and the photo bank
    t = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches * cfg.batch_size / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="192x12,320x4", help="SIZExBATCH, comma-separated")
    ap.add_argument("--setups", default=DEFAULT_SETUPS, help=f"some of {','.join(SETUPS)} (default: %(default)s)")
    ap.add_argument("--steps", type=int, default=3, help="timed steps per setup (after one warm-up step)")
    ap.add_argument("--budget", type=float, default=600, help="seconds per case after warm-up; >= 1 step each")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--keep-freed-memory", action="store_true", help="as the training CLI does (glibc only)")
    ap.add_argument("--loader", action="store_true", help="also measure the training data stream (0 and 2 workers)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    kept = args.keep_freed_memory and keep_freed_memory()
    setups = args.setups.split(",")
    print(f"torch {torch.__version__}, {args.threads} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, "
          f"cpu capability {torch.backends.cpu.get_cpu_capability()}, native bf16 {native_bf16(torch.device('cpu'))}, "
          f"load average {os.getloadavg()[0]:.1f}, "
          f"keep freed memory: {kept}", file=sys.stderr)
    rows = []
    for case in args.cases.split(","):
        size, batch_size = (int(v) for v in case.split("x"))
        batch = make_batch(batch_size, size)
        runs = {name: Setup(name, batch) for name in setups}
        for name, run in runs.items():
            print(f"  {size}² batch {batch_size} {NAMES[name]}: warm-up step {run.step():.1f} s",
                  file=sys.stderr, flush=True)
        start = time.perf_counter()
        for i in range(args.steps):
            if i and time.perf_counter() - start > args.budget:
                break
            for run in runs.values():
                run.times.append(run.step())
        for name, run in runs.items():
            step = statistics.median(run.times)
            rows.append((size, batch_size, NAMES[name], step, batch_size / step, len(run.times)))
            print(f"  {size}² batch {batch_size} {NAMES[name]}: {step:.2f} s/step over {len(run.times)} steps",
                  file=sys.stderr, flush=True)
    print("\n| crop | batch | setup | s/step (median) | samples/s | steps timed |")
    print("|---|---|---|---|---|---|")
    for size, batch_size, name, step, sps, n in rows:
        print(f"| {size}² | {batch_size} | {name}{' + kept memory' if kept else ''} | {step:.2f} | {sps:.2f} | {n} |")
    if args.loader:
        print("\n| data stream (synthetic preset, batch 12) | samples/s |\n|---|---|")
        for workers in (0, 2):
            print(f"| DataLoader, num_workers={workers} | {loader_samples_per_s(workers):.1f} |", flush=True)


if __name__ == "__main__":
    main()
