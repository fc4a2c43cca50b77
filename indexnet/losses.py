"""Training losses of IndexNet Matting (SPEC §4): Charbonnier alpha and composition losses.

Both are Charbonnier penalties rho(e) = sqrt(e^2 + eps^2), eps = 1e-6, counted only on the unknown
region of the trimap (trimap == 128), averaged per sample and then over the batch ("sample-wise").
They act on the RAW network output: the network has no output activation and the published losses
do not clamp it (only inference clamps).

* alpha loss:       rho(p - alpha)
* composition loss: rho(p*F + (1-p)*B - merged), over the three RGB channels
* Laplacian loss (optional, not in the references; issue 16): L1 between the Laplacian pyramids of
  the prediction and the truth (Hou & Liu, "Context-Aware Image Matting", ICCV 2019, eq. 3)
* false-fill and false-hole hinges (optional, ours; issue 16): max(0, p - 0.75) where the truth is below 0.5,
  max(0, 0.25 - p) where it is at least 0.5: the probe's two error rates, made differentiable
* softened-solid hinge (optional, ours; issue 16): max(0, 0.75 - p) where the truth is at least 0.9
* crisp hinge (optional, ours; issue 16): max(0, alpha - p) where the truth is at least 0.8 and max(0, p - alpha)
  where it is below 0.05: a one-sided extra weight on the two extremes, against a matte blurred toward mid-values

Reduction, as in MMagic's ``mask_reduce_loss(..., sample_wise=True)``: per sample
sum(loss * mask) / (sum(mask) + 1e-12), where a one-channel mask is first expanded to the loss's
channels; then the mean over the batch (a sample with no unknown pixel contributes 0 and still
counts in the batch size, so the loss stays finite).

Weightings. MMagic ``indexnet_mobv2_1xb16-78k_comp1k``: 0.5 * alpha + 1.5 * comp, the composition
averaged over 3 * #unknown (reduction "mean"). The authors' ``hltrainval.weighted_loss``:
0.5 * alpha + 0.5 * comp, the composition summed over channels, i.e. divided by #unknown only
(reduction "sum"). Since sum = 3 * mean per sample, 0.5 * sum == 1.5 * mean: the two weightings are
the same objective (MMagic's 1.5 reproduces the authors). Remaining differences of the authors' code,
not reproduced: it masks the difference rather than the loss, so every known pixel adds a constant
eps (no gradient; ~1e-6 * #known / #unknown), and it divides by zero on a sample without unknown
pixels.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

EPSILON = 1e-6  # Charbonnier eps (SPEC §4); MMagic writes it as eps = 1e-12 added to e^2
_DENOMINATOR_EPS = 1e-12  # MMagic's guard against samples with no unknown pixel

# Loss weights (alpha, composition) and the composition's channel reduction, per reference.
WEIGHTINGS = {
    "mmagic": (0.5, 1.5, "mean"),
    "authors": (0.5, 0.5, "sum"),
    # Not a reference: the alpha term first (issue 16). Where the foreground's colour is close to the background's,
    # p*F + (1-p)*B hardly depends on p, so the composition term barely punishes a false hole or a false fill
    # there; the alpha term does, whatever the colours.
    "alpha-heavy": (1.5, 0.5, "mean"),
}


def charbonnier(error: torch.Tensor, eps: float = EPSILON) -> torch.Tensor:
    """rho(e) = sqrt(e^2 + eps^2): a differentiable L1 (Lai et al., CVPR 2017; IndexNet §5.1)."""
    return torch.sqrt(error * error + eps * eps)


def unknown_mask(trimap: torch.Tensor) -> torch.Tensor:
    """Float {0,1} mask of the unknown region, trimap == 128, same shape as ``trimap``.

    Accepts the raw trimap (uint8 or float values 0/128/255, as ``data.to_tensors`` gives it) or a
    float trimap already divided by 255 (0, 0.50196, 1; recognised by max <= 1), which is how
    MMagic computes its weight: (trimap / 255) == 128 / 255.
    """
    if trimap.is_floating_point():
        if trimap.numel() and trimap.max() <= 1:
            trimap = trimap * 255
        return (torch.round(trimap) == 128).float()
    return (trimap == 128).float()


def _sample_wise_mean(loss: torch.Tensor, mask: torch.Tensor, channels_in_count: int) -> torch.Tensor:
    """Mean over the masked pixels of each sample, then over the batch (MMagic ``sample_wise``).

    ``mask`` is N x 1 x H x W and broadcasts over the loss's channels; ``channels_in_count`` is how
    many channels each unknown pixel counts for in the denominator: C for a mean over channels (as
    MMagic, which expands the mask to C channels before summing it), 1 for a sum over channels.
    """
    per_sample_sum = (loss * mask).sum(dim=(1, 2, 3))
    per_sample_count = mask.sum(dim=(1, 2, 3)) * channels_in_count
    return (per_sample_sum / (per_sample_count + _DENOMINATOR_EPS)).mean()


def alpha_loss(pred: torch.Tensor, alpha: torch.Tensor, unknown: torch.Tensor) -> torch.Tensor:
    """Charbonnier alpha-prediction loss, sample-wise mean over the unknown region (unweighted).

    Args:
        pred: N x 1 x H x W raw network output (not clamped).
        alpha: N x 1 x H x W ground-truth alpha in [0, 1].
        unknown: N x 1 x H x W float mask, 1 where trimap == 128 (see ``unknown_mask``).
    """
    return _sample_wise_mean(charbonnier(pred - alpha), unknown, channels_in_count=1)


def composition_loss(
    pred: torch.Tensor,
    fg: torch.Tensor,
    bg: torch.Tensor,
    merged: torch.Tensor,
    unknown: torch.Tensor,
    reduction: str = "mean",
) -> torch.Tensor:
    """Charbonnier composition loss on p*F + (1-p)*B versus the merged image (unweighted).

    Args:
        pred: N x 1 x H x W raw network output.
        fg, bg, merged: N x 3 x H x W in [0, 1]; ``merged`` is the training image itself.
        unknown: N x 1 x H x W float mask of trimap == 128; it applies to all three channels.
        reduction: "mean" divides each sample by 3 * #unknown (MMagic); "sum" sums the channels
            and divides by #unknown (the authors). "sum" is exactly 3x "mean".
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    recomposed = pred * fg + (1.0 - pred) * bg
    loss = charbonnier(recomposed - merged)
    channels = loss.shape[1] if reduction == "mean" else 1
    return _sample_wise_mean(loss, unknown, channels_in_count=channels)


