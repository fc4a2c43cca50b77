"""Training: the published recipe (SPEC §4) as one readable loop, with presets, resume and DDP.

    python -m indexnet train --config comp1k data_root=/data/Combined_Dataset
    python -m indexnet train --config synthetic iterations=4000 pretrained_encoder=mobilenet_v2.pth
    torchrun --nproc_per_node=2 -m indexnet train --config synthetic ...
    python -m indexnet train --resume runs/synthetic          # continue a killed run

Everything a run needs to continue (model, optimiser, scheduler, EMA weights, RNG states,
iteration) is in `<out_dir>/last.pth`, written atomically every `checkpoint_every` iterations.
The data stream is a pure function of (seed, sample number), so a resumed run sees exactly the
samples the killed run would have seen.
"""
from __future__ import annotations

import argparse
import ctypes
import dataclasses
import json
import math
import numbers
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, Sampler

from .checkpoint import (CheckpointError, atomic_save, atomic_write_text, average_models, read_checkpoint,
                         resolve_source, safe_load, save_checkpoint)
from .losses import matting_loss
from .model import IndexNetConfig, IndexNetMatting, torchvision_mobilenet_v2_to_ours


@dataclass
class TrainConfig:
    data: str = "comp1k"  # "comp1k" (Adobe layout or MMagic json under data_root), "synthetic" or "mix"
    data_root: str | None = None
    # "indexnet" (distance-transform band), "dim" (erosion/dilation) or "drawn" (wide, blobby: real trimaps)
    pipeline: str = "indexnet"
    # data="mix" (indexnet.foregrounds.MattingMix): backgrounds, real (photo, alpha) pairs, COCO outlines
    bg_dir: tuple[str, ...] = ()  # one or more folders of background photos
    fg_dir: str | None = None  # alphamatting.com layout (image/, alpha/): the "real" source
    fg_names: tuple[str, ...] = ("GT01", "GT02", "GT03", "GT04", "GT05", "GT06", "GT07", "GT08", "GT09", "GT10")
    object_photos: str | None = None  # photos with YOLO-segmentation outlines: the "objects" source
    object_outlines: str | None = None
    fg_scale: tuple[float, ...] = (0.5, 1.5)  # random scale of real and object foregrounds (low, high)
    mix: dict = field(default_factory=lambda: {"real": 0.45, "holes": 0.12, "objects": 0.08, "synthetic": 0.35})
    # share of real samples that keep a trimap a person drew (fg_dir/trimap*/); pipeline="drawn" and the GPU pool
    hand_trimaps: float = 0.5
    # share of holey foregrounds composited onto the photo that coloured them (augment_on="cpu" only: the GPU
    # pool puts another window's background behind every foreground)
    same_palette: float = 0.3
    # share of holey foregrounds whose whole area is marked unknown (foregrounds.region_trimap), as people
    # draw round yarn, a mesh cup or a plant (issue 16)
    region_trimaps: float = 0.0
    # share of holey foregrounds shrunk and enlarged back, as predict enlarges photos to their test scale: soft
    # edges, where crisp drawn ones taught outlines a pixel too wide (issue 16's false fills)
    resampled_holes: float = 0.0
    # how often each holey kind is drawn (kind -> weight, kinds left out are not drawn; null: the table
    # foregrounds.HOLEY_KINDS): more of one class the probe measures, e.g. the translucent sheets, whose holes the
    # fill hinge leaves alone (stages 48-49)
    holey_kinds: dict | None = None
    crop_sizes: tuple[int, ...] = (320, 480, 640)
    out_size: int = 320
    batch_size: int = 16  # global batch; split across DDP processes
    iterations: int = 78_000
    lr: float = 1e-2
    encoder_lr_mult: float = 0.01  # MobileNetV2 layers (SPEC §4)
    # the decoder's (decoder_layer*, pred) lr as a multiple of lr; 0 freezes it (weights and BN statistics): the
    # encoder then has to fix the errors itself. Why: in fine-tunes from the shipped weights the decoder's changes
    # cost the validation SAD while the MobileNetV2 layers' lowered it (checkpoints/README.md, stages 21 and 23)
    decoder_lr_mult: float = 1.0
    milestones: tuple[int, ...] = (52_000, 67_600)
    gamma: float = 0.1
    # "step" (lr x gamma at each milestone, the published recipe) or "cosine" (from lr down to lr x lr_final
    # at `iterations`, milestones ignored): a run that settles, where a constant lr left the weights wherever
    # the last batches pushed them (MEASURED.md: both probes at constant lr ended worse than they started)
    schedule: str = "step"
    lr_final: float = 0.05
    # "mmagic" (alpha 0.5, comp 1.5, channel mean), "authors" (0.5 / 0.5, sum: the same objective) or
    # "alpha-heavy" (1.5 / 0.5, mean: ours, against one-sided errors where colours match; indexnet.losses)
    loss_weighting: str = "mmagic"
    # weight of the Laplacian-pyramid loss added to it (0: the references'; indexnet.losses.laplacian_loss, issue 16)
    laplacian_loss: float = 0.0
    # weights of the hinges on the probe's false fills and false holes (0: none; indexnet.losses.false_fill_loss)
    fill_hinge: float = 0.0
    hole_hinge: float = 0.0
    # pixels within this many px of a truly solid one are not charged by the fill hinge (0: every clear pixel;
    # stage 34: an outline a pixel too wide is half the probe's fills, and eroding every edge costs real photos)
    fill_hinge_margin: int = 0
    # the lowest true alpha that margin spares (0: all; stage 39: 0.05 still charges a fully clear gap next to
    # a solid pixel, a mesh's or a slit's, and spares only anti-aliased edges)
    fill_hinge_margin_from: float = 0.0
    # weight of the hinge on opaque pixels predicted see-through (true >= 0.9, predicted < 0.75; 0: none;
    # indexnet.losses.softened_solid_loss)
    solid_hinge: float = 0.0
    # weight of the one-sided hinge on a matte blurred toward mid-values (true >= 0.8 predicted lower, true < 0.05
    # predicted higher; 0: none; indexnet.losses.blurred_extremes_loss): stages 51-54 blurred the synthetic hair
    crisp_hinge: float = 0.0
    # the mix sources whose samples the hinges charge (null: every sample). Why (issue 16, stage 24's
    # table): the hinges cost the validation, and on GT13 the fine-tunes made opaque leaves lighter; limited to
    # ["holes"], they act on the material the probe measures and leave real photographs to the alpha losses.
    # A dict gives each hinge its own list ({"fill": [...], "hole": [...], "solid": [...], "crisp": [...]}; a
    # hinge left out or null charges every sample): stage 32 puts the solid hinge on the real photographs too,
    # where GT13's opaque leaves came out see-through; stage 56 the crisp hinge on the synthetic and real ones
    hinge_sources: tuple[str, ...] | dict | None = None
    freeze_encoder_bn: bool = True
    # False: the ASPP's BatchNorms (dconv_pp) train, with batch statistics, even when freeze_encoder_bn freezes
    # the rest of the encoder. MMagic freezes them too, but they start from init statistics (mean 0, variance
    # 1) that never normalise anything: under our stage-1 to -3 learning rates the ASPP's 1x1 bottleneck grew
    # until every output sat at ReLU6's 0 or 6 (measured on the shipped weights: none of its outputs inside
    # (0, 6) on GT13), so neither the ASPP nor MobileNetV2's layer7 has received a gradient since.
    freeze_aspp_bn: bool = True
    pretrained_encoder: str | None = None  # torchvision mobilenet_v2 ImageNet weights: path or URL
    init_weights: str | None = None  # start from a whole model: anything load_model reads (fine-tuning)
    ema_decay: float = 0.0  # > 0 keeps an exponential moving average of the weights (exported if set)
    # also write the weights (EMA if kept) at every validation to <out_dir>/snapshot_<iteration>.pth, so that
    # the last few can be averaged (`average_snapshots`): a choice that needs no pick by a validation score
    snapshots: bool = False
    bf16: bool | None = False  # bfloat16 autocast; None: where the hardware runs it natively (`native_bf16`)
    channels_last: bool = False
    # torch.compile (inductor) of the training forward: ~2 min to compile, then at 256², batch 8 on a 2-core
    # AVX-512 machine 5.27 -> 6.17 samples/s with bf16, 3.18 -> 4.11 in fp32 (benchmarks/bench_train.py)
    compile: bool = False
    # "synthetic" (val split), "alphamatting:<root>" (GT11-GT14 x both trimaps) or any `evaluate.open_dataset` layout
    val_data: str | None = None
    val_trimap_dir: str | None = None
    val_limit: int | None = None
    # the factor images are resized by before the network, in validation and stored in the exported weights'
    # metadata (`predict`'s default): real photos run best enlarged 1.5x (checkpoints/README.md)
    test_scale: float = 1.0
    val_every: int = 2_000
    checkpoint_every: int = 1_000
    log_every: int = 20
    num_workers: int = 4
    seed: int = 0
    out_dir: str = "runs/comp1k"
    export: str | None = None  # final (EMA) weights in our release format go here; default <out_dir>/model.pth
    export_half: bool = True
    model: dict = field(default_factory=dict)  # IndexNetConfig overrides (ablations)
    # "cpu": a DataLoader over the reproducible stream; "device": `indexnet.device_pool.DevicePool`
    # (all CPU cores make windows, the GPU crops, composites and jitters: keeps a GPU fed)
    augment_on: str = "cpu"
    pool_size: int = 4096  # windows kept on the device (augment_on="device")
    pool_window: int = 384
    time_budget_s: float | None = None  # stop (and export) after this much training time


