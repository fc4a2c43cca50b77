"""A sample pool on the training device: CPU cores make windows, the GPU augments and composites.

On a GPU the network eats ~100x more samples per second than one CPU core composites (foreground
estimation, trimaps and cv2 resizes cost ~50 ms per sample), so the DataLoader design of the CPU
presets would leave the GPU idle. Here the expensive, irregular work is done once per *window* by
every CPU core (`MattingMix` item -> hand-drawn-like trimap -> a square window around the unknown
region, uint8), the windows live on the device, and each training batch is made there:

* a random window per sample, re-paired with the background of another window (a new composite
  every time: merged = alpha*fg + (1-alpha)*bg, the composition of SPEC §4, on the device);
* a random square crop (one of ``crop_sizes``) resized to ``out_size``, random horizontal flip,
  brightness / saturation jitter of the foreground.

Worker processes keep making new windows while training runs and replace random slots, so the pool
is refreshed over time instead of being replayed. This stream is *not* a pure function of the
seed (unlike `train.SampleStream`): a resumed device-pool run sees different samples.
"""
from __future__ import annotations

import multiprocessing as mp
import threading

import numpy as np
import torch
import torch.nn.functional as F

from .model import IMAGENET_MEAN, IMAGENET_STD

_BASE = None  # the worker process's MattingMix (set once by _init_worker)


def _init_worker(base, window: int, seed: int) -> None:
    global _BASE, _WINDOW, _SEED
    torch.set_num_threads(1)
    _BASE, _WINDOW, _SEED = base, window, seed


def make_window(base, index: int, window: int, seed: int) -> np.ndarray:
    """Window `index`: (window, window, 8) uint8 = fg RGB, bg RGB, alpha, trimap."""
    from .data import crop_around_unknown, with_drawn_trimap
    rng = np.random.default_rng([seed, 11, index])
    sample = with_drawn_trimap(base[index], rng)  # as drawn_pipeline: a hand-drawn trimap is kept
    sample = crop_around_unknown(sample, rng, crop_sizes=(window,), out_size=window)
    return np.concatenate([sample["fg"], sample["bg"], sample["alpha"][..., None], sample["trimap"][..., None]], 2)


def _worker_window(index: int) -> tuple[int, np.ndarray]:
    return index, make_window(_BASE, index, _WINDOW, _SEED)


class DevicePool:
    """Endless iterator of training batches (the dict `losses.matting_loss` reads) made on `device`
    from a pool of `size` windows of `window` px. `workers` CPU processes build the pool (all cores by
    default) and keep refreshing it in a background thread."""

    def __init__(self, base, device: torch.device, batch_size: int, size: int = 4096, window: int = 384,
                 crop_sizes: tuple[int, ...] = (256, 320, 384), out_size: int = 320, seed: int = 0,
                 workers: int | None = None, refresh: bool = True, progress: bool = True):
        if max(crop_sizes) > window:
            raise ValueError(f"crop_sizes {crop_sizes} must not exceed the pool's window ({window} px)")
        self.device, self.batch_size, self.crop_sizes, self.out_size = device, batch_size, crop_sizes, out_size
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.windows = torch.empty((size, 8, window, window), dtype=torch.uint8, device=device)
        self._next_index, self._stop = size, threading.Event()
        workers = workers or mp.cpu_count()
        # spawn: the parent may already hold a CUDA context, which forked children must not inherit
        self._pool = mp.get_context("spawn").Pool(workers, _init_worker, (base, window, seed))
        from tqdm import tqdm
        for i, w in tqdm(self._pool.imap_unordered(_worker_window, range(size), chunksize=8), total=size,
                         desc="sample pool", disable=not progress):
            self.windows[i] = torch.from_numpy(w.transpose(2, 0, 1)).to(device)
        self._refresher = threading.Thread(target=self._refresh, daemon=True) if refresh else None
        if self._refresher is not None:
            self._refresher.start()

    def _refresh(self) -> None:
        """Replace random slots with newly made windows for as long as training runs."""
        rng = np.random.default_rng()
        while not self._stop.is_set():
            start, self._next_index = self._next_index, self._next_index + 256
            for _, w in self._pool.imap_unordered(_worker_window, range(start, start + 256), chunksize=8):
                if self._stop.is_set():
                    return
                self.windows[int(rng.integers(len(self.windows)))] = torch.from_numpy(w.transpose(2, 0, 1)).to(self.device)

    def close(self) -> None:
        self._stop.set()
        self._pool.terminate()

    def __iter__(self):
        while True:
            yield self.batch()

    def batch(self) -> dict[str, torch.Tensor]:
        n, _, window, _ = self.windows.shape
        B, dev, g = self.batch_size, self.device, self.generator
        pick = torch.randint(n, (B,), device=dev, generator=g)
        other = torch.randint(n, (B,), device=dev, generator=g)  # whose background goes behind it
        s = int(self.crop_sizes[int(torch.randint(len(self.crop_sizes), (1,), generator=g, device=dev))])
        offsets = torch.randint(window - s + 1, (B, 2), device=dev, generator=g).tolist()
        crops = torch.stack([self.windows[i, :, y:y + s, x:x + s] for i, (y, x) in zip(pick.tolist(), offsets)])
        bgs = torch.stack([self.windows[i, 3:6, y:y + s, x:x + s] for i, (y, x) in zip(other.tolist(), offsets)])
        fg, alpha, trimap = crops[:, 0:3].float() / 255, crops[:, 6:7].float() / 255, crops[:, 7:8].float()
        bg = bgs.float() / 255
        if s != self.out_size:
            size = (self.out_size, self.out_size)
            fg, bg = (F.interpolate(t, size, mode="bicubic", align_corners=False).clamp(0, 1) for t in (fg, bg))
            alpha = F.interpolate(alpha, size, mode="bicubic", align_corners=False).clamp(0, 1)
            trimap = F.interpolate(trimap, size, mode="nearest")
        flip = torch.rand(B, 1, 1, 1, device=dev, generator=g) < 0.5
        fg, bg, alpha, trimap = (torch.where(flip, t.flip(-1), t) for t in (fg, bg, alpha, trimap))
        # Colour jitter of the foreground: brightness gain and saturation around its own grey.
        gain = torch.empty(B, 1, 1, 1, device=dev).uniform_(0.75, 1.2, generator=g)
        sat = torch.empty(B, 1, 1, 1, device=dev).uniform_(0.7, 1.3, generator=g)
        grey = fg.mean(1, keepdim=True)
        fg = ((grey + (fg - grey) * sat) * gain).clamp(0, 1)
        merged = alpha * fg + (1 - alpha) * bg
        mean = torch.tensor(IMAGENET_MEAN, device=dev).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=dev).view(1, 3, 1, 1)
        x = torch.cat([(merged - mean) / std, trimap / 255], 1)
        return {"input": x, "alpha": alpha, "fg": fg, "bg": bg, "merged": merged, "trimap": trimap}