# 5-tap binomial kernel (1 4 6 4 1)/16, the Gaussian of Burt & Adelson's pyramid
_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
LAPLACIAN_LEVELS = 5


def _blur(x: torch.Tensor) -> torch.Tensor:
    kernel = (_BINOMIAL[:, None] * _BINOMIAL[None, :]).to(x)[None, None]
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), kernel)


def laplacian_pyramid(x: torch.Tensor, levels: int = LAPLACIAN_LEVELS) -> list[torch.Tensor]:
    """Band-pass levels of an N x 1 x H x W map, finest first: x_i - up(down(x_i)), x_{i+1} = down(x_i)."""
    bands = []
    for _ in range(levels):
        low = _blur(x)[:, :, ::2, ::2]
        up = F.interpolate(low, size=x.shape[-2:], mode="bilinear", align_corners=False)
        bands.append(x - _blur(up))
        x = low
    return bands


def laplacian_loss(pred: torch.Tensor, alpha: torch.Tensor, unknown: torch.Tensor) -> torch.Tensor:
    """Laplacian-pyramid L1 (Hou & Liu, ICCV 2019): sum over 5 levels of 2^(i-1) x the mean |band difference|.

    Why (issue 16): most false fills on the probe are outlines a pixel too wide, and most false holes are
    whole regions sent to 0. A per-pixel L1 charges a pixel-wide halo little and cannot tell a structural
    error from noise; the fine bands see the halo as an edge in the wrong place, the coarse ones see a hole
    as a missing blob, and neither side of the trade is favoured. Known pixels take the true alpha (as
    inference pastes them), so only the unknown prediction moves the pyramid. Each level's mean is taken
    per sample over the pixels that the unknown region reaches at that level, then over the batch.
    """
    pred = unknown * pred + (1.0 - unknown) * alpha
    total = pred.new_zeros(())
    reach = unknown
    for level, (band_pred, band_true) in enumerate(zip(laplacian_pyramid(pred), laplacian_pyramid(alpha))):
        if level:
            reach = F.max_pool2d(reach, 2, ceil_mode=True)  # ceil(H/2) x ceil(W/2), as the [::2] of the pyramid
        total = total + 2.0**level * _sample_wise_mean((band_pred - band_true).abs(), reach, channels_in_count=1)
    return total