# torchvision's ImageNet MobileNetV2 (downloaded once into torch.hub's cache when a run starts);
# offline, pass pretrained_encoder=<path to a file in that layout>, e.g. shared/pretrained's.
TORCHVISION_MOBILENET_V2 = "https://download.pytorch.org/models/mobilenet_v2-b0353104.pth"

PRESETS: dict[str, TrainConfig] = {
    # MMagic's indexnet_mobv2_1xb16-78k_comp1k (SAD 45.6): batch 16 at 320², 78k iterations.
    "comp1k": TrainConfig(pretrained_encoder=TORCHVISION_MOBILENET_V2),
    # The "DIM pipeline" variant (SAD 50.1).
    "dimaug": TrainConfig(pipeline="dim", pretrained_encoder=TORCHVISION_MOBILENET_V2, out_dir="runs/dimaug"),
    # What fits two CPU cores in an afternoon: smaller crops (a 320² step costs ~1 s per sample,
    # 192² about a third of that); crops of 192-320 px from 320-px synthetic scenes keep
    # the object scale of real 800-px photos within ~2x. Constant lr with an EMA of the weights
    # instead of the step schedule: short runs have no time to anneal, and averaging gave the
    # same benefit in a probe (MEASURED.md). bf16 autocast is off: on CPUs without AVX-512 BF16
    # (e.g. the AMD EPYC machines here) it is ~10x slower than fp32; turn it on where it pays.
    # NCHW: with freed memory kept (the CLI's default) it beat channels-last, 2.15 vs 1.85 samples/s
    # (benchmarks/bench_train.py --keep-freed-memory; the shipped run still used channels-last).
    "synthetic": TrainConfig(data="synthetic", crop_sizes=(192, 256, 320), out_size=192, batch_size=12,
                             iterations=4_000, milestones=(), ema_decay=0.998, bf16=False, channels_last=False,
                             val_data="synthetic", val_limit=32, val_every=500, checkpoint_every=100,
                             num_workers=1, out_dir="runs/synthetic"),
    # Fine-tuning for real photographs (issue 10): real foregrounds, holey and object cut-outs and synthetic
    # samples composited on folders of natural photos, under hand-drawn-like trimaps, from the shipped
    # weights. A 40-minute probe of this recipe halved the real-photo validation SAD (MEASURED.md).
    # Needs bg_dir, fg_dir, object_photos/object_outlines (or the mix without them) and val_data.
    # The same material on a CUDA GPU for a fixed wall-clock budget (issue 10): batches of 64 at 320²,
    # bf16, made on the GPU from a pool of windows that every CPU core keeps refreshing. E.g.
    #   python -m indexnet train --config real-gpu time_budget_s=480 bg_dir=... fg_dir=... val_data=...
    "real-gpu": TrainConfig(data="mix", pipeline="drawn", crop_sizes=(256, 320, 384), out_size=320, batch_size=64,
                            mix={"real": 0.36, "holes": 0.28, "objects": 0.06, "synthetic": 0.30},
                            iterations=100_000, lr=4e-3, encoder_lr_mult=0.05, milestones=(), ema_decay=0.999,
                            init_weights="synthetic", bf16=None, channels_last=True, augment_on="device",
                            val_every=500, checkpoint_every=200, log_every=50, time_budget_s=480, test_scale=1.5,
                            region_trimaps=0.3,
                            out_dir="runs/real-gpu"),
    # On two CPU cores (issue 16): a session's run from the shipped weights, 2,400 iterations (~1.5 h at ~5
    # samples/s) with a cosine decay, so that it ends settled; the new opaque and translucent holey kinds
    # (strands, meshed, translucent), 30% of them under a trimap that marks their whole area unknown.
    "real": TrainConfig(data="mix", pipeline="drawn", crop_sizes=(256, 320), out_size=256, batch_size=8,
                        mix={"real": 0.36, "holes": 0.28, "objects": 0.06, "synthetic": 0.30}, region_trimaps=0.3,
                        iterations=2_400, lr=6e-4, schedule="cosine", lr_final=0.05, encoder_lr_mult=0.05,
                        milestones=(), ema_decay=0.995, init_weights="synthetic", bf16=None, compile=True,
                        fg_scale=(0.75, 2.0), test_scale=1.5, val_every=300, checkpoint_every=25, num_workers=1,
                        out_dir="runs/real"),
}


