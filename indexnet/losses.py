"""Training losses of IndexNet Matting (SPEC §4): Charbonnier alpha and composition losses.

Both are Charbonnier penalties rho(e) = sqrt(e^2 + eps^2), eps = 1e-6, counted only on the unknown
region of the trimap (trimap == 128), averaged per sample and then over the batch ("sample-wise").
They act on the RAW network output: the network has no output activation and the published losses
do not clamp it (only inference clamps).

* alpha loss:       rho(p - alpha)
* composition loss: rho(p*F + (1-p)*B - merged), over the three RGB channels

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


def matting_loss(
    pred: torch.Tensor, batch: dict[str, torch.Tensor], weighting: str = "mmagic"
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

    Returns:
        (total, {"alpha": weighted alpha term, "comp": weighted composition term}); total is their
        sum. These weighted terms are what MMagic logs as loss_alpha / loss_comp.
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {sorted(WEIGHTINGS)}, got {weighting!r}")
    alpha_weight, comp_weight, comp_reduction = WEIGHTINGS[weighting]
    pred = pred.float()
    unknown = unknown_mask(batch["trimap"]).to(pred.device)
    loss_alpha = alpha_weight * alpha_loss(pred, batch["alpha"], unknown)
    loss_comp = comp_weight * composition_loss(
        pred, batch["fg"], batch["bg"], batch["merged"], unknown, reduction=comp_reduction
    )
    return loss_alpha + loss_comp, {"alpha": loss_alpha, "comp": loss_comp}