# The thresholds of `indexnet.evaluate`'s rates: a false fill is true < 0.5 predicted > 0.75, a false hole
# true >= 0.5 predicted < 0.25.
FILL_ABOVE, HOLE_BELOW, SOLID_FROM = 0.75, 0.25, 0.5
# `softened_solid_loss`'s: an opaque pixel (true alpha >= 0.9) predicted below 0.75
OPAQUE_FROM, SOFT_BELOW = 0.9, 0.75


def false_fill_loss(pred: torch.Tensor, alpha: torch.Tensor, unknown: torch.Tensor, margin: int = 0,
                    margin_from: float = 0.0) -> torch.Tensor:
    """Hinge max(0, p - 0.75) on unknown pixels whose true alpha is below 0.5, sample-wise mean over the unknown.

    Why (issue 16): every fine-tuned run halved the false holes but drew outlines a pixel too wide, so that
    its false fills (true < 0.5, predicted > 0.75) ended 2-3.5x the shipped weights'. The alpha term pushes
    such a pixel down no harder than any other error of its size; this adds a push on exactly the pixels
    the rate counts, and on no other, so it need not lower the alpha of solid strands (as a blend does).

    margin: pixels within this many pixels (a (2 margin + 1)-square) of a truly solid one (>= 0.5) are not
    charged. Why (stage 34): about half of the probe's fills lie next to a solid pixel, an outline a pixel too
    wide; pushing those down teaches the network to erode every edge, and on real photographs (GT11-GT14) the
    fine-tunes' extra error was edges and opaque parts predicted too light, not gaps filled in.

    margin_from: the margin spares only pixels whose true alpha is at least this (0: all of them). Why (stage
    39): on the probe, a third of the shipped weights' fills next to a solid pixel are fully clear (true alpha
    0: the gap of a mesh, the slit between two strands), not an anti-aliased edge; with the margin, stage 35's
    fills rose to 1.4x. A margin from 0.05 lets edges be drawn soft and still charges filling a clean gap.
    """
    if margin < 0:
        raise ValueError(f"fill margin must be a number of pixels of at least 0, got {margin!r}")
    if not 0.0 <= margin_from < SOLID_FROM:
        raise ValueError(f"fill margin_from must be a true alpha in [0, {SOLID_FROM}), got {margin_from!r}")
    solid = (alpha >= SOLID_FROM).float()
    near_solid = F.max_pool2d(solid, 2 * margin + 1, stride=1, padding=margin) if margin > 0 else solid
    if margin > 0 and margin_from > 0:  # the margin spares partly transparent pixels only
        near_solid = torch.maximum(solid, near_solid * (alpha >= margin_from).float())
    clear = 1.0 - near_solid
    return _sample_wise_mean(F.relu(pred - FILL_ABOVE) * clear, unknown, channels_in_count=1)