def parse_overrides(config: TrainConfig, overrides: list[str]) -> TrainConfig:
    """`key=value` pairs -> a new config (nanoGPT-style), each value checked against the field's type.

    Values are read as JSON where they parse (`true`, `3`, `1e-3`, `[64, 96]`, `{"aspp": false}`, `null`),
    else as plain text (paths, names); one bare item fills a tuple field (`bg_dir=/data/coco`). A value
    that does not fit is a ValueError naming the key, the value and the expected type, so a typo such as
    `bf16=flase` stops the run instead of becoming the (truthy) string "flase"."""
    import types
    import typing

    hints = typing.get_type_hints(TrainConfig)  # resolves the string annotations of `from __future__ import annotations`
    no_fit = object()
    names = {bool: "true or false", int: "an integer", float: "a number", str: "text", type(None): "null",
             dict: 'a JSON object such as {"key": 1}'}

    def is_union(hint) -> bool:
        return isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union

    def describe(hint) -> str:
        if is_union(hint):
            return " or ".join(describe(option) for option in typing.get_args(hint))
        if typing.get_origin(hint) is tuple:
            item = typing.get_args(hint)[0]
            return {int: "a JSON list of integers such as [64, 96]",
                    str: 'a JSON list of strings such as ["a", "b"]'}.get(item, f"a JSON list of {describe(item)}")
        return names.get(hint, getattr(hint, "__name__", str(hint)))

    def typed(value, hint):
        """`value` as a `hint`, or `no_fit`."""
        if is_union(hint):
            return next((out for option in typing.get_args(hint) if (out := typed(value, option)) is not no_fit),
                        no_fit)
        if typing.get_origin(hint) is tuple:  # tuple[X, ...]
            items = [typed(v, typing.get_args(hint)[0]) for v in (value if isinstance(value, list) else [value])]
            return no_fit if any(v is no_fit for v in items) else tuple(items)
        if hint is type(None):
            return None if value is None else no_fit
        if isinstance(value, bool):  # JSON true/false are Python ints too: only a bool field takes them
            return value if hint is bool else no_fit
        if hint is int and isinstance(value, float) and value.is_integer():  # iterations=1e4
            return int(value)
        if hint is float and isinstance(value, int):
            return float(value)
        return value if isinstance(value, hint) else no_fit

    changes = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or key not in hints:
            raise ValueError(f"override {item!r} must be key=value with key one of: {', '.join(hints)}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw  # plain text: paths, names
        out = typed(value, hints[key])
        if out is no_fit and value is not None and not isinstance(value, (str, list, dict)):
            out = typed(raw, hints[key])  # text that happens to read as a number: data_root=2024
        if out is no_fit:
            raise ValueError(f"override {item!r}: {key} expects {describe(hints[key])}, got {raw!r}")
        changes[key] = out
    return dataclasses.replace(config, **changes)


def check_config(cfg: TrainConfig) -> None:
    """Every field's value, before a run creates anything: a ValueError that names the field and what it allows
    (a zero interval would divide by zero mid-run, zero iterations would export an untrained model)."""
    from .data import PIPELINES

    def refuse(name: str, allowed: str):
        raise ValueError(f"{name}={getattr(cfg, name)!r}: {name} must be {allowed}")

    def integer(v) -> bool:
        return isinstance(v, numbers.Integral) and not isinstance(v, bool)

    def number(v) -> bool:
        return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)

    choices = {"data": ("comp1k", "synthetic", "mix"), "pipeline": tuple(sorted(PIPELINES)),
               "augment_on": ("cpu", "device"), "schedule": ("step", "cosine"),
               "loss_weighting": ("mmagic", "authors", "alpha-heavy")}
    for name, allowed in choices.items():
        if getattr(cfg, name) not in allowed:
            refuse(name, "one of " + ", ".join(map(repr, allowed)))
    for name in ("iterations", "batch_size", "out_size", "val_every", "checkpoint_every", "log_every", "pool_size",
                 "pool_window"):
        if not (integer(getattr(cfg, name)) and getattr(cfg, name) >= 1):
            refuse(name, "a whole number, at least 1")
    for name in ("num_workers", "seed"):
        if not (integer(getattr(cfg, name)) and 0 <= getattr(cfg, name) < 2**32):
            refuse(name, "a whole number, at least 0")
    for name in ("lr", "gamma", "test_scale"):
        if not (number(getattr(cfg, name)) and getattr(cfg, name) > 0):
            refuse(name, "a number above 0")
    for name in ("lr_final", "encoder_lr_mult", "decoder_lr_mult", "hand_trimaps", "same_palette", "region_trimaps",
                 "resampled_holes"):
        if not (number(getattr(cfg, name)) and 0 <= getattr(cfg, name) <= 1):
            refuse(name, "a number from 0 to 1")
    for name in ("laplacian_loss", "fill_hinge", "hole_hinge", "solid_hinge", "crisp_hinge"):
        if not (number(getattr(cfg, name)) and getattr(cfg, name) >= 0):
            refuse(name, "a weight of at least 0 (0: no such term)")
    if cfg.holey_kinds is not None:
        from .foregrounds import check_holey_kinds
        try:
            check_holey_kinds(cfg.holey_kinds)
        except ValueError as err:
            refuse("holey_kinds", f"null or a dict from kind to weight ({err})")
    if not (integer(cfg.fill_hinge_margin) and cfg.fill_hinge_margin >= 0):
        refuse("fill_hinge_margin", "a whole number of pixels of at least 0")
    if not (number(cfg.fill_hinge_margin_from) and 0 <= cfg.fill_hinge_margin_from < 0.5):
        refuse("fill_hinge_margin_from", "a true alpha of at least 0 and below 0.5 (0: the margin spares every pixel)")
    if cfg.hinge_sources is not None:
        from .foregrounds import DEFAULT_MIX
        from .losses import HINGES
        sources_list = f"a non-empty list of mix sources ({', '.join(DEFAULT_MIX)})"

        def is_sources(value):
            return (isinstance(value, (list, tuple)) and len(value) > 0
                    and all(isinstance(name, str) and name in DEFAULT_MIX for name in value))

        if isinstance(cfg.hinge_sources, dict):
            if not (cfg.hinge_sources and set(cfg.hinge_sources) <= set(HINGES)
                    and all(v is None or is_sources(v) for v in cfg.hinge_sources.values())):
                refuse("hinge_sources", f"a dict from hinges ({', '.join(HINGES)}) to null or {sources_list}")
        elif not is_sources(cfg.hinge_sources):
            refuse("hinge_sources", f"null (every sample), {sources_list}, or a dict of such lists by hinge "
                                    f"({', '.join(HINGES)})")
        if cfg.data != "mix" or cfg.augment_on != "cpu":
            refuse("hinge_sources", 'null unless data="mix" and augment_on="cpu" (only they tell samples\' sources)')
    if not (number(cfg.ema_decay) and 0 <= cfg.ema_decay < 1):
        refuse("ema_decay", "a number from 0 (no average) up to, not including, 1")
    if not (cfg.time_budget_s is None or (number(cfg.time_budget_s) and cfg.time_budget_s > 0)):
        refuse("time_budget_s", "a number of seconds above 0, or null")
    if not (cfg.val_limit is None or (integer(cfg.val_limit) and cfg.val_limit >= 1)):
        refuse("val_limit", "a number of images, at least 1, or null")
    if not (cfg.crop_sizes and all(integer(v) and v >= 1 for v in cfg.crop_sizes)):
        refuse("crop_sizes", "a non-empty list of sizes in pixels, such as [320, 480, 640]")
    if not all(integer(v) and v >= 0 for v in cfg.milestones):
        refuse("milestones", "a list of iterations, such as [52000, 67600]")
    if not (isinstance(cfg.mix, dict) and cfg.mix and all(number(v) and v >= 0 for v in cfg.mix.values())):
        refuse("mix", 'an object of source weights, such as {"real": 0.5, "synthetic": 0.5}')
    if not (isinstance(cfg.out_dir, str) and cfg.out_dir):
        refuse("out_dir", "a folder name")
    if not isinstance(cfg.model, dict):
        refuse("model", 'an object of IndexNetConfig options, such as {"aspp": false}')
    known = {f.name for f in dataclasses.fields(IndexNetConfig)}
    if unknown := sorted(set(cfg.model) - known):
        refuse("model", f"an object of IndexNetConfig options ({', '.join(sorted(known))}); {unknown} are not")
    try:
        IndexNetConfig(**cfg.model)
    except (TypeError, ValueError) as err:
        refuse("model", f"a valid IndexNetConfig ({err})")


