"""The device sample pool (GPU training path), exercised on the CPU: batches the loss can read,
composites that follow the equation, and a time-budgeted run that exports its weights."""
import json

import numpy as np
import pytest
import torch

from indexnet.checkpoint import load_model
from indexnet.device_pool import DevicePool, make_window
from indexnet.foregrounds import BackgroundBank, MattingMix
from indexnet.losses import matting_loss
from indexnet.model import IMAGENET_MEAN, IMAGENET_STD
from indexnet.train import PRESETS, parse_overrides, train


@pytest.fixture
def backgrounds(tmp_path):
    import cv2
    rng = np.random.default_rng(0)
    for k in range(3):
        cv2.imwrite(str(tmp_path / f"bg{k}.png"), rng.integers(0, 256, (90, 120, 3), dtype=np.uint8))
    return tmp_path


def test_pool_batches(backgrounds):
    base = MattingMix(BackgroundBank(backgrounds), mix={"holes": 1, "synthetic": 1}, window=160)
    window = make_window(base, 5, 64, seed=0)
    assert window.shape == (64, 64, 8) and window.dtype == np.uint8
    assert set(np.unique(window[..., 7])) <= {0, 128, 255}
    pool = DevicePool(base, torch.device("cpu"), batch_size=6, size=8, window=64, crop_sizes=(48, 64),
                      out_size=32, workers=2, refresh=False, progress=False)
    try:
        batch = pool.batch()
        assert batch["input"].shape == (6, 4, 32, 32) and batch["alpha"].shape == (6, 1, 32, 32)
        torch.testing.assert_close(batch["merged"], batch["alpha"] * batch["fg"] + (1 - batch["alpha"]) * batch["bg"])
        rgb = batch["input"][:, :3] * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        torch.testing.assert_close(rgb, batch["merged"], atol=1e-5, rtol=0)
        assert set(torch.unique(batch["trimap"]).tolist()) <= {0.0, 128.0, 255.0}
        assert torch.isfinite(matting_loss(torch.rand(6, 1, 32, 32), batch)[0])
    finally:
        pool.close()
    with pytest.raises(ValueError, match="must not exceed"):
        DevicePool(base, torch.device("cpu"), 2, size=2, window=32, crop_sizes=(64,))


def test_time_budget_run_exports(backgrounds, tmp_path):
    cfg = parse_overrides(PRESETS["real-gpu"], [
        f"bg_dir={backgrounds}", 'mix={"holes": 1, "synthetic": 1}', "init_weights=null", "bf16=false",
        "channels_last=false", "batch_size=2", "pool_size=4", "pool_window=64", "crop_sizes=[64]", "out_size=64",
        "num_workers=1", "time_budget_s=2", "log_every=1", "val_data=null", f"out_dir={tmp_path / 'run'}"])
    train(cfg, progress=False)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert log and all(np.isfinite(r["loss"]) for r in log)
    model = load_model(tmp_path / "run" / "model.pth")
    assert model.meta["iterations"] == log[-1]["iteration"] < cfg.iterations


def test_windows_keep_a_hand_drawn_trimap():
    yy, xx = np.mgrid[:80, :80]
    alpha = np.clip((25 - np.hypot(yy - 40, xx - 40)) * 64, 0, 255).astype(np.uint8)
    sample = {"image": np.zeros((80, 80, 3), np.uint8), "fg": np.zeros((80, 80, 3), np.uint8),
              "bg": np.zeros((80, 80, 3), np.uint8), "alpha": alpha}
    drawn = make_window([sample], 0, 64, seed=0)[..., 7]
    kept = make_window([dict(sample, hand_trimap=np.full((80, 80), 128, np.uint8))], 0, 64, seed=0)[..., 7]
    assert (drawn != 128).any() and (kept == 128).all()  # a drawn trimap labels the disk; the kept one does not
