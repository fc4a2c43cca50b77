"""Training: ImageNet key mapping, overrides, exact resume after a kill, and 2-process DDP on CPU."""
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from indexnet.checkpoint import load_model, save_checkpoint
from indexnet.model import ENCODER_LAYERS, IndexNetConfig, IndexNetMatting, torchvision_mobilenet_v2_to_ours
from indexnet.train import (PRESETS, TrainConfig, build_datasets, build_model, build_optimizer, measure_bn_statistics,
                           parse_overrides,
                           set_train_mode, train)

REPO = Path(__file__).resolve().parents[1]
TINY = ["data=synthetic", "out_size=64", "crop_sizes=[64,96]", "batch_size=2", "num_workers=0", "val_data=null",
        "checkpoint_every=1", "log_every=1", "milestones=[3]", "export=null", "ema_decay=0.9", "bf16=false", "channels_last=false"]


def torchvision_layout_state_dict() -> dict:
    """A random state dict with the keys and shapes of torchvision's mobilenet_v2()."""
    g = torch.Generator().manual_seed(0)
    sd = {}

    def conv(name, shape):
        sd[f"{name}.weight"] = torch.randn(*shape, generator=g)

    def bn(name, c):
        sd.update({f"{name}.weight": torch.rand(c, generator=g), f"{name}.bias": torch.randn(c, generator=g),
                   f"{name}.running_mean": torch.randn(c, generator=g), f"{name}.running_var": torch.rand(c, generator=g),
                   f"{name}.num_batches_tracked": torch.tensor(0)})

    conv("features.0.0", (32, 3, 3, 3)); bn("features.0.1", 32)
    conv("features.1.conv.0.0", (32, 1, 3, 3)); bn("features.1.conv.0.1", 32)
    conv("features.1.conv.1", (16, 32, 1, 1)); bn("features.1.conv.2", 16)
    i, c_in = 2, 16
    for c_out, n, t in ENCODER_LAYERS[1:]:
        for b in range(n):
            hidden = c_in * t
            conv(f"features.{i}.conv.0.0", (hidden, c_in, 1, 1)); bn(f"features.{i}.conv.0.1", hidden)
            conv(f"features.{i}.conv.1.0", (hidden, 1, 3, 3)); bn(f"features.{i}.conv.1.1", hidden)
            conv(f"features.{i}.conv.2", (c_out, hidden, 1, 1)); bn(f"features.{i}.conv.3", c_out)
            i, c_in = i + 1, c_out
    conv("features.18.0", (1280, 320, 1, 1)); bn("features.18.1", 1280)
    sd["classifier.1.weight"] = torch.randn(1000, 1280, generator=g)
    sd["classifier.1.bias"] = torch.randn(1000, generator=g)
    return sd


def test_torchvision_mapping_places_every_tensor():
    sd = torchvision_layout_state_dict()
    ours = torchvision_mobilenet_v2_to_ours(sd)
    encoder = {k: v for k, v in IndexNetMatting().state_dict().items() if k.startswith("layer")}
    assert set(ours) == set(encoder)
    assert all(ours[k].shape == encoder[k].shape for k in ours)
    torch.testing.assert_close(ours["layer0.0.weight"][:, :3], sd["features.0.0.weight"])
    assert (ours["layer0.0.weight"][:, 3] == 0).all()  # the trimap channel starts at zero
    torch.testing.assert_close(ours["layer1.0.conv.3.weight"], sd["features.1.conv.1.weight"])
    torch.testing.assert_close(ours["layer2.1.conv.3.weight"], sd["features.3.conv.1.0.weight"])  # 2nd block of layer2
    torch.testing.assert_close(ours["layer7.0.conv.7.running_var"], sd["features.17.conv.3.running_var"])