# ------------------------------------------------------------------------------------- data
class SampleStream(Dataset):
    """Sample k of an endless, reproducible stream over `base`.

    Pass e = k // len(base) visits `base` in a permutation seeded by (seed, e); the random
    augmentation of sample k uses a generator seeded by (seed, k). So the stream depends only on
    the seed and k: resuming at iteration i just starts at k = i * batch_size.
    """

    def __init__(self, base, transform, seed: int):
        self.base, self.transform, self.seed = base, transform, seed
        self._perm_epoch, self._perm = -1, None

    def __len__(self):
        return len(self.base)

    def __getitem__(self, k: int) -> dict:
        epoch, pos = divmod(int(k), len(self.base))
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(len(self.base))
            self._perm_epoch = epoch
        return self.transform(self.base[int(self._perm[pos])], np.random.default_rng([self.seed, 1, int(k)]))


class StreamSampler(Sampler):
    """Stream positions for this process: iteration i uses positions i*B ... i*B + B - 1 of the
    global batch B; process r of W takes every W-th of them."""

    def __init__(self, start_iteration: int, batch_size: int, rank: int = 0, world_size: int = 1):
        self.start, self.batch, self.rank, self.world = start_iteration, batch_size, rank, world_size

    def __iter__(self):
        i = self.start
        while True:
            yield from range(i * self.batch + self.rank, (i + 1) * self.batch, self.world)
            i += 1


def hinge_marks(hinge_sources, source: str) -> torch.Tensor:
    """Whether the hinges charge a sample from ``source``: a 0/1 scalar for a list of sources, or one 0/1 per
    hinge (losses.HINGES) for a dict of lists by hinge (a hinge left out or null charges every sample)."""
    from .losses import HINGES
    if isinstance(hinge_sources, dict):
        return torch.tensor([float(hinge_sources.get(name) is None or source in hinge_sources[name])
                             for name in HINGES])
    return torch.tensor(float(source in hinge_sources))


def build_datasets(cfg: TrainConfig):
    """(training stream, validation dataset or None) for a config."""
    from . import data

    if cfg.pipeline not in data.PIPELINES:
        raise ValueError(f"pipeline must be one of {sorted(data.PIPELINES)}, got {cfg.pipeline!r}")
    pipeline = data.PIPELINES[cfg.pipeline]

    def transform(sample, rng):
        source = sample.get("source")
        tensors = data.to_tensors(pipeline(sample, rng, crop_sizes=cfg.crop_sizes, out_size=cfg.out_size))
        if cfg.hinge_sources is not None:  # which samples the hinges charge (losses.matting_loss reads "hinged")
            tensors["hinged"] = hinge_marks(cfg.hinge_sources, source)
        return tensors

    if cfg.data == "synthetic":
        from .synthetic import SyntheticMatting
        base = SyntheticMatting("train", size=max(cfg.crop_sizes))
    elif cfg.data == "comp1k":
        if not cfg.data_root:
            raise ValueError("the comp1k config needs data_root=<folder with the Adobe Composition-1k release "
                             "or MMagic's training_list.json>")
        base = data.Comp1kTrainSource(cfg.data_root)
    elif cfg.data == "mix":
        base = build_mix(cfg)
    else:
        raise ValueError(f"data must be 'comp1k', 'synthetic' or 'mix', got {cfg.data!r}")
    return SampleStream(base, transform, cfg.seed), build_val_dataset(cfg)


