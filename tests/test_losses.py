"""Losses (SPEC §4): MMagic golden values, reductions, weightings, edge cases."""
import numpy as np
import pytest
import torch

from indexnet.losses import (alpha_loss, blurred_extremes_loss, composition_loss, false_fill_loss, false_hole_loss,
                             laplacian_loss, laplacian_pyramid, matting_loss, softened_solid_loss, unknown_mask)


@pytest.fixture(scope="module")
def golden(golden_dir):
    return np.load(golden_dir / "mmagic_parity_wellcond.npz")


def golden_batch(golden):
    batch = {
        "alpha": torch.from_numpy(golden["loss_gt_alpha"]),
        "fg": torch.from_numpy(golden["loss_fg"]),
        "bg": torch.from_numpy(golden["loss_bg"]),
        "merged": torch.from_numpy(golden["loss_merged"]),
        "trimap": torch.from_numpy(golden["loss_trimap_u8"]),
    }
    return torch.from_numpy(golden["loss_pred_alpha"]), batch


def random_batch(n=3, size=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    alpha = torch.rand(n, 1, size, size, generator=g)
    fg, bg = torch.rand(n, 3, size, size, generator=g), torch.rand(n, 3, size, size, generator=g)
    trimap = torch.tensor([0.0, 128.0, 255.0])[torch.randint(0, 3, (n, 1, size, size), generator=g)]
    batch = {"alpha": alpha, "fg": fg, "bg": bg, "merged": alpha * fg + (1 - alpha) * bg, "trimap": trimap}
    pred = torch.rand(n, 1, size, size, generator=g) * 1.4 - 0.2  # raw output strays outside [0, 1]
    return pred, batch


def test_unknown_mask_matches_golden_weight(golden):
    trimap = torch.from_numpy(golden["loss_trimap_u8"])
    expected = torch.from_numpy(golden["loss_weight"])
    assert torch.equal(unknown_mask(trimap), expected)
    assert torch.equal(unknown_mask(trimap.float()), expected)  # raw values as float
    assert torch.equal(unknown_mask(trimap.float() / 255), expected)  # MMagic's trimap / 255


def test_mmagic_golden_values(golden):
    pred, batch = golden_batch(golden)
    total, parts = matting_loss(pred, batch, weighting="mmagic")
    np.testing.assert_allclose(parts["alpha"].item(), float(golden["loss_alpha_value"]), rtol=1e-5)
    np.testing.assert_allclose(parts["comp"].item(), float(golden["loss_comp_value"]), rtol=1e-5)
    np.testing.assert_allclose(total.item(), parts["alpha"].item() + parts["comp"].item(), rtol=1e-6)


def test_golden_matches_plain_formula(golden):
    """The per-sample mean over unknown pixels, written out, gives the same numbers."""
    pred, batch = golden_batch(golden)
    mask = batch["trimap"] == 128
    expected_alpha, expected_comp = [], []
    for i in range(pred.shape[0]):
        e = (pred[i] - batch["alpha"][i])[mask[i]]
        expected_alpha.append(torch.sqrt(e**2 + 1e-12).mean())
        comp = pred[i] * batch["fg"][i] + (1 - pred[i]) * batch["bg"][i] - batch["merged"][i]
        expected_comp.append(torch.sqrt(comp[:, mask[i][0]] ** 2 + 1e-12).mean())  # over 3 * #unknown
    _, parts = matting_loss(pred, batch)
    np.testing.assert_allclose(parts["alpha"].item(), 0.5 * torch.stack(expected_alpha).mean().item(), rtol=1e-6)
    np.testing.assert_allclose(parts["comp"].item(), 1.5 * torch.stack(expected_comp).mean().item(), rtol=1e-6)


def test_authors_and_mmagic_weightings_are_the_same_objective():
    """Authors: 0.5 * (sum over RGB) / #unknown; MMagic: 1.5 * (mean over RGB) ... = the same."""
    pred, batch = random_batch()
    mask = unknown_mask(batch["trimap"])
    args = (pred, batch["fg"], batch["bg"], batch["merged"], mask)
    comp_sum, comp_mean = composition_loss(*args, reduction="sum"), composition_loss(*args, reduction="mean")
    torch.testing.assert_close(comp_sum, 3 * comp_mean)
    total_authors, parts_authors = matting_loss(pred, batch, weighting="authors")
    total_mmagic, parts_mmagic = matting_loss(pred, batch, weighting="mmagic")
    torch.testing.assert_close(parts_authors["comp"], 0.5 * comp_sum)
    torch.testing.assert_close(parts_mmagic["comp"], 1.5 * comp_mean)
    torch.testing.assert_close(total_authors, total_mmagic)
    with pytest.raises(ValueError):
        matting_loss(pred, batch, weighting="other")


def test_alpha_heavy_weighting_puts_the_alpha_term_first():
    """1.5 * alpha + 0.5 * channel-mean composition: three times the weight of MMagic's alpha term, a third of its
    composition term."""
    pred, batch = random_batch()
    _, mmagic = matting_loss(pred, batch, weighting="mmagic")
    total, heavy = matting_loss(pred, batch, weighting="alpha-heavy")
    torch.testing.assert_close(heavy["alpha"], 3 * mmagic["alpha"])
    torch.testing.assert_close(heavy["comp"], mmagic["comp"] / 3)
    torch.testing.assert_close(total, heavy["alpha"] + heavy["comp"])


def test_sample_without_unknown_pixels_contributes_zero():
    pred, batch = random_batch(n=2)
    batch["trimap"][1] = 255.0  # second sample: no unknown pixel
    total, parts = matting_loss(pred, batch)
    assert torch.isfinite(total)
    # the empty sample adds 0 but still counts in the batch mean (MMagic divides by N)
    first = {key: value[:1] for key, value in batch.items()}
    _, parts_first = matting_loss(pred[:1], first)
    torch.testing.assert_close(parts["alpha"], parts_first["alpha"] / 2)
    # an all-known batch is finite (0) and still differentiable
    batch["trimap"][:] = 0.0
    pred = pred.clone().requires_grad_(True)
    total, _ = matting_loss(pred, batch)
    total.backward()
    assert total.item() == 0.0 and torch.isfinite(pred.grad).all()


def test_gradient_flows_only_through_unknown_pixels():
    pred, batch = random_batch()
    pred.requires_grad_(True)
    total, _ = matting_loss(pred, batch)
    total.backward()
    unknown = unknown_mask(batch["trimap"]).bool()
    assert pred.grad[unknown].abs().min() > 0
    assert pred.grad[~unknown].abs().max() == 0


def test_raw_prediction_is_not_clamped():
    """Predictions beyond [0, 1] are penalised by their full distance (no clamp before the loss)."""
    alpha = torch.ones(1, 1, 2, 2)
    mask = torch.ones(1, 1, 2, 2)
    torch.testing.assert_close(alpha_loss(torch.full_like(alpha, 1.5), alpha, mask), torch.tensor(0.5))


def _square(size=64, lo=20, hi=40):
    alpha = torch.zeros(1, 1, size, size)
    alpha[..., lo:hi, lo:hi] = 1.0
    return alpha


def test_laplacian_pyramid_rebuilds_its_input():
    """The bands are x_i - blur(up(x_{i+1})): adding them back from the coarsest gives x exactly (odd sizes too)."""
    import torch.nn.functional as F
    from indexnet.losses import _blur
    x = torch.rand(2, 1, 50, 71)
    bands = laplacian_pyramid(x)
    assert [b.shape[-2:] for b in bands] == [(50, 71), (25, 36), (13, 18), (7, 9), (4, 5)]
    low = x
    for _ in bands:
        low = _blur(low)[..., ::2, ::2]
    for band in reversed(bands):
        low = band + _blur(F.interpolate(low, size=band.shape[-2:], mode="bilinear", align_corners=False))
    torch.testing.assert_close(low, x)


def test_laplacian_loss_sees_halos_and_holes_and_ignores_known_pixels():
    alpha = _square()
    unknown = torch.zeros_like(alpha)
    unknown[..., 15:45, 15:45] = 1.0
    assert laplacian_loss(alpha, alpha, unknown).item() == 0.0
    halo = _square(lo=19, hi=41)  # the outline one pixel too wide, the issue-16 false fill
    hole = alpha.clone()
    hole[..., 26:34, 26:34] = 0.0  # a false hole
    assert laplacian_loss(halo, alpha, unknown) > 0.1 and laplacian_loss(hole, alpha, unknown) > 0.1
    # what the network says outside the unknown region is replaced by the truth, as inference pastes it
    wild = alpha.clone()
    wild[..., :10, :] = 0.7
    assert laplacian_loss(wild, alpha, unknown).item() == 0.0
    # the gradient reaches only unknown pixels
    pred = halo.clone().requires_grad_(True)
    laplacian_loss(pred, alpha, unknown).backward()
    assert pred.grad[unknown == 0].abs().max() == 0 and pred.grad[unknown == 1].abs().max() > 0


def test_laplacian_term_is_added_by_its_weight():
    pred, batch = random_batch()
    total0, parts0 = matting_loss(pred, batch, weighting="alpha-heavy")
    assert "lap" not in parts0
    total, parts = matting_loss(pred, batch, weighting="alpha-heavy", laplacian=0.2)
    unknown = unknown_mask(batch["trimap"])
    torch.testing.assert_close(parts["lap"], 0.2 * laplacian_loss(pred, batch["alpha"], unknown))
    torch.testing.assert_close(total, total0 + parts["lap"])
    with pytest.raises(ValueError, match="laplacian must be a weight of at least 0"):
        matting_loss(pred, batch, laplacian=-0.1)


def test_hinges_count_exactly_the_probe_rates_pixels():
    # true alpha: a solid left half, clear right half; the unknown region is the middle columns
    alpha = torch.zeros(1, 1, 4, 8)
    alpha[..., :4] = 1.0
    unknown = torch.zeros_like(alpha)
    unknown[..., 2:6] = 1.0
    pred = alpha.clone()
    assert false_fill_loss(pred, alpha, unknown).item() == 0.0 and false_hole_loss(pred, alpha, unknown).item() == 0.0
    # within the thresholds (0.75 over clear, 0.25 under solid) nothing is charged, however wrong
    pred[..., 4] = 0.74
    pred[..., 3] = 0.26
    assert false_fill_loss(pred, alpha, unknown).item() == 0.0 and false_hole_loss(pred, alpha, unknown).item() == 0.0
    # a false fill of 0.95 in one unknown column of four: (0.95 - 0.75) / 4; holes untouched
    pred[..., 4] = 0.95
    torch.testing.assert_close(false_fill_loss(pred, alpha, unknown), torch.tensor(0.05))
    assert false_hole_loss(pred, alpha, unknown).item() == 0.0
    # a false hole of 0.05 in the solid unknown column 3: (0.25 - 0.05) / 4
    pred[..., 3] = 0.05
    torch.testing.assert_close(false_hole_loss(pred, alpha, unknown), torch.tensor(0.05))
    # known pixels are never charged, even wildly wrong
    pred[..., 0] = 0.0
    pred[..., 7] = 1.0
    torch.testing.assert_close(false_fill_loss(pred, alpha, unknown), torch.tensor(0.05))
    torch.testing.assert_close(false_hole_loss(pred, alpha, unknown), torch.tensor(0.05))


def test_fill_margin_leaves_the_pixels_next_to_solid_alone():
    # solid columns 0-3, clear 4-7, all unknown; false fills of 0.95 in columns 4 (next to solid) and 6 (three away)
    alpha = torch.zeros(1, 1, 4, 8)
    alpha[..., :4] = 1.0
    unknown = torch.ones_like(alpha)
    pred = alpha.clone()
    pred[..., 4] = 0.95
    pred[..., 6] = 0.95
    # margin 0: both columns, (0.2 + 0.2) / 8; margins 1 and 2: column 6 only; margin 3: neither
    torch.testing.assert_close(false_fill_loss(pred, alpha, unknown), torch.tensor(0.05))
    torch.testing.assert_close(false_fill_loss(pred, alpha, unknown, margin=1), torch.tensor(0.025))
    torch.testing.assert_close(false_fill_loss(pred, alpha, unknown, margin=2), torch.tensor(0.025))
    assert false_fill_loss(pred, alpha, unknown, margin=3).item() == 0.0
    rgb = pred.expand(-1, 3, -1, -1)
    batch = {"alpha": alpha, "trimap": torch.full_like(alpha, 128.0), "fg": rgb, "bg": rgb, "merged": rgb}
    _, parts = matting_loss(pred, batch, fill_hinge=2.0, fill_margin=1)
    torch.testing.assert_close(parts["fill"], torch.tensor(0.05))
    with pytest.raises(ValueError, match="fill margin must be a number of pixels of at least 0"):
        false_fill_loss(pred, alpha, unknown, margin=-1)


def test_fill_margin_from_spares_only_partly_transparent_pixels():
    # solid columns 0-3; column 4 next to them: an anti-aliased edge (true 0.3) in rows 0-1, fully clear in
    # rows 2-3 (a gap in a mesh); all of column 4 predicted 0.95, each such pixel costing 0.2 over 32
    alpha = torch.zeros(1, 1, 4, 8)
    alpha[..., :4] = 1.0
    alpha[..., :2, 4] = 0.3
    unknown = torch.ones_like(alpha)
    pred = alpha.clone()
    pred[..., 4] = 0.95
    torch.testing.assert_close(false_fill_loss(pred, alpha, unknown), torch.tensor(4 * 0.2 / 32))
    assert false_fill_loss(pred, alpha, unknown, margin=1).item() == 0.0
    torch.testing.assert_close(false_fill_loss(pred, alpha, unknown, margin=1, margin_from=0.05),
                               torch.tensor(2 * 0.2 / 32))
    torch.testing.assert_close(false_fill_loss(pred, alpha, unknown, margin=1, margin_from=0.4),
                               torch.tensor(4 * 0.2 / 32))
    rgb = pred.expand(-1, 3, -1, -1)
    batch = {"alpha": alpha, "trimap": torch.full_like(alpha, 128.0), "fg": rgb, "bg": rgb, "merged": rgb}
    _, parts = matting_loss(pred, batch, fill_hinge=2.0, fill_margin=1, fill_margin_from=0.05)
    torch.testing.assert_close(parts["fill"], torch.tensor(2 * 2 * 0.2 / 32))
    with pytest.raises(ValueError, match=r"fill margin_from must be a true alpha in \[0, 0.5\)"):
        false_fill_loss(pred, alpha, unknown, margin=1, margin_from=0.5)


def test_hinge_terms_are_added_by_their_weights():
    pred, batch = random_batch()
    total0, parts0 = matting_loss(pred, batch, weighting="alpha-heavy", laplacian=0.2)
    assert "fill" not in parts0 and "hole" not in parts0
    total, parts = matting_loss(pred, batch, weighting="alpha-heavy", laplacian=0.2, fill_hinge=3.0, hole_hinge=1.0)
    unknown = unknown_mask(batch["trimap"])
    torch.testing.assert_close(parts["fill"], 3.0 * false_fill_loss(pred, batch["alpha"], unknown))
    torch.testing.assert_close(parts["hole"], 1.0 * false_hole_loss(pred, batch["alpha"], unknown))
    assert parts["fill"] > 0 and parts["hole"] > 0
    torch.testing.assert_close(total, total0 + parts["fill"] + parts["hole"])
    with pytest.raises(ValueError, match="fill_hinge must be a weight of at least 0"):
        matting_loss(pred, batch, fill_hinge=-1.0)


def test_hinges_charge_only_the_samples_marked_hinged():
    pred, batch = random_batch(n=3)
    weights = dict(fill_hinge=3.0, hole_hinge=1.0, solid_hinge=2.0)
    total, parts = matting_loss(pred, batch, **weights)
    same_total, same = matting_loss(pred, {**batch, "hinged": torch.ones(3)}, **weights)
    torch.testing.assert_close(same_total, total)  # all marked: as no mark
    # only sample 1 marked: each hinge is that sample's own hinge over the batch of three
    marked = pred.clone().requires_grad_(True)
    _, one = matting_loss(marked, {**batch, "hinged": torch.tensor([0.0, 1.0, 0.0])}, **weights)
    for name in ("fill", "hole", "solid"):
        _, alone = matting_loss(pred[1:2], {k: v[1:2] for k, v in batch.items()}, **weights)
        torch.testing.assert_close(one[name], alone[name] / 3)
        assert 0 < one[name] < parts[name]
    # and the others get no gradient from them; the alpha and composition terms are untouched
    (one["fill"] + one["hole"] + one["solid"]).backward()
    assert marked.grad[[0, 2]].abs().sum() == 0 and marked.grad[1].abs().sum() > 0
    torch.testing.assert_close(one["alpha"], parts["alpha"])


def test_each_hinge_charges_the_samples_its_own_column_marks():
    """hinged of shape (N, 4): columns fill, hole, solid, crisp; a hinge marked for no sample is 0, one marked for all
    is as unmarked."""
    pred, batch = random_batch(n=3)
    weights = dict(fill_hinge=3.0, hole_hinge=1.0, solid_hinge=2.0)
    _, parts = matting_loss(pred, batch, **weights)
    # no fill, hole all, solid sample 0, crisp (weight 0 here) any
    marks = torch.tensor([[0.0, 1.0, 1.0, 1.0], [0.0, 1.0, 0.0, 0.0], [0.0, 1.0, 0.0, 1.0]])
    _, per = matting_loss(pred, {**batch, "hinged": marks}, **weights)
    assert per["fill"] == 0
    torch.testing.assert_close(per["hole"], parts["hole"])
    _, first = matting_loss(pred[:1], {k: v[:1] for k, v in batch.items()}, **weights)
    torch.testing.assert_close(per["solid"], first["solid"] / 3)
    with pytest.raises(ValueError, match=r"hinged must be \(N,\) or \(N, 4\)"):
        matting_loss(pred, {**batch, "hinged": marks[:, :3]}, **weights)


def assert_added_as_part(part, loss_fn, pred, alpha, unknown, weight):
    """matting_loss with `{part}_hinge=weight` adds weight x loss_fn as parts[part] to the total, and refuses a
    negative weight."""
    fg, bg = torch.rand(1, 3, *alpha.shape[2:]), torch.rand(1, 3, *alpha.shape[2:])
    batch = {"alpha": alpha, "fg": fg, "bg": bg, "merged": alpha * fg + (1 - alpha) * bg,
             "trimap": torch.where(unknown > 0, 128.0, 255.0)}
    total0, _ = matting_loss(pred, batch, weighting="alpha-heavy")
    total, parts = matting_loss(pred, batch, weighting="alpha-heavy", **{f"{part}_hinge": weight})
    torch.testing.assert_close(parts[part], weight * loss_fn(pred, alpha, unknown))
    torch.testing.assert_close(total, total0 + parts[part])
    with pytest.raises(ValueError, match=f"{part}_hinge must be a weight of at least 0"):
        matting_loss(pred, batch, **{f"{part}_hinge": -1.0})


def test_crisp_hinge_charges_only_dense_pixels_predicted_lighter_and_clear_ones_predicted_hazier():
    # true alpha by column: 1.0, 0.8 (dense), 0.5 (mid), 0.04, 0.0 (clear), 1.0 known
    alpha = torch.tensor([1.0, 0.8, 0.5, 0.04, 0.0, 1.0]).view(1, 1, 1, 6).repeat(1, 1, 2, 1)
    unknown = torch.ones_like(alpha)
    unknown[..., 5] = 0.0
    assert blurred_extremes_loss(alpha.clone(), alpha, unknown).item() == 0.0  # a right matte pays nothing
    # the wrong way at every column: dense ones lighter by 0.3, mid 0.5 off, clear ones hazier by 0.2
    pred = alpha + torch.tensor([-0.3, -0.3, 0.5, 0.2, 0.2, -0.9]).view(1, 1, 1, 6)
    # (0.3 + 0.3 + 0 + 0.2 + 0.2) over the 5 unknown columns; the mid column and the known one are not charged
    torch.testing.assert_close(blurred_extremes_loss(pred, alpha, unknown), torch.tensor((0.3 + 0.3 + 0.2 + 0.2) / 5))
    # the other way (dense predicted above the truth, clear below) is the alpha term's alone
    flipped = alpha + torch.tensor([0.0, 0.1, -0.5, -0.04, 0.0, 0.0]).view(1, 1, 1, 6)
    assert blurred_extremes_loss(flipped, alpha, unknown).item() == 0.0
    pred.requires_grad_(True)
    blurred_extremes_loss(pred, alpha, unknown).backward()
    grad = pred.grad[0, 0, 0]
    assert (grad[:2] < 0).all() and (grad[3:5] > 0).all() and grad[2] == 0 and grad[5] == 0
    assert_added_as_part("crisp", blurred_extremes_loss, pred.detach(), alpha, unknown, weight=1.5)


def test_softened_solid_hinge_charges_only_opaque_pixels_predicted_below_three_quarters():
    # true alpha by column: 1.0, 0.95, 0.9, 0.85 (not opaque), 0.3; all unknown but the last column
    alpha = torch.tensor([1.0, 0.95, 0.9, 0.85, 0.3, 1.0]).view(1, 1, 1, 6).repeat(1, 1, 2, 1)
    unknown = torch.ones_like(alpha)
    unknown[..., 5] = 0.0
    pred = torch.full_like(alpha, 0.75)
    assert softened_solid_loss(pred, alpha, unknown).item() == 0.0  # 0.75 itself is not softened
    pred = torch.full_like(alpha, 0.1)
    # opaque unknown columns 0-2 each fall 0.65 short; averaged over the 5 unknown columns; column 3 (0.85)
    # and the known column 5 (however wrong) are not charged
    torch.testing.assert_close(softened_solid_loss(pred, alpha, unknown), torch.tensor(3 * 0.65 / 5))
    pred[..., 1] = 0.6
    torch.testing.assert_close(softened_solid_loss(pred, alpha, unknown), torch.tensor((2 * 0.65 + 0.15) / 5))
    # it pushes only upward, and only those pixels
    pred.requires_grad_(True)
    softened_solid_loss(pred, alpha, unknown).backward()
    assert (pred.grad[..., :3] < 0).all() and (pred.grad[..., 3:] == 0).all()
    assert_added_as_part("solid", softened_solid_loss, pred.detach(), alpha, unknown, weight=2.0)
