"""Throughput of the synthetic matting data (indexnet/synthetic.py).

Prints samples/s for ``make_sample`` at sizes 256 and 320 (single process) and for a torch DataLoader
(batch 8) with num_workers=0 and 2. Training at 192-256 px consumes ~5 samples/s on 2 CPU cores, so
the loader must stay well above that.

    .venv/bin/python benchmarks/bench_data.py [--n 100]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import cv2  # noqa: E402
import torch  # noqa: E402

from indexnet.synthetic import SyntheticMatting, make_sample, photo_bank  # noqa: E402


def bench_make_sample(n: int, size: int) -> tuple[float, float]:
    """(wall-clock samples/s, CPU-time samples/s). The second is n / process CPU seconds: on a machine
    shared with other jobs it is the steadier estimate of what one quiet core would deliver."""
    make_sample(0, "train", size)  # warm-up: loads the photo bank
    t, c = time.perf_counter(), time.process_time()
    for i in range(n):
        make_sample(1000 + i, "train", size)
    return n / (time.perf_counter() - t), n / (time.process_time() - c)


def bench_loader(n: int, size: int, workers: int) -> float:
    ds = SyntheticMatting("train", size, length=n)
    dl = torch.utils.data.DataLoader(ds, batch_size=8, num_workers=workers, persistent_workers=False)
    t = time.perf_counter()  # includes worker start-up, as in a real training run's first epoch
    count = sum(len(b["alpha"]) for b in dl)
    return count / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100, help="samples per measurement")
    args = ap.parse_args()
    photo_bank("train")
    print(f"torch threads {torch.get_num_threads()}, cv2 threads {cv2.getNumThreads()}, cpu count {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f}")
    for size in (256, 320):
        wall, cpu = bench_make_sample(args.n, size)
        print(f"make_sample size {size}: {wall:6.1f} samples/s wall, {cpu:6.1f} samples/s per CPU second")
    for workers in (0, 2):
        print(f"DataLoader size 320, batch 8, num_workers={workers}: "
              f"{bench_loader(args.n, 320, workers):6.1f} samples/s")


if __name__ == "__main__":
    main()