def build_mix(cfg: TrainConfig):
    """`indexnet.foregrounds.MattingMix` from the config's folders (only the sources the mix uses)."""
    from .foregrounds import BackgroundBank, MattingMix, ObjectCutouts, RealForegrounds
    if not cfg.bg_dir:
        raise ValueError("data='mix' needs bg_dir=<folder of background photos> (or a JSON list of folders)")
    bg_dirs = (cfg.bg_dir,) if isinstance(cfg.bg_dir, str) else cfg.bg_dir
    real = objects = None
    if cfg.mix.get("real", 0) > 0:
        if not cfg.fg_dir:
            raise ValueError("the mix has 'real' samples: set fg_dir=<folder with image/ and alpha/> "
                             "(e.g. the alphamatting.com training set) or mix's real weight to 0")
        real = RealForegrounds(cfg.fg_dir, cfg.fg_names)
    if cfg.mix.get("objects", 0) > 0:
        if not (cfg.object_photos and cfg.object_outlines):
            raise ValueError("the mix has 'objects' samples: set object_photos=<folder> and object_outlines=<folder "
                             "of YOLO segmentation .txt files>, or mix's objects weight to 0")
        objects = ObjectCutouts(cfg.object_photos, cfg.object_outlines)
    if len(cfg.fg_scale) != 2 or not 0 < cfg.fg_scale[0] <= cfg.fg_scale[1]:
        raise ValueError(f"fg_scale must be [low, high] with 0 < low <= high, got {list(cfg.fg_scale)}")
    return MattingMix(BackgroundBank(bg_dirs), real=real, objects=objects, mix=cfg.mix, seed=cfg.seed,
                      scale_range=tuple(cfg.fg_scale), hand_trimaps=cfg.hand_trimaps, same_palette=cfg.same_palette,
                      region_trimaps=cfg.region_trimaps, resampled_holes=cfg.resampled_holes,
                      holey_kinds=cfg.holey_kinds)


def build_val_dataset(cfg: TrainConfig):
    if cfg.val_data is None:
        return None
    if cfg.val_data == "synthetic":
        from .synthetic import SyntheticMatting
        return SyntheticMatting("val", size=320)
    from .evaluate import AlphamattingDataset, open_dataset
    if cfg.val_data.startswith("alphamatting:"):
        return AlphamattingDataset(cfg.val_data.split(":", 1)[1])
    return open_dataset(cfg.val_data, trimap_dir=cfg.val_trimap_dir)


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 autocast pays on this device: a CUDA GPU that supports it, or a CPU with native
    bf16 dot products (AVX-512 BF16 or AMX). Elsewhere (AVX2-only CPUs) oneDNN emulates bf16 and a
    training step runs many times slower than fp32 (MEASURED.md), so autocast stays off."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: no cheap way to tell; fp32 is the safe choice
        return False
    return any(f" {flag}" in flags for flag in ("avx512_bf16", "amx_bf16"))


# ------------------------------------------------------------------------------------ model
def build_model(cfg: TrainConfig) -> IndexNetMatting:
    if cfg.init_weights:
        # Fine-tune or continue a finished model (ours, the authors' or MMagic's): its own
        # architecture config wins; ImageNet initialisation would be overwritten anyway.
        from .checkpoint import load_model
        model = load_model(cfg.init_weights)
        if cfg.model and IndexNetConfig(**cfg.model) != model.config:
            raise ValueError(f"init_weights={cfg.init_weights!r} is a {model.config} network; "
                             f"the model overrides {cfg.model} ask for a different one")
        return model.float()
    model = IndexNetMatting(IndexNetConfig(**cfg.model))
    if cfg.pretrained_encoder:
        path = resolve_source(cfg.pretrained_encoder)
        obj = read_checkpoint(path)
        weights = torchvision_mobilenet_v2_to_ours(obj.get("state_dict", obj), model.config.in_channels)
        expected = {k for k in model.state_dict() if k.startswith("layer")}
        if set(weights) != expected:
            raise ValueError(f"{path} is not a torchvision mobilenet_v2 state dict: "
                             f"missing {sorted(expected - set(weights))[:3]}")
        model.load_state_dict(weights, strict=False)
    return model


DECODER = ("decoder_layer", "pred")  # the decoder's parameter and module names


def set_train_mode(model: IndexNetMatting, freeze_encoder_bn: bool, freeze_aspp_bn: bool = True,
                   freeze_decoder: bool = False) -> None:
    """Train mode, with every BN outside the decoder kept in eval mode if asked.

    MMagic freezes the BNs of its whole encoder module (MobileNetV2 layers, index blocks and
    ASPP); their affine parameters still train. It also keeps the ImageNet BN statistics
    meaningful (and the converted weights in `shared/pretrained` require it).
    freeze_aspp_bn=False leaves the ASPP's BNs training (`TrainConfig.freeze_aspp_bn` says why).
    freeze_decoder=True keeps the decoder's BNs in eval mode too (`TrainConfig.decoder_lr_mult` = 0).
    """
    model.train()
    trained = DECODER if freeze_aspp_bn else DECODER + ("dconv_pp",)
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.BatchNorm2d) and (freeze_encoder_bn and not name.startswith(trained)
                                                         or freeze_decoder and name.startswith(DECODER)):
            module.eval()


@torch.no_grad()
def measure_bn_statistics(model: IndexNetMatting, inputs, prefixes: tuple[str, ...] = ("dconv_pp",)) -> int:
    """Replace the running statistics of the BatchNorms under `prefixes` by their mean over `inputs` (N x 4 x H x W
    network inputs, N >= 2: the ASPP's image-pooling branch sees one value per channel and image), the rest of the
    model in eval mode; returns how many BNs were measured.

    Why: weights trained with `freeze_aspp_bn=True` carry the ASPP's init statistics (mean 0, variance 1), which a
    blend with weights trained with live statistics would average with real ones. Measured first, both ends of
    the blend hold statistics of real inputs (the cumulative mean of SWA's `update_bn`, not a momentum average)."""
    bns = [m for name, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d) and name.startswith(prefixes)]
    if not bns:
        raise ValueError(f"no BatchNorm2d under {prefixes} in this model: nothing to measure")
    was_training, momenta = model.training, [bn.momentum for bn in bns]
    model.eval()
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over every input
        bn.train()
    seen = 0
    for x in inputs:
        model(x)
        seen += 1
    for bn, momentum in zip(bns, momenta):
        bn.momentum = momentum
    model.train(was_training)
    if not seen:
        raise ValueError("measure_bn_statistics needs at least one input; got none")
    return len(bns)