def test_build_model_from_pretrained_file(tmp_path, shared_dir):
    path = shared_dir / "pretrained" / "mobilenet_v2_imagenet_from_tflite_int8.pth"
    model = build_model(TrainConfig(pretrained_encoder=str(path)))
    sd = torch.load(path, weights_only=True)
    torch.testing.assert_close(model.layer6[2].conv[6].weight,
                               sd["features.16.conv.2.weight"])
    torch.save({"not": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="not a torchvision mobilenet_v2 state dict"):
        build_model(TrainConfig(pretrained_encoder=str(tmp_path / "bad.pth")))


def test_build_model_from_whole_checkpoint(golden_dir):
    """init_weights starts a run from a finished model (here the authors' layout); the
    architecture comes from the checkpoint, and a conflicting model override is an error."""
    path = str(golden_dir / "authors_random_checkpoint.pth.tar")
    model = build_model(TrainConfig(init_weights=path))
    reference = load_model(path)
    for k, v in reference.state_dict().items():
        torch.testing.assert_close(model.state_dict()[k], v, rtol=0, atol=0)
    with pytest.raises(ValueError, match="different"):
        build_model(TrainConfig(init_weights=path, model={"aspp": False}))


def test_overrides():
    cfg = parse_overrides(PRESETS["comp1k"], ["iterations=10", "crop_sizes=[64,96]", "data_root=/x/y", "bf16=true"])
    assert cfg.iterations == 10 and cfg.crop_sizes == (64, 96) and cfg.data_root == "/x/y" and cfg.bf16
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(cfg, ["nonsense=1"])
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(cfg, ["iterations"])


def test_cosine_schedule_settles_at_lr_final():
    model = IndexNetMatting(IndexNetConfig())
    cfg = TrainConfig(lr=1e-3, encoder_lr_mult=0.1, schedule="cosine", lr_final=0.05, iterations=100)
    optimizer, scheduler = build_optimizer(model, cfg)
    lrs = []
    for _ in range(120):
        lrs.append(optimizer.param_groups[1]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx(1e-3) and lrs[50] == pytest.approx(1e-3 * (0.05 + 0.95 * 0.5))
    assert lrs[100] == pytest.approx(5e-5) and lrs[119] == pytest.approx(5e-5)  # held after the end
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    assert optimizer.param_groups[0]["lr"] == pytest.approx(5e-6)  # the encoder's multiplier kept
    with pytest.raises(ValueError, match="schedule must be 'step' or 'cosine'"):
        build_optimizer(model, TrainConfig(schedule="linear"))


def test_overrides_are_checked_against_the_field_types():
    cfg = parse_overrides(PRESETS["comp1k"], ["iterations=1e4", "lr=1", "bf16=null", "bg_dir=/data/coco",
                                              "data_root=2024", "val_limit=null", "milestones=[]",
                                              'fg_names=["GT01"]', 'model={"aspp": false}', "channels_last=false"])
    assert cfg.iterations == 10_000 and isinstance(cfg.iterations, int) and cfg.lr == 1.0 and cfg.bf16 is None
    assert cfg.bg_dir == ("/data/coco",) and cfg.data_root == "2024" and cfg.val_limit is None
    assert cfg.milestones == () and cfg.fg_names == ("GT01",) and cfg.model == {"aspp": False}
    assert cfg.channels_last is False
    for item, expected in (("bf16=flase", "bf16 expects true or false or null, got 'flase'"),
                           ("channels_last=1", "channels_last expects true or false, got '1'"),
                           ("iterations=ten", "iterations expects an integer"), ("iterations=1.5", "an integer"),
                           ("val_limit=true", "val_limit expects an integer or null"),
                           ("lr=fast", "lr expects a number"), ("out_dir=null", "out_dir expects text"),
                           ('crop_sizes=[64,"a"]', "crop_sizes expects a JSON list of integers"),
                           ("bg_dir=[1,2]", "bg_dir expects a JSON list of strings"),
                           ("model=[1]", "model expects a JSON object")):
        with pytest.raises(ValueError, match=re.escape(expected)):
            parse_overrides(cfg, [item])


def test_comp1k_needs_data_root(tmp_path):
    with pytest.raises(ValueError, match="data_root"):
        train(parse_overrides(PRESETS["comp1k"], [f"out_dir={tmp_path}", "num_workers=0"]), progress=False)


def _log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def test_resume_reproduces_uninterrupted_run(tmp_path):
    """2 iterations + resume for 2 more == 4 iterations in one go, bit for bit (data, RNG, optimiser)."""
    straight = parse_overrides(PRESETS["synthetic"], TINY + ["iterations=4", f"out_dir={tmp_path / 'a'}"])
    train(straight, progress=False)
    split = parse_overrides(straight, [f"out_dir={tmp_path / 'b'}"])
    train(split, progress=False, stop_after=2)
    assert torch.load(tmp_path / "b" / "last.pth", weights_only=False)["iteration"] == 2
    train(split, resume=True, progress=False)
    a = torch.load(tmp_path / "a" / "last.pth", weights_only=False)
    b = torch.load(tmp_path / "b" / "last.pth", weights_only=False)
    assert a["iteration"] == b["iteration"] == 4
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], rtol=0, atol=0, msg=k)
    losses_a = [r["loss"] for r in _log(tmp_path / "a") if "loss" in r]
    losses_b = [r["loss"] for r in _log(tmp_path / "b") if "loss" in r]
    assert losses_a == losses_b and all(math.isfinite(x) for x in losses_a)
    final = load_model(tmp_path / "a" / "model.pth")  # the finished run's weights, in release format
    assert final.meta["iterations"] == 4 and final.meta["weights"] == "ema"
    with pytest.raises(FileExistsError, match="--resume"):  # a fresh run never mixes into an old one
        train(straight, progress=False)