def false_hole_loss(pred: torch.Tensor, alpha: torch.Tensor, unknown: torch.Tensor) -> torch.Tensor:
    """Hinge max(0, 0.25 - p) on unknown pixels whose true alpha is at least 0.5: the mirror of `false_fill_loss`."""
    solid = (alpha >= SOLID_FROM).float()
    return _sample_wise_mean(F.relu(HOLE_BELOW - pred) * solid, unknown, channels_in_count=1)


def softened_solid_loss(pred: torch.Tensor, alpha: torch.Tensor, unknown: torch.Tensor) -> torch.Tensor:
    """Hinge max(0, 0.75 - p) on unknown pixels whose true alpha is at least 0.9, sample-wise mean over the unknown.

    Why (issue 16): on GT13, a leafy plant, most of the shipped weights' SAD is opaque leaves left see-through,
    not holes: of the under-prediction on its opaque unknown pixels, about three quarters comes from pixels
    predicted below 0.75, and two thirds of that from 0.25-0.75, which `false_hole_loss` (below 0.25) does not
    reach. The fill hinge at 30 pushes the edges of those leaves down; this is its counterweight on the
    opaque side, and it leaves alone anything predicted at 0.75 or more (mild softening, fine edges).
    """
    opaque = (alpha >= OPAQUE_FROM).float()
    return _sample_wise_mean(F.relu(SOFT_BELOW - pred) * opaque, unknown, channels_in_count=1)


# `blurred_extremes_loss`'s: dense (true >= 0.8) predicted lower, clear (true < 0.05) predicted higher
DENSE_FROM, CLEAR_BELOW = 0.8, 0.05


def blurred_extremes_loss(pred: torch.Tensor, alpha: torch.Tensor, unknown: torch.Tensor) -> torch.Tensor:
    """max(0, alpha - p) where the truth is at least 0.8, max(0, p - alpha) where it is below 0.05: sample-wise
    mean over the unknown.

    Why (issue 16, stages 51-54): each fine-tune raised the synthetic test SAD (2.99 -> 3.06), and by true
    alpha the rise is a blur of hair: dense pixels (true >= 0.8) predicted lighter (+0.057 of SAD per image) and
    clear ones (true 0) hazier (+0.024), while mid alphas improved (-0.025). The alpha term charges those errors
    as it charges any other; this adds a second, one-sided charge on exactly those two directions, so a matte
    that drifts toward mid-values pays twice there, and a correct soft matte pays nothing extra.
    """
    dense = (alpha >= DENSE_FROM).float()
    clear = (alpha < CLEAR_BELOW).float()
    blurred = F.relu(alpha - pred) * dense + F.relu(pred - alpha) * clear
    return _sample_wise_mean(blurred, unknown, channels_in_count=1)


# the hinges in the order of a batch's per-hinge ``hinged`` columns (TrainConfig.hinge_sources as a dict)
HINGES = ("fill", "hole", "solid", "crisp")