def build_optimizer(model: IndexNetMatting, cfg: TrainConfig):
    """Adam over three groups: MobileNetV2 layers (lr x encoder_lr_mult), decoder (lr x decoder_lr_mult; left out,
    with requires_grad off, at 0) and the rest (index blocks, ASPP: lr)."""
    encoder = {id(p) for m in model.encoder_modules() for p in m.parameters()}
    decoder = {id(p) for name, p in model.named_parameters() if name.startswith(DECODER)}
    for p in model.parameters():
        if id(p) in decoder:
            p.requires_grad_(cfg.decoder_lr_mult > 0)
    groups = [{"params": [p for p in model.parameters() if id(p) in encoder], "lr": cfg.lr * cfg.encoder_lr_mult},
              {"params": [p for p in model.parameters() if id(p) not in encoder | decoder], "lr": cfg.lr}]
    if cfg.decoder_lr_mult > 0:
        groups.append({"params": [p for p in model.parameters() if id(p) in decoder], "lr": cfg.lr * cfg.decoder_lr_mult})
    optimizer = torch.optim.Adam(groups, lr=cfg.lr, betas=(0.9, 0.999), weight_decay=0)
    if cfg.schedule == "cosine":
        def factor(step: int) -> float:
            done = min(step, cfg.iterations) / max(cfg.iterations, 1)
            return cfg.lr_final + (1 - cfg.lr_final) * 0.5 * (1 + math.cos(math.pi * done))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    elif cfg.schedule == "step":
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(cfg.milestones), gamma=cfg.gamma)
    else:
        raise ValueError(f"schedule must be 'step' or 'cosine', got {cfg.schedule!r}")
    return optimizer, scheduler


@torch.no_grad()
def update_ema(ema: dict, model: torch.nn.Module, decay: float, iteration: int) -> None:
    """EMA of the weights. The decay warms up as (1 + i) / (10 + i): otherwise the average of a
    short run is dominated by the random initialisation (0.995^75 = 0.69 of it after 75 steps)."""
    decay = min(decay, (1 + iteration) / (10 + iteration))
    for k, v in model.state_dict().items():
        if v.is_floating_point():
            ema[k].lerp_(v, 1 - decay)
        else:
            ema[k].copy_(v)


# --------------------------------------------------------------------------------- the loop
def _rng_state() -> dict:
    # Tensors, ints and tuples only, so that last.pth loads with weights_only=True: numpy's own state
    # holds an ndarray of 624 uint32 keys, kept here as an int64 tensor.
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"torch": torch.get_rng_state(), "numpy": (name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss,
                                                      gauss), "python": random.getstate()}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, *rest = state["numpy"]  # keys: a tensor, or the ndarray of a run state written before issue 18
    np.random.set_state((name, np.asarray(keys).astype(np.uint32), *rest))
    random.setstate(state["python"])


# Run states written before issue 18 hold numpy's RNG keys as an ndarray: these globals rebuild a plain array
# and nothing else (the name under numpy 1 too), so reading those files needs no trust in them.
_reconstruct = np.empty(0).__reduce__()[0]
_NDARRAY_GLOBALS = (np.ndarray, np.dtype, type(np.dtype(np.uint32)), _reconstruct,
                    (_reconstruct, "numpy.core.multiarray._reconstruct"))
_RUN_STATE_KEYS = ("model", "optimizer", "scheduler", "rng", "iteration", "config")


def read_run_state(path: str | os.PathLike) -> dict:
    """A run's last.pth (weights, optimiser, scheduler, EMA, RNG states, iteration, config), read with
    weights_only=True: a file that holds code, or is empty, truncated or something else, raises a
    CheckpointError that names it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"nothing to resume: {path} does not exist")
    state = safe_load(path, _NDARRAY_GLOBALS)
    lacking = [k for k in _RUN_STATE_KEYS if k not in state] if isinstance(state, dict) else list(_RUN_STATE_KEYS)
    if lacking:
        raise CheckpointError(f"{path} is not a training run's state: it lacks {', '.join(lacking)} (a run's "
                              f"last.pth holds {', '.join(_RUN_STATE_KEYS)})")
    return state


def config_from_dict(raw: dict, source) -> TrainConfig:
    """A TrainConfig from its saved form (config.json, a run state's "config"); lists become tuples."""
    if not isinstance(raw, dict):
        raise ValueError(f"{source}: expected a JSON object of TrainConfig fields, got {type(raw).__name__}")
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    if unknown := sorted(set(raw) - known):
        raise ValueError(f"{source}: unknown TrainConfig fields {unknown}; written by a newer version of this "
                         "project?")
    return TrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})