def test_run_from_init_weights_resumes_without_them(tmp_path):
    """A fine-tuning run records the architecture it started from; resuming needs only last.pth."""
    init = tmp_path / "init.pth"
    save_checkpoint(init, IndexNetMatting(IndexNetConfig(aspp=False)))
    cfg = parse_overrides(PRESETS["synthetic"], TINY + ["iterations=2", f"out_dir={tmp_path / 'run'}",
                                                        f"init_weights={init}", "pretrained_encoder=null"])
    train(cfg, progress=False, stop_after=1)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["model"]["aspp"] is False
    init.unlink()
    resumed = TrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()})
    train(resumed, resume=True, progress=False)
    assert load_model(tmp_path / "run" / "model.pth").config.aspp is False


class _TouchOnLoad:
    """Unpickling this creates a file: a stand-in for the code a crafted last.pth could run."""

    def __init__(self, target: Path):
        self.target = str(target)

    def __reduce__(self):
        return open, (self.target, "w")


def test_run_state_holding_code_is_refused(tmp_path, capsys):
    """export and --resume read last.pth with weights_only=True: a pickle that would run code is refused,
    in words that do not advise weights_only=False, and its code never runs."""
    from indexnet.__main__ import main
    from indexnet.checkpoint import CheckpointError
    from indexnet.train import export_run, read_run_state

    run, touched = tmp_path / "run", tmp_path / "touched"
    cfg = parse_overrides(PRESETS["synthetic"], TINY + ["iterations=2", f"out_dir={run}"])
    train(cfg, progress=False, stop_after=1)
    state = read_run_state(run / "last.pth")
    torch.save({**state, "rng": {**state["rng"], "python": _TouchOnLoad(touched)}}, run / "last.pth")
    with pytest.raises(CheckpointError, match=r"last.pth was refused: it holds a Python object \(.*open\)"):
        export_run(run, tmp_path / "model.pth")
    with pytest.raises(CheckpointError, match="refused"):
        train(cfg, resume=True, progress=False)
    assert main(["train", "--resume", str(run), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "refused" in err and "weights_only" not in err and "\x1b" not in err and "Traceback" not in err
    assert not touched.exists() and not (tmp_path / "model.pth").exists()
    torch.load(run / "last.pth", weights_only=False)  # the payload is real: a trusting load runs it
    assert touched.exists()


def test_empty_or_truncated_run_state_is_named(tmp_path, capsys):
    from indexnet.__main__ import main
    run = tmp_path / "run"
    train(parse_overrides(PRESETS["synthetic"], TINY + ["iterations=2", f"out_dir={run}"]), progress=False,
          stop_after=1)
    data = (run / "last.pth").read_bytes()
    for content, reason in ((b"", "empty"), (data[: len(data) // 2], "truncated")):
        (run / "last.pth").write_bytes(content)
        for argv in (["export", str(run), str(tmp_path / "model.pth")], ["train", "--resume", str(run), "--no-progress"]):
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert err.startswith(f"error: {run / 'last.pth'} is not a readable PyTorch checkpoint ({reason}")
            assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "model.pth").exists()


def test_resume_continues_the_folder_given(tmp_path, capsys):
    """A copied run resumes in the copy (the original untouched); a moved run resumes where it is now."""
    import shutil
    from indexnet.__main__ import main
    original = tmp_path / "a"
    train(parse_overrides(PRESETS["synthetic"], TINY + ["iterations=3", f"out_dir={original}"]), progress=False,
          stop_after=1)
    before = {p.name: p.read_bytes() for p in original.iterdir()}
    shutil.copytree(original, tmp_path / "copy")
    assert main(["train", "--resume", str(tmp_path / "copy"), "--no-progress", "iterations=2"]) == 0
    assert {p.name: p.read_bytes() for p in original.iterdir()} == before
    assert torch.load(tmp_path / "copy" / "last.pth", weights_only=True)["iteration"] == 2
    assert (tmp_path / "copy" / "model.pth").is_file()
    original.rename(tmp_path / "moved")
    assert main(["train", "--resume", str(tmp_path / "moved"), "--no-progress"]) == 0
    assert torch.load(tmp_path / "moved" / "last.pth", weights_only=True)["iteration"] == 3
    assert not original.exists()
    assert main(["train", "--resume", str(tmp_path / "moved"), "--no-progress", f"out_dir={tmp_path / 'x'}"]) == 2
    assert "out_dir cannot be overridden" in capsys.readouterr().err


@pytest.mark.parametrize("override, message", [
    ("val_every=0", "val_every=0: val_every must be a whole number, at least 1"),
    ("checkpoint_every=0", "checkpoint_every must be a whole number, at least 1"),
    ("log_every=0", "log_every must be a whole number, at least 1"),
    ("iterations=0", "iterations must be a whole number, at least 1"),
    ("iterations=-5", "iterations=-5: iterations must be a whole number, at least 1"),
    ('model={"nope": 1}', "model must be an object of IndexNetConfig options (aspp, context, "),
    ('model={"index_mode": "x"}', "model must be a valid IndexNetConfig (index_mode must be"),
    ("schedule=linear", "schedule must be one of 'step', 'cosine'"),
    ("lr_final=1.5", "lr_final must be a number from 0 to 1"),
    ("test_scale=0", "test_scale must be a number above 0"),
    ("region_trimaps=-0.1", "region_trimaps must be a number from 0 to 1"),
    ("resampled_holes=2", "resampled_holes must be a number from 0 to 1"),
    ("ema_decay=1", "ema_decay must be a number from 0"),
    ("laplacian_loss=-1", "laplacian_loss must be a weight of at least 0"),
    ("fill_hinge=-0.5", "fill_hinge must be a weight of at least 0"),
    ("hole_hinge=-2", "hole_hinge must be a weight of at least 0"),
    ("solid_hinge=-1", "solid_hinge must be a weight of at least 0"),
    ("crisp_hinge=-1", "crisp_hinge must be a weight of at least 0"),
    ("crop_sizes=[]", "crop_sizes must be a non-empty list"),
    ("fill_hinge_margin=-1", "fill_hinge_margin must be a whole number of pixels of at least 0"),
    ("fill_hinge_margin_from=0.5", "fill_hinge_margin_from must be a true alpha of at least 0 and below 0.5"),
    ('hinge_sources=["hair"]',
     "hinge_sources must be null (every sample), a non-empty list of mix sources (real, holes, objects, synthetic)"),
    ("hinge_sources=[]", "hinge_sources must be null (every sample), a non-empty list"),
    ('hinge_sources=["holes"]', 'hinge_sources must be null unless data="mix" and augment_on="cpu"'),
    ('hinge_sources={"edge":["holes"]}',
     "hinge_sources must be a dict from hinges (fill, hole, solid, crisp) to null or"),
    ('hinge_sources={"fill":["hair"]}',
     "hinge_sources must be a dict from hinges (fill, hole, solid, crisp) to null or"),
    ('hinge_sources={}', "hinge_sources must be a dict from hinges"),
    ('holey_kinds={"moss":1}', "holey_kinds must be null or a dict from kind to weight (unknown holey foreground "
                               "kinds ['moss']"),
    ('holey_kinds={"strands":0}', "holey_kinds must be null or a dict from kind to weight (holey kinds "
                                  "{'strands': 0} have no kind with a positive weight)"),
    ('holey_kinds={"strands":-1,"meshed":2}', "holey kind weights must be numbers of at least 0"),
])
def test_config_is_checked_before_anything_is_created(tmp_path, override, message):
    out = tmp_path / "run"
    cfg = parse_overrides(PRESETS["synthetic"], TINY + [f"out_dir={out}", override])
    with pytest.raises(ValueError, match=re.escape(message)):
        train(cfg, progress=False)
    assert not out.exists()


def test_resume_drops_log_rows_past_the_checkpoint(tmp_path):
    """A run killed after logging iteration 3 but before checkpointing it logs 3 again on resume: once only."""
    run = tmp_path / "run"
    cfg = parse_overrides(PRESETS["synthetic"], TINY + ["iterations=4", f"out_dir={run}"])
    train(cfg, progress=False, stop_after=2)
    with open(run / "log.jsonl", "a") as log:  # what the killed run wrote after its checkpoint at 2
        log.write(json.dumps({"iteration": 3, "loss": -1.0}) + "\n" + '{"iteration": 4, "lo')
    train(cfg, resume=True, progress=False)
    rows = [r for r in _log(run) if "loss" in r]
    assert [r["iteration"] for r in rows] == [1, 2, 3, 4] and all(r["loss"] > 0 for r in rows)


def _cli(*args, env=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return [sys.executable, "-m", "indexnet", "train", *args], env


@pytest.mark.slow
def test_killed_run_resumes(tmp_path):
    out = tmp_path / "run"
    cmd, env = _cli("--config", "synthetic", "--no-progress", *TINY, "iterations=40", f"out_dir={out}")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if (out / "last.pth").exists() and torch.load(out / "last.pth", weights_only=False)["iteration"] >= 2:
            break
        time.sleep(0.5)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = torch.load(out / "last.pth", weights_only=False)["iteration"]
    assert 2 <= killed_at < 40
    (out / "last.pth.k1lled.tmp").write_bytes(b"half a checkpoint")  # as a kill mid-write leaves it
    cmd, env = _cli("--resume", str(out), "--no-progress", "iterations=" + str(killed_at + 2))
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    state = torch.load(out / "last.pth", weights_only=False)
    assert state["iteration"] == killed_at + 2
    rows = [r for r in _log(out) if "loss" in r]
    assert rows[-1]["iteration"] == killed_at + 2 and all(math.isfinite(r["loss"]) for r in rows)
    assert [r["iteration"] for r in rows] == list(range(1, killed_at + 3))  # each iteration logged once
    assert not list(out.glob("*.tmp"))


@pytest.mark.slow
def test_ddp_two_processes_on_cpu(tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533",
           "-m", "indexnet", "train", "--config", "synthetic", "--no-progress", *TINY, "iterations=2",
           f"out_dir={out}"]
    r = subprocess.run(cmd, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                       timeout=400)
    assert r.returncode == 0, r.stderr[-3000:]
    state = torch.load(out / "last.pth", weights_only=False)
    assert state["iteration"] == 2
    assert all(math.isfinite(r["loss"]) for r in _log(out) if "loss" in r)


CHURN = """
import resource, sys, torch
from indexnet.train import keep_freed_memory

def faults_while_churning():  # a training step's pattern: the same big buffers, allocated and freed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        torch.ones(64 << 18)  # 64 MB, written
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

default = faults_while_churning()
if not keep_freed_memory():
    sys.exit(3)
faults_while_churning()  # grows the heap once
print(default, faults_while_churning(), resource.getpagesize())
"""


def test_keep_freed_memory_stops_page_faulting_reused_buffers():
    r = subprocess.run([sys.executable, "-c", CHURN], cwd=REPO, capture_output=True, text=True, timeout=120)
    if r.returncode == 3:
        pytest.skip("not glibc")
    assert r.returncode == 0, r.stderr
    default, kept, page = map(int, r.stdout.split())
    if default < 10 * (64 << 20) // page // 4:  # e.g. transparent huge pages: few faults to save
        pytest.skip(f"this machine's default allocator faults only {default} times for 640 MB")
    assert kept < default / 20  # ten 64 MB buffers were faulted in page by page; now once, then reused


def test_snapshots_are_written_at_each_validation_and_averaged(tmp_path, capsys):
    """snapshots=true writes the EMA at every val_every; `export --average-last N` writes their exact mean."""
    run = tmp_path / "run"
    train(parse_overrides(PRESETS["synthetic"], TINY + ["iterations=4", "val_every=2", "snapshots=true",
                                                         "export_half=false", f"out_dir={run}"]), progress=False)
    snaps = sorted(p.name for p in run.glob("snapshot_*.pth"))
    assert snaps == ["snapshot_000002.pth", "snapshot_000004.pth"]
    a, b = (load_model(run / name).state_dict() for name in snaps)
    assert any(not torch.equal(a[k], b[k]) for k in a)  # two different points of the run
    from indexnet.__main__ import main
    assert main(["export", str(run), str(tmp_path / "avg.pth"), "--average-last", "2", "--fp32"]) == 0
    avg = load_model(tmp_path / "avg.pth")
    for k, v in avg.state_dict().items():
        if v.is_floating_point():
            torch.testing.assert_close(v, (a[k] + b[k]) / 2, msg=k)
    assert avg.meta["averaged"] == snaps
    assert main(["export", str(run), str(tmp_path / "avg3.pth"), "--average-last", "3"]) != 0
    assert "it has 2" in capsys.readouterr().err and not (tmp_path / "avg3.pth").exists()


def test_wise_ft_export_blends_the_snapshots_with_the_starting_weights(tmp_path, capsys):
    """`export --average-last N --wise-ft A` writes A x mean(last N snapshots) + (1 - A) x the run's init_weights."""
    from indexnet.__main__ import main
    torch.manual_seed(0)
    start, s1, s2 = (IndexNetMatting(IndexNetConfig()) for _ in range(3))
    run = tmp_path / "run"
    run.mkdir()
    save_checkpoint(tmp_path / "start.pth", start, half=False)
    for i, m in ((1, s1), (2, s2)):
        save_checkpoint(run / f"snapshot_00000{i}.pth", m, half=False)
    (run / "config.json").write_text(json.dumps({"init_weights": str(tmp_path / "start.pth")}))
    assert main(["export", str(run), str(tmp_path / "blend.pth"), "--average-last", "2", "--wise-ft", "0.25",
                 "--fp32"]) == 0
    blend = load_model(tmp_path / "blend.pth")
    a, b, c = (m.state_dict() for m in (s1, s2, start))
    for k, v in blend.state_dict().items():
        if v.is_floating_point():
            torch.testing.assert_close(v, 0.25 * (a[k] + b[k]) / 2 + 0.75 * c[k], msg=k)
    assert blend.meta["wise_ft"] == {"alpha": 0.25, "start": str(tmp_path / "start.pth")}
    # --blend-with: other weights than the run's start (a run that continued another run's candidate)
    other = IndexNetMatting(IndexNetConfig())
    save_checkpoint(tmp_path / "other.pth", other, half=False)
    assert main(["export", str(run), str(tmp_path / "blend2.pth"), "--average-last", "2", "--wise-ft", "0.5",
                 "--blend-with", str(tmp_path / "other.pth"), "--fp32"]) == 0
    d = other.state_dict()
    for k, v in load_model(tmp_path / "blend2.pth").state_dict().items():
        if v.is_floating_point():
            torch.testing.assert_close(v, 0.5 * (a[k] + b[k]) / 2 + 0.5 * d[k], msg=k)
    assert main(["export", str(run), str(tmp_path / "x.pth"), "--average-last", "2",
                 "--blend-with", str(tmp_path / "other.pth")]) != 0
    assert "give --wise-ft ALPHA too" in capsys.readouterr().err and not (tmp_path / "x.pth").exists()
    # Refused: an alpha outside (0, 1], --wise-ft alone, and a run that did not start from whole weights.
    assert main(["export", str(run), str(tmp_path / "x.pth"), "--average-last", "2", "--wise-ft", "1.5"]) != 0
    assert "expected a number in (0, 1]" in capsys.readouterr().err
    assert main(["export", str(run), str(tmp_path / "x.pth"), "--wise-ft", "0.5"]) != 0
    assert "give --average-last N too" in capsys.readouterr().err
    (run / "config.json").write_text(json.dumps({"init_weights": None}))
    assert main(["export", str(run), str(tmp_path / "x.pth"), "--average-last", "2", "--wise-ft", "0.5"]) != 0
    assert "did not start from a whole model" in capsys.readouterr().err and not (tmp_path / "x.pth").exists()


def test_soup_export_averages_the_last_snapshots_of_several_runs(tmp_path, capsys):
    """`export RUN --average-last N --soup-with OTHER` averages both runs' last N snapshots, each weighing the same;
    with --wise-ft the soup takes the fine-tuned share."""
    from indexnet.__main__ import main
    torch.manual_seed(1)
    start, a1, a2, a3, b1, b2 = (IndexNetMatting(IndexNetConfig()) for _ in range(6))
    save_checkpoint(tmp_path / "start.pth", start, half=False)
    run_a, run_b = tmp_path / "a", tmp_path / "b"
    for run, models in ((run_a, (a1, a2, a3)), (run_b, (b1, b2))):
        run.mkdir()
        for i, m in enumerate(models, 1):
            save_checkpoint(run / f"snapshot_00000{i}.pth", m, half=False)
        (run / "config.json").write_text(json.dumps({"init_weights": str(tmp_path / "start.pth")}))
    assert main(["export", str(run_a), str(tmp_path / "soup.pth"), "--average-last", "2", "--soup-with", str(run_b),
                 "--fp32"]) == 0
    sa2, sa3, sb1, sb2, st = (m.state_dict() for m in (a2, a3, b1, b2, start))
    soup = load_model(tmp_path / "soup.pth")
    for k, v in soup.state_dict().items():
        if v.is_floating_point():
            torch.testing.assert_close(v, (sa2[k] + sa3[k] + sb1[k] + sb2[k]) / 4, msg=k)
    assert soup.meta["averaged"] == [str(run_a / "snapshot_000002.pth"), str(run_a / "snapshot_000003.pth"),
                                     str(run_b / "snapshot_000001.pth"), str(run_b / "snapshot_000002.pth")]
    assert main(["export", str(run_a), str(tmp_path / "soupb.pth"), "--average-last", "2", "--soup-with", str(run_b),
                 "--wise-ft", "0.3", "--fp32"]) == 0
    for k, v in load_model(tmp_path / "soupb.pth").state_dict().items():
        if v.is_floating_point():
            torch.testing.assert_close(v, 0.3 * (sa2[k] + sa3[k] + sb1[k] + sb2[k]) / 4 + 0.7 * st[k], msg=k)
    capsys.readouterr()
    # Refused, and nothing written: a run in the soup with too few snapshots, and --soup-with alone
    assert main(["export", str(run_a), str(tmp_path / "x.pth"), "--average-last", "3", "--soup-with", str(run_b)]) != 0
    assert f"cannot average the last 3 snapshots of {run_b}: it has 2" in capsys.readouterr().err
    assert main(["export", str(run_a), str(tmp_path / "x.pth"), "--soup-with", str(run_b)]) != 0
    assert "--soup-with adds other runs' last snapshots to the average: give --average-last N too" in \
        capsys.readouterr().err
    assert not (tmp_path / "x.pth").exists()
    before = (run_b / "snapshot_000002.pth").read_bytes()
    assert main(["export", str(run_a), str(run_b / "snapshot_000002.pth"), "--average-last", "2",
                 "--soup-with", str(run_b)]) != 0  # would overwrite a snapshot of the soup
    assert "writing there would replace the input" in capsys.readouterr().err
    assert (run_b / "snapshot_000002.pth").read_bytes() == before


def test_weighted_average_is_checked():
    with pytest.raises(ValueError, match="one non-negative weight per checkpoint"):
        from indexnet.checkpoint import average_models
        average_models(["a.pth", "b.pth"], [1.0])


def test_aspp_bn_in_train_mode_lets_gradients_reach_the_aspp_and_layer7():
    """The shipped weights' ASPP bottleneck is saturated (ReLU6 at 0 or 6 everywhere) under its frozen init BN
    statistics: with MMagic's frozen encoder BNs no gradient gets through it (to the ASPP or layer7);
    batch statistics (freeze_aspp_bn=False) let it through."""
    torch.manual_seed(0)
    x = torch.randn(2, 4, 64, 64)
    x[:, 3] = torch.rand(2, 64, 64)
    for freeze_aspp_bn in (True, False):
        model = load_model("synthetic")
        set_train_mode(model, freeze_encoder_bn=True, freeze_aspp_bn=freeze_aspp_bn)
        assert model.layer7[0].conv[1].training is False  # ImageNet statistics stay frozen either way
        assert model.dconv_pp.bottleneck_conv[1].training is not freeze_aspp_bn
        model(x).mean().backward()
        dead = [name for name, p in model.named_parameters()
                if name.startswith(("layer7", "dconv_pp")) and p.grad.abs().max() == 0]
        if freeze_aspp_bn:
            assert dead, "the shipped weights' ASPP passes gradients with frozen BNs: update this docstring"
        else:
            assert dead == []


def test_measure_bn_statistics_takes_the_inputs_statistics_and_leaves_the_rest():
    """The ASPP's BNs end with the mean (and unbiased variance) of what reaches them over all inputs; every other
    BN keeps its statistics, momenta are restored, and an empty input list is refused."""
    torch.manual_seed(0)
    model = load_model("synthetic")
    bn = model.dconv_pp.bottleneck_conv[1]
    before = {k: v.clone() for k, v in model.state_dict().items() if "running" in k and not k.startswith("dconv_pp")}
    inputs = [torch.randn(2, 4, 64, 64), torch.randn(2, 4, 96, 64)]  # >1 per batch: the ASPP pools to 1x1
    seen = []
    hook = bn.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    assert measure_bn_statistics(model, inputs) == sum(1 for n, m in model.named_modules()
                                                        if n.startswith("dconv_pp") and isinstance(m, torch.nn.BatchNorm2d))
    hook.remove()
    means = [t.mean(dim=(0, 2, 3)) for t in seen]
    assert torch.allclose(bn.running_mean, (means[0] + means[1]) / 2, atol=1e-5)
    variances = [t.var(dim=(0, 2, 3), unbiased=True) for t in seen]
    assert torch.allclose(bn.running_var, (variances[0] + variances[1]) / 2, rtol=1e-4, atol=1e-5)
    assert bn.momentum == 0.1 and not model.training and not bn.training
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    with pytest.raises(ValueError, match="at least one input"):
        measure_bn_statistics(model, [])
    with pytest.raises(ValueError, match="no BatchNorm2d under"):
        measure_bn_statistics(model, inputs, prefixes=("nothing_here",))


def test_decoder_lr_mult_zero_freezes_the_decoder_and_trains_the_rest(tmp_path):
    """decoder_lr_mult=0: two iterations leave every decoder tensor (weights and BN statistics) as it was, while the
    MobileNetV2 layers, index blocks and ASPP move; at 1 the decoder moves too."""
    init = tmp_path / "init.pth"
    save_checkpoint(init, IndexNetMatting(IndexNetConfig()), half=False)
    before = load_model(init).state_dict()
    for mult in (0, 1):
        out = tmp_path / f"run{mult}"
        cfg = parse_overrides(PRESETS["synthetic"], TINY + ["iterations=2", "lr=1e-2", "encoder_lr_mult=1",
                                                            "ema_decay=0", f"decoder_lr_mult={mult}",
                                                            f"out_dir={out}", f"init_weights={init}",
                                                            "pretrained_encoder=null"])
        train(cfg, progress=False)
        after = torch.load(out / "last.pth", weights_only=False)["model"]
        moved = {k for k in before if before[k].is_floating_point() and not torch.equal(before[k], after[k])}
        decoder = {k for k in before if k.startswith(("decoder_layer", "pred"))}
        assert (moved & decoder == set()) is (mult == 0), sorted(moved & decoder)[:3]
        for part in ("layer", "index", "dconv_pp"):
            assert any(k.startswith(part) for k in moved), part
    with pytest.raises(ValueError, match="decoder_lr_mult"):
        train(parse_overrides(cfg, ["decoder_lr_mult=2", f"out_dir={tmp_path / 'bad'}"]), progress=False)


def test_hinge_sources_mark_each_training_sample_by_its_source(tmp_path):
    """hinge_sources=["holes"]: holey samples carry hinged=1, synthetic ones 0 (losses.matting_loss reads it); unset,
    the batch has no mark and the hinges charge every sample."""
    import cv2
    rng = np.random.default_rng(0)
    for k in range(3):
        cv2.imwrite(str(tmp_path / f"bg{k}.png"), rng.integers(0, 256, (90, 120, 3), dtype=np.uint8))
    mix = ["data=mix", f"bg_dir={tmp_path}", 'mix={"holes":1,"synthetic":1}', "val_data=null", "out_size=64",
           "crop_sizes=[64]", "fg_dir=null", "object_photos=null"]
    stream, _ = build_datasets(parse_overrides(PRESETS["real"], mix + ['hinge_sources=["holes"]']))
    unmarked, _ = build_datasets(parse_overrides(PRESETS["real"], mix))
    marks = [stream[k]["hinged"].item() for k in range(8)]
    sources = [stream.base[int(stream._perm[k])]["source"] for k in range(8)]  # the stream's first pass
    assert {"holes", "synthetic"} <= set(sources)
    assert marks == [float(s == "holes") for s in sources]
    assert "hinged" not in unmarked[0]
    # a dict: each hinge its own sources (fill on holes; solid on holes and synthetic; hole, left out, on all)
    per_hinge, _ = build_datasets(parse_overrides(PRESETS["real"], mix + [
        'hinge_sources={"fill":["holes"],"solid":["holes","synthetic"]}']))
    assert [per_hinge[k]["hinged"].tolist() for k in range(8)] == [[float(s == "holes"), 1.0, 1.0, 1.0]
                                                                    for s in sources]
    crisp, _ = build_datasets(parse_overrides(PRESETS["real"], mix + ['hinge_sources={"crisp":["synthetic"]}']))
    assert [crisp[k]["hinged"].tolist() for k in range(8)] == [[1.0, 1.0, 1.0, float(s == "synthetic")]
                                                               for s in sources]