def matting_loss(
    pred: torch.Tensor, batch: dict[str, torch.Tensor], weighting: str = "mmagic", laplacian: float = 0.0,
    fill_hinge: float = 0.0, hole_hinge: float = 0.0, solid_hinge: float = 0.0, fill_margin: int = 0,
    fill_margin_from: float = 0.0, crisp_hinge: float = 0.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Weighted training loss of SPEC §4: total and its weighted parts {"alpha", "comp"}.

    Args:
        pred: N x 1 x H x W raw network output (any float dtype; computed in float32 so that a
            bf16 autocast forward does not degrade the loss).
        batch: tensors as ``data.to_tensors`` makes them, stacked: ``alpha`` (N x 1 x H x W, [0,1]),
            ``fg``, ``bg``, ``merged`` (N x 3 x H x W, [0,1]) and ``trimap`` (N x 1 x H x W, raw
            0/128/255 as float or uint8; a trimap already divided by 255 is accepted too).
        weighting: "mmagic" (0.5 alpha + 1.5 channel-mean comp) or "authors" (0.5 + 0.5 channel-sum
            comp). Equal up to float rounding (see the module docstring); both kept to name the
            reference a run follows. "alpha-heavy" (1.5 alpha + 0.5 channel-mean comp) is our own.
        laplacian: weight of `laplacian_loss`, added as part "lap" when above 0 (0: the references' loss).
        fill_hinge, hole_hinge: weights of `false_fill_loss` and `false_hole_loss`, added as parts "fill"
            and "hole" when above 0. fill_margin: `false_fill_loss`'s margin (px next to solid left alone),
            fill_margin_from its margin_from (the lowest true alpha the margin spares).
        solid_hinge: weight of `softened_solid_loss`, added as part "solid" when above 0.
        crisp_hinge: weight of `blurred_extremes_loss`, added as part "crisp" when above 0.
        The batch may carry ``hinged``, 0 or 1 per sample: the samples the hinges charge (default: all), either
        (N,) for all four hinges or (N, 4) for the fill, hole, solid and crisp hinges each (`HINGES`).

    Returns:
        (total, {"alpha": weighted alpha term, "comp": weighted composition term[, "lap", "fill", "hole",
        "solid", "crisp"]}); total is their sum. These weighted terms are what MMagic logs as loss_alpha / loss_comp.
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {sorted(WEIGHTINGS)}, got {weighting!r}")
    for name, weight in (("laplacian", laplacian), ("fill_hinge", fill_hinge), ("hole_hinge", hole_hinge),
                         ("solid_hinge", solid_hinge), ("crisp_hinge", crisp_hinge)):
        if weight < 0:
            raise ValueError(f"{name} must be a weight of at least 0, got {weight!r}")
    alpha_weight, comp_weight, comp_reduction = WEIGHTINGS[weighting]
    pred = pred.float()
    unknown = unknown_mask(batch["trimap"]).to(pred.device)
    loss_alpha = alpha_weight * alpha_loss(pred, batch["alpha"], unknown)
    loss_comp = comp_weight * composition_loss(
        pred, batch["fg"], batch["bg"], batch["merged"], unknown, reduction=comp_reduction
    )
    parts = {"alpha": loss_alpha, "comp": loss_comp}
    if laplacian > 0:
        parts["lap"] = laplacian * laplacian_loss(pred, batch["alpha"], unknown)
    # the hinges charge only the samples marked "hinged" (1) when the batch says: a sample marked 0 counts as a
    # hinge loss of 0 in the batch mean, so a hinged sample weighs as it would in a batch of hinged ones
    hinged = {name: unknown for name in HINGES}
    if "hinged" in batch:
        marks = batch["hinged"].to(unknown)
        marks = marks.view(-1, 1).expand(-1, len(HINGES)) if marks.dim() == 1 else marks
        if marks.shape[1] != len(HINGES):
            raise ValueError(f"hinged must be (N,) or (N, {len(HINGES)}) for the hinges {HINGES}, got "
                             f"{tuple(batch['hinged'].shape)}")
        hinged = {name: unknown * marks[:, i].view(-1, 1, 1, 1) for i, name in enumerate(HINGES)}
    if fill_hinge > 0:
        parts["fill"] = fill_hinge * false_fill_loss(pred, batch["alpha"], hinged["fill"], fill_margin,
                                                   fill_margin_from)
    if hole_hinge > 0:
        parts["hole"] = hole_hinge * false_hole_loss(pred, batch["alpha"], hinged["hole"])
    if solid_hinge > 0:
        parts["solid"] = solid_hinge * softened_solid_loss(pred, batch["alpha"], hinged["solid"])
    if crisp_hinge > 0:
        parts["crisp"] = crisp_hinge * blurred_extremes_loss(pred, batch["alpha"], hinged["crisp"])
    return sum(parts.values()), parts