def _trim_log(path: Path, iteration: int) -> None:
    """Keep the log rows up to `iteration` (the checkpoint a run resumes from), atomically: a killed run logged
    rows past its last checkpoint that the resumed run logs again, and maybe half a row."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # cut short by the kill
            continue
        if not isinstance(row, dict) or row.get("iteration", 0) <= iteration:
            kept.append(line + "\n")
    atomic_write_text(path, "".join(kept))


def validate(model, dataset, limit: int | None = None) -> dict:
    from .evaluate import evaluate
    result = evaluate(model, dataset, size_mode="pad", progress=False, limit=limit)
    return result.means


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse instead of handing it back to the kernel.

    A training step allocates and frees the same large activations every iteration. By default glibc
    serves big blocks with their own mmap and unmaps them on free, so every step page-faults its
    activations in afresh: at 192², batch 12 on this project's 2-core machine that was ~67k page
    faults/s and half the CPU time in the kernel. Serving them from the heap and not trimming it
    took the synthetic run from 1.53 to 1.97 samples/s (same iterations, before/after a resume).
    The price: the process keeps its peak memory. Returns False (and changes nothing) off glibc.
    """
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_max = -1, -4  # <malloc.h>
    return bool(mallopt(m_mmap_max, 0)) and bool(mallopt(m_trim_threshold, 2**31 - 1))


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True, stop_after: int | None = None) -> Path:
    """Run (or continue) training; returns the output folder. `stop_after` ends early (tests)."""
    check_config(cfg)  # before anything is created: no config.json, log or process group for a bad value
    distributed = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rank, world = 0, 1
    if distributed:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(device)
    if cfg.batch_size % world:
        raise ValueError(f"batch_size {cfg.batch_size} is not divisible by the {world} processes")
    out = Path(cfg.out_dir)
    last = out / "last.pth"
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    random.seed(cfg.seed)

    if not resume and last.exists():
        raise FileExistsError(f"{out} already holds a run ({last}); continue it with --resume {out}, "
                              "or pick another out_dir")
    stream, val_set = build_datasets(cfg)  # first: a wrong data path fails before any download
    if resume:  # the weights come from last.pth: no need for (or download of) the initial ones
        model = build_model(dataclasses.replace(cfg, init_weights=None, pretrained_encoder=None))
    else:
        model = build_model(cfg)
        if cfg.init_weights:  # record the architecture it brought, for resuming and exporting
            cfg = dataclasses.replace(cfg, model=model.config.to_dict())
    model = model.to(device)
    bf16 = native_bf16(device) if cfg.bf16 is None else bool(cfg.bf16)
    optimizer, scheduler = build_optimizer(model, cfg)
    ema = {k: v.detach().clone() for k, v in model.state_dict().items()} if cfg.ema_decay > 0 else None
    start = 0
    if resume:
        state = read_run_state(last)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        # The schedule comes from the config, so a resumed run may extend or change it (the cosine's
        # factor reads cfg.iterations itself).
        if isinstance(scheduler, torch.optim.lr_scheduler.MultiStepLR):
            scheduler.milestones = Counter(cfg.milestones)
            scheduler.gamma = cfg.gamma
        if ema is not None and state.get("ema") is not None:
            ema = {k: v.to(device) for k, v in state["ema"].items()}
        _set_rng_state(state["rng"])
        start = state["iteration"]
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    net = torch.nn.parallel.DistributedDataParallel(model) if distributed else model
    if cfg.compile:  # shares the parameters: optimiser, EMA and checkpoints keep using `model`
        net = torch.compile(net)

    if cfg.augment_on not in ("cpu", "device"):
        raise ValueError(f"augment_on must be 'cpu' or 'device', got {cfg.augment_on!r}")
    if cfg.augment_on == "device":
        from .device_pool import DevicePool
        loader = DevicePool(stream.base, device, cfg.batch_size // world, size=cfg.pool_size, window=cfg.pool_window,
                            crop_sizes=cfg.crop_sizes, out_size=cfg.out_size, seed=cfg.seed * world + rank + start,
                            workers=cfg.num_workers or None, progress=progress and rank == 0)
    else:
        loader = DataLoader(stream, batch_size=cfg.batch_size // world,
                            sampler=StreamSampler(start, cfg.batch_size, rank, world),
                            num_workers=cfg.num_workers, persistent_workers=cfg.num_workers > 0,
                            pin_memory=device.type == "cuda",
                            # its own generator: creating the iterator must not draw from the global RNG
                            # (dropout's), or a resumed run would diverge from an uninterrupted one
                            generator=torch.Generator().manual_seed(cfg.seed))
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        for stale in out.glob("last.pth.*.tmp"):  # a checkpoint write cut short by a kill
            stale.unlink()
        if resume:
            _trim_log(out / "log.jsonl", start)
        atomic_write_text(out / "config.json", json.dumps(dataclasses.asdict(cfg), indent=2))
    log = open(out / "log.jsonl", "a") if rank == 0 else None

    def save_state(iteration: int) -> None:
        atomic_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict(), "ema": ema, "rng": _rng_state(),
                     "iteration": iteration, "config": dataclasses.asdict(cfg)}, last)

    end = cfg.iterations if stop_after is None else min(cfg.iterations, start + stop_after)
    bar = None
    if rank == 0 and progress:
        from tqdm import tqdm
        bar = tqdm(total=cfg.iterations, initial=start, desc="train", dynamic_ncols=True)
    set_train_mode(model, cfg.freeze_encoder_bn, cfg.freeze_aspp_bn, cfg.decoder_lr_mult == 0)
    t0, seen = time.perf_counter(), 0
    started = time.perf_counter()
    iteration = start
    for batch in loader:
        if cfg.time_budget_s is not None and time.perf_counter() - started > cfg.time_budget_s:
            end = iteration  # out of time: checkpoint and export what we have
        if iteration >= end:
            break
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        x = batch["input"]
        if cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            pred = net(x)
        loss, parts = matting_loss(pred.float(), batch, weighting=cfg.loss_weighting,
                                   laplacian=cfg.laplacian_loss, fill_hinge=cfg.fill_hinge,
                                   hole_hinge=cfg.hole_hinge, solid_hinge=cfg.solid_hinge,
                                   fill_margin=cfg.fill_hinge_margin,
                                   fill_margin_from=cfg.fill_hinge_margin_from, crisp_hinge=cfg.crisp_hinge)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at iteration {iteration}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if ema is not None:
            update_ema(ema, model, cfg.ema_decay, iteration)
        iteration += 1
        seen += x.shape[0] * world

        if rank == 0:
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.4f}")
            if iteration % cfg.log_every == 0 or iteration == end:
                elapsed = time.perf_counter() - t0
                log.write(json.dumps({"iteration": iteration, "loss": loss.item(),
                                      **{k: v.item() for k, v in parts.items()},
                                      "lr": optimizer.param_groups[1]["lr"],
                                      "samples_per_s": seen / max(elapsed, 1e-9), "time": time.time()}) + "\n")
                log.flush()
                t0, seen = time.perf_counter(), 0
            if iteration % cfg.val_every == 0 or iteration == cfg.iterations:
                if val_set is not None:
                    metrics = validate(_eval_copy(model, ema, cfg.test_scale), val_set, cfg.val_limit)
                    log.write(json.dumps({"iteration": iteration, "val": metrics, "time": time.time()}) + "\n")
                    log.flush()
                if cfg.snapshots:
                    save_checkpoint(out / f"snapshot_{iteration:06d}.pth", _eval_copy(model, ema, cfg.test_scale),
                                    half=cfg.export_half, meta={"iterations": iteration, "test_scale": cfg.test_scale,
                                                                "weights": "ema" if ema is not None else "last"})
                set_train_mode(model, cfg.freeze_encoder_bn, cfg.freeze_aspp_bn, cfg.decoder_lr_mult == 0)
                t0, seen = time.perf_counter(), 0  # throughput excludes validation
            if iteration % cfg.checkpoint_every == 0 or iteration == end:
                save_state(iteration)
    if bar is not None:
        bar.close()
    if hasattr(loader, "close"):
        loader.close()
    out_of_time = cfg.time_budget_s is not None and iteration == end < cfg.iterations
    if rank == 0:
        if out_of_time and iteration % cfg.checkpoint_every:
            save_state(iteration)
        if iteration >= cfg.iterations or out_of_time:
            export(model, ema, cfg, iteration)
        log.close()
    if distributed:
        dist.destroy_process_group()
    return out


def _eval_copy(model: IndexNetMatting, ema: dict | None, test_scale: float = 1.0) -> IndexNetMatting:
    """The weights to evaluate and export: the EMA if kept, else the current ones (a copy, eval mode, that
    `predict` runs at ``test_scale``)."""
    copy = IndexNetMatting(model.config)
    copy.load_state_dict(ema if ema is not None else model.state_dict())
    copy.test_scale = test_scale
    return copy.eval()


def export(model, ema, cfg: TrainConfig, iteration: int) -> None:
    final = _eval_copy(model, ema)
    save_checkpoint(cfg.export or Path(cfg.out_dir) / "model.pth", final, half=cfg.export_half,
                    meta={"trained_with": dataclasses.asdict(cfg), "iterations": iteration,
                          "weights": "ema" if ema is not None else "last", "test_scale": cfg.test_scale})


def average_snapshots(run_dir: str | os.PathLike, out: str | os.PathLike, last: int, half: bool = True,
                      wise_ft: float | None = None, blend_with: str | None = None,
                      soup_with: tuple[str | os.PathLike, ...] = ()) -> list[str]:
    """Write the average of the run's last `last` snapshots (`TrainConfig.snapshots`) to `out`; returns them as
    its metadata names them (file names; paths when other runs joined the soup).

    wise_ft: α in (0, 1]: write α x that average + (1 - α) x the weights the run started from (its
    `init_weights`), WiSE-FT's weight-space ensemble (`indexnet.checkpoint.average_models`).
    blend_with: blend with these weights instead (anything `load_model` reads), e.g. the shipped ones when the
    run continued another run's candidate.
    soup_with: more runs from the same start whose last `last` snapshots join the average, each snapshot
    weighing the same: a model soup (Wortsman et al. 2022), which keeps what the fine-tunes share and averages
    out what each learned by chance (checkpoints/README.md, stage 40)."""
    chosen = []
    for run in (run_dir, *soup_with):
        snapshots = sorted(Path(run).glob("snapshot_*.pth"))
        if last < 1 or len(snapshots) < last:
            raise ValueError(f"cannot average the last {last} snapshots of {run}: it has {len(snapshots)} "
                             "(train with snapshots=true; one is written at every validation)")
        chosen += snapshots[-last:]
    names = [str(p) if soup_with else p.name for p in chosen]
    if wise_ft is None:
        model = average_models(chosen)
        save_checkpoint(out, model, half=half, meta={**model.meta, "averaged": names})
        return names
    if not 0 < wise_ft <= 1:
        raise ValueError(f"wise_ft is the fine-tuned weights' share: expected a number in (0, 1], got {wise_ft}")
    config = Path(run_dir) / "config.json"
    start = blend_with or (json.loads(config.read_text()).get("init_weights") if config.is_file() else None)
    if not start:
        raise ValueError(f"{run_dir} did not start from a whole model (no init_weights in {config}): WiSE-FT "
                         "blends a fine-tuning run with the weights it started from")
    model = average_models([*chosen, start], [wise_ft / len(chosen)] * len(chosen) + [1 - wise_ft])
    save_checkpoint(out, model, half=half, meta={**model.meta, "averaged": names,
                                                 "wise_ft": {"alpha": wise_ft, "start": str(start)}})
    return names


def export_run(run_dir: str | os.PathLike, out: str | os.PathLike, half: bool = True) -> int:
    """Write the weights of a run's last.pth (EMA if kept) in our release format; returns its iteration.
    Works while the run is going on: last.pth is always complete (atomic writes)."""
    last = Path(run_dir) / "last.pth"
    state = read_run_state(last)
    cfg = config_from_dict(state["config"], last)
    model = IndexNetMatting(IndexNetConfig(**cfg.model))
    model.load_state_dict(state["model"])
    cfg = dataclasses.replace(cfg, export=str(out), export_half=half)
    export(model, state.get("ema"), cfg, state["iteration"])
    return state["iteration"]


# -------------------------------------------------------------------------------------- CLI
def add_train_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", choices=sorted(PRESETS), default="comp1k", help="preset (default: %(default)s)")
    parser.add_argument("--resume", metavar="OUT_DIR", help="continue the run in OUT_DIR from its last.pth")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("overrides", nargs="*", help="key=value overrides of TrainConfig fields")
    parser.set_defaults(func=run_train_cli)


def run_train_cli(args) -> int:
    if args.resume:
        run = Path(args.resume)
        saved = run / "config.json"
        if not saved.is_file():
            raise FileNotFoundError(f"nothing to resume: {saved} does not exist")
        try:
            cfg = config_from_dict(json.loads(saved.read_text()), saved)
        except json.JSONDecodeError as err:
            raise ValueError(f"{saved} is not valid JSON ({err})") from None
        # The folder given is the run: a copy resumes in the copy, a moved run where it is now, never in the
        # out_dir it was started with (nor an export path inside that).
        export = cfg.export
        if export and Path(export).resolve().is_relative_to(Path(cfg.out_dir).resolve()):
            export = str(run / Path(export).resolve().relative_to(Path(cfg.out_dir).resolve()))
        cfg = dataclasses.replace(cfg, out_dir=str(run), export=export)
        if any(item.startswith("out_dir=") for item in args.overrides):
            raise ValueError(f"--resume {run} continues the run in {run}; out_dir cannot be overridden")
        cfg = parse_overrides(cfg, args.overrides)
    else:
        cfg = parse_overrides(PRESETS[args.config], args.overrides)
    keep_freed_memory()  # the CLI owns its process; a library call (a notebook's train()) leaves malloc alone
    out = train(cfg, resume=bool(args.resume), progress=not args.no_progress)
    print(f"done: {out}")
    return 0
